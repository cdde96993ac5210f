//! Switches: the leaf switches metal-core registers, their ports and the machines cabled to
//! them (metal-api §2.9, §4.12).
//!
//! The stored document ([`Switch`]) holds everything a response needs except the partition
//! object and the BGP filters, which are looked up and computed on read
//! ([`SwitchResponse::new`]). Each port keeps the state metal-core last reported (`actual`)
//! and the one an operator asked for (`desired`, until metal-core reports it); the response
//! shows the pending desired state in the port's `actual`, as metal-stack does, and the real
//! state in the connections.
//!
//! The rules live in submodules, as pure functions over these values:
//! - [`register`]: register a new or known switch, and the replacement of a switch (RMA);
//! - [`state`]: notify (sync status, port states), port toggle, update;
//! - [`connect`]: which switch ports a machine is cabled to, and its rack;
//! - [`migrate`]: moving the machine connections of a switch to the switch replacing it;
//! - [`filter`]: the BGP filter of a port with an allocated machine;
//! - [`ports`]: port name translation between Cumulus and SONiC.

pub mod connect;
pub mod filter;
pub mod migrate;
pub mod ports;
pub mod register;
pub mod state;

pub use migrate::SwitchMigrateRequest;
pub use register::SwitchRegisterRequest;
pub use state::{
    SwitchNotifyRequest, SwitchNotifyResponse, SwitchPortToggleRequest, SwitchUpdateRequest,
};

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::partition::Partition;

/// Whether a switch works normally or waits for its replacement hardware to register.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum SwitchMode {
    #[default]
    Operational,
    Replace,
}

impl SwitchMode {
    /// `replace` is replace mode; any other input is operational (as metal-stack).
    pub fn parse(s: &str) -> Self {
        if s.trim().eq_ignore_ascii_case("replace") {
            Self::Replace
        } else {
            Self::Operational
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Operational => "operational",
            Self::Replace => "replace",
        }
    }
}

/// The operational state of a switch port.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "UPPERCASE")]
pub enum PortStatus {
    Up,
    Down,
    #[default]
    Unknown,
}

impl PortStatus {
    /// `UP` and `DOWN` in any case; anything else (also empty) is unknown.
    pub fn parse(s: &str) -> Self {
        match s.trim().to_ascii_uppercase().as_str() {
            "UP" => Self::Up,
            "DOWN" => Self::Down,
            _ => Self::Unknown,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Up => "UP",
            Self::Down => "DOWN",
            Self::Unknown => "UNKNOWN",
        }
    }
}

impl<'de> Deserialize<'de> for PortStatus {
    /// Lenient, as metal-core's nics arrive without a state: see [`PortStatus::parse`].
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = Option::<String>::deserialize(d)?;
        Ok(s.as_deref().map_or(Self::Unknown, Self::parse))
    }
}

/// The operating system of a switch as metal-core reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct SwitchOs {
    /// `Cumulus` or `SONiC`
    pub vendor: String,
    pub version: String,
    pub metal_core_version: String,
}

/// BGP session of a port as metal-core reads it from FRR (Go field names as JSON keys, as
/// the reference has them).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct BgpPortState {
    #[serde(rename = "Neighbor")]
    pub neighbor: String,
    #[serde(rename = "PeerGroup")]
    pub peer_group: String,
    #[serde(rename = "VrfName")]
    pub vrf_name: String,
    #[serde(rename = "BgpState")]
    pub bgp_state: String,
    #[serde(rename = "BgpTimerUpEstablished")]
    pub bgp_timer_up_established: i64,
    #[serde(rename = "SentPrefixCounter")]
    pub sent_prefix_counter: i64,
    #[serde(rename = "AcceptedPrefixCounter")]
    pub accepted_prefix_counter: i64,
}

/// What a port may announce over BGP: `cidrs` and `vnis`, both sorted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct BgpFilter {
    pub cidrs: Vec<String>,
    pub vnis: Vec<String>,
}

/// The last synchronization of a switch: when, how long (nanoseconds), and its error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SwitchSync {
    pub time: DateTime<Utc>,
    /// nanoseconds
    #[serde(default)]
    pub duration: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A switch port (`v1.SwitchNic`): in register requests, and in responses with the port's
/// state (the desired one while it is pending) and its BGP filter.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct SwitchNic {
    pub mac: String,
    pub name: String,
    /// switch-port independent id; the mac when empty
    pub identifier: String,
    pub vrf: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filter: Option<BgpFilter>,
    pub actual: PortStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bgp_port_state: Option<BgpPortState>,
    /// the state an operator set the port to, `UP` or `DOWN` (the enum of metal-python's and
    /// metal-go's `v1.SwitchNic`; metal-core compares it case-insensitively); not in the
    /// reference. metal-core configures this, while `actual` is the
    /// link state it reports (see docs/decisions.md)
    #[serde(skip_serializing_if = "Option::is_none")]
    pub admin_status: Option<String>,
}

/// A machine cabled to a switch port, with the port's actual state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct SwitchConnection {
    pub nic: SwitchNic,
    pub machine_id: String,
}

/// A stored switch port.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SwitchPort {
    pub mac: String,
    pub name: String,
    pub identifier: String,
    pub vrf: String,
    /// the state metal-core reported last
    pub actual: PortStatus,
    /// the state an operator asked for, until metal-core reports it
    #[serde(skip_serializing_if = "Option::is_none")]
    pub desired: Option<PortStatus>,
    /// an operator set the port down (the last toggle was `DOWN`); metal-core keeps it down
    /// whatever the link reports
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub admin_down: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bgp_port_state: Option<BgpPortState>,
}

impl SwitchPort {
    /// The identifier, or the mac when there is none (metal-stack's `GetIdentifier`).
    pub fn key(&self) -> &str {
        key(&self.identifier, &self.mac)
    }

    fn reference(&self) -> PortRef {
        PortRef {
            name: self.name.clone(),
            mac: self.mac.clone(),
            identifier: self.identifier.clone(),
        }
    }
}

/// `identifier`, or `mac` when the identifier is empty.
pub fn key<'a>(identifier: &'a str, mac: &'a str) -> &'a str {
    if identifier.is_empty() {
        mac
    } else {
        identifier
    }
}

/// The switch port of a stored connection.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(default)]
pub struct PortRef {
    pub name: String,
    pub mac: String,
    pub identifier: String,
}

impl PortRef {
    pub fn key(&self) -> &str {
        key(&self.identifier, &self.mac)
    }
}

/// A stored machine connection: the machine is cabled to this port.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(default)]
pub struct Connection {
    pub machine_id: String,
    pub nic: PortRef,
}

/// A switch as stored.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Switch {
    pub id: String,
    pub name: String,
    pub description: String,
    pub partition_id: String,
    pub rack_id: String,
    pub mode: SwitchMode,
    pub os: Option<SwitchOs>,
    pub management_ip: String,
    pub management_user: String,
    pub console_command: String,
    /// ports, sorted by name
    pub nics: Vec<SwitchPort>,
    /// sorted by machine id, then port name
    pub connections: Vec<Connection>,
    pub last_sync: Option<SwitchSync>,
    pub last_sync_error: Option<SwitchSync>,
    pub created: Option<DateTime<Utc>>,
    pub changed: Option<DateTime<Utc>>,
}

impl Switch {
    /// The port with this name, compared case-insensitively (as the reference does).
    pub fn port_mut(&mut self, name: &str) -> Option<&mut SwitchPort> {
        self.nics
            .iter_mut()
            .find(|n| n.name.eq_ignore_ascii_case(name))
    }

    /// Ids of the machines connected to this switch, sorted, each once.
    pub fn connected_machines(&self) -> Vec<String> {
        let ids: std::collections::BTreeSet<&str> = self
            .connections
            .iter()
            .map(|c| c.machine_id.as_str())
            .collect();
        ids.into_iter().map(str::to_string).collect()
    }

    /// Puts the ports the machine is connected to into `vrf` (`vrf<N>` once a machine is
    /// installed, `default` for a firewall, `""` on free). Whether anything changed.
    pub fn set_machine_vrf(&mut self, machine_id: &str, vrf: &str) -> bool {
        let keys: Vec<String> = self
            .connections
            .iter()
            .filter(|c| c.machine_id == machine_id)
            .map(|c| c.nic.key().to_string())
            .collect();
        let mut changed = false;
        for port in &mut self.nics {
            if keys.iter().any(|k| k == port.key()) && port.vrf != vrf {
                port.vrf = vrf.to_string();
                changed = true;
            }
        }
        changed
    }

    /// Removes the machine's connections (when the machine is deleted). Whether it had any.
    pub fn disconnect_machine(&mut self, machine_id: &str) -> bool {
        let before = self.connections.len();
        self.connections.retain(|c| c.machine_id != machine_id);
        before != self.connections.len()
    }

    /// Keeps ports sorted by name and connections by machine and port.
    pub fn normalize(&mut self) {
        self.nics.sort_by(|a, b| a.name.cmp(&b.name));
        self.connections.sort();
        self.connections.dedup();
    }
}

/// `v1.SwitchResponse`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct SwitchResponse {
    pub id: String,
    pub name: String,
    pub description: String,
    pub rack_id: String,
    pub mode: SwitchMode,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub os: Option<SwitchOs>,
    pub management_ip: String,
    pub management_user: String,
    pub console_command: String,
    /// ports by name, `actual` showing a pending desired state
    pub nics: Vec<SwitchNic>,
    /// by machine id, `actual` being the real state of the port
    pub connections: Vec<SwitchConnection>,
    pub partition: Partition,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_sync: Option<SwitchSync>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_sync_error: Option<SwitchSync>,
    pub created: Option<DateTime<Utc>>,
    pub changed: Option<DateTime<Utc>>,
}

impl SwitchResponse {
    /// The answer for a switch: `partition` is its partition (a partition that vanished is
    /// shown by id only), `filters` the BGP filters by port name (ports with an allocated
    /// machine, see [`filter`]).
    pub fn new(
        s: &Switch,
        partition: Option<&Partition>,
        filters: &BTreeMap<String, BgpFilter>,
    ) -> Self {
        let nic = |p: &SwitchPort, actual: PortStatus, filter: Option<BgpFilter>| SwitchNic {
            mac: p.mac.clone(),
            name: p.name.clone(),
            identifier: p.identifier.clone(),
            vrf: p.vrf.clone(),
            filter,
            actual,
            bgp_port_state: p.bgp_port_state.clone(),
            admin_status: Some(if p.admin_down { "DOWN" } else { "UP" }.to_string()),
        };
        let mut nics: Vec<SwitchNic> = s
            .nics
            .iter()
            .map(|p| {
                nic(
                    p,
                    p.desired.unwrap_or(p.actual),
                    filters.get(&p.name).cloned(),
                )
            })
            .collect();
        nics.sort_by(|a, b| a.name.cmp(&b.name));
        let mut connections: Vec<SwitchConnection> = s
            .connections
            .iter()
            .map(|c| {
                let port = s.nics.iter().find(|p| p.name == c.nic.name);
                let nic = match port {
                    Some(p) => nic(p, p.actual, None),
                    None => SwitchNic {
                        mac: c.nic.mac.clone(),
                        name: c.nic.name.clone(),
                        identifier: c.nic.identifier.clone(),
                        ..Default::default()
                    },
                };
                SwitchConnection {
                    nic,
                    machine_id: c.machine_id.clone(),
                }
            })
            .collect();
        connections.sort_by(|a, b| a.machine_id.cmp(&b.machine_id));
        Self {
            id: s.id.clone(),
            name: s.name.clone(),
            description: s.description.clone(),
            rack_id: s.rack_id.clone(),
            mode: s.mode,
            os: s.os.clone(),
            management_ip: s.management_ip.clone(),
            management_user: s.management_user.clone(),
            console_command: s.console_command.clone(),
            nics,
            connections,
            partition: partition.cloned().unwrap_or_else(|| Partition {
                id: s.partition_id.clone(),
                ..Default::default()
            }),
            last_sync: s.last_sync.clone(),
            last_sync_error: s.last_sync_error.clone(),
            created: s.created,
            changed: s.changed,
        }
    }
}

/// `POST /v1/switch/find` (every field optional, AND-combined; empty means not given).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct SwitchFindRequest {
    pub id: Option<String>,
    pub name: Option<String>,
    pub partitionid: Option<String>,
    pub rackid: Option<String>,
    pub osvendor: Option<String>,
    pub osversion: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn port(name: &str, actual: PortStatus, desired: Option<PortStatus>) -> SwitchPort {
        SwitchPort {
            mac: format!("aa:{name}"),
            name: name.into(),
            actual,
            desired,
            ..Default::default()
        }
    }

    #[test]
    fn parsing_is_lenient() {
        for (input, mode) in [
            ("replace", SwitchMode::Replace),
            ("REPLACE ", SwitchMode::Replace),
            ("operational", SwitchMode::Operational),
            ("", SwitchMode::Operational),
            ("maintenance", SwitchMode::Operational),
        ] {
            assert_eq!(SwitchMode::parse(input), mode, "{input:?}");
        }
        for (input, status) in [
            ("UP", PortStatus::Up),
            ("down", PortStatus::Down),
            ("UNKNOWN", PortStatus::Unknown),
            ("", PortStatus::Unknown),
            ("flapping", PortStatus::Unknown),
        ] {
            assert_eq!(PortStatus::parse(input), status, "{input:?}");
        }
        let nic: SwitchNic = serde_json::from_str(r#"{"name":"swp1","actual":null}"#).unwrap();
        assert_eq!(nic.actual, PortStatus::Unknown);
        let nic: SwitchNic = serde_json::from_str(r#"{"name":"swp1"}"#).unwrap();
        assert_eq!(nic.actual, PortStatus::Unknown);
    }

    #[test]
    fn response_shows_pending_desired_state_and_real_state_in_connections() {
        let s = Switch {
            id: "leaf01".into(),
            partition_id: "fra".into(),
            nics: vec![
                port("swp2", PortStatus::Up, Some(PortStatus::Down)),
                port("swp1", PortStatus::Up, None),
            ],
            connections: vec![
                Connection {
                    machine_id: "m2".into(),
                    nic: port("swp2", PortStatus::Up, None).reference(),
                },
                Connection {
                    machine_id: "m1".into(),
                    nic: port("swp1", PortStatus::Up, None).reference(),
                },
            ],
            ..Default::default()
        };
        let mut filters = BTreeMap::new();
        filters.insert("swp2".to_string(), BgpFilter::default());
        let r = SwitchResponse::new(&s, None, &filters);
        assert_eq!(r.partition.id, "fra");
        let nics: Vec<_> = r.nics.iter().map(|n| (n.name.as_str(), n.actual)).collect();
        assert_eq!(nics, [("swp1", PortStatus::Up), ("swp2", PortStatus::Down)]);
        assert!(r.nics[1].filter.is_some() && r.nics[0].filter.is_none());
        let cons: Vec<_> = r
            .connections
            .iter()
            .map(|c| (c.machine_id.as_str(), c.nic.name.as_str(), c.nic.actual))
            .collect();
        assert_eq!(
            cons,
            [
                ("m1", "swp1", PortStatus::Up),
                ("m2", "swp2", PortStatus::Up)
            ]
        );
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["mode"], "operational");
        assert_eq!(json["nics"][1]["actual"], "DOWN");
        assert!(json.get("last_sync").is_none());
    }

    #[test]
    fn vrf_and_disconnect_touch_only_the_machines_ports() {
        let mut s = Switch {
            nics: vec![
                port("swp1", PortStatus::Up, None),
                port("swp2", PortStatus::Up, None),
            ],
            connections: vec![Connection {
                machine_id: "m1".into(),
                nic: port("swp1", PortStatus::Up, None).reference(),
            }],
            ..Default::default()
        };
        assert!(s.set_machine_vrf("m1", "vrf42"));
        assert!(!s.set_machine_vrf("m1", "vrf42"));
        assert!(!s.set_machine_vrf("m9", "vrf1"));
        assert_eq!(s.nics[0].vrf, "vrf42");
        assert_eq!(s.nics[1].vrf, "");
        assert_eq!(s.connected_machines(), ["m1"]);
        assert!(s.disconnect_machine("m1"));
        assert!(!s.disconnect_machine("m1"));
        assert!(s.connections.is_empty());
    }
}
