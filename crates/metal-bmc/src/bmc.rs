//! What metal-bmc does with one BMC, independent of the protocol: read its identity, firmware,
//! FRU, power and LED state, and run a power, boot-device or LED action. Two drivers implement
//! it: IPMI over LAN through ipmitool ([`crate::ipmi`]) and Redfish over HTTPS
//! ([`crate::redfish`]). Every call is bounded by the driver's timeout, so one hanging BMC
//! never blocks the others.

use std::fmt;
use std::time::Duration;

use metal_domain::firmware::FirmwareKind;
use metal_domain::machine::{BmcCommand, MachineFru, PowerMetric, PowerSupply};

/// User and password of a BMC account. `Debug` never shows the password.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    pub user: String,
    pub password: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("user", &self.user)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// Power state as metal-api stores it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PowerState {
    On,
    Off,
    Unknown,
}

impl PowerState {
    pub fn as_str(self) -> &'static str {
        match self {
            PowerState::On => "ON",
            PowerState::Off => "OFF",
            PowerState::Unknown => "UNKNOWN",
        }
    }
}

/// The chassis identify LED.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Led {
    On,
    Off,
    Unknown,
}

impl Led {
    /// The value of the report's `IndicatorLEDState` (empty when unknown: nothing is changed).
    pub fn as_str(self) -> &'static str {
        match self {
            Led::On => "LED-ON",
            Led::Off => "LED-OFF",
            Led::Unknown => "",
        }
    }
}

/// What a BMC tells about its machine.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    /// the machine uuid (SMBIOS system uuid), lower case; empty when the BMC does not know it
    pub uuid: String,
    pub bmc_version: String,
    pub bios_version: String,
    pub fru: MachineFru,
    pub power_state: PowerState,
    pub led: Led,
    pub power_metric: Option<PowerMetric>,
    pub power_supplies: Vec<PowerSupply>,
}

/// One thing a BMC is asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    PowerOn,
    PowerOff,
    PowerReset,
    PowerCycle,
    BootPxe,
    BootDisk,
    BootBios,
    LedOn,
    LedOff,
}

impl Action {
    /// The actions of a metal-api command as it arrives on the command stream (§5.2 of the
    /// agents spec); `None` for a command this agent does not know or that is no list of
    /// actions.
    pub fn plan(command: &str) -> Option<Vec<Action>> {
        command.parse::<BmcCommand>().ok().and_then(Self::of)
    }

    /// The actions of a command, in order: power `ON|OFF|RESET|CYCLE`, boot device
    /// `PXE|DISK|BIOS` (no reboot), `LED-ON|LED-OFF`, `REINSTALL` (PXE, then cycle). `None` for
    /// `UPDATE-FIRMWARE`: it carries a file, see [`Bmc::update_firmware`].
    pub fn of(command: BmcCommand) -> Option<Vec<Action>> {
        use Action::*;
        Some(match command {
            BmcCommand::PowerOn => vec![PowerOn],
            BmcCommand::PowerOff => vec![PowerOff],
            BmcCommand::PowerReset => vec![PowerReset],
            BmcCommand::PowerCycle => vec![PowerCycle],
            BmcCommand::BootPxe => vec![BootPxe],
            BmcCommand::BootDisk => vec![BootDisk],
            BmcCommand::BootBios => vec![BootBios],
            BmcCommand::LedOn => vec![LedOn],
            BmcCommand::LedOff => vec![LedOff],
            BmcCommand::Reinstall => vec![BootPxe, PowerCycle],
            BmcCommand::UpdateFirmware => return None,
        })
    }
}

/// A firmware file for the BMC to flash: the BIOS of the machine or the BMC's own.
#[derive(Clone, PartialEq, Eq)]
pub struct FirmwareUpdate {
    pub kind: FirmwareKind,
    /// where the BMC downloads the file; signed and expiring, so `Debug` never shows it
    pub url: String,
}

impl fmt::Debug for FirmwareUpdate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FirmwareUpdate")
            .field("kind", &self.kind)
            .field("url", &"<redacted>")
            .finish()
    }
}

/// Which protocol to speak to the BMCs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Protocol {
    /// Redfish where the BMC answers `/redfish/v1/` over HTTPS, IPMI otherwise
    Auto,
    Ipmi,
    Redfish,
}

/// How to reach the BMCs of the partition.
#[derive(Debug, Clone)]
pub struct Access {
    pub protocol: Protocol,
    /// UDP port of IPMI over LAN (623)
    pub ipmi_port: u16,
    /// TCP port of the Redfish service (443)
    pub redfish_port: u16,
    /// bound of every single BMC call
    pub timeout: Duration,
}

/// A connected BMC.
pub enum Bmc {
    Ipmi(crate::ipmi::IpmiTool),
    Redfish(crate::redfish::Redfish),
}

impl Bmc {
    /// Connects to the BMC at `host` (an IP address, optionally with `:port` overriding the
    /// access's port for the protocol). With [`Protocol::Auto`], a BMC whose Redfish service
    /// answers is driven by Redfish, any other by IPMI.
    pub async fn connect(host: &str, creds: &Credentials, access: &Access) -> anyhow::Result<Bmc> {
        let (ip, port) = split_host_port(host);
        let redfish = |port: Option<u16>| {
            let port = port.unwrap_or(access.redfish_port);
            let base = if ip.contains(':') {
                format!("https://[{ip}]:{port}")
            } else {
                format!("https://{ip}:{port}")
            };
            crate::redfish::Redfish::connect(base, creds.clone(), access.timeout)
        };
        let ipmi = |port: Option<u16>| {
            Bmc::Ipmi(crate::ipmi::IpmiTool::new(
                ip,
                port.unwrap_or(access.ipmi_port),
                creds.clone(),
                access.timeout,
            ))
        };
        Ok(match access.protocol {
            Protocol::Ipmi => ipmi(port),
            Protocol::Redfish => Bmc::Redfish(redfish(port).await?),
            Protocol::Auto => match redfish(None).await {
                Ok(r) => Bmc::Redfish(r),
                Err(e) => {
                    tracing::debug!(bmc = ip, error = %e, "no Redfish service, using IPMI");
                    ipmi(port)
                }
            },
        })
    }

    /// Reads everything the report carries.
    pub async fn read(&self) -> anyhow::Result<Reading> {
        match self {
            Bmc::Ipmi(b) => b.read().await,
            Bmc::Redfish(b) => b.read().await,
        }
    }

    /// Runs one action.
    pub async fn run(&self, action: Action) -> anyhow::Result<()> {
        match self {
            Bmc::Ipmi(b) => b.run(action).await,
            Bmc::Redfish(b) => b.run(action).await,
        }
    }

    /// Asks the BMC to flash a firmware file it downloads from the update's URL. Only Redfish
    /// has a standard way (`UpdateService.SimpleUpdate`); over IPMI it is an error saying so.
    pub async fn update_firmware(&self, update: &FirmwareUpdate) -> anyhow::Result<()> {
        match self {
            Bmc::Ipmi(b) => anyhow::bail!(
                "the BMC at {} is driven over IPMI, which has no standard firmware update: \
                 flash the {} firmware with the vendor's tool, or let metal-bmc use the BMC's \
                 Redfish service (--protocol redfish or auto)",
                b.host(),
                update.kind.as_str()
            ),
            Bmc::Redfish(b) => b.update_firmware(update).await,
        }
    }

    pub fn protocol(&self) -> &'static str {
        match self {
            Bmc::Ipmi(_) => "ipmi",
            Bmc::Redfish(_) => "redfish",
        }
    }
}

/// `host[:port]`, `[v6]:port` or a bare IPv6 address.
pub fn split_host_port(address: &str) -> (&str, Option<u16>) {
    if let Some(rest) = address.strip_prefix('[') {
        if let Some((h, p)) = rest.split_once(']') {
            return (h, p.strip_prefix(':').and_then(|p| p.parse().ok()));
        }
    }
    if address.matches(':').count() == 1 {
        if let Some((h, p)) = address.split_once(':') {
            return (h, p.parse().ok());
        }
    }
    (address, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_map_to_actions() {
        assert_eq!(
            Action::plan("REINSTALL"),
            Some(vec![Action::BootPxe, Action::PowerCycle])
        );
        assert_eq!(Action::plan("LED-ON"), Some(vec![Action::LedOn]));
        assert_eq!(Action::plan("UPDATE-FIRMWARE"), None);
        assert_eq!(Action::plan("UPDATE"), None);
    }

    #[test]
    fn host_and_port() {
        assert_eq!(split_host_port("10.0.0.1:623"), ("10.0.0.1", Some(623)));
        assert_eq!(split_host_port("10.0.0.1"), ("10.0.0.1", None));
        assert_eq!(split_host_port("[fd00::1]:624"), ("fd00::1", Some(624)));
        assert_eq!(split_host_port("fd00::1"), ("fd00::1", None));
    }

    #[test]
    fn credentials_never_print_the_password() {
        let c = Credentials {
            user: "ADMIN".into(),
            password: "s3cret".into(),
        };
        assert!(!format!("{c:?}").contains("s3cret"));
    }
}
