//! Partition capacity (§4.14): per partition and size, how many machines are allocated,
//! allocatable, faulty or otherwise busy, and what size reservations keep back.

use metal_domain::machine::{Machine, PartitionCapacity, PartitionCapacityRequest};
use metal_domain::partition::Partition;
use metal_domain::reservation::SizeReservation;
use metal_store::docs;
use metal_store::docs::MachineFilter;

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
    let mut filters: Vec<MachineFilter> = Vec::new();
    if let Some(p) = req.id.as_deref().filter(|s| !s.is_empty()) {
        filters.push(MachineFilter::Partition(p));
    }
    if let Some(s) = req.sizeid.as_deref().filter(|s| !s.is_empty()) {
        filters.push(MachineFilter::Size(s));
    }
    let machines = docs::find::<Machine>(&mut conn, &filters).await?;
    let events = super::machine_view::event_containers(&mut conn, &machines).await?;
    let reservations = docs::list::<SizeReservation>(&mut conn).await?;
    let asker = req.projectid.as_deref().filter(|s| !s.is_empty());
    Ok(metal_domain::machine::capacity_of(
        &partitions,
        &machines,
        &events,
        &reservations,
        asker,
    ))
}
