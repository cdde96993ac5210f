//! The commands metal-api queues for a machine's BMC (power, boot device, identify LED), parsed
//! once where they enter (a route, a stored queue row, a gRPC message) and carried typed through
//! the app layer, the store's queue and metal-bmc. On the wire and in the queue they are
//! metal-stack's strings (`ON`, `LED-ON`, ...).

use std::fmt;
use std::str::FromStr;

use crate::error::DomainError;

/// A BMC command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BmcCommand {
    PowerOn,
    PowerOff,
    PowerReset,
    PowerCycle,
    /// Boot into the BIOS setup next time (boot device only, no reboot).
    BootBios,
    BootDisk,
    BootPxe,
    LedOn,
    LedOff,
    /// metal-stack's reinstall command: PXE boot, then power cycle. metal-api queues the two
    /// steps itself; metal-bmc still understands it.
    Reinstall,
    /// Flash a BIOS or BMC firmware file; the queue row names the file, the delivery carries a
    /// download URL for it.
    UpdateFirmware,
}

impl BmcCommand {
    /// Every command.
    pub const ALL: [BmcCommand; 11] = [
        Self::PowerOn,
        Self::PowerOff,
        Self::PowerReset,
        Self::PowerCycle,
        Self::BootBios,
        Self::BootDisk,
        Self::BootPxe,
        Self::LedOn,
        Self::LedOff,
        Self::Reinstall,
        Self::UpdateFirmware,
    ];

    /// The wire and queue string.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PowerOn => "ON",
            Self::PowerOff => "OFF",
            Self::PowerReset => "RESET",
            Self::PowerCycle => "CYCLE",
            Self::BootBios => "BIOS",
            Self::BootDisk => "DISK",
            Self::BootPxe => "PXE",
            Self::LedOn => "LED-ON",
            Self::LedOff => "LED-OFF",
            Self::Reinstall => "REINSTALL",
            Self::UpdateFirmware => "UPDATE-FIRMWARE",
        }
    }

    /// Commands that reboot the machine: they are recorded as a `Planned Reboot` event first.
    pub fn is_planned_reboot(self) -> bool {
        matches!(self, Self::PowerReset | Self::PowerOff | Self::PowerCycle)
    }

    /// The LED state the command sets (`LED-ON`, `LED-OFF`), for the LED commands.
    pub fn led_state(self) -> Option<&'static str> {
        match self {
            Self::LedOn | Self::LedOff => Some(self.as_str()),
            _ => None,
        }
    }
}

impl fmt::Display for BmcCommand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for BmcCommand {
    type Err = DomainError;

    /// The exact wire string; anything else is an unknown command.
    fn from_str(s: &str) -> Result<Self, DomainError> {
        Self::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| DomainError::invalid(format!("unknown command {s:?}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_round_trip_their_wire_strings() {
        for c in BmcCommand::ALL {
            assert_eq!(c.as_str().parse::<BmcCommand>().unwrap(), c);
            assert_eq!(c.to_string(), c.as_str());
        }
        for bad in ["", "on", "LED", "POWER-ON", "REBOOT"] {
            assert_eq!(
                bad.parse::<BmcCommand>().unwrap_err().to_string(),
                format!("unknown command {bad:?}")
            );
        }
    }

    #[test]
    fn reboots_and_leds() {
        // (command, planned reboot, LED state)
        let table = [
            (BmcCommand::PowerOn, false, None),
            (BmcCommand::PowerOff, true, None),
            (BmcCommand::PowerReset, true, None),
            (BmcCommand::PowerCycle, true, None),
            (BmcCommand::BootPxe, false, None),
            (BmcCommand::BootDisk, false, None),
            (BmcCommand::BootBios, false, None),
            (BmcCommand::LedOn, false, Some("LED-ON")),
            (BmcCommand::LedOff, false, Some("LED-OFF")),
            (BmcCommand::Reinstall, false, None),
            (BmcCommand::UpdateFirmware, false, None),
        ];
        for (c, reboot, led) in table {
            assert_eq!(c.is_planned_reboot(), reboot, "{c}");
            assert_eq!(c.led_state(), led, "{c}");
        }
    }
}
