//! The audit trail: appended once per mutating request, searched newest first.

use metal_domain::audit::{AuditEntry, AuditFindRequest};
use sqlx::{AnyConnection, Row};

use crate::error::StoreResult;
use crate::time;

/// Appends an entry as its own write: on PostgreSQL one statement (autocommit, one round trip
/// instead of `BEGIN`, insert, `COMMIT`), on SQLite a transaction on the single writer.
pub async fn append(store: &crate::Store, e: &AuditEntry) -> StoreResult<()> {
    match store.backend() {
        crate::Backend::Postgres => {
            let mut conn = store.reader().acquire().await?;
            insert(&mut conn, e).await
        }
        crate::Backend::Sqlite => {
            let mut tx = store.begin().await?;
            insert(&mut tx, e).await?;
            tx.commit().await?;
            Ok(())
        }
    }
}

/// Appends an entry.
pub async fn insert(conn: &mut AnyConnection, e: &AuditEntry) -> StoreResult<()> {
    let ts = e.timestamp.unwrap_or_else(time::now);
    sqlx::query(
        "INSERT INTO audit (rqid, ts, component, kind, username, tenant, project, detail, phase, \
         path, forwarded_for, remote_addr, body, status_code, error) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
    )
    .bind(&e.rqid)
    .bind(time::to_db(ts))
    .bind(&e.component)
    .bind(&e.kind)
    .bind(&e.user)
    .bind(&e.tenant)
    .bind(&e.project)
    .bind(&e.detail)
    .bind(&e.phase)
    .bind(&e.path)
    .bind(&e.forwarded_for)
    .bind(&e.remote_addr)
    .bind(&e.body)
    .bind(e.status_code)
    .bind(&e.error)
    .execute(conn)
    .await?;
    Ok(())
}

enum Arg {
    Text(String),
    Int(i32),
}

/// Entries matching every given field, newest first, at most the request's limit.
pub async fn find(conn: &mut AnyConnection, q: &AuditFindRequest) -> StoreResult<Vec<AuditEntry>> {
    let mut conds: Vec<String> = Vec::new();
    let mut args: Vec<Arg> = Vec::new();
    let mut push = |cond: &str, arg: Arg| {
        args.push(arg);
        conds.push(cond.replace('?', &format!("${}", args.len())));
    };
    let exact = [
        ("rqid", &q.rqid),
        ("component", &q.component),
        ("kind", &q.kind),
        ("username", &q.user),
        ("tenant", &q.tenant),
        ("project", &q.project),
        ("detail", &q.detail),
        ("phase", &q.phase),
        ("forwarded_for", &q.forwarded_for),
        ("remote_addr", &q.remote_addr),
        ("error", &q.error),
    ];
    for (col, v) in exact {
        if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
            push(&format!("{col} = ?"), Arg::Text(v.to_string()));
        }
    }
    for (col, v) in [("path", &q.path), ("body", &q.body)] {
        if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
            push(
                &format!("{col} LIKE ?"),
                Arg::Text(format!("%{}%", escape_like(v))),
            );
        }
    }
    if let Some(from) = q.from {
        push("ts >= ?", Arg::Text(time::to_db(from)));
    }
    if let Some(to) = q.to {
        push("ts <= ?", Arg::Text(time::to_db(to)));
    }
    if let Some(code) = q.status_code {
        push("status_code = ?", Arg::Int(code));
    }
    let mut sql = String::from(
        "SELECT rqid, ts, component, kind, username, tenant, project, detail, phase, path, \
         forwarded_for, remote_addr, body, status_code, error FROM audit",
    );
    if !conds.is_empty() {
        sql.push_str(" WHERE ");
        sql.push_str(&conds.join(" AND "));
    }
    sql.push_str(&format!(" ORDER BY seq DESC LIMIT {}", q.effective_limit()));
    let mut query = sqlx::query(&sql);
    for a in args {
        query = match a {
            Arg::Text(s) => query.bind(s),
            Arg::Int(i) => query.bind(i),
        };
    }
    let rows = query.fetch_all(conn).await?;
    rows.iter()
        .map(|r| {
            let ts: String = r.try_get("ts")?;
            Ok(AuditEntry {
                rqid: r.try_get("rqid")?,
                timestamp: time::from_db(&ts),
                component: r.try_get("component")?,
                kind: r.try_get("kind")?,
                user: r.try_get("username")?,
                tenant: r.try_get("tenant")?,
                project: r.try_get("project")?,
                detail: r.try_get("detail")?,
                phase: r.try_get("phase")?,
                path: r.try_get("path")?,
                forwarded_for: r.try_get("forwarded_for")?,
                remote_addr: r.try_get("remote_addr")?,
                body: r.try_get("body")?,
                status_code: r.try_get("status_code")?,
                error: r.try_get("error")?,
            })
        })
        .collect()
}

/// LIKE wildcards in user input match literally (both backends use `\` as escape by default
/// in PostgreSQL; SQLite needs no escaping of `%`/`_` to be literal only with ESCAPE, so the
/// characters are dropped from the pattern instead of risking a backend difference).
fn escape_like(s: &str) -> String {
    s.chars()
        .filter(|c| !matches!(c, '%' | '_' | '\\'))
        .collect()
}
