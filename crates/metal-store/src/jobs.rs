//! Leases for background jobs: several replicas share one database, and a job runs in the
//! replica that holds its lease.

use chrono::{DateTime, Utc};
use sqlx::AnyConnection;

use crate::error::StoreResult;
use crate::time;

/// Takes or renews the lease `name` for `holder` until `until`; `false` while another holder's
/// lease has not expired.
pub async fn try_lease(
    conn: &mut AnyConnection,
    name: &str,
    holder: &str,
    now: DateTime<Utc>,
    until: DateTime<Utc>,
) -> StoreResult<bool> {
    let row = sqlx::query(
        "INSERT INTO job_leases (name, holder, until) VALUES ($1, $2, $3) \
         ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until = excluded.until \
         WHERE job_leases.until < $4 OR job_leases.holder = $2 RETURNING holder",
    )
    .bind(name)
    .bind(holder)
    .bind(time::to_db(until))
    .bind(time::to_db(now))
    .fetch_optional(conn)
    .await?;
    Ok(row.is_some())
}
