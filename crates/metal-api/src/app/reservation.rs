//! Size reservations (`/v1/size/reservations`): create and update check in their transaction
//! that the size, the project and every partition exist (422 naming the field); the project
//! row is locked for it, so a concurrent project delete and a new reservation go one after the
//! other. Find and usage filter by the indexed size and project first, then by partition.

use metal_domain::partition::Partition;
use metal_domain::project::Project;
use metal_domain::reservation::{
    self, Allocations, SizeReservation, SizeReservationCreateRequest, SizeReservationListRequest,
    SizeReservationUpdateRequest, SizeReservationUsage,
};
use metal_domain::size::Size;
use metal_store::docs;
use sqlx::{AnyConnection, Row};

use super::store_err;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// The referenced entities must exist (422 naming the field). Locks the project row until the
/// transaction ends.
async fn check_references(conn: &mut AnyConnection, r: &SizeReservation) -> ApiResult<()> {
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
    conn: &mut AnyConnection,
    req: &SizeReservationListRequest,
) -> ApiResult<Vec<SizeReservation>> {
    let mut filters: Vec<(&str, &str)> = Vec::new();
    if let Some(v) = req.id() {
        filters.push(("id", v));
    }
    if let Some(v) = req.sizeid() {
        filters.push(("size_id", v));
    }
    if let Some(v) = req.projectid() {
        filters.push(("project_id", v));
    }
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

/// How many machines each project holds per partition and size (one grouped count).
async fn allocations(conn: &mut AnyConnection) -> ApiResult<Allocations> {
    let rows = sqlx::query(
        "SELECT project_id, partition_id, size_id, count(*) AS n FROM machines \
         WHERE project_id IS NOT NULL AND partition_id IS NOT NULL AND size_id IS NOT NULL \
         GROUP BY project_id, partition_id, size_id",
    )
    .fetch_all(&mut *conn)
    .await
    .map_err(store_err)?;
    let mut out = Allocations::default();
    for r in &rows {
        let get = |c: &str| r.try_get::<String, _>(c).map_err(store_err);
        let n: i64 = r.try_get("n").map_err(store_err)?;
        out.add(
            &get("project_id")?,
            &get("partition_id")?,
            &get("size_id")?,
            u64::try_from(n).unwrap_or(0),
        );
    }
    Ok(out)
}

/// `POST /v1/size/reservations/usage`: one row per reservation and partition (only the
/// partition asked for, when one is) with the machines its project holds there.
pub async fn usage(
    app: &AppState,
    req: &SizeReservationListRequest,
) -> ApiResult<Vec<SizeReservationUsage>> {
    let mut conn = app.store.reader().acquire().await.map_err(store_err)?;
    let found = matching(&mut conn, req).await?;
    let held = allocations(&mut conn).await?;
    Ok(reservation::usage(&found, req.partitionid(), &held))
}
