//! `/v1/size-image-constraint`: which images a size may be installed with. The routes and their
//! handlers.

use axum::extract::{Path, State};
use axum::routing::{delete, get, post, put};
use axum::Json;
use metal_domain::misc::EmptyBody;
use metal_domain::sic::*;

use super::extract::JsonBody;
use super::response::{created, Created};
use super::table::{Op, RouteTable};
use super::{ADMIN, AUTH};
use crate::app;
use crate::app::RawJson;
use crate::error::ApiResult;
use crate::state::App;

/// The size image constraint routes.
pub(super) fn routes(t: &mut RouteTable) {
    t.add(
        Op::get(
            "/v1/size-image-constraint",
            "listSizeImageConstraints",
            AUTH,
        )
        .summary("get all size image constraints")
        .returns_list::<SizeImageConstraint>(200),
        get(sic_list),
    );
    t.add(
        Op::get(
            "/v1/size-image-constraint/{id}",
            "findSizeImageConstraint",
            AUTH,
        )
        .summary("get the size image constraint of a size")
        .returns::<SizeImageConstraint>(200),
        get(sic_get),
    );
    t.add(
        Op::put(
            "/v1/size-image-constraint",
            "createSizeImageConstraint",
            ADMIN,
        )
        .summary("create a size image constraint")
        .body::<SizeImageConstraintCreateRequest>()
        .returns::<SizeImageConstraint>(201)
        .error(409),
        put(sic_create),
    );
    t.add(
        Op::post(
            "/v1/size-image-constraint",
            "updateSizeImageConstraint",
            ADMIN,
        )
        .summary("update a size image constraint")
        .body::<SizeImageConstraintUpdateRequest>()
        .returns::<SizeImageConstraint>(200)
        .error(409),
        post(sic_update),
    );
    t.add(
        Op::delete(
            "/v1/size-image-constraint/{id}",
            "deleteSizeImageConstraint",
            ADMIN,
        )
        .summary("delete a size image constraint")
        .returns::<SizeImageConstraint>(200),
        delete(sic_delete),
    );
    t.add(
        Op::post(
            "/v1/size-image-constraint/try",
            "trySizeImageConstraint",
            ADMIN,
        )
        .summary("whether a size may be installed with an image")
        .body::<SizeImageConstraintTryRequest>()
        .returns::<EmptyBody>(200),
        post(sic_try),
    );
}

pub async fn sic_list(State(a): State<App>) -> ApiResult<RawJson> {
    app::list_json::<SizeImageConstraint>(&a).await
}
pub async fn sic_get(
    State(a): State<App>,
    Path(id): Path<String>,
) -> ApiResult<Json<SizeImageConstraint>> {
    Ok(Json(app::get::<SizeImageConstraint>(&a, &id).await?))
}
pub async fn sic_create(
    State(a): State<App>,
    JsonBody(req): JsonBody<SizeImageConstraintCreateRequest>,
) -> ApiResult<Created<SizeImageConstraint>> {
    Ok(created(app::catalog::create_sic(&a, req).await?))
}
pub async fn sic_update(
    State(a): State<App>,
    JsonBody(req): JsonBody<SizeImageConstraintUpdateRequest>,
) -> ApiResult<Json<SizeImageConstraint>> {
    Ok(Json(app::catalog::update_sic(&a, req).await?))
}
pub async fn sic_delete(
    State(a): State<App>,
    Path(id): Path<String>,
) -> ApiResult<Json<SizeImageConstraint>> {
    Ok(Json(app::delete::<SizeImageConstraint>(&a, &id).await?))
}
pub async fn sic_try(
    State(a): State<App>,
    JsonBody(req): JsonBody<SizeImageConstraintTryRequest>,
) -> ApiResult<Json<EmptyBody>> {
    app::catalog::try_sic(&a, &req).await?;
    Ok(Json(EmptyBody {}))
}
