//! Machine issues benchmark: the evaluation behind `POST /v1/machine/issues/evaluate` (§5).
//! Kept in one file: a bench target is one binary, and its fleet generator, the O(n^2) model
//! and the report are used only here and read as one experiment from top to bottom.
//!
//! 1. **Domain**: `metal_domain::issues::evaluate` (and the wire answer) over 1,000, 10,000 and
//!    50,000 simulated machines with a realistic mix (allocated machines and firewalls,
//!    waiting, dead, unknown, crash-looping, failed reclaim, BMC without IP or MAC, outdated
//!    BMC data, BMC addresses shared in pairs, firewall ASNs shared in pairs, machines without
//!    event container, recent errors). Median and p95 of several runs; memory as the peak of
//!    heap bytes above the baseline during one evaluation (a counting global allocator,
//!    `peak_alloc`, in this bench binary) and the process' resident set (`VmRSS`, `VmHWM` of
//!    `/proc/self/status`).
//! 2. **End to end**: signed `POST /v1/machine/issues/evaluate` over loopback HTTP against
//!    metal-api (metal-testkit) with 10,000 such machines stored, on SQLite and PostgreSQL,
//!    plus the same request in-process (`app::issues::evaluate`: load + evaluate, no HTTP).
//! 3. **O(n²) comparison**: a model, written here, of how metal-stack evaluates the two
//!    pairwise issues (`bmc-no-distinct-ip`, `asn-not-unique`): every machine compared with
//!    every other one, with the detail strings it builds. It is not metal-stack's code (that is
//!    Go); it follows its loops, iterating by reference where Go copies each machine value.
//!    Timed against the domain evaluation restricted to those two issue ids, which must flag
//!    the same machines.
//!
//! Settings (environment): `BENCH_BACKENDS` (`sqlite`, `postgres`, default both),
//! `BENCH_HTTP_RUNS` (default 10).
//!
//! Run: `cargo bench -p metal-api --bench issues`

use std::collections::HashMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use metal_domain::event::EventContainer;
use metal_domain::issues::{self, IssueConfig, IssueType, MachineIssuesRequest};
use metal_domain::machine::{Machine, Role};
use metal_testkit::{Backend, TestApi};
use peak_alloc::PeakAlloc;

#[global_allocator]
static HEAP: PeakAlloc = PeakAlloc;

#[path = "common/fleet.rs"]
mod sim;

use sim::{fleet, Bmc, Kind};

// ---------------------------------------------------------------------------------------
// Measuring
// ---------------------------------------------------------------------------------------

/// Nearest-rank percentile of sorted durations, in ms.
fn pct(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize].as_secs_f64() * 1000.0
}

fn time_runs<T>(runs: usize, mut f: impl FnMut() -> T) -> Vec<Duration> {
    let mut lat: Vec<Duration> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            black_box(f());
            t.elapsed()
        })
        .collect();
    lat.sort();
    lat
}

/// Resets `VmHWM` to the current RSS (Linux ≥ 4.0); false when the kernel refuses.
fn reset_hwm() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

fn mib(bytes: usize) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn events_by_id(containers: Vec<EventContainer>) -> HashMap<String, EventContainer> {
    containers.into_iter().map(|c| (c.id.clone(), c)).collect()
}

// ---------------------------------------------------------------------------------------
// A model of metal-stack's O(n²) pairwise checks (not metal-stack's code)
// ---------------------------------------------------------------------------------------

fn is_firewall(m: &Machine) -> bool {
    m.allocation
        .as_ref()
        .is_some_and(|a| a.role == Role::Firewall)
}

/// `bmc-no-distinct-ip` as metal-stack evaluates it for one machine: a scan of the whole set,
/// collecting the other owners of its BMC address, and the detail string when shared.
fn model_bmc_shared(m: &Machine, all: &[Machine]) -> bool {
    if m.ipmi.address.is_empty() {
        return false;
    }
    let mut overlaps: Vec<&str> = Vec::new();
    for other in all {
        if other.id == m.id || other.ipmi.address.is_empty() {
            continue;
        }
        if other.ipmi.address == m.ipmi.address {
            overlaps.push(&other.id);
        }
    }
    if overlaps.is_empty() {
        return false;
    }
    black_box(format!(
        "BMC IP ({}) not unique, shared with {:?}",
        m.ipmi.address, overlaps
    ));
    true
}

/// `asn-not-unique` as metal-stack evaluates it for one machine: for a firewall, a map of its
/// ASNs, a scan of the whole set for other firewalls with one of them, then sorted detail
/// lines.
fn model_asn_shared(m: &Machine, all: &[Machine]) -> bool {
    let Some(alloc) = m.allocation.as_ref().filter(|_| is_firewall(m)) else {
        return false;
    };
    let mut by_asn: HashMap<u64, Vec<&str>> = alloc
        .networks
        .iter()
        .filter(|n| n.asn != 0)
        .map(|n| (n.asn, Vec::new()))
        .collect();
    for other in all {
        if other.id == m.id || !is_firewall(other) {
            continue;
        }
        for n in &other.allocation.as_ref().expect("firewall").networks {
            if n.asn == 0 {
                continue;
            }
            if let Some(v) = by_asn.get_mut(&n.asn) {
                v.push(&other.id);
            }
        }
    }
    let mut asns: Vec<u64> = by_asn.keys().copied().collect();
    asns.sort_unstable();
    let mut overlaps: Vec<String> = asns
        .iter()
        .filter(|a| !by_asn[a].is_empty())
        .map(|a| format!("- ASN ({a}) not unique, shared with {:?}", by_asn[a]))
        .collect();
    if overlaps.is_empty() {
        return false;
    }
    overlaps.sort();
    black_box(overlaps.join("\n"));
    true
}

/// Both pairwise checks over the whole set, each machine against every other one: the
/// number of machines flagged by each. Like metal-stack, a machine without event container
/// is not evaluated (it only gets `no-event-container`) but is still compared against.
fn model_pairwise(all: &[Machine], events: &HashMap<String, EventContainer>) -> (usize, usize) {
    let mut bmc = 0;
    let mut asn = 0;
    for m in all {
        if !events.contains_key(&m.id) {
            continue;
        }
        bmc += usize::from(model_bmc_shared(m, all));
        asn += usize::from(model_asn_shared(m, all));
    }
    (bmc, asn)
}

// ---------------------------------------------------------------------------------------
// Part 1: the domain evaluation
// ---------------------------------------------------------------------------------------

fn domain(now: DateTime<Utc>) {
    let config = IssueConfig::default();
    println!("### 1. Domain evaluation (`metal_domain::issues::evaluate`), one thread\n");
    println!(
        "| machines | runs | evaluate p50 ms | p95 ms | + wire answer p50 ms | p95 ms | µs per machine | with issues | input heap MiB | peak extra heap (evaluate) KiB | answer heap KiB | VmRSS before MiB | VmHWM during MiB |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mut mix = None;
    for (n, runs) in [(1_000usize, 100usize), (10_000, 30), (50_000, 12)] {
        let before = HEAP.current_usage();
        let (machines, containers) = fleet(n, now);
        let events = events_by_id(containers);
        let input = HEAP.current_usage() - before;
        let hwm_reset = reset_hwm();
        let rss_before = sim::status_mib("self", "VmRSS:");
        black_box(issues::evaluate(&machines, &events, now, &config)); // warm-up

        // memory of one evaluation: peak above the baseline, and what the answer keeps
        let base = HEAP.current_usage();
        HEAP.reset_peak_usage();
        let out = issues::evaluate(&machines, &events, now, &config);
        let peak = HEAP.peak_usage() - base;
        let answer = HEAP.current_usage() - base;
        let flagged = out.len();
        if n == 10_000 {
            mix = Some(mix_tables(&machines, &out));
        }
        drop(out);

        let eval = time_runs(runs, || issues::evaluate(&machines, &events, now, &config));
        let wire = time_runs(runs, || {
            issues::responses(issues::evaluate(&machines, &events, now, &config))
        });
        let hwm = sim::status_mib("self", "VmHWM:");
        println!(
            "| {n} | {runs} | {:.2} | {:.2} | {:.2} | {:.2} | {:.3} | {flagged} | {:.1} | {} | {} | {:.0} | {:.0}{} |",
            pct(&eval, 0.5),
            pct(&eval, 0.95),
            pct(&wire, 0.5),
            pct(&wire, 0.95),
            pct(&eval, 0.5) * 1000.0 / n as f64,
            mib(input),
            peak / 1024,
            answer / 1024,
            rss_before,
            hwm,
            if hwm_reset { "" } else { " (not reset)" },
        );
    }
    println!(
        "\nprocess VmHWM after part 1: {:.0} MiB\n",
        sim::status_mib("self", "VmHWM:")
    );

    print!("{}", mix.expect("10,000 evaluated"));
}

/// The mix of a fleet and the issues it yields, as Markdown tables.
fn mix_tables(machines: &[Machine], out: &[(String, Vec<IssueType>)]) -> String {
    use std::fmt::Write;
    let mut kinds: HashMap<Kind, usize> = HashMap::new();
    let mut bmcs: HashMap<Bmc, usize> = HashMap::new();
    for i in 0..machines.len() {
        *kinds.entry(Kind::of(i)).or_default() += 1;
        *bmcs.entry(Bmc::of(i)).or_default() += 1;
    }
    let mut kinds: Vec<_> = kinds.into_iter().collect();
    kinds.sort();
    let mut bmcs: Vec<_> = bmcs.into_iter().collect();
    bmcs.sort();
    let mut s = format!(
        "Mix of the {}-machine fleet (the BMC draw is independent of the kind):\n\n| machines | kind |\n|---:|---|\n",
        machines.len()
    );
    for (k, c) in kinds {
        let _ = writeln!(s, "| {c} | {} |", k.label());
    }
    for (b, c) in bmcs {
        let _ = writeln!(s, "| {c} | {} |", b.label());
    }
    let mut per_issue: HashMap<IssueType, usize> = HashMap::new();
    for (_, ts) in out {
        for t in ts {
            *per_issue.entry(*t).or_default() += 1;
        }
    }
    let _ = write!(
        s,
        "\nIssues found in it ({} machines with at least one):\n\n| issue | machines |\n|---|---:|\n",
        out.len()
    );
    for t in IssueType::ALL {
        let _ = writeln!(
            s,
            "| {} | {} |",
            t.id(),
            per_issue.get(&t).copied().unwrap_or(0)
        );
    }
    s.push('\n');
    s
}

// ---------------------------------------------------------------------------------------
// Part 3: O(n²) model against the domain's counting
// ---------------------------------------------------------------------------------------

fn pairwise(now: DateTime<Utc>) {
    println!("### 3. The two pairwise issues: domain (hash counts) against an O(n²) model of metal-stack's loops (written in this bench)\n");
    println!("| machines | runs | domain, only these two ids: p50 ms | p95 ms | O(n²) model: p50 ms | p95 ms | model / domain | flagged bmc-no-distinct-ip | flagged asn-not-unique |");
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let config = IssueConfig {
        only: vec![IssueType::BmcNoDistinctIp, IssueType::AsnNotUnique],
        ..Default::default()
    };
    for (n, runs) in [(1_000usize, 10usize), (10_000, 5), (50_000, 1)] {
        let (machines, containers) = fleet(n, now);
        let events = events_by_id(containers);
        let got = issues::evaluate(&machines, &events, now, &config);
        let count = |t: IssueType| got.iter().filter(|(_, ts)| ts.contains(&t)).count();
        let (bmc, asn) = (
            count(IssueType::BmcNoDistinctIp),
            count(IssueType::AsnNotUnique),
        );
        let dom = time_runs(10, || issues::evaluate(&machines, &events, now, &config));
        // every model run must flag the same machines as the domain
        let model = time_runs(runs, || {
            assert_eq!(
                model_pairwise(&machines, &events),
                (bmc, asn),
                "model and domain differ"
            )
        });
        println!(
            "| {n} | 10 / {runs} | {:.2} | {:.2} | {:.0} | {:.0} | {:.0}× | {bmc} | {asn} |",
            pct(&dom, 0.5),
            pct(&dom, 0.95),
            pct(&model, 0.5),
            pct(&model, 0.95),
            pct(&model, 0.5) / pct(&dom, 0.5),
        );
    }
    println!();
}

// ---------------------------------------------------------------------------------------
// Part 2: end to end
// ---------------------------------------------------------------------------------------

/// Stores the fleet: (machines, machines without event container, machines with issues,
/// MiB of JSON of the machines and of the event containers).
async fn seed(api: &TestApi, now: DateTime<Utc>, n: usize) -> (usize, usize, usize, (f64, f64)) {
    let (mut machines, mut containers) = fleet(n, now);
    sim::store(api.store(), &mut machines, &mut containers)
        .await
        .expect("storing the fleet");
    let events = events_by_id(containers);
    let flagged = issues::evaluate(&machines, &events, Utc::now(), &IssueConfig::default()).len();
    let machines_json: usize = machines
        .iter()
        .map(|m| serde_json::to_string(m).expect("json").len())
        .sum();
    let events_json: usize = events
        .values()
        .map(|e| serde_json::to_string(e).expect("json").len())
        .sum();
    (
        machines.len(),
        machines.len() - events.len(),
        flagged,
        (mib(machines_json), mib(events_json)),
    )
}

/// A signed `POST` as metal-stack's clients send it (Metal-View): status and raw body.
async fn post_raw(http: &reqwest::Client, api: &TestApi, path: &str, body: &str) -> (u16, Vec<u8>) {
    let date = Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let salt = format!("benchsalt{}", rand::random::<u32>());
    let mac = metal_util::hmac::hmac_signature(api.keys.view.as_bytes(), &date, "POST", &salt);
    let resp = http
        .post(format!("{}{path}", api.url()))
        .header("Authorization", format!("Metal-View {mac}"))
        .header("X-Date", date)
        .header("X-Data-Salt", salt)
        .header("Content-Type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .expect("request");
    let status = resp.status().as_u16();
    (status, resp.bytes().await.expect("body").to_vec())
}

/// Latency and peak extra heap of each run (the counting allocator sees the whole process:
/// server, client and database driver; one request at a time, so the peak is the request's).
struct Meter {
    lat: Vec<Duration>,
    peak: Vec<usize>,
    t: Instant,
    base: usize,
}

impl Meter {
    fn new() -> Self {
        Self {
            lat: Vec::new(),
            peak: Vec::new(),
            t: Instant::now(),
            base: 0,
        }
    }

    fn start(&mut self) {
        self.base = HEAP.current_usage();
        HEAP.reset_peak_usage();
        self.t = Instant::now();
    }

    fn stop(&mut self) {
        self.lat.push(self.t.elapsed());
        self.peak.push(HEAP.peak_usage().saturating_sub(self.base));
    }

    /// `runs | p50 ms | p95 ms | peak MiB (median)` cells.
    fn cells(mut self) -> String {
        self.lat.sort();
        self.peak.sort();
        format!(
            "{} | {:.1} | {:.1} | {:.1}",
            self.lat.len(),
            pct(&self.lat, 0.5),
            pct(&self.lat, 0.95),
            mib(self.peak[self.peak.len() / 2])
        )
    }
}

async fn end_to_end(backends: &[Backend], runs: usize) {
    let n = 10_000;
    println!("### 2. End to end: `POST /v1/machine/issues/evaluate` with {n} machines stored (signed, loopback, one request at a time)\n");
    println!("| backend | measurement | runs | p50 ms | p95 ms | peak extra heap MiB | answer | machines with issues |");
    println!("|---|---|---:|---:|---:|---:|---:|---:|");
    let mut rss = Vec::new();
    let mut stored_json = (0.0, 0.0);
    for &backend in backends {
        reset_hwm();
        let api = TestApi::start(backend).await.expect("metal-api");
        let t = Instant::now();
        let (stored, no_container, expected, json) = seed(&api, Utc::now(), n).await;
        stored_json = json;
        eprintln!(
            "{backend:?}: seeded {stored} machines in {:.1} s",
            t.elapsed().as_secs_f64()
        );
        let http = reqwest::Client::new();
        let path = "v1/machine/issues/evaluate";
        let (status, body) = post_raw(&http, &api, path, "{}").await; // warm-up
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        let answer: Vec<serde_json::Value> = serde_json::from_slice(&body).expect("json");
        assert_eq!(answer.len(), expected, "HTTP answer and domain differ");
        let size = body.len();
        let mut m = Meter::new();
        for _ in 0..runs {
            m.start();
            let (status, body) = post_raw(&http, &api, path, "{}").await;
            m.stop();
            assert_eq!(status, 200);
            assert_eq!(body.len(), size);
        }
        println!(
            "| {backend:?} | HTTP, whole fleet (`{{}}`) | {} | {:.1} KiB | {} |",
            m.cells(),
            size as f64 / 1024.0,
            answer.len()
        );
        // the same through the app layer: load machines and containers, evaluate; no HTTP
        let app = api.server.app.clone();
        let req = MachineIssuesRequest::default();
        let mut m = Meter::new();
        for _ in 0..runs {
            m.start();
            let got = metal_api::app::issues::evaluate(&app, &req, Utc::now())
                .await
                .expect("evaluate");
            m.stop();
            assert_eq!(got.len(), expected);
        }
        println!(
            "| {backend:?} | in-process `app::issues::evaluate` (load + evaluate) | {} | - | {expected} |",
            m.cells()
        );
        // loading alone: the machines and the event containers, decoded
        let mut m = Meter::new();
        for _ in 0..runs {
            m.start();
            let mut conn = app.store.reader().acquire().await.expect("connection");
            let machines = metal_api::app::machine::matching(&mut conn, &req.query, None)
                .await
                .expect("machines");
            let events = metal_api::app::machine_view::event_containers(&mut conn, &machines)
                .await
                .expect("events");
            m.stop();
            assert_eq!(
                (machines.len(), events.len()),
                (stored, stored - no_container)
            );
        }
        println!(
            "| {backend:?} | in-process load only (machines + event containers, decoded) | {} | - | - |",
            m.cells()
        );
        let filter = r#"{"severity": "critical", "omit": ["no-event-container"]}"#;
        let mut m = Meter::new();
        m.start();
        let (status, body) = post_raw(&http, &api, path, filter).await;
        m.stop();
        assert_eq!(status, 200);
        let critical: Vec<serde_json::Value> = serde_json::from_slice(&body).expect("json");
        println!(
            "| {backend:?} | HTTP, `severity: critical` | {} | {:.1} KiB | {} |",
            m.cells(),
            body.len() as f64 / 1024.0,
            critical.len()
        );
        drop(app);
        rss.push((backend, sim::status_mib("self", "VmHWM:")));
        api.stop().await;
    }
    println!();
    println!(
        "stored documents (as JSON): machines {:.1} MiB, event containers {:.1} MiB",
        stored_json.0, stored_json.1
    );
    for (backend, hwm) in rss {
        println!("process VmHWM during the {backend:?} run (server, client and seeding in one process): {hwm:.0} MiB");
    }
    println!();
}

fn main() {
    let backends: Vec<Backend> = std::env::var("BENCH_BACKENDS")
        .unwrap_or_else(|_| "sqlite,postgres".into())
        .split(',')
        .map(|b| match b.trim() {
            "postgres" => Backend::Postgres,
            _ => Backend::Sqlite,
        })
        .collect();
    let runs: usize = std::env::var("BENCH_HTTP_RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let started = Instant::now();
    let now = Utc::now();
    println!(
        "machine issues evaluation, {} cores\n",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    domain(now);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(end_to_end(&backends, runs));
    drop(rt);
    pairwise(now);
    println!(
        "process VmHWM at the end: {:.0} MiB; total {:.0} s",
        sim::status_mib("self", "VmHWM:"),
        started.elapsed().as_secs_f64()
    );
}
