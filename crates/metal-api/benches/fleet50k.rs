//! Fifty thousand machines (issue 19, item 3): metal-api's start, the fleet metrics
//! recompute, `POST /v1/machine/issues/evaluate` and `POST /v1/partition/capacity` at 10,000
//! and 50,000 machines, on SQLite and PostgreSQL, with the resident memory of the server.
//!
//! For each backend and fleet size:
//!
//! 1. **Seed**: a fresh database; metal-api in-process stores the master data through the
//!    REST API (tenant, project, partition, size, images, networks), then the simulated fleet
//!    of the issues bench (`common/fleet.rs`: allocated machines and firewalls, waiting, dead,
//!    crash-looping... with their event containers) through the document layer.
//! 2. **In-process** (`metal_api::start` on that database, as `metal-testkit` runs it, no
//!    background jobs): the fleet metrics recompute (`fleetmetrics::update`: load, collect,
//!    render, swap), and both requests signed as `Metal-View` over loopback HTTP, one at a time
//!    (median of `BENCH_RUNS`); the first answer of each is checked against the reference
//!    contract, the issues answer against the domain's evaluation of the seeded fleet.
//! 3. **The `metal-api` binary** as a child process on the same database, with its defaults
//!    (fleet metrics, liveliness and resurrection run at start): the time from spawning it to
//!    its first answer (`GET /v1/health`), to its first fleet metric set on `/metrics`, and to
//!    the end of all start-up work (fleet metrics and both jobs' first runs, from its log);
//!    its `VmRSS` and `VmHWM` (`/proc/<pid>/status`) then, and after serving both requests
//!    `BENCH_RUNS` times each (timed as well). These are the server's own figures: the bench's
//!    client, fleet and database are in other processes (PostgreSQL's backends too).
//!
//! The last line is the linearity ratio: the worst, over every measurement taken at both the
//! smallest and the largest fleet, of (per-machine cost at the largest) / (at the smallest).
//!
//! Settings: `BENCH_BACKENDS` (`sqlite,postgres`, default both), `BENCH_FLEETS` (default
//! `10000,50000`), `BENCH_RUNS` (requests and recomputes per measurement, default 5),
//! `BENCH_PERF=<dir>` (a `perf record -g` of the `metal-api` binary while it serves each kind
//! of request, one file per backend, fleet and request).
//!
//! Run: `cargo bench -p metal-api --bench fleet50k`

#[path = "common/fleet.rs"]
mod sim;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chrono::Utc;
use metal_api::config::Secret;
use metal_api::{Config, RunningServer};
use metal_domain::issues::{self, IssueConfig};
use metal_testkit::{Backend, Caller, Keys, TestClient, TestDb};
use serde_json::{json, Value};

const EVALUATE: &str = "v1/machine/issues/evaluate";
const CAPACITY: &str = "v1/partition/capacity";

fn keys() -> Keys {
    Keys {
        view: "bench-view-key".into(),
        edit: "bench-edit-key".into(),
        admin: "bench-admin-key".into(),
    }
}

fn config(db: &TestDb, data: &Path, keys: &Keys) -> Config {
    let mut c = Config::for_tests(db.url.clone(), PathBuf::from(data));
    c.hmac_view_key = Some(Secret::new(keys.view.clone()));
    c.hmac_edit_key = Some(Secret::new(keys.edit.clone()));
    c.hmac_admin_key = Some(Secret::new(keys.admin.clone()));
    c
}

/// A `PUT` of master data that must succeed.
async fn put(c: &TestClient, path: &str, body: Value) {
    let r = c.put(path, body).await;
    assert!(r.status < 300, "PUT {path}: {} {}", r.status, r.body);
}

/// A fresh database with the master data and `n` machines; answers it and the number of
/// machines the issues evaluation flags in the seeded fleet.
async fn seed(backend: Backend, n: usize, keys: &Keys) -> (TestDb, usize) {
    let db = TestDb::new(backend).await.expect("database");
    let data = tempfile::tempdir().expect("temp dir");
    let server = metal_api::start(config(&db, data.path(), keys))
        .await
        .expect("metal-api");
    let c = TestClient::new(server.url(), Caller::Admin, keys.clone());
    put(&c, "v1/tenant", json!({"meta": {"id": "t"}})).await;
    put(
        &c,
        "v1/project",
        json!({"meta": {"id": "p1"}, "tenant_id": "t"}),
    )
    .await;
    put(&c, "v1/partition", json!({"id": "fra", "name": "Frankfurt", "bootconfig": {}, "privatenetworkprefixlength": 22})).await;
    put(
        &c,
        "v1/size",
        json!({"id": "c1-xlarge-x86", "constraints": [{"type": "cores", "min": 32, "max": 32}]}),
    )
    .await;
    for id in ["ubuntu-24.04.20241001", "firewall-ubuntu-3.0.20241001"] {
        let feature = if id.starts_with("firewall") {
            "firewall"
        } else {
            "machine"
        };
        put(
            &c,
            "v1/image",
            json!({"id": id, "url": "http://images.test/x", "features": [feature]}),
        )
        .await;
    }
    put(&c, "v1/network", json!({"id": "super", "partitionid": "fra", "prefixes": ["10.128.0.0/9"], "privatesuper": true})).await;
    put(&c, "v1/network", json!({"id": "underlay", "partitionid": "fra", "prefixes": ["10.0.0.0/16"], "underlay": true})).await;
    put(
        &c,
        "v1/network",
        json!({"id": "internet", "prefixes": ["185.0.0.0/8"], "shared": true}),
    )
    .await;
    let now = Utc::now();
    let (mut machines, mut containers) = sim::fleet(n, now);
    sim::store(&server.app.store, &mut machines, &mut containers)
        .await
        .expect("storing the fleet");
    let events = containers.into_iter().map(|c| (c.id.clone(), c)).collect();
    let flagged = issues::evaluate(&machines, &events, now, &IssueConfig::default()).len();
    server.shutdown().await;
    (db, flagged)
}

/// A signed `POST` (Metal-View) with a JSON body: status and the answer's bytes.
async fn post_raw(http: &reqwest::Client, base: &str, key: &str, path: &str) -> (u16, usize) {
    let date = Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let salt = format!("benchsalt{}", rand::random::<u32>());
    let mac = metal_util::hmac::hmac_signature(key.as_bytes(), &date, "POST", &salt);
    let resp = http
        .post(format!("{base}{path}"))
        .header("Authorization", format!("Metal-View {mac}"))
        .header("X-Date", date)
        .header("X-Data-Salt", salt)
        .header("Content-Type", "application/json")
        .body("{}")
        .send()
        .await
        .expect("request");
    let status = resp.status().as_u16();
    (status, resp.bytes().await.expect("body").len())
}

fn median(mut v: Vec<Duration>) -> f64 {
    v.sort();
    v[v.len() / 2].as_secs_f64() * 1000.0
}

/// The median of `runs` signed `POST {}` to `path` (after one checked by `check`), in ms.
async fn timed_post(base: &str, keys: &Keys, path: &str, runs: usize) -> (f64, usize) {
    let http = reqwest::Client::new();
    let mut lat = Vec::new();
    let mut size = 0;
    for _ in 0..runs {
        let t = Instant::now();
        let (status, len) = post_raw(&http, base, &keys.view, path).await;
        lat.push(t.elapsed());
        assert_eq!(status, 200, "POST {path}");
        size = len;
    }
    (median(lat), size)
}

/// One request through the testkit client, whose answers are checked against the reference
/// contract: the answer.
async fn checked(base: &str, keys: &Keys, path: &str) -> Value {
    let c = TestClient::new(base.to_string(), Caller::View, keys.clone());
    let r = c.post(path, json!({})).await;
    assert_eq!(r.status, 200, "POST {path}: {}", r.body);
    r.body
}

/// One row of the results.
struct Row {
    backend: Backend,
    fleet: usize,
    op: &'static str,
    ms: f64,
    /// VmRSS and VmHWM of the server process after the measurement, MiB
    mem: Option<(f64, f64)>,
}

/// metal-api in this process on the seeded database: the fleet metrics recompute and both
/// requests.
async fn in_process(
    backend: Backend,
    n: usize,
    db: &TestDb,
    keys: &Keys,
    flagged: usize,
    runs: usize,
    rows: &mut Vec<Row>,
) {
    let data = tempfile::tempdir().expect("temp dir");
    let server: RunningServer = metal_api::start(config(db, data.path(), keys))
        .await
        .expect("metal-api");
    let app = server.app.clone();
    let mut lat = Vec::new();
    for _ in 0..runs {
        let t = Instant::now();
        let samples = metal_api::fleetmetrics::update(&app)
            .await
            .expect("fleet metrics");
        lat.push(t.elapsed());
        assert!(samples > n, "a fleet metric sample per machine at least");
    }
    let text = app.metrics.fleet.rendered();
    assert!(
        text.contains("metal_machine_allocation_info"),
        "the fleet metrics have the machines"
    );
    rows.push(Row {
        backend,
        fleet: n,
        op: "in-process: fleet metrics recompute",
        ms: median(lat),
        mem: None,
    });
    drop(text);

    let base = server.url();
    let answer = checked(&base, keys, EVALUATE).await;
    assert_eq!(
        answer.as_array().map(Vec::len),
        Some(flagged),
        "the HTTP answer and the domain's evaluation of the seeded fleet differ"
    );
    let capacity = checked(&base, keys, CAPACITY).await;
    assert_eq!(
        capacity[0]["servers"][0]["total"].as_u64(),
        Some(n as u64),
        "capacity counts every machine: {capacity}"
    );
    for (path, op) in [
        (EVALUATE, "in-process: POST issues/evaluate"),
        (CAPACITY, "in-process: POST partition/capacity"),
    ] {
        let (ms, _) = timed_post(&base, keys, path, runs).await;
        rows.push(Row {
            backend,
            fleet: n,
            op,
            ms,
            mem: None,
        });
    }
    drop(app);
    server.shutdown().await;
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// Kills the child on every way out, so a failed assertion leaves no server behind.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Polls `check` every 10 ms until it holds (at most 10 minutes): the time since `t0`, in ms.
async fn when(t0: Instant, what: &str, mut check: impl AsyncFnMut() -> bool) -> f64 {
    let deadline = t0 + Duration::from_secs(600);
    while !check().await {
        assert!(Instant::now() < deadline, "{what}: not within 10 minutes");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    t0.elapsed().as_secs_f64() * 1000.0
}

/// The `metal-api` binary on the seeded database: start, memory, both requests.
async fn binary(
    backend: Backend,
    n: usize,
    db: &TestDb,
    keys: &Keys,
    runs: usize,
    rows: &mut Vec<Row>,
) {
    let data = tempfile::tempdir().expect("temp dir");
    let log = data.path().join("metal-api.log");
    let (port, metrics_port) = (free_port(), free_port());
    let t0 = Instant::now();
    let child = Command::new(env!("CARGO_BIN_EXE_metal-api"))
        .args(["--port", &port.to_string()])
        .args(["--metrics-port", &metrics_port.to_string()])
        .args(["--grpc-port", "0", "--no-metalctl-context"])
        .args(["--db", &db.url])
        .args(["--data-dir", &data.path().display().to_string()])
        .args(["--hmac-view-key", &keys.view])
        .args(["--hmac-edit-key", &keys.edit])
        .args(["--hmac-admin-key", &keys.admin])
        .args(["--log-level", "info", "--log-json"])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log file"))
        .spawn()
        .expect("metal-api runs");
    let server = Server(child);
    let pid = server.0.id().to_string();
    let base = format!("http://127.0.0.1:{port}/");
    let http = reqwest::Client::new();
    let first = when(t0, "first answer", async || {
        http.get(format!("{base}v1/health"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
    })
    .await;
    let metrics = when(t0, "first fleet metric set", async || {
        match http
            .get(format!("http://127.0.0.1:{metrics_port}/metrics"))
            .send()
            .await
        {
            Ok(r) => r.text().await.is_ok_and(|t| {
                t.contains("metal_api_fleet_metrics_updates_total{result=\"ok\"} 1")
            }),
            Err(_) => false,
        }
    })
    .await;
    let quiet = when(t0, "start-up jobs", async || {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let done = |message: &str| text.contains(&format!("\"message\":\"{message}\""));
        done("liveliness evaluated") && done("resurrection done")
    })
    .await
    .max(metrics);
    let mem = || {
        Some((
            sim::status_mib(&pid, "VmRSS:"),
            sim::status_mib(&pid, "VmHWM:"),
        ))
    };
    for (op, ms) in [
        ("metal-api: start to first answer", first),
        ("metal-api: start to first fleet metric set", metrics),
    ] {
        rows.push(Row {
            backend,
            fleet: n,
            op,
            ms,
            mem: None,
        });
    }
    rows.push(Row {
        backend,
        fleet: n,
        op: "metal-api: start to all start-up work done",
        ms: quiet,
        mem: mem(),
    });
    checked(&base, keys, EVALUATE).await;
    checked(&base, keys, CAPACITY).await;
    for (path, op) in [
        (EVALUATE, "metal-api: POST issues/evaluate"),
        (CAPACITY, "metal-api: POST partition/capacity"),
    ] {
        let perf = profile(&pid, &format!("{backend:?}-{n}-{}", path.replace('/', "_")));
        let (ms, _) = timed_post(&base, keys, path, runs).await;
        if let Some(mut perf) = perf {
            // SIGINT: perf writes its file and exits
            let _ = Command::new("kill")
                .args(["-INT", &perf.id().to_string()])
                .status();
            let _ = perf.wait();
        }
        rows.push(Row {
            backend,
            fleet: n,
            op,
            ms,
            mem: mem(),
        });
    }
    // sqlx's own warning of statements over 1 s (the whole-table reads at 50,000) is counted,
    // anything else the server warns about fails the run
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let (slow, other): (Vec<&str>, Vec<&str>) = text
        .lines()
        .filter(|l| l.contains("\"level\":\"ERROR\"") || l.contains("\"level\":\"WARN\""))
        .partition(|l| l.contains("\"message\":\"slow statement"));
    assert!(other.is_empty(), "metal-api logged:\n{}", other.join("\n"));
    if !slow.is_empty() {
        eprintln!(
            "{backend:?}, {n} machines: metal-api logged {} statements slower than 1 s",
            slow.len()
        );
    }
    drop(server);
}

/// With `BENCH_PERF=<dir>`: `perf record -g` of the server process while it serves one kind
/// of request, into `<dir>/<name>.data` (`perf report -i` reads it).
fn profile(pid: &str, name: &str) -> Option<Child> {
    let dir = std::env::var("BENCH_PERF").ok()?;
    let child = Command::new("perf")
        .args(["record", "-F", "999", "-g", "-p", pid, "-o"])
        .arg(format!("{dir}/{name}.data"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("perf runs");
    std::thread::sleep(Duration::from_millis(300)); // perf attaches
    Some(child)
}

fn env_list(name: &str, default: &str) -> Vec<String> {
    std::env::var(name)
        .unwrap_or_else(|_| default.into())
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let backends: Vec<Backend> = env_list("BENCH_BACKENDS", "sqlite,postgres")
        .iter()
        .map(|b| match b.as_str() {
            "postgres" => Backend::Postgres,
            "sqlite" => Backend::Sqlite,
            other => panic!("BENCH_BACKENDS: unknown backend {other}"),
        })
        .collect();
    let fleets: Vec<usize> = env_list("BENCH_FLEETS", "10000,50000")
        .iter()
        .map(|s| s.parse().expect("BENCH_FLEETS: machine counts"))
        .collect();
    let runs: usize = std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let keys = keys();
    let started = Instant::now();
    let mut rows = Vec::new();
    for &backend in &backends {
        for &n in &fleets {
            let t = Instant::now();
            let (db, flagged) = seed(backend, n, &keys).await;
            eprintln!(
                "{backend:?}: seeded {n} machines ({flagged} with issues) in {:.1} s",
                t.elapsed().as_secs_f64()
            );
            in_process(backend, n, &db, &keys, flagged, runs, &mut rows).await;
            binary(backend, n, &db, &keys, runs, &mut rows).await;
            for r in rows.iter().filter(|r| r.fleet == n && r.backend == backend) {
                eprintln!("{backend:?}, {n}: {}: {:.1} ms", r.op, r.ms);
            }
            db.drop_db().await;
            eprintln!(
                "{backend:?}, {n} machines: done after {:.0} s",
                started.elapsed().as_secs_f64()
            );
        }
    }
    println!(
        "fifty thousand machines: {} cores, median of {runs} runs per request and recompute\n",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!("| backend | fleet | operation | p50 ms | µs per machine | VmRSS MiB | VmHWM MiB |");
    println!("|---|---:|---|---:|---:|---:|---:|");
    for r in &rows {
        let (rss, hwm) = r.mem.map_or(("-".into(), "-".into()), |(a, b)| {
            (format!("{a:.0}"), format!("{b:.0}"))
        });
        println!(
            "| {:?} | {} | {} | {:.1} | {:.1} | {rss} | {hwm} |",
            r.backend,
            r.fleet,
            r.op,
            r.ms,
            r.ms * 1000.0 / r.fleet as f64
        );
    }
    let (Some(&small), Some(&large)) = (fleets.iter().min(), fleets.iter().max()) else {
        return;
    };
    if small == large {
        println!("\none fleet size: no ratio");
        return;
    }
    let per: HashMap<(String, &str, usize), f64> = rows
        .iter()
        .map(|r| {
            (
                (format!("{:?}", r.backend), r.op, r.fleet),
                r.ms / r.fleet as f64,
            )
        })
        .collect();
    println!("\nper-machine cost at {large} / at {small}:\n");
    let mut worst: Option<(f64, String)> = None;
    for r in rows.iter().filter(|r| r.fleet == small) {
        let b = format!("{:?}", r.backend);
        let Some(l) = per.get(&(b.clone(), r.op, large)) else {
            continue;
        };
        let ratio = l / per[&(b.clone(), r.op, small)];
        println!("- {b}, {}: {ratio:.2}", r.op);
        if worst.as_ref().is_none_or(|(w, _)| ratio > *w) {
            worst = Some((ratio, format!("{b}, {}", r.op)));
        }
    }
    println!("\ntotal {:.0} s", started.elapsed().as_secs_f64());
    if let Some((ratio, what)) = worst {
        println!(
            "ratio: per-machine cost at {large} / at {small}, worst = {ratio:.2} ({what}) (goal <= 1.3)"
        );
    }
}
