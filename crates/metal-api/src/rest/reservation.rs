//! `/v1/size/reservations`: size reservations and their usage. The routes and their handlers;
//! each handler extracts, calls one app function and answers.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post, put};
use axum::Json;
use metal_domain::reservation::{
    SizeReservation, SizeReservationCreateRequest, SizeReservationListRequest,
    SizeReservationUpdateRequest, SizeReservationUsage,
};

use super::extract::JsonBody;
use super::table::{Op, RouteTable};
use super::{ADMIN, AUTH};
use crate::app;
use crate::app::RawJson;
use crate::error::ApiResult;
use crate::state::App;

/// The size reservation routes.
pub(super) fn routes(t: &mut RouteTable) {
    t.add(
        Op::get("/v1/size/reservations", "listSizeReservations", AUTH)
            .summary("get all size reservations")
            .returns_list::<SizeReservation>(200),
        get(reservation_list),
    );
    t.add(
        Op::get("/v1/size/reservations/{id}", "getSizeReservation", AUTH)
            .summary("get size reservation by id")
            .returns::<SizeReservation>(200),
        get(reservation_get),
    );
    t.add(
        Op::post("/v1/size/reservations/find", "findSizeReservations", AUTH)
            .summary("find size reservations by size, project, partition or id")
            .body::<SizeReservationListRequest>()
            .returns_list::<SizeReservation>(200),
        post(reservation_find),
    );
    t.add(
        Op::put("/v1/size/reservations", "createSizeReservation", ADMIN)
            .summary("create a size reservation; size, project and partitions must exist")
            .body::<SizeReservationCreateRequest>()
            .returns::<SizeReservation>(201)
            .error(409),
        put(reservation_create),
    );
    t.add(
        Op::post("/v1/size/reservations", "updateSizeReservation", ADMIN)
            .summary("update a size reservation")
            .body::<SizeReservationUpdateRequest>()
            .returns::<SizeReservation>(200)
            .error(409),
        post(reservation_update),
    );
    t.add(
        Op::delete("/v1/size/reservations/{id}", "deleteSizeReservation", ADMIN)
            .summary("delete a size reservation and return it")
            .returns::<SizeReservation>(200),
        delete(reservation_delete),
    );
    t.add(
        Op::post("/v1/size/reservations/usage", "sizeReservationsUsage", AUTH)
            .summary("per reservation and partition: the amount and what its project uses")
            .body::<SizeReservationListRequest>()
            .returns_list::<SizeReservationUsage>(200),
        post(reservation_usage),
    );
}

pub async fn reservation_list(State(a): State<App>) -> ApiResult<RawJson> {
    app::list_json::<SizeReservation>(&a).await
}
pub async fn reservation_get(
    State(a): State<App>,
    Path(id): Path<String>,
) -> ApiResult<Json<SizeReservation>> {
    Ok(Json(app::get::<SizeReservation>(&a, &id).await?))
}
pub async fn reservation_find(
    State(a): State<App>,
    JsonBody(req): JsonBody<SizeReservationListRequest>,
) -> ApiResult<Json<Vec<SizeReservation>>> {
    Ok(Json(app::reservation::find(&a, &req).await?))
}
pub async fn reservation_create(
    State(a): State<App>,
    JsonBody(req): JsonBody<SizeReservationCreateRequest>,
) -> ApiResult<(StatusCode, Json<SizeReservation>)> {
    Ok((
        StatusCode::CREATED,
        Json(app::reservation::create(&a, req).await?),
    ))
}
pub async fn reservation_update(
    State(a): State<App>,
    JsonBody(req): JsonBody<SizeReservationUpdateRequest>,
) -> ApiResult<Json<SizeReservation>> {
    Ok(Json(app::reservation::update(&a, req).await?))
}
pub async fn reservation_delete(
    State(a): State<App>,
    Path(id): Path<String>,
) -> ApiResult<Json<SizeReservation>> {
    Ok(Json(app::delete::<SizeReservation>(&a, &id).await?))
}
pub async fn reservation_usage(
    State(a): State<App>,
    JsonBody(req): JsonBody<SizeReservationListRequest>,
) -> ApiResult<Json<Vec<SizeReservationUsage>>> {
    Ok(Json(app::reservation::usage(&a, &req).await?))
}
