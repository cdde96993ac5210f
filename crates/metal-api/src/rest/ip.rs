//! `/v1/ip`: IP addresses allocated from networks. The routes and their handlers.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use axum::Json;
use metal_domain::ip::*;

use super::extract::JsonBody;
use super::response::Created;
use super::table::{Op, RouteTable};
use super::{EDIT, VIEW};
use crate::app;
use crate::error::ApiResult;
use crate::state::App;

/// The IP routes.
pub(super) fn routes(t: &mut RouteTable) {
    t.add(
        Op::get("/v1/ip", "listIPs", VIEW)
            .summary("get all ips")
            .returns_list::<Ip>(200),
        get(ip_list),
    );
    t.add(
        Op::get("/v1/ip/{id}", "findIP", VIEW)
            .summary("get ip by address")
            .returns::<Ip>(200),
        get(ip_get),
    );
    t.add(
        Op::post("/v1/ip/find", "findIPs", VIEW)
            .summary("find ips")
            .body::<IpFindRequest>()
            .returns_list::<Ip>(200),
        post(ip_find),
    );
    t.add(
        Op::post("/v1/ip", "updateIP", EDIT)
            .summary("update an ip")
            .body::<IpUpdateRequest>()
            .returns::<Ip>(200)
            .error(409),
        post(ip_update),
    );
    t.add(
        Op::post("/v1/ip/allocate", "allocateIP", EDIT)
            .summary("allocate the next free ip of a network")
            .body::<IpAllocateRequest>()
            .returns::<Ip>(201)
            .error(409),
        post(ip_allocate),
    );
    t.add(
        Op::post("/v1/ip/allocate/{ip}", "allocateSpecificIP", EDIT)
            .summary("allocate a given ip of a network")
            .body::<IpAllocateRequest>()
            .returns::<Ip>(201)
            .error(409),
        post(ip_allocate_specific),
    );
    t.add(
        Op::delete("/v1/ip/free/{id}", "freeIP", EDIT)
            .summary("free an ip no machine uses")
            .returns::<Ip>(200),
        delete(ip_free),
    );
}

pub async fn ip_list(State(a): State<App>) -> ApiResult<Json<Vec<Ip>>> {
    Ok(Json(app::ip::list(&a).await?))
}
pub async fn ip_get(State(a): State<App>, Path(id): Path<String>) -> ApiResult<Json<Ip>> {
    Ok(Json(app::ip::get(&a, &id).await?))
}
pub async fn ip_find(
    State(a): State<App>,
    JsonBody(q): JsonBody<IpFindRequest>,
) -> ApiResult<Json<Vec<Ip>>> {
    Ok(Json(app::ip::find(&a, &q).await?))
}
pub async fn ip_update(
    State(a): State<App>,
    JsonBody(r): JsonBody<IpUpdateRequest>,
) -> ApiResult<Json<Ip>> {
    Ok(Json(app::ip::update(&a, r).await?))
}
pub async fn ip_allocate(
    State(a): State<App>,
    JsonBody(r): JsonBody<IpAllocateRequest>,
) -> ApiResult<Created<Ip>> {
    Ok((
        StatusCode::CREATED,
        Json(app::ip::allocate(&a, r, None).await?),
    ))
}
pub async fn ip_allocate_specific(
    State(a): State<App>,
    Path(ip): Path<String>,
    JsonBody(r): JsonBody<IpAllocateRequest>,
) -> ApiResult<Created<Ip>> {
    Ok((
        StatusCode::CREATED,
        Json(app::ip::allocate(&a, r, Some(&ip)).await?),
    ))
}
pub async fn ip_free(State(a): State<App>, Path(id): Path<String>) -> ApiResult<Json<Ip>> {
    Ok(Json(app::ip::free(&a, &id).await?))
}
