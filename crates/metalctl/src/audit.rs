//! `metalctl audit`: search the audit trail (`POST /v1/audit/find`) with filters, and show
//! the entries of one request id.
//! Table: `TIME | REQUEST ID | COMPONENT | DETAIL | PATH | CODE | USER | TENANT`
//! (+ `PHASE | REMOTE ADDR | ERROR | BODY` wide).

use anyhow::{anyhow, bail, Context as _, Result};
use chrono::{DateTime, Utc};
use clap::{Args, Subcommand};
use metal_domain::audit::{AuditEntry, AuditFindRequest};

use crate::app::App;
use crate::output::Table;
use crate::sort::{self, SortArgs, SortKey};

#[derive(Subcommand, Debug, Clone)]
pub enum AuditCmd {
    /// Search audit entries.
    #[command(visible_alias = "ls")]
    List(Box<AuditListArgs>),
    /// Show the audit entries of one request id.
    #[command(visible_alias = "get")]
    Describe {
        /// request id
        rqid: String,
    },
}

#[derive(Args, Debug, Clone)]
pub struct AuditListArgs {
    /// request id
    #[arg(long)]
    pub rqid: Option<String>,
    /// entries newer than this: a duration back from now (`1h`, `30m`, `2d`) or an RFC 3339 time
    #[arg(long, default_value = "1h")]
    pub from: String,
    /// entries older than this: a duration back from now or an RFC 3339 time
    #[arg(long)]
    pub to: Option<String>,
    #[arg(long)]
    pub component: Option<String>,
    /// entry type, e.g. http
    #[arg(long = "type")]
    pub kind: Option<String>,
    #[arg(long)]
    pub user: Option<String>,
    #[arg(long)]
    pub tenant: Option<String>,
    #[arg(long)]
    pub project: Option<String>,
    /// the HTTP method
    #[arg(long)]
    pub detail: Option<String>,
    /// request, response, single, error, opened or closed
    #[arg(long)]
    pub phase: Option<String>,
    /// path (substring match)
    #[arg(long)]
    pub path: Option<String>,
    #[arg(long)]
    pub forwarded_for: Option<String>,
    #[arg(long)]
    pub remote_addr: Option<String>,
    /// request body (substring match)
    #[arg(long)]
    pub body: Option<String>,
    #[arg(long)]
    pub status_code: Option<i32>,
    #[arg(long)]
    pub error: Option<String>,
    /// at most this many entries
    #[arg(long, default_value_t = 100)]
    pub limit: i64,
    #[command(flatten)]
    pub sort: SortArgs,
}

const SORT_KEYS: &[&str] = &["timestamp", "rqid", "user", "path", "code"];

pub async fn run(app: &mut App, cmd: AuditCmd) -> Result<()> {
    match cmd {
        AuditCmd::List(args) => {
            let args = *args;
            let now = Utc::now();
            let req = AuditFindRequest {
                rqid: args.rqid,
                from: Some(parse_time(&args.from, now).context("--from")?),
                to: args
                    .to
                    .as_deref()
                    .map(|t| parse_time(t, now))
                    .transpose()
                    .context("--to")?,
                component: args.component,
                kind: args.kind,
                user: args.user,
                tenant: args.tenant,
                project: args.project,
                detail: args.detail,
                phase: args.phase,
                path: args.path,
                forwarded_for: args.forwarded_for,
                remote_addr: args.remote_addr,
                body: args.body,
                status_code: args.status_code,
                error: args.error,
                limit: Some(args.limit),
            };
            let mut entries = app.client()?.find_audit(&req).await?;
            // the server answers newest first; keep that unless asked otherwise
            if !args.sort.sort_by.is_empty() {
                let orders = sort::parse(&args.sort.sort_by, SORT_KEYS, SORT_KEYS[0])?;
                sort::sort(&mut entries, &orders, sort_key);
            }
            app.printer.list(&entries, |wide| table(&entries, wide))
        }
        AuditCmd::Describe { rqid } => {
            let req = AuditFindRequest {
                rqid: Some(rqid.clone()),
                ..Default::default()
            };
            let entries = app.client()?.find_audit(&req).await?;
            if entries.is_empty() {
                bail!("no audit entries found for request id {rqid:?}");
            }
            for e in &entries {
                app.printer
                    .describe(e, |wide| table(std::slice::from_ref(e), wide))?;
            }
            Ok(())
        }
    }
}

/// A duration back from `now` (`1h`, `30m`, `2d`, `1h30m`, `45s`: the workspace's duration
/// grammar), or an RFC 3339 time. A bare number is refused here, unlike in a duration: as a
/// time it could as well be a year or a Unix time.
pub fn parse_time(s: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    let neither = || anyhow!("{s:?} is neither a duration like 1h30m nor an RFC 3339 time");
    if s.trim().bytes().all(|b| b.is_ascii_digit()) {
        return Err(neither());
    }
    let back = metal_util::duration::parse_duration(s).map_err(|_| neither())?;
    chrono::Duration::from_std(back)
        .ok()
        .and_then(|back| now.checked_sub_signed(back))
        .ok_or_else(neither)
}

fn sort_key(e: &AuditEntry, key: &str) -> SortKey {
    match key {
        "rqid" => e.rqid.as_str().into(),
        "user" => e.user.as_str().into(),
        "path" => e.path.as_str().into(),
        "code" => i64::from(e.status_code).into(),
        _ => e.timestamp.into(),
    }
}

fn table(entries: &[AuditEntry], wide: bool) -> Table {
    let mut header = vec![
        "TIME",
        "REQUEST ID",
        "COMPONENT",
        "DETAIL",
        "PATH",
        "CODE",
        "USER",
        "TENANT",
    ];
    if wide {
        header.extend(["PHASE", "REMOTE ADDR", "ERROR", "BODY"]);
    }
    let mut t = Table::new(header);
    for e in entries {
        let time = e
            .timestamp
            .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
            .unwrap_or_default();
        let code = if e.status_code == 0 {
            String::new()
        } else {
            e.status_code.to_string()
        };
        let mut row = vec![
            time,
            e.rqid.clone(),
            e.component.clone(),
            e.detail.clone(),
            e.path.clone(),
            code,
            e.user.clone(),
            e.tenant.clone(),
        ];
        if wide {
            row.extend([
                e.phase.clone(),
                e.remote_addr.clone(),
                e.error.clone(),
                e.body.clone(),
            ]);
        }
        t.push(row);
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn times() {
        let now = Utc.with_ymd_and_hms(2024, 5, 27, 10, 0, 0).unwrap();
        assert_eq!(
            parse_time("1h", now).unwrap(),
            Utc.with_ymd_and_hms(2024, 5, 27, 9, 0, 0).unwrap()
        );
        assert_eq!(
            parse_time("1h30m", now).unwrap(),
            Utc.with_ymd_and_hms(2024, 5, 27, 8, 30, 0).unwrap()
        );
        assert_eq!(
            parse_time("2d", now).unwrap(),
            Utc.with_ymd_and_hms(2024, 5, 25, 10, 0, 0).unwrap()
        );
        assert_eq!(
            parse_time("2024-01-01T00:00:00Z", now).unwrap(),
            Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap()
        );
        for bad in ["", "1", "1x", "h", "yesterday"] {
            assert!(parse_time(bad, now).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn table_columns() {
        let e = AuditEntry {
            rqid: "r1".into(),
            timestamp: Some(Utc.with_ymd_and_hms(2024, 5, 27, 10, 0, 0).unwrap()),
            component: "metal-api".into(),
            detail: "PUT".into(),
            path: "/v1/size".into(),
            status_code: 201,
            user: "metal-admin@metal-stack.io".into(),
            ..Default::default()
        };
        let t = table(&[e], false);
        assert_eq!(
            t.rows[0],
            [
                "2024-05-27 10:00:00",
                "r1",
                "metal-api",
                "PUT",
                "/v1/size",
                "201",
                "metal-admin@metal-stack.io",
                ""
            ]
        );
    }
}
