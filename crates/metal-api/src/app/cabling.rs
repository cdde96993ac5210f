//! A machine and its leaf switches: connections learned at registration from the machine's
//! LLDP neighbours (which set its rack and partition), the port VRF set when the machine reports
//! its installation and cleared when it is freed, connections removed when it is deleted. Each
//! change locks the switch rows of the partition first, in id order, so registrations, metal-core
//! and operators touching the same switches go one after the other.

use metal_domain::machine::Machine;
use metal_domain::switch::connect::{self, MachineNic, Neighbor};
use metal_domain::switch::Switch;
use metal_store::docs::SwitchFilter;
use metal_store::{docs, Tx};

use crate::error::ApiResult;

/// The switches (with their revisions) of a partition, or of all partitions, locked.
async fn locked_switches(tx: &mut Tx, partition: &str) -> ApiResult<Vec<(Switch, i64)>> {
    let filters: Vec<SwitchFilter> = if partition.is_empty() {
        vec![]
    } else {
        vec![SwitchFilter::Partition(partition)]
    };
    let ids: Vec<String> = docs::find::<Switch>(tx, &filters)
        .await?
        .into_iter()
        .map(|s| s.id)
        .collect();
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        docs::lock::<Switch>(tx, &id).await?;
        if let Some(s) = docs::get::<Switch>(tx, &id).await? {
            out.push((s.value, s.revision));
        }
    }
    Ok(out)
}

async fn store(tx: &mut Tx, changed: Vec<Switch>, revisions: &[(Switch, i64)]) -> ApiResult<()> {
    for mut s in changed {
        if let Some((_, r)) = revisions.iter().find(|(o, _)| o.id == s.id) {
            docs::update(tx, &mut s, *r).await?;
        }
    }
    Ok(())
}

/// Connects a registering machine to the switches its NICs see as LLDP neighbours and takes
/// rack and partition from them. A machine that reports no neighbours at all (a lab machine
/// without switches) keeps what it has; one that reports neighbours must be cabled to exactly
/// two switches of one rack (422 otherwise).
pub async fn connect(tx: &mut Tx, m: &mut Machine) -> ApiResult<()> {
    if m.hardware.nics.iter().all(|n| n.neighbors.is_empty()) {
        return Ok(());
    }
    let nics: Vec<MachineNic> = m
        .hardware
        .nics
        .iter()
        .map(|n| MachineNic {
            name: n.name.clone(),
            mac: n.mac.clone(),
            identifier: n.identifier.clone(),
            neighbors: n
                .neighbors
                .iter()
                .map(|nb| Neighbor {
                    name: nb.name.clone(),
                    mac: nb.mac.clone(),
                    identifier: nb.identifier.clone(),
                    hostname: nb.hostname.clone(),
                })
                .collect(),
        })
        .collect();
    let switches = locked_switches(tx, &m.partitionid).await?;
    let plain: Vec<Switch> = switches.iter().map(|(s, _)| s.clone()).collect();
    let placement = connect::connect_machine(&m.id, &nics, &plain)?;
    m.rackid = placement.rack_id;
    m.partitionid = placement.partition_id;
    store(tx, placement.switches, &switches).await
}

/// Sets (or with "" clears) the VRF of the machine's switch ports.
pub async fn set_vrf(tx: &mut Tx, m: &Machine, vrf: &str) -> ApiResult<()> {
    let switches = locked_switches(tx, &m.partitionid).await?;
    let mut changed = Vec::new();
    for (s, _) in &switches {
        let mut s = s.clone();
        if s.set_machine_vrf(&m.id, vrf) {
            changed.push(s);
        }
    }
    store(tx, changed, &switches).await
}

/// Removes the machine's connections from every switch of its partition.
pub async fn disconnect(tx: &mut Tx, m: &Machine) -> ApiResult<()> {
    let switches = locked_switches(tx, &m.partitionid).await?;
    let mut changed = Vec::new();
    for (s, _) in &switches {
        let mut s = s.clone();
        if s.disconnect_machine(&m.id) {
            changed.push(s);
        }
    }
    store(tx, changed, &switches).await
}

/// The VRF a machine's ports get once it is installed: `default` for firewalls, the VRF of
/// the private primary network for machines.
pub fn port_vrf(m: &Machine) -> Option<String> {
    let a = m.allocation.as_ref()?;
    match a.role {
        metal_domain::machine::Role::Firewall => Some("default".into()),
        metal_domain::machine::Role::Machine => a
            .networks
            .iter()
            .find(|n| n.private)
            .map(|n| format!("vrf{}", n.vrf)),
    }
}
