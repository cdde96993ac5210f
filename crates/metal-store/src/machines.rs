//! Machine queries beyond the generic document repository: allocation candidates, the
//! machines already placed in a partition, and claiming a candidate inside a transaction.

use metal_domain::allocation::{Placed, RackCount};
use metal_domain::ids::{PartitionId, SizeId};
use metal_domain::machine::Machine;
use sqlx::{AnyConnection, Row};

use crate::docs;
use crate::error::StoreResult;
use crate::Backend;

/// Unallocated, available (not reserved or locked) machines of a partition and size whose
/// metal-hammer waits and whose event log says they are alive.
const CANDIDATE: &str = "FROM machines m JOIN event_containers e ON e.id = m.id \
     WHERE m.partition_id = $1 AND m.size_id = $2 AND m.waiting = 'true' AND m.state_value = '' \
       AND m.project_id IS NULL AND e.liveliness = 'Alive'";

/// The candidates counted per rack.
pub async fn candidate_racks(
    conn: &mut AnyConnection,
    partition: &PartitionId,
    size: &SizeId,
) -> StoreResult<Vec<RackCount>> {
    let sql = format!("SELECT coalesce(m.rack_id, '') AS rack, count(*) AS n {CANDIDATE} GROUP BY coalesce(m.rack_id, '') ORDER BY 1");
    let rows = sqlx::query(&sql)
        .bind(partition.as_str())
        .bind(size.as_str())
        .fetch_all(conn)
        .await?;
    rows.iter()
        .map(|r| {
            Ok(RackCount {
                rack: r.try_get("rack")?,
                count: r.try_get::<i64, _>("n")? as usize,
            })
        })
        .collect()
}

/// Claims a candidate of a rack for this transaction and answers it as stored: the one at
/// position `offset` (in id order) or, when a concurrent allocation holds it, the next free one
/// after it, wrapping to the rack's first. On PostgreSQL a locked candidate is skipped, not
/// waited for; one statement finds the position and claims (the `FOR UPDATE` applies to the
/// claimed row only, not to the rows the position skips). `None` when no candidate of the rack
/// could be claimed.
pub async fn claim_in_rack(
    conn: &mut AnyConnection,
    backend: Backend,
    partition: &PartitionId,
    size: &SizeId,
    rack: &str,
    offset: usize,
) -> StoreResult<Option<docs::Stored<Machine>>> {
    // the rack as an indexed condition (no rack stored reads as "")
    let in_rack = if rack.is_empty() {
        "(m.rack_id IS NULL OR m.rack_id = $3)"
    } else {
        "m.rack_id = $3"
    };
    let lock = match backend {
        Backend::Postgres => " FOR UPDATE OF m SKIP LOCKED",
        Backend::Sqlite => "",
    };
    let sql = format!(
        "SELECT m.id AS id, m.doc AS doc, m.revision AS revision {CANDIDATE} AND {in_rack} \
         AND m.id >= coalesce((SELECT m.id {CANDIDATE} AND {in_rack} ORDER BY m.id LIMIT 1 OFFSET $4), '') \
         ORDER BY m.id LIMIT 1{lock}"
    );
    for start in [offset, 0] {
        let row = sqlx::query(&sql)
            .bind(partition.as_str())
            .bind(size.as_str())
            .bind(rack)
            .bind(start as i64)
            .fetch_optional(&mut *conn)
            .await?;
        if let Some(row) = row {
            return Ok(Some(docs::decode(&row)?));
        }
        if start == 0 {
            break;
        }
    }
    Ok(None)
}

/// The allocated machines of a partition with a size that belong to one of `projects` (the
/// allocating project and the projects holding reservations: the only ones spreading and
/// reservations look at), for spreading and reservations: project and rack from indexed
/// columns (no documents decoded), and the tags of `tags_of_project`'s machines only when
/// asked for (placement tags).
pub async fn placed(
    conn: &mut AnyConnection,
    partition: &PartitionId,
    size: &SizeId,
    projects: &[&str],
    tags_of_project: Option<&str>,
) -> StoreResult<Vec<Placed>> {
    if projects.is_empty() {
        return Ok(Vec::new());
    }
    let list: Vec<String> = (0..projects.len()).map(|i| format!("${}", i + 3)).collect();
    let sql = format!(
        "SELECT id, project_id, rack_id FROM machines \
         WHERE partition_id = $1 AND size_id = $2 AND project_id IN ({}) ORDER BY id",
        list.join(", ")
    );
    let mut q = sqlx::query(&sql)
        .bind(partition.as_str())
        .bind(size.as_str());
    for p in projects {
        q = q.bind(*p);
    }
    let rows = q.fetch_all(&mut *conn).await?;
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
