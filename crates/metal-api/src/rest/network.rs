//! `/v1/network`: networks, and tenant networks allocated from a partition's private super
//! network. The routes and their handlers.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post, put};
use axum::Json;
use metal_domain::network::*;

use super::extract::JsonBody;
use super::response::Created;
use super::table::{Op, RouteTable};
use super::{ADMIN, EDIT, VIEW};
use crate::app;
use crate::error::ApiResult;
use crate::state::App;

/// The network routes.
pub(super) fn routes(t: &mut RouteTable) {
    t.add(
        Op::get("/v1/network", "listNetworks", VIEW)
            .summary("get all networks with their usage")
            .returns_list::<Network>(200),
        get(network_list),
    );
    t.add(
        Op::get("/v1/network/{id}", "findNetwork", VIEW)
            .summary("get network by id")
            .returns::<Network>(200),
        get(network_get),
    );
    t.add(
        Op::post("/v1/network/find", "findNetworks", VIEW)
            .summary("find networks")
            .body::<NetworkFindRequest>()
            .returns_list::<Network>(200),
        post(network_find),
    );
    t.add(
        Op::put("/v1/network", "createNetwork", ADMIN)
            .summary("create a network")
            .body::<NetworkCreateRequest>()
            .returns::<Network>(201)
            .error(409),
        put(network_create),
    );
    t.add(
        Op::post("/v1/network", "updateNetwork", ADMIN)
            .summary("update a network")
            .query(
                "force",
                "boolean",
                "accepted for compatibility; prefix removals are checked either way",
            )
            .body::<NetworkUpdateRequest>()
            .returns::<Network>(200)
            .error(409),
        post(network_update),
    );
    t.add(
        Op::delete("/v1/network/{id}", "deleteNetwork", ADMIN)
            .summary("delete a network without child networks and ips")
            .returns::<Network>(200),
        delete(network_delete),
    );
    t.add(
        Op::post("/v1/network/allocate", "allocateNetwork", EDIT)
            .summary("allocate a tenant network from the partition's private super network")
            .body::<NetworkAllocateRequest>()
            .returns::<Network>(201)
            .error(409),
        post(network_allocate),
    );
    t.add(
        Op::delete("/v1/network/free/{id}", "freeNetwork", EDIT)
            .summary("free a tenant network")
            .returns::<Network>(200)
            .error(409),
        delete(network_free),
    );
    t.add(
        Op::post("/v1/network/free/{id}", "freeNetworkDeprecated", EDIT)
            .summary("free a tenant network (deprecated: use DELETE)")
            .returns::<Network>(200)
            .error(409),
        post(network_free),
    );
}

pub async fn network_list(State(a): State<App>) -> ApiResult<Json<Vec<Network>>> {
    Ok(Json(app::network::list(&a).await?))
}
pub async fn network_get(State(a): State<App>, Path(id): Path<String>) -> ApiResult<Json<Network>> {
    Ok(Json(app::network::get(&a, &id).await?))
}
pub async fn network_find(
    State(a): State<App>,
    JsonBody(q): JsonBody<NetworkFindRequest>,
) -> ApiResult<Json<Vec<Network>>> {
    Ok(Json(app::network::find(&a, &q).await?))
}
pub async fn network_create(
    State(a): State<App>,
    JsonBody(r): JsonBody<NetworkCreateRequest>,
) -> ApiResult<Created<Network>> {
    Ok((
        StatusCode::CREATED,
        Json(app::network::create(&a, r).await?),
    ))
}
pub async fn network_update(
    State(a): State<App>,
    JsonBody(r): JsonBody<NetworkUpdateRequest>,
) -> ApiResult<Json<Network>> {
    Ok(Json(app::network::update(&a, r).await?))
}
pub async fn network_delete(
    State(a): State<App>,
    Path(id): Path<String>,
) -> ApiResult<Json<Network>> {
    Ok(Json(app::network::delete(&a, &id).await?))
}
pub async fn network_allocate(
    State(a): State<App>,
    JsonBody(r): JsonBody<NetworkAllocateRequest>,
) -> ApiResult<Created<Network>> {
    Ok((
        StatusCode::CREATED,
        Json(app::network::allocate(&a, r).await?),
    ))
}
pub async fn network_free(
    State(a): State<App>,
    Path(id): Path<String>,
) -> ApiResult<Json<Network>> {
    Ok(Json(app::network::free(&a, &id).await?))
}
