//! Sizes: create and update checked against every other size for overlaps inside the same
//! transaction (so two concurrent creates cannot both pass), deletion refused while machines
//! have the size, and constraint suggestions from a machine's hardware.

use metal_domain::machine::Machine;
use metal_domain::size::{
    self, MachineHardwareSummary, Size, SizeConstraint, SizeCreateRequest, SizeUpdateRequest,
};
use metal_store::docs;
use metal_store::usage::{self, MachineRef};

use super::store_err;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

pub async fn create(app: &AppState, req: SizeCreateRequest) -> ApiResult<Size> {
    let mut size = Size::from_create(&req)?;
    let mut tx = app.store.begin().await?;
    let others = docs::list::<Size>(&mut tx).await?;
    size.check_overlap(&others)?;
    docs::insert(&mut tx, &mut size).await?;
    tx.commit().await.map_err(store_err)?;
    Ok(size)
}

pub async fn update(app: &AppState, req: SizeUpdateRequest) -> ApiResult<Size> {
    let mut tx = app.store.begin().await?;
    let stored = docs::must_get::<Size>(&mut tx, &req.id).await?;
    let mut size = stored.value;
    size.apply_update(&req)?;
    let others = docs::list::<Size>(&mut tx).await?;
    size.check_overlap(&others)?;
    docs::update(&mut tx, &mut size, stored.revision).await?;
    tx.commit().await.map_err(store_err)?;
    Ok(size)
}

/// Deletes a size unless machines have it (422 naming them).
pub async fn delete(app: &AppState, id: &str) -> ApiResult<Size> {
    let mut tx = app.store.begin().await?;
    let size = docs::must_get::<Size>(&mut tx, id).await?.value;
    let users = usage::machines_using(&mut tx, MachineRef::Size, id).await?;
    if !users.is_empty() {
        return Err(ApiError::unprocessable(format!(
            "size {id} is in use by machines: {}",
            users.join(", ")
        )));
    }
    docs::delete::<Size>(&mut tx, id).await?;
    tx.commit().await.map_err(store_err)?;
    Ok(size)
}

/// Exact-match constraints for a machine's hardware (§4.5).
pub async fn suggest(app: &AppState, machine_id: &str) -> ApiResult<Vec<SizeConstraint>> {
    if machine_id.is_empty() {
        return Err(ApiError::bad_request("machineID should not be empty"));
    }
    let hw = machine_hardware(app, machine_id).await?;
    Ok(size::suggest(&hw))
}

/// The hardware a machine reported, as size matching sees it.
pub async fn machine_hardware(
    app: &AppState,
    machine_id: &str,
) -> ApiResult<MachineHardwareSummary> {
    let mut conn = app.store.reader().acquire().await.map_err(store_err)?;
    let m = docs::must_get::<Machine>(&mut conn, machine_id)
        .await?
        .value;
    Ok(m.hardware.summary())
}
