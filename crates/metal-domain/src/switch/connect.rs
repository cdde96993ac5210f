//! Which switch ports a machine is cabled to (metal-api §4.12, ConnectMachineWithSwitches),
//! computed when the machine registers: a switch port is connected when some NIC of the
//! machine sees it as LLDP neighbour (neighbour hostname = switch name or id, neighbour
//! identifier = port identifier, each falling back to the mac). A machine must be connected
//! to exactly two switches (its leaf pair), of one partition and one rack, with mirrored
//! ports (the same port names, translated when the twins run different OSes), and none of its
//! ports may be taken by another machine. The machine gets rack and partition from them.
//!
//! Unlike metal-stack, switches that no longer see the machine lose its connections, and a
//! port taken by another machine is named with that machine (metal-stack's "duplicate
//! connections for nic" after a machine's UUID changed, known problem 9.7).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::ports::translate;
use super::{Connection, Switch};
use crate::error::{DomainError, DomainResult};

/// An LLDP neighbour a machine NIC sees: a switch port.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Neighbor {
    /// the port name
    pub name: String,
    pub mac: String,
    pub identifier: String,
    /// the switch's hostname
    pub hostname: String,
}

/// A NIC of a machine as metal-hammer reports it, with its LLDP neighbours.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MachineNic {
    pub name: String,
    pub mac: String,
    pub identifier: String,
    pub neighbors: Vec<Neighbor>,
}

/// Where a machine is cabled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    /// rack and partition of the machine's two switches
    pub rack_id: String,
    pub partition_id: String,
    /// every switch whose connections change (the two with the machine's new connections,
    /// and any that lost stale ones), by id, to be stored
    pub switches: Vec<Switch>,
}

/// The connections of `machine_id` to the switch `s`, from the machine's NICs.
fn seen_by(s: &Switch, machine_id: &str, nics: &[MachineNic]) -> Vec<Connection> {
    let sees = |hostname: &str, key: &str| {
        nics.iter()
            .flat_map(|n| &n.neighbors)
            .any(|nb| nb.hostname == hostname && super::key(&nb.identifier, &nb.mac) == key)
    };
    s.nics
        .iter()
        .filter(|p| {
            !p.key().is_empty()
                && ((!s.name.is_empty() && sees(&s.name, p.key())) || sees(&s.id, p.key()))
        })
        .map(|p| Connection {
            machine_id: machine_id.to_string(),
            nic: p.reference(),
        })
        .collect()
}

fn names(cons: &[Connection]) -> String {
    cons.iter()
        .map(|c| c.nic.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Computes the connections of a machine from its NICs' LLDP neighbours and the switches
/// (those of its partition, or all), and checks them: exactly two switches, one partition,
/// one rack, no port taken by another machine, mirrored ports. Errors are 422.
pub fn connect_machine(
    machine_id: &str,
    nics: &[MachineNic],
    switches: &[Switch],
) -> DomainResult<Placement> {
    let mut sorted: Vec<&Switch> = switches.iter().collect();
    sorted.sort_by(|a, b| a.id.cmp(&b.id));
    let seen: Vec<(&Switch, Vec<Connection>)> = sorted
        .iter()
        .map(|s| (*s, seen_by(s, machine_id, nics)))
        .collect();
    let connected: Vec<&(&Switch, Vec<Connection>)> =
        seen.iter().filter(|(_, c)| !c.is_empty()).collect();
    if connected.len() != 2 {
        let ids: Vec<&str> = connected.iter().map(|(s, _)| s.id.as_str()).collect();
        return Err(DomainError::unprocessable(format!(
            "machine {machine_id} is not connected to exactly two switches, found connections to {} switches{}",
            ids.len(),
            if ids.is_empty() { String::new() } else { format!(" ({})", ids.join(", ")) }
        )));
    }
    let (s1, c1): (&Switch, &[Connection]) = (connected[0].0, &connected[0].1);
    let (s2, c2): (&Switch, &[Connection]) = (connected[1].0, &connected[1].1);
    if s1.partition_id != s2.partition_id {
        return Err(DomainError::unprocessable(format!(
            "connected switches of a machine must be in the same partition, partition of switch {}: {}, partition of switch {}: {}, machine: {machine_id}",
            s1.id, s1.partition_id, s2.id, s2.partition_id
        )));
    }
    if s1.rack_id != s2.rack_id {
        return Err(DomainError::unprocessable(format!(
            "connected switches of a machine must reside in the same rack, rack of switch {}: {}, rack of switch {}: {}, machine: {machine_id}",
            s1.id, s1.rack_id, s2.id, s2.rack_id
        )));
    }
    for (s, cons) in [(s1, c1), (s2, c2)] {
        for c in cons {
            if let Some(other) = s
                .connections
                .iter()
                .find(|o| o.machine_id != machine_id && o.nic.name == c.nic.name)
            {
                return Err(DomainError::unprocessable(format!(
                    "switch port {} of switch {} is already connected to machine {}; if that machine was replaced (its id changed), delete it first",
                    c.nic.name, s.id, other.machine_id
                )));
            }
        }
    }
    check_mirrored(machine_id, (s1, c1), (s2, c2))?;
    let mut changed = Vec::new();
    for (s, cons) in &seen {
        let mut old: Vec<&Connection> = s
            .connections
            .iter()
            .filter(|c| c.machine_id == machine_id)
            .collect();
        old.sort();
        let mut new: Vec<&Connection> = cons.iter().collect();
        new.sort();
        if old == new {
            continue;
        }
        let mut updated = (*s).clone();
        updated.connections.retain(|c| c.machine_id != machine_id);
        updated.connections.extend(cons.iter().cloned());
        updated.normalize();
        changed.push(updated);
    }
    Ok(Placement {
        rack_id: s1.rack_id.clone(),
        partition_id: s1.partition_id.clone(),
        switches: changed,
    })
}

/// Both switches see the machine on the same ports (s1's names translated to s2's OS).
fn check_mirrored(
    machine_id: &str,
    (s1, c1): (&Switch, &[Connection]),
    (s2, c2): (&Switch, &[Connection]),
) -> DomainResult<()> {
    let mirror_error = || {
        DomainError::unprocessable(format!(
            "twin switches do not have a connection map that is mirrored crosswise for machine {machine_id}, switch {} (connections: {}), switch {} (connections: {})",
            s1.id,
            names(c1),
            s2.id,
            names(c2)
        ))
    };
    if c1.len() != c2.len() {
        return Err(mirror_error());
    }
    let vendor = |s: &Switch| s.os.as_ref().map_or(String::new(), |o| o.vendor.clone());
    let all: Vec<&str> = s1.nics.iter().map(|p| p.name.as_str()).collect();
    let dictionary: BTreeMap<String, String> = translate(&all, &vendor(s1), &vendor(s2))?;
    let on_s2: BTreeSet<&str> = c2.iter().map(|c| c.nic.name.as_str()).collect();
    for c in c1 {
        match dictionary.get(&c.nic.name) {
            Some(name) if on_s2.contains(name.as_str()) => {}
            _ => return Err(mirror_error()),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::{PortRef, SwitchOs, SwitchPort};
    use super::*;

    fn switch(id: &str, rack: &str, vendor: &str, ports: &[&str]) -> Switch {
        Switch {
            id: id.into(),
            name: id.into(),
            partition_id: "fra".into(),
            rack_id: rack.into(),
            os: Some(SwitchOs {
                vendor: vendor.into(),
                ..Default::default()
            }),
            nics: ports
                .iter()
                .map(|p| SwitchPort {
                    name: p.to_string(),
                    mac: format!("{id}:{p}"),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }
    }

    /// A machine NIC seeing `port` of `switch` (by the port's mac).
    fn sees(nic: &str, switch: &str, port: &str) -> MachineNic {
        MachineNic {
            name: nic.into(),
            mac: format!("m:{nic}"),
            identifier: String::new(),
            neighbors: vec![Neighbor {
                name: port.into(),
                mac: format!("{switch}:{port}"),
                identifier: String::new(),
                hostname: switch.into(),
            }],
        }
    }

    fn taken(mut s: Switch, machine: &str, port: &str) -> Switch {
        s.connections.push(Connection {
            machine_id: machine.into(),
            nic: PortRef {
                name: port.into(),
                mac: format!("{}:{port}", s.id),
                identifier: String::new(),
            },
        });
        s
    }

    fn pair() -> Vec<Switch> {
        vec![
            switch("leaf01", "r1", "SONiC", &["Ethernet0", "Ethernet4"]),
            switch("leaf02", "r1", "SONiC", &["Ethernet0", "Ethernet4"]),
        ]
    }

    #[test]
    fn connects_to_the_leaf_pair() {
        let nics = [
            sees("eth0", "leaf01", "Ethernet4"),
            sees("eth1", "leaf02", "Ethernet4"),
        ];
        let mut switches = pair();
        switches.push(switch("leaf03", "r2", "SONiC", &["Ethernet4"]));
        let p = connect_machine("m1", &nics, &switches).unwrap();
        assert_eq!((p.rack_id.as_str(), p.partition_id.as_str()), ("r1", "fra"));
        let got: Vec<_> = p
            .switches
            .iter()
            .map(|s| {
                (
                    s.id.as_str(),
                    s.connections[0].machine_id.as_str(),
                    s.connections[0].nic.name.as_str(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [("leaf01", "m1", "Ethernet4"), ("leaf02", "m1", "Ethernet4")]
        );
        // connecting again changes nothing
        let p2 = connect_machine("m1", &nics, &p.switches).unwrap();
        assert!(p2.switches.is_empty());
    }

    #[test]
    fn identifiers_and_mixed_operating_systems() {
        let mut cumulus = switch("leaf01", "r1", "Cumulus", &["swp1", "swp2"]);
        cumulus.nics[0].identifier = "port-1".into();
        let sonic = switch("leaf02", "r1", "SONiC", &["Ethernet0", "Ethernet4"]);
        let mut a = sees("eth0", "leaf01", "swp1");
        a.neighbors[0].identifier = "port-1".into();
        a.neighbors[0].mac = "something else".into();
        let nics = [a, sees("eth1", "leaf02", "Ethernet0")];
        let p = connect_machine("m1", &nics, &[cumulus.clone(), sonic.clone()]).unwrap();
        assert_eq!(p.switches.len(), 2);
        assert_eq!(p.switches[0].connections[0].nic.identifier, "port-1");
        // swp2 is Ethernet4, not Ethernet0
        let nics = [
            sees("eth0", "leaf01", "swp2"),
            sees("eth1", "leaf02", "Ethernet0"),
        ];
        assert!(connect_machine("m1", &nics, &[cumulus, sonic]).is_err());
    }

    #[test]
    fn stale_connections_of_the_machine_are_removed() {
        let mut switches = pair();
        switches.push(taken(
            switch("leaf09", "r9", "SONiC", &["Ethernet0"]),
            "m1",
            "Ethernet0",
        ));
        let nics = [
            sees("eth0", "leaf01", "Ethernet0"),
            sees("eth1", "leaf02", "Ethernet0"),
        ];
        let p = connect_machine("m1", &nics, &switches).unwrap();
        let ids: Vec<_> = p.switches.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, ["leaf01", "leaf02", "leaf09"]);
        assert!(p.switches[2].connections.is_empty());
    }

    #[test]
    fn errors() {
        let e = |m: &str| Err(DomainError::unprocessable(m));
        let both = [
            sees("eth0", "leaf01", "Ethernet0"),
            sees("eth1", "leaf02", "Ethernet0"),
        ];
        let mut other_rack = pair();
        other_rack[1].rack_id = "r2".into();
        let mut other_partition = pair();
        other_partition[1].partition_id = "muc".into();
        let mut orphan = pair();
        orphan[1] = taken(orphan[1].clone(), "m0", "Ethernet0");
        let cases: Vec<(Vec<MachineNic>, Vec<Switch>, DomainResult<Placement>)> = vec![
            (vec![], pair(), e("machine m1 is not connected to exactly two switches, found connections to 0 switches")),
            (
                vec![sees("eth0", "leaf01", "Ethernet0")],
                pair(),
                e("machine m1 is not connected to exactly two switches, found connections to 1 switches (leaf01)"),
            ),
            (
                vec![sees("eth0", "leaf01", "Ethernet0"), sees("eth1", "leaf01", "Ethernet4")],
                pair(),
                e("machine m1 is not connected to exactly two switches, found connections to 1 switches (leaf01)"),
            ),
            (
                both.to_vec(),
                other_rack,
                e("connected switches of a machine must reside in the same rack, rack of switch leaf01: r1, rack of switch leaf02: r2, machine: m1"),
            ),
            (
                both.to_vec(),
                other_partition,
                e("connected switches of a machine must be in the same partition, partition of switch leaf01: fra, partition of switch leaf02: muc, machine: m1"),
            ),
            (
                both.to_vec(),
                orphan,
                e("switch port Ethernet0 of switch leaf02 is already connected to machine m0; if that machine was replaced (its id changed), delete it first"),
            ),
            (
                vec![sees("eth0", "leaf01", "Ethernet0"), sees("eth1", "leaf02", "Ethernet4")],
                pair(),
                e("twin switches do not have a connection map that is mirrored crosswise for machine m1, switch leaf01 (connections: Ethernet0), switch leaf02 (connections: Ethernet4)"),
            ),
            (
                vec![
                    sees("eth0", "leaf01", "Ethernet0"),
                    sees("eth1", "leaf02", "Ethernet0"),
                    sees("eth2", "leaf02", "Ethernet4"),
                ],
                pair(),
                e("twin switches do not have a connection map that is mirrored crosswise for machine m1, switch leaf01 (connections: Ethernet0), switch leaf02 (connections: Ethernet0, Ethernet4)"),
            ),
        ];
        for (nics, switches, want) in cases {
            assert_eq!(connect_machine("m1", &nics, &switches), want);
        }
    }
}
