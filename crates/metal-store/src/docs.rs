//! Entities stored as JSON documents in their wire shape, with a revision for optimistic
//! concurrency and copies of the fields that searches filter on.
//!
//! [`Document`] says where an entity lives; the functions here are the whole repository: get,
//! list, find by indexed columns, insert, update (conditional on the revision that was read)
//! and delete. They take a connection, so they run alike inside and outside a transaction.

mod entities;
pub mod filter;

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

pub use self::filter::*;
use crate::error::{StoreError, StoreResult};
use crate::time;

/// An entity kept in a document table.
pub trait Document: Serialize + DeserializeOwned + Send + Sync + Unpin {
    /// Table name.
    const TABLE: &'static str;
    /// What users call it, for messages ("image", "size").
    const KIND: &'static str;
    /// Indexed copies of document fields, in this order, after the frame columns.
    const COLUMNS: &'static [&'static str] = &[];
    /// The searches of this kind: one variant per indexed column (see [`filter`]).
    type Filter<'a>: Filter;

    fn id(&self) -> &str;
    /// Values of [`Self::COLUMNS`], in order.
    fn column_values(&self) -> Vec<Option<String>> {
        Vec::new()
    }
    /// Stores the creation and change times in the document.
    fn set_times(&mut self, created: DateTime<Utc>, changed: DateTime<Utc>);
    /// The creation time kept in the document.
    fn created(&self) -> Option<DateTime<Utc>>;
}

/// A document with the revision it was read at.
#[derive(Debug, Clone, PartialEq)]
pub struct Stored<T> {
    pub value: T,
    pub revision: i64,
}

pub(crate) fn decode<T: Document>(row: &AnyRow) -> StoreResult<Stored<T>> {
    let doc: String = row.try_get("doc")?;
    let revision: i64 = row.try_get("revision")?;
    let value = serde_json::from_str(&doc).map_err(|source| StoreError::Corrupt {
        kind: T::KIND,
        id: row.try_get::<String, _>("id").unwrap_or_default(),
        source,
    })?;
    Ok(Stored { value, revision })
}

fn encode<T: Document>(value: &T) -> StoreResult<String> {
    serde_json::to_string(value).map_err(|source| StoreError::Corrupt {
        kind: T::KIND,
        id: value.id().to_string(),
        source,
    })
}

/// The message of a missing entity.
pub fn not_found<T: Document>(id: &str) -> StoreError {
    StoreError::NotFound(format!("no {} with id {:?} found", T::KIND, id))
}

/// Reads one entity, or `None`.
pub async fn get<T: Document>(
    conn: &mut AnyConnection,
    id: &str,
) -> StoreResult<Option<Stored<T>>> {
    let sql = format!("SELECT id, doc, revision FROM {} WHERE id = $1", T::TABLE);
    let row = sqlx::query(&sql).bind(id).fetch_optional(conn).await?;
    row.as_ref().map(decode).transpose()
}

/// Reads one entity; a missing one is [`StoreError::NotFound`].
pub async fn must_get<T: Document>(conn: &mut AnyConnection, id: &str) -> StoreResult<Stored<T>> {
    get(conn, id).await?.ok_or_else(|| not_found::<T>(id))
}

/// All entities, ordered by id.
pub async fn list<T: Document>(conn: &mut AnyConnection) -> StoreResult<Vec<T>> {
    find::<T>(conn, &[]).await
}

/// All entities in creation order (oldest first).
pub async fn list_by_creation<T: Document>(conn: &mut AnyConnection) -> StoreResult<Vec<T>> {
    let sql = format!(
        "SELECT id, doc, revision FROM {} ORDER BY created_at, id",
        T::TABLE
    );
    let rows = sqlx::query(&sql).fetch_all(conn).await?;
    rows.iter().map(|r| decode(r).map(|s| s.value)).collect()
}

/// Entities matching every filter (AND), ordered by id.
pub async fn find<T: Document>(
    conn: &mut AnyConnection,
    filters: &[T::Filter<'_>],
) -> StoreResult<Vec<T>> {
    let mut sql = format!("SELECT id, doc, revision FROM {}", T::TABLE);
    push_where(&mut sql, filters);
    sql.push_str(" ORDER BY id");
    let mut q = sqlx::query(&sql);
    for f in filters {
        q = q.bind(f.value().into_owned());
    }
    let rows = q.fetch_all(conn).await?;
    rows.iter().map(|r| decode(r).map(|s| s.value)).collect()
}

/// A machine's stored document and its provisioning event container's (`None` without one),
/// as [`MachinesWithEvents::fetch`] streams them.
#[derive(Debug, Clone, PartialEq)]
pub struct MachineDocs {
    pub machine: String,
    pub events: Option<String>,
}

/// The search for the documents of the machines matching every filter, ordered by id, each
/// with its event container's: one query whose rows [`MachinesWithEvents::fetch`] streams,
/// so a fleet-sized answer is never held whole.
#[derive(Debug, Clone)]
pub struct MachinesWithEvents {
    sql: String,
    binds: Vec<String>,
}

impl MachinesWithEvents {
    pub fn new(filters: &[MachineFilter<'_>]) -> Self {
        let mut sql = String::from(
            "SELECT m.doc AS doc, e.doc AS events FROM machines m \
             LEFT JOIN event_containers e ON e.id = m.id",
        );
        // The filters select ids, so that the documents are read in the order of the primary
        // key: filtered directly, SQLite read them in the order of the filter's index and
        // sorted them, documents and all (a search of every machine measured 4.0x the floor of
        // reading the documents, against 2.2x for the unfiltered list).
        if !filters.is_empty() {
            sql.push_str(" WHERE m.id IN (SELECT id FROM machines");
            push_where(&mut sql, filters);
            sql.push(')');
        }
        sql.push_str(" ORDER BY m.id");
        let binds = filters.iter().map(|f| f.value().into_owned()).collect();
        Self { sql, binds }
    }

    /// The rows, one at a time as the database sends them.
    pub fn fetch<'c>(
        &'c self,
        conn: &'c mut AnyConnection,
    ) -> futures::stream::BoxStream<'c, StoreResult<MachineDocs>> {
        use futures::{StreamExt, TryStreamExt};
        let mut q = sqlx::query(&self.sql);
        for b in &self.binds {
            q = q.bind(b.as_str());
        }
        q.fetch(conn)
            .map_err(StoreError::from)
            .and_then(|row| async move {
                Ok(MachineDocs {
                    machine: row.try_get("doc")?,
                    events: row.try_get("events")?,
                })
            })
            .boxed()
    }
}

/// Counts the entities matching every filter (AND).
pub async fn count<T: Document>(
    conn: &mut AnyConnection,
    filters: &[T::Filter<'_>],
) -> StoreResult<i64> {
    let mut sql = format!("SELECT count(*) AS n FROM {}", T::TABLE);
    push_where(&mut sql, filters);
    let mut q = sqlx::query(&sql);
    for f in filters {
        q = q.bind(f.value().into_owned());
    }
    let row = q.fetch_one(conn).await?;
    Ok(row.try_get("n")?)
}

/// Appends ` WHERE c1 = $1 AND c2 = $2 ...` for the filters.
fn push_where(sql: &mut String, filters: &[impl Filter]) {
    for (i, f) in filters.iter().enumerate() {
        sql.push_str(if i == 0 { " WHERE " } else { " AND " });
        sql.push_str(&format!("{} = ${}", f.column(), i + 1));
    }
}

/// Inserts a new entity, setting its creation and change times; a taken id is a conflict.
pub async fn insert<T: Document>(conn: &mut AnyConnection, value: &mut T) -> StoreResult<()> {
    insert_many(conn, std::slice::from_mut(value)).await
}

/// `VALUES` rows of a multi-row insert: `rows` groups of `per` numbered placeholders,
/// `($1, $2, ..), ($k+1, ..)`. `fixed` is placed after the first `at` placeholders of each
/// row (constant columns such as a revision of 1).
pub fn values_rows(rows: usize, per: usize, at: usize, fixed: &str) -> String {
    let mut sql = String::new();
    for r in 0..rows {
        if r > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for c in 0..per {
            if c > 0 {
                sql.push_str(", ");
            }
            if c == at && !fixed.is_empty() {
                sql.push_str(fixed);
                sql.push_str(", ");
            }
            sql.push_str(&format!("${}", r * per + c + 1));
        }
        if at >= per && !fixed.is_empty() {
            sql.push_str(", ");
            sql.push_str(fixed);
        }
        sql.push(')');
    }
    sql
}

/// Replaces an entity if it is still at `revision`; sets its change time. A concurrent change
/// in between is a conflict, a vanished entity is not found.
pub async fn update<T: Document>(
    conn: &mut AnyConnection,
    value: &mut T,
    revision: i64,
) -> StoreResult<i64> {
    let now = time::now();
    value.set_times(value.created().unwrap_or(now), now);
    let cols = T::COLUMNS;
    let mut sql = format!(
        "UPDATE {} SET doc = $1, revision = revision + 1, changed_at = $2",
        T::TABLE
    );
    for (i, c) in cols.iter().enumerate() {
        sql.push_str(&format!(", {c} = ${}", i + 5));
    }
    sql.push_str(" WHERE id = $3 AND revision = $4");
    let mut q = sqlx::query(&sql)
        .bind(encode(value)?)
        .bind(time::to_db(now))
        .bind(value.id().to_string())
        .bind(revision);
    for v in value.column_values() {
        q = q.bind(v);
    }
    let done = q.execute(&mut *conn).await?;
    if done.rows_affected() == 1 {
        return Ok(revision + 1);
    }
    match get::<T>(conn, value.id()).await? {
        Some(_) => Err(StoreError::Conflict(format!(
            "{} {:?} was changed by another request, please retry",
            T::KIND,
            value.id()
        ))),
        None => Err(not_found::<T>(value.id())),
    }
}

/// Deletes an entity; `false` when there was none.
pub async fn delete<T: Document>(conn: &mut AnyConnection, id: &str) -> StoreResult<bool> {
    let sql = format!("DELETE FROM {} WHERE id = $1", T::TABLE);
    let done = sqlx::query(&sql).bind(id).execute(conn).await?;
    Ok(done.rows_affected() > 0)
}

/// Locks an entity's row until the transaction ends (a write that changes nothing), so that
/// concurrent transactions deciding on it go one after the other. `false` when it is missing.
pub async fn lock<T: Document>(conn: &mut AnyConnection, id: &str) -> StoreResult<bool> {
    let sql = format!("UPDATE {} SET revision = revision WHERE id = $1", T::TABLE);
    let done = sqlx::query(&sql).bind(id).execute(conn).await?;
    Ok(done.rows_affected() > 0)
}

/// Inserts several new entities in one statement, setting their creation and change times; a
/// taken id is a conflict (naming it when there is one entity).
pub async fn insert_many<T: Document>(
    conn: &mut AnyConnection,
    values: &mut [T],
) -> StoreResult<()> {
    if values.is_empty() {
        return Ok(());
    }
    let now = time::now();
    let cols = T::COLUMNS;
    let mut sql = format!(
        "INSERT INTO {} (id, doc, revision, created_at, changed_at",
        T::TABLE
    );
    for c in cols {
        sql.push_str(", ");
        sql.push_str(c);
    }
    sql.push_str(") VALUES ");
    sql.push_str(&values_rows(values.len(), 4 + cols.len(), 2, "1"));
    let mut q = sqlx::query(&sql);
    for v in values.iter_mut() {
        v.set_times(now, now);
        q = q
            .bind(v.id().to_string())
            .bind(encode(&*v)?)
            .bind(time::to_db(now))
            .bind(time::to_db(now));
        for c in v.column_values() {
            q = q.bind(c);
        }
    }
    match q.execute(conn).await {
        Ok(_) => Ok(()),
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
            Err(StoreError::Conflict(match values {
                [one] => format!("{} with id {:?} already exists", T::KIND, one.id()),
                _ => format!("a {} with one of these ids already exists", T::KIND),
            }))
        }
        Err(e) => Err(e.into()),
    }
}

/// All entities of a kind, ordered by id, as one JSON array built by the database from the
/// stored documents. The documents are stored in their wire shape, so a list needs neither
/// decoding nor encoding here, and the database sends one row instead of thousands.
pub async fn list_json<T: Document>(
    conn: &mut AnyConnection,
    backend: crate::Backend,
) -> StoreResult<String> {
    let sql = match backend {
        crate::Backend::Sqlite => format!(
            "SELECT coalesce(json_group_array(json(doc) ORDER BY id), '[]') AS j FROM {}",
            T::TABLE
        ),
        crate::Backend::Postgres => format!(
            "SELECT coalesce(json_agg(doc::json ORDER BY id), '[]'::json)::text AS j FROM {}",
            T::TABLE
        ),
    };
    let row = sqlx::query(&sql).fetch_one(conn).await?;
    Ok(row.try_get("j")?)
}

#[cfg(test)]
mod tests {
    #[test]
    fn values_rows_numbers_and_places_constants() {
        assert_eq!(super::values_rows(2, 2, 2, ""), "($1, $2), ($3, $4)");
        assert_eq!(
            super::values_rows(2, 3, 2, "1"),
            "($1, $2, 1, $3), ($4, $5, 1, $6)"
        );
        assert_eq!(super::values_rows(1, 2, 2, "0, 0"), "($1, $2, 0, 0)");
    }
}
