//! Registration of a switch by metal-core at its start (metal-api §4.12): a new switch is
//! built from the request; a known one takes the reported ports and facts but keeps its
//! machine connections, port VRFs and states; a known one in `replace` mode is new hardware
//! with the same id, which adopts ports' VRFs and connections from its twin in the rack.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::ports::translate;
use super::{Connection, Switch, SwitchMode, SwitchNic, SwitchOs, SwitchPort};
use crate::error::{DomainError, DomainResult};

/// `POST /v1/switch/register` (`v1.SwitchRegisterRequest`), as metal-core sends it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct SwitchRegisterRequest {
    pub id: String,
    /// the switch's hostname; the id when absent
    pub name: Option<String>,
    pub description: Option<String>,
    pub partition_id: String,
    pub rack_id: String,
    /// accepted for compatibility; the mode is set with an update
    pub mode: Option<String>,
    pub os: Option<SwitchOs>,
    pub management_ip: String,
    pub management_user: String,
    /// used for a new switch only: operators keep it with an update
    pub console_command: Option<String>,
    pub nics: Vec<SwitchNic>,
}

/// The outcome of a registration: the switch to store, and whether it is new.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    pub switch: Switch,
    pub created: bool,
}

/// The switch operating systems of the contract (`v1.SwitchOS.vendor`).
pub const OS_VENDORS: [&str; 2] = ["Cumulus", "SONiC"];

impl SwitchRegisterRequest {
    /// The rules of the request itself: id, partition, rack, an os of a vendor the contract
    /// names (its enum, which strict clients check in the answer), and ports with a name and
    /// an identifier (or mac) each, both unique.
    pub fn validate(&self) -> DomainResult<()> {
        crate::misc::validate_id("switch", &self.id)?;
        if self.partition_id.trim().is_empty() {
            return Err(DomainError::invalid("partition_id should not be empty"));
        }
        if self.rack_id.trim().is_empty() {
            return Err(DomainError::invalid("rack_id should not be empty"));
        }
        if let Some(os) = &self.os {
            if !OS_VENDORS.contains(&os.vendor.as_str()) {
                return Err(DomainError::invalid(format!(
                    "os.vendor {:?} is not one of {}",
                    os.vendor,
                    OS_VENDORS.join(", ")
                )));
            }
        }
        let mut names = BTreeSet::new();
        let mut keys = BTreeSet::new();
        for (i, n) in self.nics.iter().enumerate() {
            if n.name.trim().is_empty() {
                return Err(DomainError::invalid(format!(
                    "nics[{i}]: name should not be empty"
                )));
            }
            let key = super::key(&n.identifier, &n.mac);
            if key.is_empty() {
                return Err(DomainError::invalid(format!(
                    "nics[{i}] ({}): identifier or mac should be given",
                    n.name
                )));
            }
            if !keys.insert(key) {
                return Err(DomainError::invalid(format!(
                    "duplicate identifier found in nics: {key}"
                )));
            }
            if !names.insert(n.name.as_str()) {
                return Err(DomainError::invalid(format!(
                    "duplicate name found in nics: {}",
                    n.name
                )));
            }
        }
        Ok(())
    }

    /// A new switch from the request (validated), operational, without connections.
    pub fn into_switch(self) -> DomainResult<Switch> {
        self.validate()?;
        let mut s = Switch {
            name: self.name.unwrap_or_else(|| self.id.clone()),
            id: self.id,
            description: self.description.unwrap_or_default(),
            partition_id: self.partition_id,
            rack_id: self.rack_id,
            mode: SwitchMode::Operational,
            os: self.os,
            management_ip: self.management_ip,
            management_user: self.management_user,
            console_command: self.console_command.unwrap_or_default(),
            nics: self.nics.into_iter().map(new_port).collect(),
            ..Default::default()
        };
        s.normalize();
        Ok(s)
    }
}

fn new_port(n: SwitchNic) -> SwitchPort {
    SwitchPort {
        mac: n.mac,
        name: n.name,
        identifier: n.identifier,
        vrf: n.vrf,
        ..Default::default()
    }
}

/// A registration: `current` is the stored switch with the request's id, `rack` the switches
/// of the request's rack (needed only when `current` is in replace mode).
pub fn register(
    current: Option<&Switch>,
    req: SwitchRegisterRequest,
    rack: &[Switch],
) -> DomainResult<Registration> {
    let (switch, created) = match current {
        None => (req.into_switch()?, true),
        Some(old) if old.mode == SwitchMode::Replace => (replace(old, req, rack)?, false),
        Some(old) => (reregister(old, req)?, false),
    };
    Ok(Registration { switch, created })
}

/// A known, operational switch registers again: ports are matched by identifier. A port with
/// a machine connection may neither vanish nor be renamed (422). Name, description (when
/// given), rack, partition, OS (when given) and management address are taken over; machine
/// connections, port VRFs and states, the console command and the mode are kept.
fn reregister(old: &Switch, req: SwitchRegisterRequest) -> DomainResult<Switch> {
    req.validate()?;
    let reported: BTreeMap<&str, &SwitchNic> = req
        .nics
        .iter()
        .map(|n| (super::key(&n.identifier, &n.mac), n))
        .collect();
    let connected = |key: &str| old.connections.iter().find(|c| c.nic.key() == key);
    for port in &old.nics {
        if reported.contains_key(port.key()) {
            continue;
        }
        if let Some(c) = connected(port.key()) {
            return Err(DomainError::unprocessable(format!(
                "nic with identifier {} gets removed but the machine with id {:?} is connected to it",
                port.key(),
                c.machine_id
            )));
        }
    }
    let mut nics = Vec::with_capacity(req.nics.len());
    for n in &req.nics {
        let key = super::key(&n.identifier, &n.mac);
        match old.nics.iter().find(|p| p.key() == key) {
            Some(p) => {
                if p.name != n.name {
                    if let Some(c) = connected(key) {
                        return Err(DomainError::unprocessable(format!(
                            "nic with identifier {key} wants to be renamed from {:?} to {:?}, but the machine with id {:?} is connected to it",
                            p.name, n.name, c.machine_id
                        )));
                    }
                }
                nics.push(SwitchPort {
                    name: n.name.clone(),
                    mac: n.mac.clone(),
                    ..p.clone()
                });
            }
            None => nics.push(new_port(n.clone())),
        }
    }
    let mut s = old.clone();
    for c in &mut s.connections {
        if let Some(p) = nics.iter().find(|p| p.key() == c.nic.key()) {
            c.nic.mac = p.mac.clone();
        }
    }
    s.nics = nics;
    if let Some(name) = req.name {
        s.name = name;
    }
    if let Some(d) = req.description {
        s.description = d;
    }
    s.rack_id = req.rack_id;
    s.partition_id = req.partition_id;
    if let Some(os) = req.os {
        s.os = Some(os);
    }
    s.management_ip = req.management_ip;
    s.management_user = req.management_user;
    s.normalize();
    Ok(s)
}

/// The twin of a switch: the one other switch of its rack and partition that is not in
/// replace mode.
pub fn find_twin<'a>(s: &Switch, rack: &'a [Switch]) -> DomainResult<&'a Switch> {
    let mut twins = rack.iter().filter(|t| {
        t.id != s.id
            && t.rack_id == s.rack_id
            && t.partition_id == s.partition_id
            && t.mode != SwitchMode::Replace
    });
    match (twins.next(), twins.next()) {
        (Some(t), None) => Ok(t),
        (Some(a), Some(b)) => Err(DomainError::unprocessable(format!(
            "found multiple twin switches for {} ({} and {})",
            s.id, a.id, b.id
        ))),
        (None, _) => Err(DomainError::unprocessable(format!(
            "no twin switch found for switch {} in partition {} and rack {}",
            s.id, s.partition_id, s.rack_id
        ))),
    }
}

/// Replacement hardware registers for a switch in replace mode: old and new must share
/// partition and rack; the twin must not be in replace mode. If the twin has connections,
/// the new switch must have every port of the twin (by name, translated between Cumulus and
/// SONiC naming), and gets the twin's port VRFs and connections, mapped to its own ports by
/// name. The result is operational. Operator data (console command, description unless
/// given, creation time, sync status) stays.
fn replace(old: &Switch, req: SwitchRegisterRequest, rack: &[Switch]) -> DomainResult<Switch> {
    let keep_description = req.description.is_none();
    let mut s = req.into_switch()?;
    if s.partition_id != old.partition_id {
        return Err(DomainError::unprocessable(format!(
            "old and new switch belong to different partitions, old: {}, new: {}",
            old.partition_id, s.partition_id
        )));
    }
    if s.rack_id != old.rack_id {
        return Err(DomainError::unprocessable(format!(
            "old and new switch belong to different racks, old: {}, new: {}",
            old.rack_id, s.rack_id
        )));
    }
    let twin = find_twin(&s, rack)?;
    if keep_description {
        s.description = old.description.clone();
    }
    s.console_command = old.console_command.clone();
    s.created = old.created;
    s.last_sync = old.last_sync.clone();
    s.last_sync_error = old.last_sync_error.clone();
    s.mode = SwitchMode::Operational;
    if twin.connections.is_empty() {
        return Ok(s);
    }
    // the new switch's ports under the names the twin's OS uses
    let names: Vec<&str> = s.nics.iter().map(|p| p.name.as_str()).collect();
    let to_twin = translate(&names, vendor(&s), vendor(twin))?;
    let by_twin_name: BTreeMap<&str, usize> = s
        .nics
        .iter()
        .enumerate()
        .filter_map(|(i, p)| to_twin.get(&p.name).map(|t| (t.as_str(), i)))
        .collect();
    let missing: Vec<&str> = twin
        .nics
        .iter()
        .map(|p| p.name.as_str())
        .filter(|n| !by_twin_name.contains_key(n))
        .collect();
    if !missing.is_empty() {
        return Err(DomainError::unprocessable(format!(
            "new switch misses the nics {missing:?} - check the breakout configuration of the switch ports of switch {}",
            s.name
        )));
    }
    for tp in &twin.nics {
        if let Some(&i) = by_twin_name.get(tp.name.as_str()) {
            s.nics[i].vrf = tp.vrf.clone();
            s.nics[i].admin_down = tp.admin_down;
        }
    }
    let mut connections = Vec::with_capacity(twin.connections.len());
    for c in &twin.connections {
        let Some(&i) = by_twin_name.get(c.nic.name.as_str()) else {
            return Err(DomainError::unprocessable(format!(
                "twin switch {} has a machine connection at port {} that the new switch does not have",
                twin.id, c.nic.name
            )));
        };
        connections.push(Connection {
            machine_id: c.machine_id.clone(),
            nic: s.nics[i].reference(),
        });
    }
    s.connections = connections;
    s.normalize();
    Ok(s)
}

fn vendor(s: &Switch) -> &str {
    s.os.as_ref().map_or("", |o| o.vendor.as_str())
}

#[cfg(test)]
mod tests {
    use super::super::PortStatus;
    use super::*;

    fn nic(name: &str, mac: &str) -> SwitchNic {
        SwitchNic {
            name: name.into(),
            mac: mac.into(),
            ..Default::default()
        }
    }

    fn req(id: &str, nics: Vec<SwitchNic>) -> SwitchRegisterRequest {
        SwitchRegisterRequest {
            id: id.into(),
            partition_id: "fra".into(),
            rack_id: "r1".into(),
            os: Some(SwitchOs {
                vendor: "SONiC".into(),
                ..Default::default()
            }),
            nics,
            ..Default::default()
        }
    }

    fn connect(s: &mut Switch, machine: &str, port: &str) {
        let p = s.nics.iter().find(|p| p.name == port).unwrap().reference();
        s.connections.push(Connection {
            machine_id: machine.into(),
            nic: p,
        });
        s.normalize();
    }

    #[test]
    fn request_rules() {
        let cases: Vec<(SwitchRegisterRequest, &str)> = vec![
            (req("", vec![]), "switch id should not be empty"),
            (
                SwitchRegisterRequest {
                    partition_id: " ".into(),
                    ..req("leaf01", vec![])
                },
                "partition_id should not be empty",
            ),
            (
                SwitchRegisterRequest {
                    rack_id: String::new(),
                    ..req("leaf01", vec![])
                },
                "rack_id should not be empty",
            ),
            (
                req("leaf01", vec![nic("swp1", "aa:01"), nic("swp2", "aa:01")]),
                "duplicate identifier found in nics: aa:01",
            ),
            (
                req("leaf01", vec![nic("swp1", "aa:01"), nic("swp1", "aa:02")]),
                "duplicate name found in nics: swp1",
            ),
            (
                req("leaf01", vec![nic("", "aa:01")]),
                "nics[0]: name should not be empty",
            ),
            (
                req("leaf01", vec![nic("swp1", "")]),
                "nics[0] (swp1): identifier or mac should be given",
            ),
            (
                SwitchRegisterRequest {
                    os: Some(SwitchOs::default()),
                    ..req("leaf01", vec![])
                },
                "os.vendor \"\" is not one of Cumulus, SONiC",
            ),
        ];
        for (r, msg) in cases {
            assert_eq!(r.validate(), Err(DomainError::invalid(msg)));
        }
        // identifiers take precedence over macs
        let mut a = nic("Ethernet0", "aa:01");
        a.identifier = "Eth1/1".into();
        let mut b = nic("Ethernet1", "aa:01");
        b.identifier = "Eth1/2".into();
        assert!(req("leaf01", vec![a, b]).validate().is_ok());
    }

    #[test]
    fn new_switch_is_operational_with_sorted_ports() {
        let mut r = req("leaf01", vec![nic("swp2", "aa:02"), nic("swp1", "aa:01")]);
        r.nics[0].actual = PortStatus::Up;
        r.nics[0].vrf = "vrf1".into();
        let reg = register(None, r, &[]).unwrap();
        assert!(reg.created);
        let s = reg.switch;
        assert_eq!(s.name, "leaf01", "name defaults to the id");
        assert_eq!(s.mode, SwitchMode::Operational);
        let ports: Vec<_> = s
            .nics
            .iter()
            .map(|p| (p.name.as_str(), p.vrf.as_str(), p.actual))
            .collect();
        assert_eq!(
            ports,
            [
                ("swp1", "", PortStatus::Unknown),
                ("swp2", "vrf1", PortStatus::Unknown)
            ]
        );
    }

    #[test]
    fn known_switch_keeps_connections_vrfs_and_operator_data() {
        let mut old = req("leaf01", vec![nic("swp1", "aa:01"), nic("swp2", "aa:02")])
            .into_switch()
            .unwrap();
        old.nics[0].vrf = "vrf42".into();
        old.nics[0].actual = PortStatus::Up;
        old.description = "kept".into();
        old.console_command = "telnet cs 7001".into();
        connect(&mut old, "m1", "swp1");
        // swp2 (no connection) is renamed, swp3 is new
        let mut r = req(
            "leaf01",
            vec![
                nic("swp1", "aa:01"),
                nic("swp2s0", "aa:02"),
                nic("swp3", "aa:03"),
            ],
        );
        r.rack_id = "r2".into();
        r.management_ip = "10.1.1.1".into();
        let reg = register(Some(&old), r, &[]).unwrap();
        assert!(!reg.created);
        let s = reg.switch;
        assert_eq!(s.description, "kept");
        assert_eq!(s.console_command, "telnet cs 7001");
        assert_eq!(
            (s.rack_id.as_str(), s.management_ip.as_str()),
            ("r2", "10.1.1.1")
        );
        assert_eq!(s.connections, old.connections);
        let ports: Vec<_> = s
            .nics
            .iter()
            .map(|p| (p.name.as_str(), p.vrf.as_str(), p.actual))
            .collect();
        assert_eq!(
            ports,
            [
                ("swp1", "vrf42", PortStatus::Up),
                ("swp2s0", "", PortStatus::Unknown),
                ("swp3", "", PortStatus::Unknown)
            ]
        );
    }

    #[test]
    fn known_switch_refuses_to_lose_or_rename_connected_ports() {
        let mut old = req("leaf01", vec![nic("swp1", "aa:01"), nic("swp2", "aa:02")])
            .into_switch()
            .unwrap();
        connect(&mut old, "m1", "swp1");
        let gone = register(Some(&old), req("leaf01", vec![nic("swp2", "aa:02")]), &[]);
        assert_eq!(
            gone,
            Err(DomainError::unprocessable(
                "nic with identifier aa:01 gets removed but the machine with id \"m1\" is connected to it"
            ))
        );
        let renamed = register(
            Some(&old),
            req("leaf01", vec![nic("swp9", "aa:01"), nic("swp2", "aa:02")]),
            &[],
        );
        assert_eq!(
            renamed,
            Err(DomainError::unprocessable(
                "nic with identifier aa:01 wants to be renamed from \"swp1\" to \"swp9\", but the machine with id \"m1\" is connected to it"
            ))
        );
    }

    fn rack_with_twin(twin_vendor: &str, twin_ports: &[&str]) -> (Switch, Switch) {
        let mut old = req(
            "leaf01",
            vec![nic("Ethernet0", "aa:00"), nic("Ethernet4", "aa:04")],
        )
        .into_switch()
        .unwrap();
        old.mode = SwitchMode::Replace;
        old.console_command = "telnet cs 7001".into();
        old.description = "broken".into();
        let mut t = req(
            "leaf02",
            twin_ports
                .iter()
                .enumerate()
                .map(|(i, n)| nic(n, &format!("bb:{i:02}")))
                .collect(),
        );
        t.os = Some(SwitchOs {
            vendor: twin_vendor.into(),
            ..Default::default()
        });
        let mut twin = t.into_switch().unwrap();
        (old, {
            if let Some(p) = twin.nics.first_mut() {
                p.vrf = "vrf7".into();
            }
            twin
        })
    }

    #[test]
    fn replace_adopts_vrfs_and_connections_from_the_twin() {
        let (old, mut twin) = rack_with_twin("Cumulus", &["swp1", "swp2"]);
        connect(&mut twin, "m1", "swp1");
        let new = req(
            "leaf01",
            vec![nic("Ethernet0", "cc:00"), nic("Ethernet4", "cc:04")],
        );
        let reg = register(Some(&old), new, &[old.clone(), twin.clone()]).unwrap();
        let s = reg.switch;
        assert!(!reg.created);
        assert_eq!(s.mode, SwitchMode::Operational);
        assert_eq!(s.console_command, "telnet cs 7001");
        assert_eq!(s.description, "broken");
        assert_eq!(s.nics[0].vrf, "vrf7", "Ethernet0 is swp1 of the twin");
        assert_eq!(s.nics[0].mac, "cc:00");
        assert_eq!(s.connections.len(), 1);
        assert_eq!(s.connections[0].machine_id, "m1");
        assert_eq!(s.connections[0].nic.name, "Ethernet0");
        assert_eq!(s.connections[0].nic.mac, "cc:00");
    }

    #[test]
    fn replace_without_twin_connections_just_becomes_operational() {
        let (old, twin) = rack_with_twin("SONiC", &["Ethernet0"]);
        let new = req("leaf01", vec![nic("Ethernet8", "cc:08")]);
        let s = register(Some(&old), new, &[twin]).unwrap().switch;
        assert_eq!(s.mode, SwitchMode::Operational);
        assert_eq!(s.nics.len(), 1);
        assert!(s.connections.is_empty());
    }

    #[test]
    fn replace_errors() {
        let (old, mut twin) = rack_with_twin("SONiC", &["Ethernet0", "Ethernet4"]);
        connect(&mut twin, "m1", "Ethernet4");
        let ok_nics = || vec![nic("Ethernet0", "cc:00"), nic("Ethernet4", "cc:04")];
        let mut other_rack = req("leaf01", ok_nics());
        other_rack.rack_id = "r9".into();
        let mut other_partition = req("leaf01", ok_nics());
        other_partition.partition_id = "muc".into();
        let mut second = twin.clone();
        second.id = "leaf03".into();
        let cases: Vec<(SwitchRegisterRequest, Vec<Switch>, &str)> = vec![
            (
                other_rack,
                vec![twin.clone()],
                "old and new switch belong to different racks, old: r1, new: r9",
            ),
            (
                other_partition,
                vec![twin.clone()],
                "old and new switch belong to different partitions, old: fra, new: muc",
            ),
            (
                req("leaf01", ok_nics()),
                vec![old.clone()],
                "no twin switch found for switch leaf01 in partition fra and rack r1",
            ),
            (
                req("leaf01", ok_nics()),
                vec![twin.clone(), second],
                "found multiple twin switches for leaf01 (leaf02 and leaf03)",
            ),
            (
                req("leaf01", vec![nic("Ethernet0", "cc:00")]),
                vec![twin.clone()],
                "new switch misses the nics [\"Ethernet4\"] - check the breakout configuration of the switch ports of switch leaf01",
            ),
        ];
        for (r, rack, msg) in cases {
            assert_eq!(
                register(Some(&old), r, &rack),
                Err(DomainError::unprocessable(msg))
            );
        }
    }
}
