//! Migration of a switch's machine connections to the switch that replaces it
//! (`POST /v1/switch/migrate`): new hardware with a new id, in the same partition and rack,
//! possibly with another OS (Cumulus to SONiC), takes over the machines cabled to the old
//! switch. Unlike a replacement in `replace` mode (same id, see [`super::register`]), both
//! switches stay registered; the old one keeps its ports but no machine connections.
//!
//! What moves, per connected port of the old switch, to the port of the new switch with the
//! translated name ([`super::ports::translate`], e.g. `swp1` to `Ethernet0`): the machine
//! connections (with the new port's mac and identifier), the port's VRF, and the state the
//! port should have (the pending desired state, else the last actual one) as the new port's
//! desired state when it differs from what the new port reports; metal-core on the new switch
//! applies it and its notify clears it. The old ports lose their VRF and pending state, so
//! the old switch configures none of the machines' networks any more.
//!
//! The machines' LLDP neighbours that name the old switch's ports are rewritten to the new
//! ports ([`rewire_neighbors`]), as metal-stack does, so that a machine's hardware agrees with
//! the connections until its next registration reports what it sees.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::ports::translate;
use super::{Connection, PortStatus, Switch, SwitchPort};
use crate::error::{DomainError, DomainResult};
use crate::machine::MachineNic;

/// `v1.SwitchMigrateRequest`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct SwitchMigrateRequest {
    /// the id of the switch that should be migrated away from
    pub old_switch_id: String,
    /// the id of the new switch to migrate to
    pub new_switch_id: String,
}

impl SwitchMigrateRequest {
    /// Both ids are given and differ (400 otherwise).
    pub fn validate(&self) -> DomainResult<()> {
        if self.old_switch_id.trim().is_empty() {
            return Err(DomainError::invalid("old_switch_id should not be empty"));
        }
        if self.new_switch_id.trim().is_empty() {
            return Err(DomainError::invalid("new_switch_id should not be empty"));
        }
        if self.old_switch_id == self.new_switch_id {
            return Err(DomainError::invalid(format!(
                "old_switch_id and new_switch_id must differ, both are {}",
                self.old_switch_id
            )));
        }
        Ok(())
    }
}

/// The two switches as they are to be written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migration {
    /// the old switch without connections, its formerly connected ports without VRF
    pub old: Switch,
    /// the new switch with the connections, VRFs and port states
    pub new: Switch,
    /// `(old port, new port)` of each moved port, sorted by the old name
    pub moved: Vec<(String, String)>,
}

/// Moves the machine connections of `old` to `new`. Refused (422) when the switches are in
/// different partitions or racks, when `new` already has connections, when a port name cannot
/// be translated, or when a connected port of `old` has no counterpart on `new` (the message
/// names each such port and its machine).
pub fn migrate(old: &Switch, new: &Switch) -> DomainResult<Migration> {
    if old.partition_id != new.partition_id {
        return Err(DomainError::unprocessable(format!(
            "cannot migrate from switch {} in partition {} to switch {} in partition {}: the switches must be in the same partition",
            old.id, old.partition_id, new.id, new.partition_id
        )));
    }
    if old.rack_id != new.rack_id {
        return Err(DomainError::unprocessable(format!(
            "cannot migrate from switch {} in rack {} to switch {} in rack {}: the switches must be in the same rack",
            old.id, old.rack_id, new.id, new.rack_id
        )));
    }
    if !new.connections.is_empty() {
        return Err(DomainError::unprocessable(format!(
            "cannot migrate to switch {}: it already has machine connections ({})",
            new.id,
            new.connected_machines().join(", ")
        )));
    }
    // every port name of the old switch, so that broken-out ports are recognized
    let names: BTreeSet<&str> = old
        .nics
        .iter()
        .map(|p| p.name.as_str())
        .chain(old.connections.iter().map(|c| c.nic.name.as_str()))
        .collect();
    let names: Vec<&str> = names.into_iter().collect();
    let dictionary = translate(&names, vendor(old), vendor(new))?;

    // connected old port name -> index of the new port
    let mut target: BTreeMap<&str, usize> = BTreeMap::new();
    let mut missing = Vec::new();
    for c in &old.connections {
        let old_name = c.nic.name.as_str();
        if target.contains_key(old_name) {
            continue;
        }
        let new_name = &dictionary[old_name];
        match new
            .nics
            .iter()
            .position(|p| p.name.eq_ignore_ascii_case(new_name))
        {
            Some(i) => {
                target.insert(old_name, i);
            }
            None => missing.push(format!(
                "{new_name} (for {old_name}, machine {})",
                c.machine_id
            )),
        }
    }
    if !missing.is_empty() {
        return Err(DomainError::unprocessable(format!(
            "cannot migrate from switch {} to switch {}, which lacks the ports {}; check the breakout configuration of its ports",
            old.id,
            new.id,
            missing.join(", ")
        )));
    }

    let mut o = old.clone();
    let mut n = new.clone();
    n.connections = old
        .connections
        .iter()
        .map(|c| Connection {
            machine_id: c.machine_id.clone(),
            nic: n.nics[target[c.nic.name.as_str()]].reference(),
        })
        .collect();
    let mut moved = Vec::with_capacity(target.len());
    for (&old_name, &i) in &target {
        let from = old
            .nics
            .iter()
            .find(|p| p.name == old_name)
            .cloned()
            .unwrap_or_default();
        let to = &mut n.nics[i];
        to.vrf = from.vrf.clone();
        to.desired = carried_state(&from, to);
        to.admin_down = from.admin_down;
        if let Some(p) = o.nics.iter_mut().find(|p| p.name == old_name) {
            p.vrf.clear();
            p.desired = None;
            p.admin_down = false;
        }
        moved.push((old_name.to_string(), to.name.clone()));
    }
    o.connections.clear();
    o.normalize();
    n.normalize();
    Ok(Migration {
        old: o,
        new: n,
        moved,
    })
}

/// The desired state of the new port: the state the old port should have (its pending desired
/// state, else its actual one) when known and different from what the new port reports.
pub fn carried_state(from: &SwitchPort, to: &SwitchPort) -> Option<PortStatus> {
    match from.desired.unwrap_or(from.actual) {
        PortStatus::Unknown => None,
        s if s == to.actual => None,
        s => Some(s),
    }
}

/// Rewrites the LLDP neighbours of machine `machine_id` that are ports of the old switch (before
/// the migration) it is connected to: same port name and mac as one of its connections, and
/// the old switch's name when the neighbour names a switch. They become the new switch's port
/// (name, mac, identifier, and the new switch's name). Whether anything changed.
pub fn rewire_neighbors(
    nics: &mut [MachineNic],
    machine_id: &str,
    old: &Switch,
    migration: &Migration,
) -> bool {
    let mut changed = false;
    for nb in nics.iter_mut().flat_map(|n| n.neighbors.iter_mut()) {
        if !(nb.hostname.is_empty() || nb.hostname == old.name) {
            continue;
        }
        let connected = old.connections.iter().any(|c| {
            c.machine_id == machine_id
                && c.nic.name == nb.name
                && c.nic.mac.eq_ignore_ascii_case(&nb.mac)
        });
        if !connected {
            continue;
        }
        let Some((_, new_name)) = migration.moved.iter().find(|(o, _)| *o == nb.name) else {
            continue;
        };
        let Some(port) = migration.new.nics.iter().find(|p| &p.name == new_name) else {
            continue;
        };
        nb.name = port.name.clone();
        nb.mac = port.mac.clone();
        nb.identifier = port.identifier.clone();
        nb.hostname = migration.new.name.clone();
        changed = true;
    }
    changed
}

fn vendor(s: &Switch) -> &str {
    s.os.as_ref().map_or("", |o| o.vendor.as_str())
}

#[cfg(test)]
mod tests {
    use super::super::SwitchOs;
    use super::*;
    use PortStatus::{Down, Unknown, Up};

    fn switch(id: &str, vendor: &str, ports: &[&str]) -> Switch {
        let mut s = Switch {
            id: id.into(),
            name: id.into(),
            partition_id: "fra".into(),
            rack_id: "r1".into(),
            os: Some(SwitchOs {
                vendor: vendor.into(),
                ..Default::default()
            }),
            nics: ports
                .iter()
                .enumerate()
                .map(|(i, p)| SwitchPort {
                    name: p.to_string(),
                    mac: format!("{id}:{i:02}"),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        };
        s.normalize();
        s
    }

    fn connect(s: &mut Switch, machine: &str, port: &str, vrf: &str) {
        let p = s.port_mut(port).unwrap();
        p.vrf = vrf.into();
        let nic = p.reference();
        s.connections.push(Connection {
            machine_id: machine.into(),
            nic,
        });
        s.normalize();
    }

    fn port<'a>(s: &'a Switch, name: &str) -> &'a SwitchPort {
        s.nics.iter().find(|p| p.name == name).unwrap()
    }

    #[test]
    fn request_needs_two_different_ids() {
        let req = |o: &str, n: &str| SwitchMigrateRequest {
            old_switch_id: o.into(),
            new_switch_id: n.into(),
        };
        assert_eq!(req("leaf01", "leaf03").validate(), Ok(()));
        for (r, msg) in [
            (req("", "leaf03"), "old_switch_id should not be empty"),
            (req("leaf01", " "), "new_switch_id should not be empty"),
            (
                req("leaf01", "leaf01"),
                "old_switch_id and new_switch_id must differ, both are leaf01",
            ),
        ] {
            assert_eq!(r.validate(), Err(DomainError::invalid(msg)));
        }
    }

    #[test]
    fn cumulus_to_sonic_moves_connections_vrfs_and_states() {
        let mut old = switch("leaf01", "Cumulus", &["swp1", "swp2s0", "swp2s1", "swp3"]);
        connect(&mut old, "m1", "swp1", "vrf42");
        connect(&mut old, "m2", "swp2s1", "vrf43");
        old.port_mut("swp1").unwrap().actual = Down;
        old.port_mut("swp2s1").unwrap().actual = Up;
        old.port_mut("swp2s1").unwrap().desired = Some(Down);
        old.port_mut("swp3").unwrap().vrf = "untouched".into();
        let mut new = switch(
            "leaf03",
            "SONiC",
            &["Ethernet0", "Ethernet4", "Ethernet5", "Ethernet8"],
        );
        new.port_mut("Ethernet0").unwrap().actual = Up;

        let m = migrate(&old, &new).unwrap();
        assert_eq!(
            m.moved,
            [
                ("swp1".to_string(), "Ethernet0".to_string()),
                ("swp2s1".into(), "Ethernet5".into())
            ]
        );
        let cons: Vec<_> = m
            .new
            .connections
            .iter()
            .map(|c| {
                (
                    c.machine_id.as_str(),
                    c.nic.name.as_str(),
                    c.nic.mac.as_str(),
                )
            })
            .collect();
        assert_eq!(
            cons,
            [
                ("m1", "Ethernet0", "leaf03:00"),
                ("m2", "Ethernet5", "leaf03:02")
            ]
        );
        let e0 = port(&m.new, "Ethernet0");
        assert_eq!(
            (e0.vrf.as_str(), e0.actual, e0.desired),
            ("vrf42", Up, Some(Down))
        );
        let e5 = port(&m.new, "Ethernet5");
        assert_eq!(
            (e5.vrf.as_str(), e5.actual, e5.desired),
            ("vrf43", Unknown, Some(Down))
        );
        assert_eq!(port(&m.new, "Ethernet4").vrf, "");
        // the old switch keeps its ports, without connections, VRFs or pending states
        assert!(m.old.connections.is_empty());
        assert_eq!(m.old.nics.len(), 4);
        assert_eq!(port(&m.old, "swp1").vrf, "");
        assert_eq!(port(&m.old, "swp2s1").desired, None);
        assert_eq!(port(&m.old, "swp3").vrf, "untouched");
    }

    #[test]
    fn sonic_to_cumulus_and_same_os() {
        let mut old = switch("leaf01", "SONiC", &["Ethernet0", "Ethernet4"]);
        connect(&mut old, "m1", "Ethernet0", "vrf1");
        connect(&mut old, "m2", "Ethernet4", "vrf2");
        let new = switch("leaf03", "Cumulus", &["swp1", "swp2"]);
        let m = migrate(&old, &new).unwrap();
        assert_eq!(
            m.moved,
            [
                ("Ethernet0".to_string(), "swp1".to_string()),
                ("Ethernet4".into(), "swp2".into())
            ]
        );
        assert_eq!(port(&m.new, "swp2").vrf, "vrf2");

        let same = switch("leaf03", "SONiC", &["Ethernet0", "Ethernet4"]);
        let m = migrate(&old, &same).unwrap();
        assert_eq!(m.new.connected_machines(), ["m1", "m2"]);
        assert_eq!(port(&m.new, "Ethernet0").vrf, "vrf1");
    }

    #[test]
    fn neighbours_follow_the_connections() {
        let mut old = switch("leaf01", "Cumulus", &["swp1", "swp2"]);
        connect(&mut old, "m1", "swp1", "vrf1");
        connect(&mut old, "m2", "swp2", "vrf2");
        let new = switch("leaf03", "SONiC", &["Ethernet0", "Ethernet4"]);
        let m = migrate(&old, &new).unwrap();
        let nb = |name: &str, mac: &str, host: &str| MachineNic {
            name: name.into(),
            mac: mac.into(),
            hostname: host.into(),
            ..Default::default()
        };
        let mut nics = vec![
            MachineNic {
                name: "eth0".into(),
                neighbors: vec![nb("swp1", "LEAF01:00", "leaf01")],
                ..Default::default()
            },
            MachineNic {
                name: "eth1".into(),
                // the twin's port of the same name, and m2's port
                neighbors: vec![
                    nb("swp1", "leaf02:00", "leaf02"),
                    nb("swp2", "leaf01:01", ""),
                ],
                ..Default::default()
            },
        ];
        assert!(rewire_neighbors(&mut nics, "m1", &old, &m));
        assert_eq!(nics[0].neighbors[0], nb("Ethernet0", "leaf03:00", "leaf03"));
        assert_eq!(nics[1].neighbors[0], nb("swp1", "leaf02:00", "leaf02"));
        assert_eq!(
            nics[1].neighbors[1],
            nb("swp2", "leaf01:01", ""),
            "m2's port"
        );
        assert!(!rewire_neighbors(&mut nics, "m1", &old, &m), "done once");
    }

    #[test]
    fn carried_state_table() {
        let p = |actual, desired| SwitchPort {
            actual,
            desired,
            ..Default::default()
        };
        for (from, to, want) in [
            (p(Down, None), p(Up, None), Some(Down)),
            (p(Up, Some(Down)), p(Down, None), None),
            (p(Up, None), p(Up, None), None),
            (p(Up, None), p(Unknown, None), Some(Up)),
            (p(Unknown, None), p(Up, None), None),
            (p(Unknown, Some(Up)), p(Down, None), Some(Up)),
        ] {
            assert_eq!(carried_state(&from, &to), want, "{from:?} -> {to:?}");
        }
    }

    #[test]
    fn refusals() {
        let mut old = switch("leaf01", "Cumulus", &["swp1", "swp2", "swp3"]);
        connect(&mut old, "m1", "swp1", "vrf1");
        connect(&mut old, "m2", "swp3", "vrf2");
        let sonic = || switch("leaf03", "SONiC", &["Ethernet0", "Ethernet4", "Ethernet8"]);
        let mut other_partition = sonic();
        other_partition.partition_id = "muc".into();
        let mut other_rack = sonic();
        other_rack.rack_id = "r2".into();
        let mut busy = sonic();
        connect(&mut busy, "m9", "Ethernet4", "");
        let short = switch("leaf03", "SONiC", &["Ethernet0", "Ethernet4"]);
        let mut bad_name = old.clone();
        bad_name.nics.push(SwitchPort {
            name: "eth0".into(),
            ..Default::default()
        });
        let unknown_os = switch("leaf03", "OS10", &["ethernet1/1/1"]);
        for (from, to, msg) in [
            (&old, &other_partition, "cannot migrate from switch leaf01 in partition fra to switch leaf03 in partition muc: the switches must be in the same partition"),
            (&old, &other_rack, "cannot migrate from switch leaf01 in rack r1 to switch leaf03 in rack r2: the switches must be in the same rack"),
            (&old, &busy, "cannot migrate to switch leaf03: it already has machine connections (m9)"),
            (&old, &short, "cannot migrate from switch leaf01 to switch leaf03, which lacks the ports Ethernet8 (for swp3, machine m2); check the breakout configuration of its ports"),
            (&bad_name, &sonic(), "invalid port name eth0, expected the prefix 'swp'"),
            (&old, &unknown_os, "cannot translate port names from switch os Cumulus to OS10"),
        ] {
            assert_eq!(migrate(from, to), Err(DomainError::unprocessable(msg)));
        }
    }
}
