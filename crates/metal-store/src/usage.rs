//! Which machines refer to a catalog entity: the image usage list and the checks that refuse
//! to delete what machines still use.

use sqlx::{AnyConnection, Row};

use crate::error::StoreResult;

/// A machine column that refers to a catalog entity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MachineRef {
    Image,
    Size,
    Partition,
    Project,
}

impl MachineRef {
    fn column(self) -> &'static str {
        match self {
            Self::Image => "image_id",
            Self::Size => "size_id",
            Self::Partition => "partition_id",
            Self::Project => "project_id",
        }
    }
}

/// Ids of the machines whose column equals `id`, sorted.
pub async fn machines_using(
    conn: &mut AnyConnection,
    by: MachineRef,
    id: &str,
) -> StoreResult<Vec<String>> {
    let sql = format!(
        "SELECT id FROM machines WHERE {} = $1 ORDER BY id",
        by.column()
    );
    let rows = sqlx::query(&sql).bind(id).fetch_all(conn).await?;
    rows.iter().map(|r| Ok(r.try_get("id")?)).collect()
}

/// Image id → ids of the machines allocated with it, for every image in use.
pub async fn image_usage(
    conn: &mut AnyConnection,
) -> StoreResult<std::collections::HashMap<String, Vec<String>>> {
    let rows =
        sqlx::query("SELECT id, image_id FROM machines WHERE image_id IS NOT NULL ORDER BY id")
            .fetch_all(conn)
            .await?;
    let mut out: std::collections::HashMap<String, Vec<String>> = Default::default();
    for r in rows {
        let image: String = r.try_get("image_id")?;
        out.entry(image).or_default().push(r.try_get("id")?);
    }
    Ok(out)
}

/// How many allocated machines each project holds per partition and size (one grouped count).
pub async fn allocations(
    conn: &mut AnyConnection,
) -> StoreResult<metal_domain::reservation::Allocations> {
    let rows = sqlx::query(
        "SELECT project_id, partition_id, size_id, count(*) AS n FROM machines \
         WHERE project_id IS NOT NULL AND partition_id IS NOT NULL AND size_id IS NOT NULL \
         GROUP BY project_id, partition_id, size_id",
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut out = metal_domain::reservation::Allocations::default();
    for r in &rows {
        let n: i64 = r.try_get("n")?;
        out.add(
            &r.try_get::<String, _>("project_id")?,
            &r.try_get::<String, _>("partition_id")?,
            &r.try_get::<String, _>("size_id")?,
            u64::try_from(n).unwrap_or(0),
        );
    }
    Ok(out)
}
