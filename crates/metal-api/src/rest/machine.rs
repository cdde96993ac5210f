//! Handlers of machines and firewalls.

use axum::extract::{Path, State};
use axum::http::Extensions;
use axum::Json;
use metal_domain::machine::*;

use super::extract::JsonBody;
use crate::app;
use crate::auth::principal_of;
use crate::error::ApiResult;
use crate::state::App;

fn caller(ext: &Extensions) -> String {
    principal_of(ext)
        .map(|p| p.email.clone())
        .unwrap_or_default()
}

pub async fn machine_list(State(a): State<App>) -> ApiResult<Json<Vec<MachineResponse>>> {
    Ok(Json(
        app::machine::find(&a, &MachineFindRequest::default(), None).await?,
    ))
}
pub async fn machine_get(
    State(a): State<App>,
    Path(id): Path<String>,
) -> ApiResult<Json<MachineResponse>> {
    Ok(Json(app::machine::get(&a, &id, None).await?))
}
pub async fn machine_find(
    State(a): State<App>,
    JsonBody(q): JsonBody<MachineFindRequest>,
) -> ApiResult<Json<Vec<MachineResponse>>> {
    Ok(Json(app::machine::find(&a, &q, None).await?))
}
pub async fn machine_ipmi_get(
    State(a): State<App>,
    Path(id): Path<String>,
) -> ApiResult<Json<MachineIpmiResponse>> {
    Ok(Json(app::machine::get_ipmi(&a, &id).await?))
}
pub async fn machine_ipmi_find(
    State(a): State<App>,
    JsonBody(q): JsonBody<MachineFindRequest>,
) -> ApiResult<Json<Vec<MachineIpmiResponse>>> {
    Ok(Json(app::machine::find_ipmi(&a, &q).await?))
}
pub async fn machine_ipmi_report(
    State(a): State<App>,
    JsonBody(req): JsonBody<MachineIpmiReports>,
) -> ApiResult<Json<MachineIpmiReportResponse>> {
    Ok(Json(app::ipmi::report(&a, &req).await?))
}
pub async fn machine_update(
    State(a): State<App>,
    JsonBody(r): JsonBody<MachineUpdateRequest>,
) -> ApiResult<Json<MachineResponse>> {
    Ok(Json(app::machine::update(&a, r).await?))
}
pub async fn machine_allocate(
    State(a): State<App>,
    ext: Extensions,
    JsonBody(r): JsonBody<MachineAllocateRequest>,
) -> ApiResult<Json<MachineResponse>> {
    let m = app::allocate::allocate(&a, r, Role::Machine, &caller(&ext)).await?;
    Ok(Json(app::machine::view(&a, m).await?))
}
pub async fn firewall_allocate(
    State(a): State<App>,
    ext: Extensions,
    JsonBody(r): JsonBody<MachineAllocateRequest>,
) -> ApiResult<Json<MachineResponse>> {
    let m = app::allocate::allocate(&a, r, Role::Firewall, &caller(&ext)).await?;
    Ok(Json(app::machine::view(&a, m).await?))
}
pub async fn machine_free(
    State(a): State<App>,
    Path(id): Path<String>,
) -> ApiResult<Json<MachineResponse>> {
    let m = app::allocate::free(&a, &id).await?;
    Ok(Json(app::machine::view(&a, m).await?))
}
pub async fn machine_state(
    State(a): State<App>,
    Path(id): Path<String>,
    ext: Extensions,
    JsonBody(r): JsonBody<MachineStateRequest>,
) -> ApiResult<Json<MachineResponse>> {
    Ok(Json(
        app::machine::set_state(&a, &id, &r, &caller(&ext)).await?,
    ))
}
/// The `description` of the identify LED endpoints.
#[derive(Debug, Default, serde::Deserialize)]
pub struct LedQuery {
    #[serde(default)]
    pub description: Option<String>,
}

/// The power, boot and LED endpoints; the request body (metalctl sends `[]`) is ignored.
pub async fn machine_power(
    State(a): State<App>,
    Path(id): Path<String>,
    ext: Extensions,
    command: &'static str,
    led: Option<axum::extract::Query<LedQuery>>,
) -> ApiResult<Json<MachineResponse>> {
    let description = led.as_ref().and_then(|q| q.description.as_deref());
    Ok(Json(
        app::commands::power(&a, &id, command, description, &caller(&ext)).await?,
    ))
}

pub async fn machine_delete(
    State(a): State<App>,
    Path(id): Path<String>,
) -> ApiResult<Json<MachineResponse>> {
    Ok(Json(app::machine::delete(&a, &id).await?))
}
pub async fn firewall_list(State(a): State<App>) -> ApiResult<Json<Vec<MachineResponse>>> {
    Ok(Json(
        app::machine::find(&a, &MachineFindRequest::default(), Some(Role::Firewall)).await?,
    ))
}
pub async fn firewall_get(
    State(a): State<App>,
    Path(id): Path<String>,
) -> ApiResult<Json<MachineResponse>> {
    Ok(Json(
        app::machine::get(&a, &id, Some(Role::Firewall)).await?,
    ))
}
pub async fn firewall_find(
    State(a): State<App>,
    JsonBody(q): JsonBody<MachineFindRequest>,
) -> ApiResult<Json<Vec<MachineResponse>>> {
    Ok(Json(
        app::machine::find(&a, &q, Some(Role::Firewall)).await?,
    ))
}
pub async fn machine_reinstall(
    State(a): State<App>,
    Path(id): Path<String>,
    JsonBody(r): JsonBody<MachineReinstallRequest>,
) -> ApiResult<Json<MachineResponse>> {
    let m = app::lifecycle::reinstall(&a, &id, &r).await?;
    Ok(Json(app::machine::view(&a, m).await?))
}
pub async fn console_password(
    State(a): State<App>,
    ext: Extensions,
    JsonBody(r): JsonBody<MachineConsolePasswordRequest>,
) -> ApiResult<Json<MachineConsolePasswordResponse>> {
    Ok(Json(
        app::lifecycle::console_password(&a, &r, &caller(&ext)).await?,
    ))
}
pub async fn partition_capacity(
    State(a): State<App>,
    JsonBody(r): JsonBody<PartitionCapacityRequest>,
) -> ApiResult<Json<Vec<PartitionCapacity>>> {
    Ok(Json(app::lifecycle::capacity(&a, &r).await?))
}
