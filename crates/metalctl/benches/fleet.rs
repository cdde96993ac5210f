//! Fleet benchmark (issue 4): machine allocations per second (one client and 32 concurrent),
//! the latency of `GET /v1/machine` and `POST /v1/machine/find` with 10,000 machines, and the
//! wall time of `metalctl machine ls` over them, on SQLite and PostgreSQL.
//!
//! Every allocation goes through the REST API as a signed request (a full allocation: candidate
//! choice with rack spreading, filesystem layout, a private and an external IP, an ASN, one
//! transaction) and must succeed; distinct machines and IPs are checked at the end.
//!
//! On PostgreSQL the 32-client allocation rate is compared with a floor measured right after it
//! in the same run: `pgbench` with 32 clients running a transaction of an allocation's shape
//! for as long ([`floor`]). The last line is that ratio.
//!
//! Settings: `BENCH_SECONDS` per allocation run (default 5), `BENCH_BACKENDS` (sqlite,postgres),
//! `BENCH_MACHINES` (default 10000), `BENCH_PROFILE=1` (statement counts and PostgreSQL
//! backend states of the 32-client run, on stderr: [`profile`]), `PGBENCH` (the binary).
//!
//! Run: `cargo bench -p metalctl --bench fleet`

#[path = "fleet/floor.rs"]
mod floor;
#[path = "fleet/machine_ls.rs"]
mod machine_ls;
#[path = "fleet/profile.rs"]
mod profile;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use metal_testkit::{Backend, Caller, TestApi, TestClient};
use serde_json::{json, Value};

async fn world(api: &TestApi, machines: usize) -> String {
    let c = api.admin();
    assert_eq!(
        c.put("v1/tenant", json!({"meta": {"id": "t"}}))
            .await
            .status,
        201
    );
    assert_eq!(
        c.put(
            "v1/project",
            json!({"meta": {"id": "p1"}, "tenant_id": "t"})
        )
        .await
        .status,
        201
    );
    c.put(
        "v1/partition",
        json!({"id": "fra", "bootconfig": {}, "privatenetworkprefixlength": 16}),
    )
    .await;
    c.put("v1/network", json!({"id": "super", "partitionid": "fra", "prefixes": ["10.0.0.0/8"], "privatesuper": true})).await;
    c.put(
        "v1/network",
        json!({"id": "internet", "prefixes": ["100.64.0.0/16"], "shared": true}),
    )
    .await;
    c.put(
        "v1/size",
        json!({"id": "s", "constraints": [{"type": "cores", "min": 4, "max": 4}]}),
    )
    .await;
    c.put("v1/image", json!({"id": "ubuntu-22.04.20240101", "url": "http://images.test/x", "features": ["machine"]})).await;
    c.put("v1/filesystemlayout", json!({"id": "default", "constraints": {"sizes": ["s"], "images": {"ubuntu": "*"}},
        "disks": [{"device": "/dev/sda", "partitions": [{"number": 1, "size": 0, "gpttype": "8300"}]}],
        "filesystems": [{"path": "/", "device": "/dev/sda1", "format": "ext4"}]})).await;
    let r = c
        .post(
            "v1/network/allocate",
            json!({"partitionid": "fra", "projectid": "p1"}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    metal_testkit::seed_waiting_machines(api.store(), "m", machines, "fra", "s", 20, 4)
        .await
        .unwrap();
    r.body["id"].as_str().unwrap().to_string()
}

fn pct(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize].as_secs_f64() * 1000.0
}

async fn allocations(
    api: &TestApi,
    tenant: &str,
    clients: usize,
    secs: f64,
) -> (usize, Vec<Duration>, Vec<Value>) {
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let body = json!({"projectid": "p1", "partitionid": "fra", "sizeid": "s", "imageid": "ubuntu-22.04",
        "networks": [{"networkid": tenant}, {"networkid": "internet"}]});
    let tasks: Vec<_> = (0..clients)
        .map(|_| {
            let c = api.client(Caller::Edit);
            let body = body.clone();
            tokio::spawn(async move {
                let mut lat = Vec::new();
                let mut got = Vec::new();
                while Instant::now() < deadline {
                    let t = Instant::now();
                    let r = c.post("v1/machine/allocate", body.clone()).await;
                    assert_eq!(r.status, 200, "{:?}", r.body);
                    lat.push(t.elapsed());
                    got.push(r.body);
                }
                (lat, got)
            })
        })
        .collect();
    let mut lat = Vec::new();
    let mut got = Vec::new();
    for t in tasks {
        let (l, g) = t.await.unwrap();
        lat.extend(l);
        got.extend(g);
    }
    lat.sort();
    (got.len(), lat, got)
}

async fn timed(
    c: &TestClient,
    n: usize,
    f: impl Fn(
        &TestClient,
    ) -> std::pin::Pin<
        Box<dyn std::future::Future<Output = metal_testkit::TestResponse> + Send + '_>,
    >,
) -> Vec<Duration> {
    let mut lat = Vec::new();
    for _ in 0..n {
        let t = Instant::now();
        let r = f(c).await;
        assert_eq!(r.status, 200);
        lat.push(t.elapsed());
    }
    lat.sort();
    lat
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let secs: f64 = std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5.0);
    let fleet: usize = std::env::var("BENCH_MACHINES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000);
    let backends: Vec<Backend> = std::env::var("BENCH_BACKENDS")
        .unwrap_or_else(|_| "sqlite,postgres".into())
        .split(',')
        .map(|b| {
            if b.trim() == "postgres" {
                Backend::Postgres
            } else {
                Backend::Sqlite
            }
        })
        .collect();
    let profiling = std::env::var("BENCH_PROFILE").is_ok_and(|v| v == "1");
    let statements = profiling.then(profile::Statements::install);
    let mut ratio = None;
    println!("| backend | measurement | count | per second | p50 ms | p99 ms |");
    println!("|---|---|---|---|---|---|");
    for backend in backends {
        let api = TestApi::start(backend).await.expect("metal-api");
        let seed = Instant::now();
        let tenant = world(&api, fleet).await;
        eprintln!(
            "{backend:?}: seeded {fleet} machines in {:.1} s",
            seed.elapsed().as_secs_f64()
        );
        let mut all_machines = HashSet::new();
        let mut all_ips = HashSet::new();
        let mut all_asns = HashSet::new();
        for clients in [1usize, 32] {
            let profiled = profiling && clients == 32 && backend == Backend::Postgres;
            let sampler = if profiled {
                statements.as_ref().map(profile::Statements::reset);
                let stop = Arc::new(AtomicBool::new(false));
                let pool = sqlx::AnyPool::connect(&api.db.url).await.unwrap();
                let db = api.db.url.rsplit('/').next().unwrap_or("").to_string();
                let task = tokio::spawn(profile::sample_backends(pool, db, stop.clone()));
                Some((stop, task))
            } else {
                None
            };
            let (n, lat, got) = allocations(&api, &tenant, clients, secs).await;
            if let Some((stop, task)) = sampler {
                stop.store(true, Ordering::Relaxed);
                let seen = task.await.unwrap();
                if let Some(s) = &statements {
                    s.print(n, secs);
                }
                profile::print_samples(&seen);
            }
            for m in &got {
                assert!(
                    all_machines.insert(m["id"].as_str().unwrap().to_string()),
                    "a machine was allocated twice"
                );
                let networks = m["allocation"]["networks"].as_array().unwrap();
                assert!(
                    all_asns.insert(networks[0]["asn"].as_u64().unwrap()),
                    "an asn was given twice"
                );
                for net in networks {
                    assert!(
                        all_ips.insert(net["ips"][0].as_str().unwrap().to_string()),
                        "an ip was given twice"
                    );
                }
            }
            println!(
                "| {backend:?} | allocation, {clients} client(s) | {n} | {:.0} | {:.2} | {:.2} |",
                n as f64 / secs,
                pct(&lat, 0.5),
                pct(&lat, 0.99)
            );
            eprintln!(
                "{backend:?}: {} allocations so far: {} distinct machines, {} distinct ips, {} distinct asns; 0 errors (every request answered 200)",
                all_machines.len(),
                all_machines.len(),
                all_ips.len(),
                all_asns.len()
            );
            if clients == 32 && backend == Backend::Postgres {
                let tps = floor::pgbench_tps(
                    &metal_testkit::postgres_admin_url(),
                    clients,
                    secs.ceil() as u64,
                );
                println!(
                    "| {backend:?} | pgbench floor: allocation-shaped transaction, {clients} clients | {:.0} | {tps:.0} | - | - |",
                    tps * secs.ceil()
                );
                ratio = Some((n as f64 / secs, tps));
            }
        }
        // unchecked: the reference-contract check of 10,000 machines is the client's cost, not the server's
        let c = api.client(Caller::View).unchecked();
        let list = timed(&c, 10, |c| Box::pin(c.get("v1/machine"))).await;
        println!("| {backend:?} | GET /v1/machine ({fleet} machines, one at a time) | 10 | {:.1} | {:.0} | {:.0} |", 10.0 / list.iter().map(Duration::as_secs_f64).sum::<f64>(), pct(&list, 0.5), pct(&list, 0.99));
        let find = timed(&c, 10, |c| {
            Box::pin(c.post(
                "v1/machine/find",
                json!({"partition_id": "fra", "allocation_project": "p1"}),
            ))
        })
        .await;
        println!("| {backend:?} | POST /v1/machine/find (project's {} allocated) | 10 | {:.1} | {:.0} | {:.0} |", all_machines.len(), 10.0 / find.iter().map(Duration::as_secs_f64).sum::<f64>(), pct(&find, 0.5), pct(&find, 0.99));
        let find1 = timed(&c, 10, |c| {
            Box::pin(c.post("v1/machine/find", json!({"id": "m00042"})))
        })
        .await;
        println!(
            "| {backend:?} | POST /v1/machine/find (by id) | 10 | {:.1} | {:.2} | {:.2} |",
            10.0 / find1.iter().map(Duration::as_secs_f64).sum::<f64>(),
            pct(&find1, 0.5),
            pct(&find1, 0.99)
        );
        let walls = machine_ls::wall_times(&api, fleet, 3);
        println!("| {backend:?} | metalctl machine ls ({fleet} machines), wall time | 3 | - | {:.0} | {:.0} |", pct(&walls, 0.5), pct(&walls, 1.0));
        api.stop().await;
    }
    if let Some((rate, tps)) = ratio {
        println!(
            "ratio: allocations/s / pgbench tps = {:.2} (goal >= 0.20)",
            rate / tps
        );
    }
}
