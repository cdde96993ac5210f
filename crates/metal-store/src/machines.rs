//! Machine queries beyond the generic document repository: allocation candidates, the
//! machines already placed in a partition, and claiming a candidate inside a transaction.

use metal_domain::allocation::{Candidate, Placed};
use metal_domain::machine::Machine;
use sqlx::{AnyConnection, Row};

use crate::docs;
use crate::error::StoreResult;
use crate::Backend;

/// Unallocated, available (not reserved or locked) machines of a partition and size whose
/// metal-hammer waits and whose event log says they are alive.
pub async fn candidates(
    conn: &mut AnyConnection,
    partition: &str,
    size: &str,
) -> StoreResult<Vec<Candidate>> {
    let rows = sqlx::query(
        "SELECT m.id AS id, m.rack_id AS rack_id FROM machines m JOIN event_containers e ON e.id = m.id \
         WHERE m.partition_id = $1 AND m.size_id = $2 AND m.waiting = 'true' AND m.state_value = '' \
           AND m.project_id IS NULL AND e.liveliness = 'Alive' ORDER BY m.id",
    )
    .bind(partition)
    .bind(size)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Candidate {
                id: r.try_get("id")?,
                rack: r
                    .try_get::<Option<String>, _>("rack_id")?
                    .unwrap_or_default(),
            })
        })
        .collect()
}

/// The allocated machines of a partition with a size, for spreading and reservations: project
/// and rack from indexed columns (no documents decoded), and the tags of `tags_of_project`'s
/// machines only when asked for (placement tags).
pub async fn placed(
    conn: &mut AnyConnection,
    partition: &str,
    size: &str,
    tags_of_project: Option<&str>,
) -> StoreResult<Vec<Placed>> {
    let rows = sqlx::query(
        "SELECT id, project_id, rack_id FROM machines \
         WHERE partition_id = $1 AND size_id = $2 AND project_id IS NOT NULL ORDER BY id",
    )
    .bind(partition)
    .bind(size)
    .fetch_all(&mut *conn)
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        let project: String = r.try_get("project_id")?;
        let tags = match tags_of_project {
            Some(p) if p == project => {
                let id: String = r.try_get("id")?;
                docs::get::<Machine>(conn, &id)
                    .await?
                    .map(|m| m.value.tags)
                    .unwrap_or_default()
            }
            _ => Vec::new(),
        };
        out.push(Placed {
            project,
            rack: r
                .try_get::<Option<String>, _>("rack_id")?
                .unwrap_or_default(),
            size: size.to_string(),
            tags,
        });
    }
    Ok(out)
}

/// Locks an unallocated machine for this transaction. `false` when it is allocated, gone, or
/// (PostgreSQL) locked by a concurrent allocation, which then is skipped instead of waited for.
pub async fn claim(conn: &mut AnyConnection, backend: Backend, id: &str) -> StoreResult<bool> {
    let sql = match backend {
        Backend::Postgres => {
            "SELECT id FROM machines WHERE id = $1 AND project_id IS NULL FOR UPDATE SKIP LOCKED"
        }
        Backend::Sqlite => "SELECT id FROM machines WHERE id = $1 AND project_id IS NULL",
    };
    Ok(sqlx::query(sql)
        .bind(id)
        .fetch_optional(conn)
        .await?
        .is_some())
}

/// How many machines a project holds.
pub async fn count_of_project(conn: &mut AnyConnection, project: &str) -> StoreResult<i64> {
    Ok(
        sqlx::query("SELECT count(*) AS n FROM machines WHERE project_id = $1")
            .bind(project)
            .fetch_one(conn)
            .await?
            .try_get("n")?,
    )
}
