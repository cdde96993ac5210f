//! IPMI over LAN through ipmitool (`-I lanplus`), the protocol every server BMC speaks.
//!
//! The password goes to ipmitool in the environment (`IPMITOOL_PASSWORD` with `-E`), never on
//! its command line where `ps` shows it. Each invocation is bounded by the timeout (the process
//! is killed when it runs over) and by ipmitool's own retry settings (`-N`, `-R`). The cipher
//! suite is given explicitly (`-C`, 3 by default: HMAC-SHA1, AES-CBC-128, which every IPMI 2.0
//! BMC offers): asking the BMC for its suites costs a round trip and times out on BMCs that do
//! not implement the query.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use metal_domain::machine::{MachineFru, PowerMetric};
use tokio::process::Command;

use crate::bmc::{Action, Credentials, Led, PowerState, Reading};

/// The ipmitool executable (overridable for tests with `METAL_BMC_IPMITOOL`).
fn ipmitool() -> String {
    std::env::var("METAL_BMC_IPMITOOL").unwrap_or_else(|_| "ipmitool".to_string())
}

pub struct IpmiTool {
    host: String,
    port: u16,
    creds: Credentials,
    timeout: Duration,
    cipher_suite: u8,
}

impl IpmiTool {
    pub fn new(host: &str, port: u16, creds: Credentials, timeout: Duration) -> Self {
        Self {
            host: host.to_string(),
            port,
            creds,
            timeout,
            cipher_suite: std::env::var("METAL_BMC_IPMI_CIPHER_SUITE")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(3),
        }
    }

    /// The BMC's address, as given.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// Runs one ipmitool command and returns its standard output.
    async fn run_tool(&self, args: &[&str]) -> anyhow::Result<String> {
        let mut cmd = Command::new(ipmitool());
        cmd.args(["-I", "lanplus", "-H", &self.host])
            .args(["-p", &self.port.to_string()])
            .args(["-U", &self.creds.user, "-E"])
            .args(["-C", &self.cipher_suite.to_string()])
            .args(["-N", "1", "-R", "2"])
            .args(args)
            .env("IPMITOOL_PASSWORD", &self.creds.password)
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true);
        let what = args.join(" ");
        let out = tokio::time::timeout(self.timeout, cmd.output())
            .await
            .map_err(|_| {
                anyhow!(
                    "ipmitool {what} on {}:{} timed out after {:?}",
                    self.host,
                    self.port,
                    self.timeout
                )
            })?
            .with_context(|| format!("running {}", ipmitool()))?;
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr);
            let err = err
                .lines()
                .filter(|l| !l.contains("Cipher Suites"))
                .collect::<Vec<_>>()
                .join("; ");
            bail!(
                "ipmitool {what} on {}:{} failed ({}): {}",
                self.host,
                self.port,
                out.status,
                err.trim()
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Identity, firmware, FRU, power, LED and (where the BMC offers DCMI) power metrics.
    /// Only the power state is required; the rest is best effort.
    pub async fn read(&self) -> anyhow::Result<Reading> {
        let power = parse_power(&self.run_tool(&["chassis", "power", "status"]).await?)?;
        let uuid = match self.run_tool(&["mc", "guid"]).await {
            Ok(out) => fields(&out)
                .get("System GUID")
                .map(|g| g.to_ascii_lowercase())
                .unwrap_or_default(),
            Err(e) => {
                tracing::debug!(bmc = self.host, error = %e, "no system GUID");
                String::new()
            }
        };
        let bmc_version = match self.run_tool(&["mc", "info"]).await {
            Ok(out) => fields(&out)
                .get("Firmware Revision")
                .cloned()
                .unwrap_or_default(),
            Err(_) => String::new(),
        };
        let fru = match self.run_tool(&["fru", "print", "0"]).await {
            Ok(out) => parse_fru(&out),
            Err(e) => {
                tracing::debug!(bmc = self.host, error = %e, "no FRU");
                MachineFru::default()
            }
        };
        let led = match self.run_tool(&["raw", "0x00", "0x01"]).await {
            Ok(out) => parse_identify(&out),
            Err(_) => Led::Unknown,
        };
        let power_metric = match self.run_tool(&["dcmi", "power", "reading"]).await {
            Ok(out) => parse_dcmi(&out),
            Err(_) => None,
        };
        Ok(Reading {
            uuid,
            bmc_version,
            // not readable out of band over IPMI: metal-hammer reports it at registration
            bios_version: String::new(),
            fru,
            power_state: power,
            led,
            power_metric,
            power_supplies: Vec::new(),
        })
    }

    pub async fn run(&self, action: Action) -> anyhow::Result<()> {
        let args: &[&str] = match action {
            Action::PowerOn => &["chassis", "power", "on"],
            Action::PowerOff => &["chassis", "power", "off"],
            Action::PowerReset => &["chassis", "power", "reset"],
            Action::PowerCycle => &["chassis", "power", "cycle"],
            Action::BootPxe => &["chassis", "bootdev", "pxe", "options=persistent,efiboot"],
            Action::BootDisk => &["chassis", "bootdev", "disk", "options=persistent,efiboot"],
            Action::BootBios => &["chassis", "bootdev", "bios", "options=efiboot"],
            Action::LedOn => &["chassis", "identify", "force"],
            Action::LedOff => &["chassis", "identify", "0"],
        };
        self.run_tool(args).await.map(|_| ())
    }
}

/// `key : value` lines (ipmitool's format), keys trimmed.
pub fn fields(out: &str) -> HashMap<String, String> {
    out.lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

/// `Chassis Power is on|off`.
pub fn parse_power(out: &str) -> anyhow::Result<PowerState> {
    let l = out.trim().to_ascii_lowercase();
    if l.ends_with(" on") {
        Ok(PowerState::On)
    } else if l.ends_with(" off") {
        Ok(PowerState::Off)
    } else {
        bail!("unexpected power status {:?}", out.trim())
    }
}

/// The FRU fields metal-api stores, from `ipmitool fru print`.
pub fn parse_fru(out: &str) -> MachineFru {
    let f = fields(out);
    let get = |k: &str| f.get(k).cloned().unwrap_or_default();
    MachineFru {
        chassis_part_number: get("Chassis Part Number"),
        chassis_part_serial: get("Chassis Serial"),
        board_mfg: get("Board Mfg"),
        board_mfg_serial: get("Board Serial"),
        board_part_number: get("Board Part Number"),
        product_manufacturer: get("Product Manufacturer"),
        product_part_number: get("Product Part Number"),
        product_serial: get("Product Serial"),
    }
}

/// The identify state of a raw Get Chassis Status answer (optional fourth byte, bits 5:4:
/// 0 off, 1 temporary on, 2 indefinite on; bit 6 tells whether the state is supported).
pub fn parse_identify(out: &str) -> Led {
    let bytes: Vec<u8> = out
        .split_whitespace()
        .filter_map(|b| u8::from_str_radix(b, 16).ok())
        .collect();
    match bytes.get(3) {
        Some(b) if b & 0x40 != 0 => match (b >> 4) & 0x3 {
            0 => Led::Off,
            _ => Led::On,
        },
        _ => Led::Unknown,
    }
}

/// DCMI `power reading` (watts; the sampling period in seconds becomes minutes).
pub fn parse_dcmi(out: &str) -> Option<PowerMetric> {
    let f = fields(out);
    let watts = |k: &str| -> Option<f32> { f.get(k)?.split_whitespace().next()?.parse().ok() };
    let avg = watts("Average power reading over sample period")?;
    let period = f
        .get("Sampling period")
        .and_then(|v| v.split_whitespace().next()?.parse::<f32>().ok())
        .unwrap_or(0.0);
    Some(PowerMetric {
        averageconsumedwatts: avg,
        minconsumedwatts: watts("Minimum during sampling period").unwrap_or(avg),
        maxconsumedwatts: watts("Maximum during sampling period").unwrap_or(avg),
        intervalinmin: period / 60.0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn power_status() {
        assert_eq!(
            parse_power("Chassis Power is on\n").unwrap(),
            PowerState::On
        );
        assert_eq!(
            parse_power("Chassis Power is off").unwrap(),
            PowerState::Off
        );
        assert!(parse_power("garbage").is_err());
    }

    #[test]
    fn fru_print() {
        let out = " Chassis Type          : Rack Mount Chassis\n Chassis Part Number   : CSE-819\n Chassis Serial        : C819\n Board Mfg Date        : Mon Jan  1 00:00:00 1996\n Board Mfg             : Supermicro\n Board Product         : X11DPU\n Board Serial          : B123\n Board Part Number     : X11DPU-P\n Product Manufacturer  : Supermicro\n Product Part Number   : SYS-1029\n Product Serial        : S42\n";
        let f = parse_fru(out);
        assert_eq!(f.chassis_part_number, "CSE-819");
        assert_eq!(f.chassis_part_serial, "C819");
        assert_eq!(f.board_mfg, "Supermicro");
        assert_eq!(f.board_mfg_serial, "B123");
        assert_eq!(f.board_part_number, "X11DPU-P");
        assert_eq!(f.product_serial, "S42");
    }

    #[test]
    fn identify_bits() {
        assert_eq!(parse_identify(" 01 00 00 60\n"), Led::On);
        assert_eq!(parse_identify(" 01 00 00 40\n"), Led::Off);
        assert_eq!(parse_identify(" 01 00 00\n"), Led::Unknown);
    }

    #[test]
    fn dcmi_reading() {
        let out = "    Instantaneous power reading:                   212 Watts\n    Minimum during sampling period:                 98 Watts\n    Maximum during sampling period:                310 Watts\n    Average power reading over sample period:      205 Watts\n    IPMI timestamp:                           Sat Nov 21 10:00:00 2026\n    Sampling period:                          00000300 Seconds.\n    Power reading state is:                   activated\n";
        let m = parse_dcmi(out).unwrap();
        assert_eq!(m.averageconsumedwatts, 205.0);
        assert_eq!(m.minconsumedwatts, 98.0);
        assert_eq!(m.maxconsumedwatts, 310.0);
        assert_eq!(m.intervalinmin, 5.0);
    }
}
