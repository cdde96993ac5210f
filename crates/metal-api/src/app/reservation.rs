//! Size reservations (`/v1/size/reservations`): create and update check in their transaction
//! that the size, the project and every partition exist (422 naming the field); the project
//! row is locked for it, so a concurrent project delete and a new reservation go one after the
//! other. Find and usage filter by the indexed size and project first, then by partition.

use metal_domain::partition::Partition;
use metal_domain::project::Project;
use metal_domain::reservation::{
    self, SizeReservation, SizeReservationCreateRequest, SizeReservationListRequest,
    SizeReservationUpdateRequest, SizeReservationUsage,
};
use metal_domain::size::Size;
use metal_store::docs;
use metal_store::docs::SizeReservationFilter;
use metal_store::Conn;

use super::store_err;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// The referenced entities must exist (422 naming the field). Locks the project row until the
/// transaction ends.
async fn check_references(conn: &mut Conn, r: &SizeReservation) -> ApiResult<()> {
    if docs::get::<Size>(conn, &r.sizeid).await?.is_none() {
        return Err(ApiError::unprocessable(format!(
            "sizeid: size {:?} does not exist",
            r.sizeid
        )));
    }
    if !docs::lock::<Project>(conn, &r.projectid).await? {
        return Err(ApiError::unprocessable(format!(
            "projectid: project {:?} does not exist",
            r.projectid
        )));
    }
    for p in &r.partitionids {
        if docs::get::<Partition>(conn, p).await?.is_none() {
            return Err(ApiError::unprocessable(format!(
                "partitionids: partition {p:?} does not exist"
            )));
        }
    }
    Ok(())
}

/// `PUT /v1/size/reservations`: an empty id gets a generated UUID; a taken id is 409.
pub async fn create(
    app: &AppState,
    mut req: SizeReservationCreateRequest,
) -> ApiResult<SizeReservation> {
    if req.id.is_empty() {
        req.id = uuid::Uuid::new_v4().to_string();
    }
    let mut r = req.into_reservation()?;
    let mut tx = app.store.begin().await?;
    check_references(&mut tx, &r).await?;
    docs::insert(&mut tx, &mut r).await?;
    tx.commit().await.map_err(store_err)?;
    Ok(r)
}

/// `POST /v1/size/reservations`: changes name, description, amount, partitions and labels.
pub async fn update(
    app: &AppState,
    req: SizeReservationUpdateRequest,
) -> ApiResult<SizeReservation> {
    if req.id.is_empty() {
        return Err(ApiError::bad_request("id should not be empty"));
    }
    let mut tx = app.store.begin().await?;
    let stored = docs::must_get::<SizeReservation>(&mut tx, &req.id).await?;
    let mut r = stored.value;
    req.apply(&mut r)?;
    check_references(&mut tx, &r).await?;
    docs::update(&mut tx, &mut r, stored.revision).await?;
    tx.commit().await.map_err(store_err)?;
    Ok(r)
}

/// The reservations passing the filters, by id.
async fn matching(
    conn: &mut Conn,
    req: &SizeReservationListRequest,
) -> ApiResult<Vec<SizeReservation>> {
    let filters: Vec<SizeReservationFilter> = [
        req.id().map(SizeReservationFilter::Id),
        req.sizeid().map(SizeReservationFilter::Size),
        req.projectid().map(SizeReservationFilter::Project),
    ]
    .into_iter()
    .flatten()
    .collect();
    let mut found = docs::find::<SizeReservation>(conn, &filters).await?;
    found.retain(|r| req.matches(r));
    Ok(found)
}

/// `POST /v1/size/reservations/find`.
pub async fn find(
    app: &AppState,
    req: &SizeReservationListRequest,
) -> ApiResult<Vec<SizeReservation>> {
    let mut conn = app.store.reader().acquire().await.map_err(store_err)?;
    matching(&mut conn, req).await
}

/// `POST /v1/size/reservations/usage`: one row per reservation and partition (only the
/// partition asked for, when one is) with the machines its project holds there.
pub async fn usage(
    app: &AppState,
    req: &SizeReservationListRequest,
) -> ApiResult<Vec<SizeReservationUsage>> {
    let mut conn = app.store.reader().acquire().await.map_err(store_err)?;
    let found = matching(&mut conn, req).await?;
    let held = metal_store::usage::allocations(&mut conn).await?;
    Ok(reservation::usage(&found, req.partitionid(), &held))
}
