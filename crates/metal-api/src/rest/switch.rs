//! Handlers of `/v1/switch`: each extracts, calls one app function and answers.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use metal_domain::switch::{
    SwitchFindRequest, SwitchNotifyRequest, SwitchNotifyResponse, SwitchPortToggleRequest,
    SwitchRegisterRequest, SwitchResponse, SwitchUpdateRequest,
};
use serde::Deserialize;

use super::extract::JsonBody;
use crate::app;
use crate::error::{ApiError, ApiResult};
use crate::state::App;

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
