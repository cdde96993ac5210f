//! `/v1/partition`: partitions and their capacity. The routes and their handlers.

use axum::extract::{Path, State};
use axum::routing::{delete, get, post, put};
use axum::Json;
use metal_domain::machine::{PartitionCapacity, PartitionCapacityRequest};
use metal_domain::partition::*;

use super::extract::JsonBody;
use super::response::{created, Created};
use super::table::{Op, RouteTable};
use super::{ADMIN, AUTH};
use crate::app;
use crate::app::RawJson;
use crate::error::ApiResult;
use crate::state::App;

/// The partition routes.
pub(super) fn routes(t: &mut RouteTable) {
    t.add(
        Op::get("/v1/partition", "listPartitions", AUTH)
            .summary("get all partitions")
            .returns_list::<Partition>(200),
        get(partition_list),
    );
    t.add(
        Op::get("/v1/partition/{id}", "findPartition", AUTH)
            .summary("get partition by id")
            .returns::<Partition>(200),
        get(partition_get),
    );
    t.add(
        Op::put("/v1/partition", "createPartition", ADMIN)
            .summary("create a partition")
            .body::<PartitionCreateRequest>()
            .returns::<Partition>(201)
            .error(409),
        put(partition_create),
    );
    t.add(
        Op::post("/v1/partition", "updatePartition", ADMIN)
            .summary("update a partition")
            .body::<PartitionUpdateRequest>()
            .returns::<Partition>(200)
            .error(409),
        post(partition_update),
    );
    t.add(
        Op::delete("/v1/partition/{id}", "deletePartition", ADMIN)
            .summary("delete a partition without machines")
            .returns::<Partition>(200),
        delete(partition_delete),
    );
}

/// `POST /v1/partition/capacity`.
pub(super) fn capacity_routes(t: &mut RouteTable) {
    t.add(
        Op::post("/v1/partition/capacity", "partitionCapacity", AUTH)
            .summary("machines per partition and size: allocated, allocatable, faulty, other")
            .body::<PartitionCapacityRequest>()
            .returns_list::<PartitionCapacity>(200),
        post(partition_capacity),
    );
}

pub async fn partition_list(State(a): State<App>) -> ApiResult<RawJson> {
    app::list_json::<Partition>(&a).await
}
pub async fn partition_get(
    State(a): State<App>,
    Path(id): Path<String>,
) -> ApiResult<Json<Partition>> {
    Ok(Json(app::get::<Partition>(&a, &id).await?))
}
pub async fn partition_create(
    State(a): State<App>,
    JsonBody(req): JsonBody<PartitionCreateRequest>,
) -> ApiResult<Created<Partition>> {
    Ok(created(app::catalog::create_partition(&a, req).await?))
}
pub async fn partition_update(
    State(a): State<App>,
    JsonBody(req): JsonBody<PartitionUpdateRequest>,
) -> ApiResult<Json<Partition>> {
    Ok(Json(app::catalog::update_partition(&a, req).await?))
}
pub async fn partition_delete(
    State(a): State<App>,
    Path(id): Path<String>,
) -> ApiResult<Json<Partition>> {
    Ok(Json(app::catalog::delete_partition(&a, &id).await?))
}
pub async fn partition_capacity(
    State(a): State<App>,
    JsonBody(r): JsonBody<PartitionCapacityRequest>,
) -> ApiResult<Json<Vec<PartitionCapacity>>> {
    Ok(Json(app::capacity::capacity(&a, &r).await?))
}
