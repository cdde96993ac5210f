//! Sizes: create and update checked against every other size for overlaps inside the same
//! transaction (so two concurrent creates cannot both pass), deletion refused while machines
//! have the size, and constraint suggestions from a machine's hardware.

use metal_domain::size::{
    self, MachineHardwareSummary, Size, SizeConstraint, SizeCreateRequest, SizeUpdateRequest,
};
use metal_store::docs;
use metal_store::usage::{self, MachineRef};
use serde_json::Value;
use sqlx::Row;

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

/// The hardware a machine reported, from its stored document (`hardware` in the wire shape
/// of `v1.MachineHardware`).
pub async fn machine_hardware(
    app: &AppState,
    machine_id: &str,
) -> ApiResult<MachineHardwareSummary> {
    let mut conn = app.store.reader().acquire().await.map_err(store_err)?;
    let row = sqlx::query("SELECT doc FROM machines WHERE id = $1")
        .bind(machine_id)
        .fetch_optional(&mut *conn)
        .await
        .map_err(store_err)?
        .ok_or_else(|| ApiError::not_found(format!("no machine with id {machine_id:?} found")))?;
    let doc: String = row.try_get("doc").map_err(store_err)?;
    let v: Value = serde_json::from_str(&doc).map_err(|e| ApiError::Internal(e.into()))?;
    Ok(hardware_summary(v.get("hardware").unwrap_or(&Value::Null)))
}

fn hardware_summary(hw: &Value) -> MachineHardwareSummary {
    let u = |v: &Value, k: &str| v.get(k).and_then(Value::as_u64).unwrap_or(0);
    let list = |k: &str| {
        hw.get(k)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    MachineHardwareSummary {
        cpu_cores: u(hw, "cpu_cores"),
        memory: u(hw, "memory"),
        disks: list("disks")
            .iter()
            .map(|d| {
                let name = d.get("name").and_then(Value::as_str).unwrap_or("");
                (name.to_string(), u(d, "size"))
            })
            .collect(),
        gpus: list("gpus")
            .iter()
            .filter_map(|g| g.get("model").and_then(Value::as_str).map(str::to_string))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_from_wire_hardware() {
        let hw = serde_json::json!({
            "cpu_cores": 8, "memory": 1024,
            "disks": [{"name": "/dev/sda", "size": 10}, {"name": "/dev/sdb", "size": 20}],
            "gpus": [{"vendor": "nvidia", "model": "H100"}]
        });
        let s = hardware_summary(&hw);
        assert_eq!(s.cpu_cores, 8);
        assert_eq!(s.memory, 1024);
        assert_eq!(s.storage(), 30);
        assert_eq!(s.gpus, vec!["H100".to_string()]);
    }
}
