//! IPAM benchmark (issue 3): IP acquisitions/s and child prefix acquisitions/s, on SQLite and
//! on PostgreSQL, with one client and with 16 concurrent clients.
//!
//! "In-process" calls the app layer the REST handlers call (`app::ip::allocate`,
//! `app::network::allocate`): the whole transaction (checks, prefix lock, free-slot search,
//! counters, record, VRF for networks), without HTTP. "REST" sends signed HTTP requests to the
//! same server over loopback. Every acquisition is checked to succeed; at the end the number of
//! distinct addresses/prefixes must equal the number of acquisitions, so a double allocation
//! fails the run.
//!
//! Settings (environment): `BENCH_SECONDS` per measurement (default 5), `BENCH_BACKENDS`
//! (`sqlite`, `postgres`, default both).
//!
//! Run: `cargo bench -p metal-api --bench ipam`

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use metal_api::state::AppState;
use metal_domain::ip::IpAllocateRequest;
use metal_domain::network::NetworkAllocateRequest;
use metal_testkit::{Backend, Caller, TestApi};
use serde_json::json;

#[derive(Clone, Copy, Debug)]
enum Kind {
    Ip,
    ChildPrefix,
    RestIp,
}

impl Kind {
    fn label(self) -> &'static str {
        match self {
            Kind::Ip => "ip acquisition (in-process)",
            Kind::ChildPrefix => "child prefix acquisition (in-process)",
            Kind::RestIp => "ip acquisition (REST)",
        }
    }
}

async fn setup(api: &TestApi) {
    let c = api.admin();
    assert_eq!(
        c.put("v1/tenant", json!({"meta": {"id": "t"}}))
            .await
            .status,
        201
    );
    assert_eq!(
        c.put("v1/project", json!({"meta": {"id": "p"}, "tenant_id": "t"}))
            .await
            .status,
        201
    );
    let part = json!({"id": "fra", "bootconfig": {}, "privatenetworkprefixlength": 28});
    assert_eq!(c.put("v1/partition", part).await.status, 201);
    // big enough that no run exhausts it: 2^20 addresses, 2^20 /28 blocks
    let r = c
        .put(
            "v1/network",
            json!({"id": "ext", "prefixes": ["100.64.0.0/12"]}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let r = c.put("v1/network", json!({"id": "super", "partitionid": "fra", "prefixes": ["10.0.0.0/8"], "privatesuper": true})).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
}

/// Runs `clients` workers for `secs`; returns (acquisitions, distinct results, latencies).
async fn run(
    api: &TestApi,
    kind: Kind,
    clients: usize,
    secs: f64,
) -> (usize, usize, Vec<Duration>) {
    let app: Arc<AppState> = api.server.app.clone();
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let app = app.clone();
        let http = api.client(Caller::Edit);
        tasks.push(tokio::spawn(async move {
            let mut got = Vec::new();
            let mut lat = Vec::new();
            while Instant::now() < deadline {
                let t = Instant::now();
                let key = match kind {
                    Kind::Ip => {
                        let req = IpAllocateRequest {
                            networkid: "ext".into(),
                            projectid: "p".into(),
                            ..Default::default()
                        };
                        metal_api::app::ip::allocate(&app, req, None)
                            .await
                            .expect("ip allocation")
                            .ipaddress
                    }
                    Kind::ChildPrefix => {
                        let req = NetworkAllocateRequest {
                            partitionid: "fra".into(),
                            projectid: "p".into(),
                            ..Default::default()
                        };
                        let n = metal_api::app::network::allocate(&app, req)
                            .await
                            .expect("network allocation");
                        n.prefixes[0].clone()
                    }
                    Kind::RestIp => {
                        let r = http
                            .post(
                                "v1/ip/allocate",
                                json!({"networkid": "ext", "projectid": "p"}),
                            )
                            .await;
                        assert_eq!(r.status, 201, "{:?}", r.body);
                        r.body["ipaddress"].as_str().unwrap().to_string()
                    }
                };
                lat.push(t.elapsed());
                got.push(key);
            }
            (got, lat)
        }));
    }
    let mut all = Vec::new();
    let mut lats = Vec::new();
    for t in tasks {
        let (g, l) = t.await.unwrap();
        all.extend(g);
        lats.extend(l);
    }
    let distinct: HashSet<_> = all.iter().collect();
    (all.len(), distinct.len(), lats)
}

fn pct(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let secs: f64 = std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5.0);
    let backends: Vec<Backend> = std::env::var("BENCH_BACKENDS")
        .unwrap_or_else(|_| "sqlite,postgres".into())
        .split(',')
        .map(|b| match b.trim() {
            "sqlite" => Backend::Sqlite,
            "postgres" => Backend::Postgres,
            other => panic!("unknown backend {other}"),
        })
        .collect();
    println!("| backend | operation | clients | acquisitions | per second | p50 ms | p99 ms |");
    println!("|---|---|---|---|---|---|---|");
    for backend in backends {
        for kind in [Kind::Ip, Kind::ChildPrefix, Kind::RestIp] {
            for clients in [1usize, 16] {
                // a fresh database per measurement: every run starts from the same state
                let api = TestApi::start(backend).await.expect("start metal-api");
                setup(&api).await;
                let (n, distinct, mut lat) = run(&api, kind, clients, secs).await;
                assert_eq!(
                    n, distinct,
                    "{kind:?}: an address or prefix was handed out twice"
                );
                lat.sort();
                println!(
                    "| {backend:?} | {} | {clients} | {n} | {:.0} | {:.2} | {:.2} |",
                    kind.label(),
                    n as f64 / secs,
                    pct(&lat, 0.5),
                    pct(&lat, 0.99)
                );
                api.stop().await;
            }
        }
    }
}
