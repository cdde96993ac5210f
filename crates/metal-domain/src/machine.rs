//! Machines: the hardware a server reported, its state and LED, its IPMI data, and its
//! allocation to a project (§2.1). The stored machine keeps references (size, partition and
//! image ids); the wire response (`v1.MachineResponse`) embeds the referenced entities and is
//! built by the API from them.

mod capacity;
mod command;
mod find;
mod firewall;
mod ipmi;
mod lifecycle;
mod response;
mod ssh;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{DomainError, DomainResult};
use crate::fsl::FilesystemLayout;
use crate::partition::{DnsServer, NtpServer};
use crate::size::MachineHardwareSummary;

pub use capacity::capacity_of;
pub use command::BmcCommand;
pub use find::MachineFindRequest;
pub use firewall::{FirewallEgressRule, FirewallIngressRule, FirewallRules};
pub use ipmi::{
    apply_report, machine_from_report, MachineBmcCommand, MachineIpmiReport,
    MachineIpmiReportResponse, MachineIpmiReports, DEFAULT_IPMI_PORT,
};
pub use lifecycle::{
    MachineConsolePasswordRequest, MachineConsolePasswordResponse, MachineReinstallRequest,
    PartitionCapacity, PartitionCapacityRequest, ServerCapacity,
};
pub use response::{MachineAllocationResponse, MachineIpmiResponse, MachineResponse};
pub use ssh::validate_ssh_key;

/// The pseudo size of machines that match no size or several.
pub const UNKNOWN_SIZE: &str = crate::size::UNKNOWN_SIZE_ID;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct MachineBlockDevice {
    pub name: String,
    /// bytes
    pub size: u64,
}

/// A NIC of a machine, or a switch port as a machine's LLDP neighbour.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct MachineNic {
    pub mac: String,
    pub name: String,
    /// Switch-port-independent id of the NIC; the MAC when empty.
    pub identifier: String,
    #[cfg_attr(feature = "openapi", schema(no_recursion))]
    pub neighbors: Vec<MachineNic>,
    /// For neighbours: the switch's name.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub hostname: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct MetalCpu {
    pub vendor: String,
    pub model: String,
    pub cores: u32,
    pub threads: u32,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct MetalGpu {
    pub vendor: String,
    pub model: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct MachineHardware {
    /// bytes
    pub memory: u64,
    pub cpu_cores: u32,
    pub disks: Vec<MachineBlockDevice>,
    pub nics: Vec<MachineNic>,
    pub cpus: Vec<MetalCpu>,
    pub gpus: Vec<MetalGpu>,
}

impl MachineHardware {
    /// What size matching looks at.
    pub fn summary(&self) -> MachineHardwareSummary {
        MachineHardwareSummary {
            cpu_cores: u64::from(self.cpu_cores),
            memory: self.memory,
            disks: self
                .disks
                .iter()
                .map(|d| (d.name.clone(), d.size))
                .collect(),
            gpus: self.gpus.iter().map(|g| g.model.clone()).collect(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct MachineBios {
    pub version: String,
    pub vendor: String,
    pub date: String,
}

/// "" (available), RESERVED or LOCKED.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum MachineStateValue {
    #[default]
    #[serde(rename = "")]
    Available,
    #[serde(rename = "RESERVED")]
    Reserved,
    #[serde(rename = "LOCKED")]
    Locked,
}

/// Written by hand: utoipa's derive drops the empty `serde(rename)` of `Available` and names
/// the variant instead, so the document would not allow the `""` every available machine has.
#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for MachineStateValue {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::schema::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .description(Some("\"\" (available), RESERVED or LOCKED."))
            .enum_values(Some(["", "RESERVED", "LOCKED"]))
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for MachineStateValue {}

impl MachineStateValue {
    pub fn parse(s: &str) -> DomainResult<Self> {
        match s {
            "" => Ok(Self::Available),
            "RESERVED" => Ok(Self::Reserved),
            "LOCKED" => Ok(Self::Locked),
            other => Err(DomainError::invalid(format!(
                "state value must be \"\", RESERVED or LOCKED, got {other:?}"
            ))),
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Available => "",
            Self::Reserved => "RESERVED",
            Self::Locked => "LOCKED",
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct MachineState {
    pub value: MachineStateValue,
    pub description: String,
    /// who set the state (email); cleared when set back to available
    pub issuer: String,
    pub metal_hammer_version: String,
}

/// Body of `POST /v1/machine/{id}/state`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct MachineStateRequest {
    pub value: String,
    pub description: String,
}

impl MachineState {
    /// Sets the state (§2.1): a non-empty state needs a description; the issuer is the caller,
    /// cleared when the machine becomes available again.
    pub fn set(&mut self, req: &MachineStateRequest, issuer: &str) -> DomainResult<()> {
        let value = MachineStateValue::parse(&req.value)?;
        if value != MachineStateValue::Available && req.description.trim().is_empty() {
            return Err(DomainError::invalid(format!(
                "a description is required to set the state {}",
                value.as_str()
            )));
        }
        self.value = value;
        self.description = req.description.clone();
        self.issuer = if value == MachineStateValue::Available {
            String::new()
        } else {
            issuer.to_string()
        };
        Ok(())
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct ChassisIdentifyLedState {
    /// "LED-ON", "LED-OFF" or ""
    pub value: String,
    pub description: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct MachineFru {
    pub chassis_part_number: String,
    pub chassis_part_serial: String,
    pub board_mfg: String,
    pub board_mfg_serial: String,
    pub board_part_number: String,
    pub product_manufacturer: String,
    pub product_part_number: String,
    pub product_serial: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct PowerMetric {
    pub averageconsumedwatts: f32,
    pub intervalinmin: f32,
    pub maxconsumedwatts: f32,
    pub minconsumedwatts: f32,
}

/// One power supply of a machine (`v1.PowerSupply`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct PowerSupply {
    pub status: PowerSupplyStatus,
}

/// Health and state of a power supply (`v1.PowerSupplyStatus`), e.g. `OK` and `Enabled`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct PowerSupplyStatus {
    pub health: String,
    pub state: String,
}

/// The BMC of a machine (`v1.MachineIPMI`); returned only by the `/ipmi` endpoints.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct MachineIpmi {
    /// host:port
    pub address: String,
    pub mac: String,
    pub user: String,
    pub password: String,
    pub interface: String,
    pub fru: MachineFru,
    pub bmcversion: String,
    pub powerstate: String,
    /// all zero when the BMC reported none (the reference requires the field)
    #[serde(with = "crate::wire::or_default")]
    #[cfg_attr(feature = "openapi", schema(value_type = PowerMetric, default = json!(PowerMetric::default())))]
    pub powermetric: Option<PowerMetric>,
    /// the power supplies as the BMC reports them (Redfish)
    pub powersupplies: Vec<PowerSupply>,
    /// `0001-01-01T00:00:00Z` before the first BMC report (the reference requires the field)
    #[serde(with = "crate::wire::zero_time")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime, default = "0001-01-01T00:00:00Z"))]
    pub last_updated: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct BootInfo {
    pub image_id: String,
    pub primary_disk: String,
    pub os_partition: String,
    pub initrd: String,
    pub cmdline: String,
    pub kernel: String,
    pub bootloaderid: String,
}

/// The role of an allocated machine.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Role {
    #[default]
    Machine,
    Firewall,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Machine => "machine",
            Self::Firewall => "firewall",
        }
    }
}

/// The kind of a network inside an allocation (§2.1, `networktype`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum NetworkKind {
    PrivatePrimaryUnshared,
    PrivatePrimaryShared,
    PrivateSecondaryShared,
    External,
    Underlay,
}

impl NetworkKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PrivatePrimaryUnshared => "privateprimaryunshared",
            Self::PrivatePrimaryShared => "privateprimaryshared",
            Self::PrivateSecondaryShared => "privatesecondaryshared",
            Self::External => "external",
            Self::Underlay => "underlay",
        }
    }
    pub fn is_private(self) -> bool {
        matches!(
            self,
            Self::PrivatePrimaryUnshared
                | Self::PrivatePrimaryShared
                | Self::PrivateSecondaryShared
        )
    }
}

/// One network of an allocation as the machine sees it (`v1.MachineNetwork`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MachineNetwork {
    pub networkid: String,
    pub projectid: String,
    pub prefixes: Vec<String>,
    pub ips: Vec<String>,
    pub destinationprefixes: Vec<String>,
    pub vrf: u32,
    /// the same ASN on every network of one allocation
    pub asn: u64,
    pub nat: bool,
    pub private: bool,
    pub underlay: bool,
    pub networktype: NetworkKind,
    pub networktypev2: String,
    pub nattypev2: String,
}

/// An allocation as stored: references plus the copy of the filesystem layout taken at
/// allocation time.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct Allocation {
    pub allocationuuid: String,
    pub creator: String,
    #[serde(with = "crate::wire::zero_time")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime, default = "0001-01-01T00:00:00Z"))]
    pub created: Option<DateTime<Utc>>,
    pub name: String,
    pub description: String,
    pub hostname: String,
    pub project: String,
    pub imageid: String,
    pub filesystemlayout: Option<FilesystemLayout>,
    pub networks: Vec<MachineNetwork>,
    pub ssh_pub_keys: Vec<String>,
    pub user_data: String,
    /// set by metal-hammer's Report; answered only by the console password endpoint
    #[serde(skip_serializing_if = "String::is_empty")]
    pub console_password: String,
    pub succeeded: bool,
    pub reinstall: bool,
    pub boot_info: Option<BootInfo>,
    pub role: Role,
    pub firewall_rules: Option<FirewallRules>,
    pub dns_servers: Vec<DnsServer>,
    pub ntp_servers: Vec<NtpServer>,
}

/// A machine as stored.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct Machine {
    pub id: String,
    pub name: String,
    pub description: String,
    pub partitionid: String,
    pub rackid: String,
    pub sizeid: String,
    /// true while metal-hammer holds a Wait stream open
    pub waiting: bool,
    pub hardware: MachineHardware,
    pub bios: MachineBios,
    pub state: MachineState,
    pub ledstate: ChassisIdentifyLedState,
    pub tags: Vec<String>,
    pub ipmi: MachineIpmi,
    pub allocation: Option<Allocation>,
    pub created: Option<DateTime<Utc>>,
    pub changed: Option<DateTime<Utc>>,
}

/// Body of `POST /v1/machine` (update of an allocated machine).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct MachineUpdateRequest {
    pub id: String,
    pub description: Option<String>,
    pub tags: Option<Vec<String>>,
    pub ssh_pub_keys: Option<Vec<String>>,
}

/// One network of an allocation request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MachineAllocationNetwork {
    pub networkid: String,
    /// allocate an ephemeral IP in it (default true)
    #[serde(default = "default_true")]
    pub autoacquire: bool,
}

fn default_true() -> bool {
    true
}

/// Body of `POST /v1/machine/allocate` and, with firewall rules, `/v1/firewall/allocate`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct MachineAllocateRequest {
    pub uuid: String,
    pub name: String,
    pub description: String,
    pub hostname: String,
    pub projectid: String,
    pub partitionid: String,
    pub sizeid: String,
    pub imageid: String,
    pub filesystemlayoutid: String,
    pub ssh_pub_keys: Vec<String>,
    pub user_data: String,
    pub tags: Vec<String>,
    pub networks: Vec<MachineAllocationNetwork>,
    pub ips: Vec<String>,
    pub placement_tags: Vec<String>,
    pub dns_servers: Vec<DnsServer>,
    pub ntp_servers: Vec<NtpServer>,
    pub firewall_rules: Option<FirewallRules>,
}

/// User tags plus the system labels of §4.1.8 (which override user labels of the same key),
/// deduplicated and sorted.
pub fn tags_with_system_labels(
    user: &[String],
    asn: Option<u64>,
    rack: &str,
    chassis: &str,
) -> Vec<String> {
    let mut labels: BTreeMap<String, Option<String>> = BTreeMap::new();
    for t in user {
        match t.split_once('=') {
            Some((k, v)) => labels.insert(k.to_string(), Some(v.to_string())),
            None => labels.insert(t.clone(), None),
        };
    }
    let mut system = Vec::new();
    if let Some(asn) = asn.filter(|a| *a != 0) {
        system.push((
            "machine.metal-stack.io/network.primary.asn",
            asn.to_string(),
        ));
    }
    if !rack.is_empty() {
        system.push(("machine.metal-stack.io/rack", rack.to_string()));
    }
    if !chassis.is_empty() {
        system.push(("machine.metal-stack.io/chassis", chassis.to_string()));
    }
    for (k, v) in system {
        labels.insert(k.to_string(), Some(v));
    }
    labels
        .into_iter()
        .map(|(k, v)| match v {
            Some(v) => format!("{k}={v}"),
            None => k,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_from_wire_hardware() {
        let hw: MachineHardware = serde_json::from_value(serde_json::json!({
            "cpu_cores": 8, "memory": 1024,
            "disks": [{"name": "/dev/sda", "size": 10}, {"name": "/dev/sdb", "size": 20}],
            "gpus": [{"vendor": "nvidia", "model": "H100"}]
        }))
        .unwrap();
        let s = hw.summary();
        assert_eq!(s.cpu_cores, 8);
        assert_eq!(s.memory, 1024);
        assert_eq!(s.storage(), 30);
        assert_eq!(s.gpus, vec!["H100".to_string()]);
    }

    #[test]
    fn state_rules() {
        let mut s = MachineState::default();
        let req = |v: &str, d: &str| MachineStateRequest {
            value: v.into(),
            description: d.into(),
        };
        assert!(s.set(&req("LOCKED", ""), "a@b").is_err());
        assert!(s.set(&req("BROKEN", "x"), "a@b").is_err());
        s.set(&req("RESERVED", "for the demo"), "a@b").unwrap();
        assert_eq!(
            (s.value, s.issuer.as_str()),
            (MachineStateValue::Reserved, "a@b")
        );
        s.set(&req("", ""), "c@d").unwrap();
        assert_eq!(
            (s.value, s.issuer.as_str()),
            (MachineStateValue::Available, "")
        );
    }

    #[test]
    fn system_labels_override_user_labels() {
        let user = vec![
            "a".to_string(),
            "machine.metal-stack.io/rack=fake".to_string(),
            "k=v".to_string(),
            "a".to_string(),
        ];
        let t = tags_with_system_labels(&user, Some(4210000001), "rack-1", "CH1");
        assert_eq!(
            t,
            vec![
                "a",
                "k=v",
                "machine.metal-stack.io/chassis=CH1",
                "machine.metal-stack.io/network.primary.asn=4210000001",
                "machine.metal-stack.io/rack=rack-1",
            ]
        );
        assert_eq!(
            tags_with_system_labels(&[], Some(0), "", ""),
            Vec::<String>::new()
        );
    }

    #[test]
    fn state_value_wire_names() {
        assert_eq!(
            serde_json::to_string(&MachineStateValue::Available).unwrap(),
            "\"\""
        );
        assert_eq!(
            serde_json::to_string(&MachineStateValue::Locked).unwrap(),
            "\"LOCKED\""
        );
        assert_eq!(
            serde_json::to_string(&NetworkKind::PrivatePrimaryUnshared).unwrap(),
            "\"privateprimaryunshared\""
        );
    }
}
