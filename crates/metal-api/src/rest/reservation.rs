//! Handlers of size reservations (`/v1/size/reservations`). Each extracts, calls one app
//! function and answers.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use metal_domain::reservation::{
    SizeReservation, SizeReservationCreateRequest, SizeReservationListRequest,
    SizeReservationUpdateRequest, SizeReservationUsage,
};

use super::extract::JsonBody;
use crate::app;
use crate::app::RawJson;
use crate::error::ApiResult;
use crate::state::App;

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
