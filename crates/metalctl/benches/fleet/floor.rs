//! The floor the allocation rate is compared with: PostgreSQL itself running, with `pgbench`,
//! a transaction of an allocation's shape on the same machine in the same run — lock one of
//! 10,000 machine rows with `SKIP LOCKED`, three updates (the machine, two counters), three
//! inserts (two IPs, one ASN), commit — with as many clients and for as long as the
//! allocations. Its database is its own, created here and dropped afterwards.

use std::path::PathBuf;
use std::process::Command;

/// One transaction per run of the script. The counters are random rows of a 10,000-row
/// table (no hot row); documents are ~1 KB (machine) and ~300 bytes (IP), as ours are.
const SCRIPT: &str = r"\set r random(1, 9900)
\set a random(1, 10000)
\set b random(1, 10000)
BEGIN;
SELECT id AS mid FROM machines WHERE id >= :r AND project IS NULL ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED \gset
UPDATE machines SET revision = revision + 1, doc = md5(random()::text) || repeat('m', 1000) WHERE id = :mid;
UPDATE counters SET used = used + 1, hint = hint + 1 WHERE id = :a;
UPDATE counters SET used = used + 1, hint = hint + 1 WHERE id = :b;
INSERT INTO ips (machine, doc) VALUES (:mid, md5(random()::text) || repeat('i', 300));
INSERT INTO ips (machine, doc) VALUES (:mid, md5(random()::text) || repeat('i', 300));
INSERT INTO asns (machine) VALUES (:mid);
COMMIT;
";

const SCHEMA: &str = "
CREATE TABLE machines (id int PRIMARY KEY, project text, revision int NOT NULL, doc text NOT NULL);
INSERT INTO machines SELECT g, NULL, 1, repeat('m', 1000) FROM generate_series(1, 10000) g;
CREATE TABLE counters (id int PRIMARY KEY, used bigint NOT NULL, hint bigint NOT NULL);
INSERT INTO counters SELECT g, 0, 0 FROM generate_series(1, 10000) g;
CREATE TABLE ips (id bigserial PRIMARY KEY, machine int NOT NULL, doc text NOT NULL);
CREATE TABLE asns (id bigserial PRIMARY KEY, machine int NOT NULL);
";

/// The `pgbench` binary: `$PGBENCH`, else PostgreSQL 15's.
fn pgbench() -> PathBuf {
    std::env::var_os("PGBENCH")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/lib/postgresql/15/bin/pgbench"))
}

fn psql(url: &str, sql: &str) {
    let out = Command::new("psql")
        .args(["-q", "-v", "ON_ERROR_STOP=1", url, "-c", sql])
        .output()
        .expect("psql");
    assert!(
        out.status.success(),
        "psql: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `admin_url` with its database replaced by `db`.
fn with_db(admin_url: &str, db: &str) -> String {
    let base = admin_url.split('?').next().unwrap_or(admin_url);
    let cut = base.rfind('/').expect("a database URL");
    format!("{}/{db}", &base[..cut])
}

/// Runs the script with `clients` clients for `secs` seconds; answers the transactions per
/// second `pgbench` reports.
pub fn pgbench_tps(admin_url: &str, clients: usize, secs: u64) -> f64 {
    let db = format!("fleet_floor_{}", std::process::id());
    psql(admin_url, &format!("DROP DATABASE IF EXISTS {db}"));
    psql(admin_url, &format!("CREATE DATABASE {db}"));
    let url = with_db(admin_url, &db);
    psql(&url, SCHEMA);
    psql(&url, "VACUUM ANALYZE");
    let dir = tempfile::tempdir().expect("temp dir");
    let script = dir.path().join("allocation.sql");
    std::fs::write(&script, SCRIPT).expect("script");
    let out = Command::new(pgbench())
        .args(["-n", "-M", "prepared", "-j", "2"])
        .args(["-c", &clients.to_string(), "-T", &secs.to_string()])
        .arg("-f")
        .arg(&script)
        .arg(&url)
        .output()
        .expect(
            "pgbench (the postgresql package's /usr/lib/postgresql/15/bin/pgbench, or $PGBENCH)",
        );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "pgbench failed: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let failed = stdout
        .lines()
        .find_map(|l| l.strip_prefix("number of failed transactions: "))
        .and_then(|s| s.split_whitespace().next())
        .and_then(|n| n.parse::<u64>().ok())
        .unwrap_or(0);
    assert_eq!(failed, 0, "pgbench transactions failed: {stdout}");
    let tps = stdout
        .lines()
        .find_map(|l| l.strip_prefix("tps = "))
        .and_then(|s| s.split_whitespace().next())
        .and_then(|n| n.parse::<f64>().ok())
        .unwrap_or_else(|| panic!("no tps in pgbench's output: {stdout}"));
    psql(admin_url, &format!("DROP DATABASE {db}"));
    tps
}
