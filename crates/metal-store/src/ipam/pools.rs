//! Integer pools (VRF, ASN): the values in use, one row each.

use sqlx::{AnyConnection, Row};

use super::SCAN;
use crate::error::StoreResult;

/// Takes a value of an integer pool: `preferred` if free, else the next free one above it,
/// wrapping to `min`. `None` when every value of `[min, max]` is taken.
pub async fn acquire_int(
    conn: &mut AnyConnection,
    pool: &str,
    min: u64,
    max: u64,
    preferred: u64,
) -> StoreResult<Option<u64>> {
    let preferred = preferred.clamp(min, max);
    if acquire_int_exact(conn, pool, preferred).await? {
        return Ok(Some(preferred));
    }
    for (from, to) in [(preferred, max), (min, preferred.saturating_sub(1))] {
        if from > to {
            continue;
        }
        let mut cand = from;
        loop {
            if cand > to {
                break;
            }
            let rows = sqlx::query(
                "SELECT value FROM integer_pools WHERE pool = $1 AND value >= $2 AND value <= $3 ORDER BY value LIMIT $4",
            )
            .bind(pool)
            .bind(cand as i64)
            .bind(to as i64)
            .bind(SCAN)
            .fetch_all(&mut *conn)
            .await?;
            let n = rows.len();
            let mut gap = None;
            for r in &rows {
                let v = r.try_get::<i64, _>("value")? as u64;
                if v != cand {
                    gap = Some(cand);
                    break;
                }
                cand += 1;
            }
            if gap.is_none() && (n as i64) < SCAN && cand <= to {
                gap = Some(cand);
            }
            if let Some(v) = gap {
                if acquire_int_exact(conn, pool, v).await? {
                    return Ok(Some(v));
                }
                // taken meanwhile by a concurrent transaction: look further
                cand = v + 1;
            } else if (n as i64) < SCAN {
                break;
            }
        }
    }
    Ok(None)
}

/// Takes exactly `value`; `false` when it is taken.
pub async fn acquire_int_exact(
    conn: &mut AnyConnection,
    pool: &str,
    value: u64,
) -> StoreResult<bool> {
    let row = sqlx::query(
        "INSERT INTO integer_pools (pool, value) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING value",
    )
    .bind(pool)
    .bind(value as i64)
    .fetch_optional(conn)
    .await?;
    Ok(row.is_some())
}

/// Gives a value back; `false` when it was not taken.
pub async fn release_int(conn: &mut AnyConnection, pool: &str, value: u64) -> StoreResult<bool> {
    let done = sqlx::query("DELETE FROM integer_pools WHERE pool = $1 AND value = $2")
        .bind(pool)
        .bind(value as i64)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() > 0)
}

/// How many values of a pool are taken.
pub async fn int_pool_used(conn: &mut AnyConnection, pool: &str) -> StoreResult<i64> {
    Ok(
        sqlx::query("SELECT count(*) AS n FROM integer_pools WHERE pool = $1")
            .bind(pool)
            .fetch_one(conn)
            .await?
            .try_get("n")?,
    )
}
