//! `/v1/firewall`: machines allocated as firewalls. The routes and their handlers.

use axum::extract::{Path, State};
use axum::http::Extensions;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Json;
use metal_domain::machine::*;

use super::extract::{caller, JsonBody};
use super::table::{Op, RouteTable};
use super::{EDIT, VIEW};
use crate::app;
use crate::error::ApiResult;
use crate::state::App;

/// The firewall routes.
pub(super) fn routes(t: &mut RouteTable) {
    t.add(
        Op::get("/v1/firewall", "listFirewalls", VIEW)
            .summary("get all firewalls")
            .returns_list::<MachineResponse>(200),
        get(firewall_list),
    );
    t.add(
        Op::get("/v1/firewall/{id}", "findFirewall", VIEW)
            .summary("get firewall by id")
            .returns::<MachineResponse>(200),
        get(firewall_get),
    );
    t.add(
        Op::post("/v1/firewall/find", "findFirewalls", VIEW)
            .summary("find firewalls")
            .body::<MachineFindRequest>()
            .returns_list::<MachineResponse>(200),
        post(firewall_find),
    );
    t.add(
        Op::post("/v1/firewall/allocate", "allocateFirewall", EDIT)
            .summary(
                "allocate a firewall: a machine with the firewall image, rules and the underlay",
            )
            .body::<MachineAllocateRequest>()
            .returns::<MachineResponse>(200),
        post(firewall_allocate),
    );
}

pub async fn firewall_list(State(a): State<App>) -> ApiResult<Response> {
    app::machine_list::respond(&a, MachineFindRequest::default(), Some(Role::Firewall)).await
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
) -> ApiResult<Response> {
    app::machine_list::respond(&a, q, Some(Role::Firewall)).await
}
pub async fn firewall_allocate(
    State(a): State<App>,
    ext: Extensions,
    JsonBody(r): JsonBody<MachineAllocateRequest>,
) -> ApiResult<Json<MachineResponse>> {
    let m = app::allocate::allocate(&a, r, Role::Firewall, &caller(&ext)).await?;
    Ok(Json(app::machine_view::view(&a, m).await?))
}
