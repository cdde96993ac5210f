//! `/v1/switch`: leaf switches as metal-core registers them. The routes and their handlers;
//! each handler extracts, calls one app function and answers.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use axum::Json;
use metal_domain::switch::{
    SwitchFindRequest, SwitchMigrateRequest, SwitchNotifyRequest, SwitchNotifyResponse,
    SwitchPortToggleRequest, SwitchRegisterRequest, SwitchResponse, SwitchUpdateRequest,
};
use serde::Deserialize;

use super::extract::JsonBody;
use super::table::{Op, RouteTable};
use super::{ADMIN, AUTH, EDIT, VIEW};
use crate::app;
use crate::error::{ApiError, ApiResult};
use crate::state::App;

/// The switch routes.
pub(super) fn routes(t: &mut RouteTable) {
    t.add(
        Op::get("/v1/switch", "listSwitches", AUTH)
            .summary("get all switches")
            .returns_list::<SwitchResponse>(200),
        get(switch_list),
    );
    t.add(
        Op::get("/v1/switch/{id}", "findSwitch", AUTH)
            .summary("get switch by id")
            .returns::<SwitchResponse>(200),
        get(switch_get),
    );
    t.add(
        Op::post("/v1/switch/find", "findSwitches", VIEW)
            .summary("get all switches that match given properties")
            .body::<SwitchFindRequest>()
            .returns_list::<SwitchResponse>(200),
        post(switch_find),
    );
    t.add(
        Op::post("/v1/switch/register", "registerSwitch", EDIT)
            .summary("register a switch (metal-core at its start)")
            .body::<SwitchRegisterRequest>()
            .returns::<SwitchResponse>(200)
            .returns::<SwitchResponse>(201),
        post(switch_register),
    );
    t.add(
        Op::post("/v1/switch", "updateSwitch", ADMIN)
            .summary("update description, console command and mode of a switch")
            .body::<SwitchUpdateRequest>()
            .returns::<SwitchResponse>(200)
            .error(409),
        post(switch_update),
    );
    t.add(
        Op::delete("/v1/switch/{id}", "deleteSwitch", EDIT)
            .summary("delete a switch without machine connections")
            .query(
                "force",
                "boolean",
                "delete the switch even while machines are connected to it",
            )
            .returns::<SwitchResponse>(200),
        delete(switch_delete),
    );
    t.add(
        Op::post("/v1/switch/{id}/notify", "notifySwitch", EDIT)
            .summary("notify the metal-api about a configuration change of a switch")
            .body::<SwitchNotifyRequest>()
            .returns::<SwitchNotifyResponse>(200),
        post(switch_notify),
    );
    t.add(
        Op::post("/v1/switch/{id}/port", "toggleSwitchPort", ADMIN)
            .summary("set the desired state of a switch port with a machine connected")
            .body::<SwitchPortToggleRequest>()
            .returns::<SwitchResponse>(200)
            .error(400)
            .error(409),
        post(switch_port),
    );
    t.add(
        Op::post("/v1/switch/migrate", "migrateSwitch", EDIT)
            .summary("migrates machine connections from one switch to another")
            .body::<SwitchMigrateRequest>()
            .returns::<SwitchResponse>(200)
            .error(400)
            .error(404)
            .error(409)
            .error(422),
        post(switch_migrate),
    );
}

pub async fn switch_list(State(a): State<App>) -> ApiResult<Json<Vec<SwitchResponse>>> {
    Ok(Json(app::switch::list(&a).await?))
}

pub async fn switch_get(
    State(a): State<App>,
    Path(id): Path<String>,
) -> ApiResult<Json<SwitchResponse>> {
    Ok(Json(app::switch::get(&a, &id).await?))
}

pub async fn switch_find(
    State(a): State<App>,
    JsonBody(req): JsonBody<SwitchFindRequest>,
) -> ApiResult<Json<Vec<SwitchResponse>>> {
    Ok(Json(app::switch::find(&a, &req).await?))
}

/// 201 for a new switch, 200 for a known one.
pub async fn switch_register(
    State(a): State<App>,
    JsonBody(req): JsonBody<SwitchRegisterRequest>,
) -> ApiResult<(StatusCode, Json<SwitchResponse>)> {
    let (created, s) = app::switch::register(&a, req).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(s)))
}

pub async fn switch_update(
    State(a): State<App>,
    JsonBody(req): JsonBody<SwitchUpdateRequest>,
) -> ApiResult<Json<SwitchResponse>> {
    Ok(Json(app::switch::update(&a, req).await?))
}

#[derive(Debug, Deserialize)]
pub struct ForceQuery {
    force: Option<String>,
}

/// `force` as Go's `strconv.ParseBool` reads it (the reference parses it so).
fn parse_force(v: Option<&str>) -> ApiResult<bool> {
    match v.unwrap_or("") {
        "" | "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(false),
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
        other => Err(ApiError::bad_request(format!(
            "force must be true or false, got {other:?}"
        ))),
    }
}

pub async fn switch_delete(
    State(a): State<App>,
    Path(id): Path<String>,
    Query(q): Query<ForceQuery>,
) -> ApiResult<Json<SwitchResponse>> {
    let force = parse_force(q.force.as_deref())?;
    Ok(Json(app::switch::delete(&a, &id, force).await?))
}

pub async fn switch_notify(
    State(a): State<App>,
    Path(id): Path<String>,
    JsonBody(req): JsonBody<SwitchNotifyRequest>,
) -> ApiResult<Json<SwitchNotifyResponse>> {
    Ok(Json(app::switch::notify(&a, &id, req).await?))
}

pub async fn switch_port(
    State(a): State<App>,
    Path(id): Path<String>,
    JsonBody(req): JsonBody<SwitchPortToggleRequest>,
) -> ApiResult<Json<SwitchResponse>> {
    Ok(Json(app::switch::toggle_port(&a, &id, req).await?))
}

pub async fn switch_migrate(
    State(a): State<App>,
    JsonBody(req): JsonBody<SwitchMigrateRequest>,
) -> ApiResult<Json<SwitchResponse>> {
    Ok(Json(app::switch::migrate(&a, req).await?))
}

#[cfg(test)]
mod tests {
    #[test]
    fn force_values() {
        for (v, want) in [
            (None, false),
            (Some("true"), true),
            (Some("1"), true),
            (Some("False"), false),
        ] {
            assert_eq!(super::parse_force(v).ok(), Some(want), "{v:?}");
        }
        assert!(super::parse_force(Some("yes")).is_err());
    }
}
