//! Reinstall (§4.3), the console password, and partition capacity (§4.14).

use metal_domain::image::Image;
use metal_domain::machine::{
    Machine, MachineConsolePasswordRequest, MachineConsolePasswordResponse,
    MachineReinstallRequest, MachineStateValue, PartitionCapacity, PartitionCapacityRequest,
};
use metal_domain::partition::Partition;
use metal_domain::reservation::SizeReservation;
use metal_store::docs;
use metal_store::docs::MachineFilter;

use super::store_err;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// `POST /v1/machine/{id}/reinstall`: an allocated, unlocked machine gets another image (the
/// exact id) on its next install; disks without `wipeonreinstall` keep their data. The port VRF
/// is reset and the PXE boot and power cycle for the BMC agent are queued in the same
/// transaction (delivered by the fleet operations).
pub async fn reinstall(
    app: &AppState,
    id: &str,
    req: &MachineReinstallRequest,
) -> ApiResult<Machine> {
    let not_possible = || {
        ApiError::bad_request(
            "machine either locked, not allocated yet or invalid image ID specified",
        )
    };
    let image = super::get::<Image>(app, &req.imageid)
        .await
        .map_err(|_| not_possible())?;
    let mut tx = app.store.begin().await?;
    let stored = docs::must_get::<Machine>(&mut tx, id).await?;
    let mut m = stored.value;
    if m.state.value == MachineStateValue::Locked {
        return Err(not_possible());
    }
    let Some(a) = m.allocation.as_mut() else {
        return Err(not_possible());
    };
    let reinstallable = a
        .filesystemlayout
        .as_ref()
        .is_some_and(|l| l.reinstallable());
    if !reinstallable {
        return Err(ApiError::unprocessable(format!(
            "the filesystem layout of machine {id} wipes no disk on reinstall: it cannot be reinstalled"
        )));
    }
    a.reinstall = true;
    a.imageid = image.id;
    if !req.description.is_empty() {
        a.description = req.description.clone();
    }
    docs::update(&mut tx, &mut m, stored.revision).await?;
    super::cabling::set_vrf(&mut tx, &m, "").await?;
    // metal-bmc boots the machine into PXE and power-cycles it into the installer
    super::commands::queue(
        app,
        &mut tx,
        &m.id,
        &m.partitionid,
        &["PXE", "CYCLE"],
        "reinstall",
    )
    .await?;
    tx.commit().await.map_err(store_err)?;
    super::commands::wake(app, &m.partitionid);
    Ok(m)
}

/// `GET /v1/machine/consolepassword`: the password metal-hammer reported, with a reason that is
/// logged (never the password).
pub async fn console_password(
    app: &AppState,
    req: &MachineConsolePasswordRequest,
    caller: &str,
) -> ApiResult<MachineConsolePasswordResponse> {
    let min = app.config.password_reason_minlength;
    if req.reason.trim().chars().count() < min {
        return Err(ApiError::bad_request(format!(
            "reason must be at least {min} characters"
        )));
    }
    let m = super::get::<Machine>(app, &req.id).await?;
    let Some(a) = m.allocation else {
        return Err(ApiError::bad_request(format!(
            "machine {} is not allocated",
            req.id
        )));
    };
    tracing::info!(
        machine = req.id,
        user = caller,
        reason = req.reason,
        "console password requested"
    );
    Ok(MachineConsolePasswordResponse {
        id: m.id,
        name: a.name,
        description: a.description,
        console_password: a.console_password,
    })
}

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
    let events = super::machine::event_containers(&mut conn, &machines).await?;
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
