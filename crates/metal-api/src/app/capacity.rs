//! Partition capacity (§4.14): per partition and size, how many machines are allocated,
//! allocatable, faulty or otherwise busy, and what size reservations keep back.

use std::collections::{BTreeMap, HashMap};

use metal_domain::event::{EventContainer, EventType, Liveliness};
use metal_domain::machine::{
    Machine, MachineStateValue, PartitionCapacity, PartitionCapacityRequest, ServerCapacity,
};
use metal_domain::partition::Partition;
use metal_domain::reservation::SizeReservation;
use metal_store::docs;

use super::store_err;
use crate::error::ApiResult;
use crate::state::AppState;

/// `POST /v1/partition/capacity`: per partition and size, how many machines are allocated,
/// allocatable (waiting, alive, available), faulty (dead, unknown, crash-looping, failed
/// reclaim, no event log) and otherwise busy.
///
/// Size reservations as metal-api v0.35: `reservations` sums the amounts of the reservations
/// of the size that list the partition, `usedreservations` sums min(machines of the
/// reservation's project with that size in that partition, amount), `remainingreservations`
/// is the difference. `free` is what the asker can get: the open reservations of other
/// projects (of all projects when no `projectid` is given) are subtracted from it, down to 0.
/// `allocatable` stays the count of allocatable machines, as in v0.35.
pub async fn capacity(
    app: &AppState,
    req: &PartitionCapacityRequest,
) -> ApiResult<Vec<PartitionCapacity>> {
    let mut conn = app.store.reader().acquire().await.map_err(store_err)?;
    let partitions = docs::list::<Partition>(&mut conn).await?;
    let mut filters: Vec<(&str, &str)> = Vec::new();
    if let Some(p) = req.id.as_deref().filter(|s| !s.is_empty()) {
        filters.push(("partition_id", p));
    }
    if let Some(s) = req.sizeid.as_deref().filter(|s| !s.is_empty()) {
        filters.push(("size_id", s));
    }
    let machines = docs::find::<Machine>(&mut conn, &filters).await?;
    let events = super::machine_view::event_containers(&mut conn, &machines).await?;
    let reservations = docs::list::<SizeReservation>(&mut conn).await?;
    let asker = req.projectid.as_deref().filter(|s| !s.is_empty());
    Ok(capacity_of(
        &partitions,
        &machines,
        &events,
        &reservations,
        asker,
    ))
}

/// The capacity of loaded machines per partition and size (see [`capacity`]); `asker` is the
/// project whose view of `free` is wanted. Also the source of the fleet metrics.
pub fn capacity_of(
    partitions: &[Partition],
    machines: &[Machine],
    events: &HashMap<String, EventContainer>,
    reservations: &[SizeReservation],
    asker: Option<&str>,
) -> Vec<PartitionCapacity> {
    let mut by: BTreeMap<(String, String), ServerCapacity> = BTreeMap::new();
    for m in machines.iter().filter(|m| !m.partitionid.is_empty()) {
        let cap = by
            .entry((m.partitionid.clone(), m.sizeid.clone()))
            .or_insert_with(|| ServerCapacity {
                size: m.sizeid.clone(),
                ..Default::default()
            });
        cap.total += 1;
        let e = events.get(&m.id);
        let newest = e.and_then(|c| c.newest()).map(|ev| ev.event);
        if newest == Some(EventType::Waiting) && m.waiting {
            cap.waiting += 1;
        }
        if newest == Some(EventType::PhonedHome) {
            cap.phoned_home += 1;
        }
        if m.allocation.is_some() {
            cap.allocated += 1;
            continue;
        }
        let faulty = match e {
            None => true,
            Some(c) => {
                c.liveliness != Liveliness::Alive || c.crash_loop || c.failed_machine_reclaim
            }
        };
        if faulty {
            cap.faulty += 1;
            cap.faultymachines.push(m.id.clone());
        } else if m.state.value == MachineStateValue::Available
            && m.waiting
            && newest == Some(EventType::Waiting)
        {
            cap.free += 1;
            cap.allocatable += 1;
        } else {
            if m.state.value != MachineStateValue::Available {
                cap.unavailable += 1;
            }
            cap.other += 1;
            cap.othermachines.push(m.id.clone());
        }
    }
    let mut held = metal_domain::reservation::Allocations::default();
    for m in machines {
        if let Some(a) = &m.allocation {
            held.add(&a.project, &m.partitionid, &m.sizeid, 1);
        }
    }
    for ((partition, size), cap) in by.iter_mut() {
        let r = metal_domain::reservation::reserved_capacity(
            reservations,
            partition,
            size,
            &held,
            asker,
        );
        cap.reservations = r.reservations;
        cap.usedreservations = r.used;
        cap.remainingreservations = r.remaining;
        cap.free = cap.free.saturating_sub(r.kept_back);
    }
    let mut out: Vec<PartitionCapacity> = Vec::new();
    for ((partition, _), cap) in by {
        let p = partitions.iter().find(|p| p.id == partition);
        match out.iter_mut().find(|c| c.id == partition) {
            Some(c) => c.servers.push(cap),
            None => out.push(PartitionCapacity {
                id: partition.clone(),
                name: p.map(|p| p.name.clone()).unwrap_or_default(),
                description: p.map(|p| p.description.clone()).unwrap_or_default(),
                servers: vec![cap],
            }),
        }
    }
    out
}
