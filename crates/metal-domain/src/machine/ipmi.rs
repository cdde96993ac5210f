//! The BMC report of metal-bmc (`POST /v1/machine/ipmi`, §4.13): per machine uuid the BMC
//! address it leased, FRU, firmware versions, power state and LED, as metal-bmc sends them
//! every few minutes. Unknown uuids become bare machines of the partition; known machines of
//! the partition get their BMC data merged.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{ChassisIdentifyLedState, Machine, MachineFru, PowerMetric, PowerSupply};
use crate::error::{DomainError, DomainResult};

/// The IPMI port when a BMC address has none.
pub const DEFAULT_IPMI_PORT: u16 = 623;

/// Body of `POST /v1/machine/ipmi` (`v1.MachineIpmiReports`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct MachineIpmiReports {
    /// the partition id for the ipmi report
    pub partitionid: String,
    /// uuid to machinereport
    pub reports: BTreeMap<String, MachineIpmiReport>,
}

/// One machine's BMC data (`v1.MachineIpmiReport`; metal-bmc sends Go field names as keys).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct MachineIpmiReport {
    #[serde(rename = "BMCIp")]
    pub bmc_ip: String,
    #[serde(rename = "FRU")]
    pub fru: Option<MachineFru>,
    #[serde(rename = "BIOSVersion")]
    pub bios_version: String,
    #[serde(rename = "BMCVersion")]
    pub bmc_version: String,
    #[serde(rename = "PowerState")]
    pub power_state: String,
    #[serde(rename = "IndicatorLEDState")]
    pub indicator_led_state: String,
    #[serde(rename = "PowerMetric")]
    pub power_metric: Option<PowerMetric>,
    #[serde(rename = "PowerSupplies")]
    pub power_supplies: Option<Vec<PowerSupply>>,
}

/// Answer of `POST /v1/machine/ipmi` (`v1.MachineIpmiReportResponse`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MachineIpmiReportResponse {
    /// the machine uuids that triggered a creation of a machine entity
    pub created: Vec<String>,
    /// the machine uuids that triggered an update of ipmi data
    pub updated: Vec<String>,
}

/// A BMC command of a machine as the IPMI view shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct MachineBmcCommand {
    /// queue sequence number
    pub seq: i64,
    /// ON, OFF, RESET, CYCLE, PXE, DISK, BIOS, LED-ON, LED-OFF, REINSTALL, UPDATE-FIRMWARE
    pub command: String,
    /// why it was queued
    pub reason: String,
    /// when it was queued
    pub queued: Option<DateTime<Utc>>,
    /// when it was last handed to metal-bmc; empty while undelivered
    pub delivered: Option<DateTime<Utc>>,
    /// the metal-bmc agent it was handed to
    pub agent: String,
    /// how many times it was handed out
    pub attempts: i64,
    /// when metal-bmc acknowledged it; empty while pending
    pub acknowledged: Option<DateTime<Utc>>,
    /// the error metal-bmc acknowledged; empty on success
    pub error: String,
}

impl MachineIpmiReports {
    /// The partition is required; every uuid must be a usable machine id, every BMC address
    /// an IP address and every power reading a finite 32-bit number (`1e39` reads as
    /// infinity, which JSON cannot store: the machine would no longer load).
    pub fn validate(&self) -> DomainResult<()> {
        if self.partitionid.is_empty() {
            return Err(DomainError::invalid("partitionid is required"));
        }
        for (id, r) in &self.reports {
            crate::misc::validate_id("machine", id)?;
            if !r.bmc_ip.is_empty() && r.bmc_ip.parse::<std::net::IpAddr>().is_err() {
                return Err(DomainError::invalid(format!(
                    "BMCIp {:?} of machine {id} is not an IP address",
                    r.bmc_ip
                )));
            }
            if let Some(m) = &r.power_metric {
                for (name, v) in [
                    ("averageconsumedwatts", m.averageconsumedwatts),
                    ("intervalinmin", m.intervalinmin),
                    ("maxconsumedwatts", m.maxconsumedwatts),
                    ("minconsumedwatts", m.minconsumedwatts),
                ] {
                    if !v.is_finite() {
                        return Err(DomainError::invalid(format!(
                            "PowerMetric.{name} of machine {id} is out of range for a 32-bit float"
                        )));
                    }
                }
            }
        }
        Ok(())
    }
}

/// A led state value metal-bmc may report.
fn led_value(s: &str) -> Option<&'static str> {
    match s.to_ascii_uppercase().as_str() {
        "LED-ON" | "ON" | "LIT" | "BLINKING" => Some("LED-ON"),
        "LED-OFF" | "OFF" => Some("LED-OFF"),
        _ => None,
    }
}

/// `host:port` with the host replaced by `ip` and the port kept (623 without one).
fn with_host(address: &str, ip: &str) -> String {
    // a bare IPv6 address has colons but no port
    let port = match address.parse::<std::net::SocketAddr>() {
        Ok(a) => a.port(),
        Err(_) if address.parse::<std::net::IpAddr>().is_ok() => DEFAULT_IPMI_PORT,
        Err(_) => address
            .rsplit_once(':')
            .and_then(|(_, p)| p.parse::<u16>().ok())
            .unwrap_or(DEFAULT_IPMI_PORT),
    };
    if ip.contains(':') {
        format!("[{ip}]:{port}")
    } else {
        format!("{ip}:{port}")
    }
}

fn merge_fru(into: &mut MachineFru, from: &MachineFru) {
    let fields = [
        (&mut into.chassis_part_number, &from.chassis_part_number),
        (&mut into.chassis_part_serial, &from.chassis_part_serial),
        (&mut into.board_mfg, &from.board_mfg),
        (&mut into.board_mfg_serial, &from.board_mfg_serial),
        (&mut into.board_part_number, &from.board_part_number),
        (&mut into.product_manufacturer, &from.product_manufacturer),
        (&mut into.product_part_number, &from.product_part_number),
        (&mut into.product_serial, &from.product_serial),
    ];
    for (to, v) in fields {
        if !v.is_empty() {
            *to = v.clone();
        }
    }
}

/// A machine first known from its BMC: only the id, the partition, the BMC and the LED.
pub fn machine_from_report(
    id: &str,
    partition: &str,
    r: &MachineIpmiReport,
    now: DateTime<Utc>,
) -> Machine {
    let mut m = Machine {
        id: id.to_string(),
        partitionid: partition.to_string(),
        ..Default::default()
    };
    m.ipmi.address = with_host("", &r.bmc_ip);
    apply_report(&mut m, partition, r, now);
    m
}

/// Merges a report into a known machine. `false` (and nothing changed) when the machine
/// belongs to another partition; a machine without partition joins the reported one.
pub fn apply_report(
    m: &mut Machine,
    partition: &str,
    r: &MachineIpmiReport,
    now: DateTime<Utc>,
) -> bool {
    if m.partitionid.is_empty() {
        m.partitionid = partition.to_string();
    } else if m.partitionid != partition {
        return false;
    }
    if !r.bmc_ip.is_empty() {
        m.ipmi.address = with_host(&m.ipmi.address, &r.bmc_ip);
    }
    if let Some(fru) = &r.fru {
        merge_fru(&mut m.ipmi.fru, fru);
    }
    if !r.bios_version.is_empty() {
        m.bios.version = r.bios_version.clone();
    }
    if !r.bmc_version.is_empty() {
        m.ipmi.bmcversion = r.bmc_version.clone();
    }
    if !r.power_state.is_empty() {
        m.ipmi.powerstate = r.power_state.clone();
    }
    if let Some(pm) = &r.power_metric {
        m.ipmi.powermetric = Some(pm.clone());
    }
    if let Some(ps) = &r.power_supplies {
        m.ipmi.powersupplies = ps.clone();
    }
    if let Some(v) = led_value(&r.indicator_led_state) {
        m.ledstate = ChassisIdentifyLedState {
            value: v.to_string(),
            description: m.ledstate.description.clone(),
        };
    }
    m.ipmi.last_updated = Some(now);
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(ip: &str) -> MachineIpmiReport {
        MachineIpmiReport {
            bmc_ip: ip.into(),
            ..Default::default()
        }
    }

    #[test]
    fn host_is_replaced_and_port_kept() {
        assert_eq!(with_host("10.0.0.1:6230", "10.0.0.9"), "10.0.0.9:6230");
        assert_eq!(with_host("10.0.0.1", "10.0.0.9"), "10.0.0.9:623");
        assert_eq!(with_host("", "10.0.0.9"), "10.0.0.9:623");
        assert_eq!(with_host("[fd00::1]:624", "fd00::2"), "[fd00::2]:624");
        assert_eq!(with_host("fd00::1", "fd00::2"), "[fd00::2]:623");
        assert_eq!(with_host("bmc-7.example:6231", "10.0.0.9"), "10.0.0.9:6231");
    }

    #[test]
    fn new_machine_has_partition_bmc_and_led() {
        let now = Utc::now();
        let mut r = report("10.1.0.5");
        r.indicator_led_state = "LED-ON".into();
        r.power_state = "ON".into();
        let m = machine_from_report("m1", "fra", &r, now);
        assert_eq!(m.partitionid, "fra");
        assert_eq!(m.ipmi.address, "10.1.0.5:623");
        assert_eq!(m.ipmi.powerstate, "ON");
        assert_eq!(m.ledstate.value, "LED-ON");
        assert_eq!(m.ipmi.last_updated, Some(now));
        assert!(m.allocation.is_none());
    }

    #[test]
    fn merge_keeps_what_the_report_leaves_out() {
        let now = Utc::now();
        let mut m = Machine {
            id: "m1".into(),
            partitionid: "fra".into(),
            ..Default::default()
        };
        m.ipmi.address = "10.1.0.5:6230".into();
        m.ipmi.fru.board_mfg = "Supermicro".into();
        m.ipmi.fru.product_serial = "S1".into();
        m.ipmi.powerstate = "ON".into();
        m.ledstate.description = "find me".into();
        let mut r = report("10.1.0.6");
        r.fru = Some(MachineFru {
            product_serial: "S2".into(),
            ..Default::default()
        });
        r.indicator_led_state = "off".into();
        assert!(apply_report(&mut m, "fra", &r, now));
        assert_eq!(m.ipmi.address, "10.1.0.6:6230");
        assert_eq!(m.ipmi.fru.board_mfg, "Supermicro");
        assert_eq!(m.ipmi.fru.product_serial, "S2");
        assert_eq!(m.ipmi.powerstate, "ON");
        assert_eq!(m.ledstate.value, "LED-OFF");
        assert_eq!(m.ledstate.description, "find me");
        // an unknown LED value leaves the state alone
        r.indicator_led_state = "Unknown".into();
        assert!(apply_report(&mut m, "fra", &r, now));
        assert_eq!(m.ledstate.value, "LED-OFF");
    }

    #[test]
    fn other_partition_is_skipped_and_no_partition_joins() {
        let now = Utc::now();
        let mut m = Machine {
            id: "m1".into(),
            partitionid: "nbg".into(),
            ..Default::default()
        };
        let before = m.clone();
        assert!(!apply_report(&mut m, "fra", &report("10.1.0.6"), now));
        assert_eq!(m, before);
        m.partitionid.clear();
        assert!(apply_report(&mut m, "fra", &report("10.1.0.6"), now));
        assert_eq!(m.partitionid, "fra");
    }

    #[test]
    fn validation() {
        let mut r = MachineIpmiReports::default();
        assert!(r
            .validate()
            .unwrap_err()
            .to_string()
            .contains("partitionid"));
        r.partitionid = "fra".into();
        r.reports.insert("m1".into(), report("not-an-ip"));
        assert!(r.validate().unwrap_err().to_string().contains("not-an-ip"));
        r.reports.insert("m1".into(), report("10.0.0.1"));
        assert!(r.validate().is_ok());
    }

    #[test]
    fn wire_names_are_metal_bmcs() {
        let r: MachineIpmiReports = serde_json::from_value(serde_json::json!({
            "partitionid": "fra",
            "reports": {"m1": {"BMCIp": "10.0.0.1", "PowerState": "OFF",
                "FRU": {"board_mfg": "Dell"}, "IndicatorLEDState": "LED-ON",
                "PowerSupplies": [{"status": {"health": "OK", "state": "Enabled"}}]}}
        }))
        .unwrap();
        let m1 = &r.reports["m1"];
        assert_eq!(m1.power_state, "OFF");
        assert_eq!(m1.fru.as_ref().unwrap().board_mfg, "Dell");
        assert_eq!(m1.power_supplies.as_ref().unwrap()[0].status.health, "OK");
    }
}
