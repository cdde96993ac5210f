//! Catalog read benchmark (issue 2): metal-api in-process on loopback with 1,000 images and
//! 1,000 sizes, driven by signed HTTP requests from the same process.
//!
//! For each backend (SQLite, then PostgreSQL at `METAL_TEST_POSTGRES_URL`, default
//! `postgres://postgres@127.0.0.1:5432/postgres`) it starts the API on a fresh database, seeds
//! the catalog through the REST API, and runs each read operation for a fixed time with a fixed
//! number of workers. Every worker owns one HTTP client (connections are reused), signs each
//! request with HMAC as metal-stack's clients do, checks the answer is 200 and reads the whole
//! body. Afterwards it times the parts of a list answer in-process (SQL rows, document
//! decoding, response encoding, client-side decoding) to show where the time goes.
//!
//! Settings (environment):
//! - `BENCH_SECONDS`: measured seconds per operation (default 5; fractions allowed)
//! - `BENCH_CONCURRENCY`: concurrent workers (default 16)
//! - `BENCH_BACKENDS`: `sqlite`, `postgres` or both comma-separated (default both)
//! - `BENCH_OPS`: operations to run, comma-separated (default all): `image-get`, `image-list`,
//!   `image-find`, `size-get`, `size-list`
//!
//! Run: `cargo bench -p metal-api --bench catalog`

use std::time::{Duration, Instant};

use metal_domain::image::Image;
use metal_domain::size::Size;
use metal_store::docs;
use metal_testkit::{Backend, TestApi, TestClient};
use rand::distributions::Alphanumeric;
use rand::Rng;
use reqwest::Method;
use serde_json::{json, Value};
use sqlx::Row;

const IMAGES: usize = 1000;
const SIZES: usize = 1000;
/// Image os names; the images are spread evenly over them.
const OSES: [&str; 5] = ["ubuntu", "debian", "centos", "almalinux", "firewall-ubuntu"];
/// Unmeasured warm-up before each operation.
const WARMUP: Duration = Duration::from_millis(500);
/// Iterations of each in-process breakdown step.
const BREAKDOWN_RUNS: usize = 30;

/// The benchmarked read operations.
#[derive(Debug, Clone, Copy)]
enum Op {
    ImageGet,
    ImageList,
    ImageFind,
    SizeGet,
    SizeList,
}

impl Op {
    const ALL: [Op; 5] = [
        Op::ImageGet,
        Op::ImageList,
        Op::ImageFind,
        Op::SizeGet,
        Op::SizeList,
    ];

    /// The name `BENCH_OPS` selects the operation by.
    fn key(self) -> &'static str {
        match self {
            Op::ImageGet => "image-get",
            Op::ImageList => "image-list",
            Op::ImageFind => "image-find",
            Op::SizeGet => "size-get",
            Op::SizeList => "size-list",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Op::ImageGet => "image get",
            Op::ImageList => "image list",
            Op::ImageFind => "image find (os)",
            Op::SizeGet => "size get",
            Op::SizeList => "size list",
        }
    }

    /// The `n`th request of this operation: method, path below the base URL, body.
    fn request(self, n: usize, ids: &Ids) -> (Method, String, Option<Vec<u8>>) {
        match self {
            Op::ImageGet => (
                Method::GET,
                format!("v1/image/{}", ids.images[n % ids.images.len()]),
                None,
            ),
            Op::ImageList => (Method::GET, "v1/image".into(), None),
            Op::ImageFind => {
                let body = json!({ "os": OSES[n % OSES.len()] })
                    .to_string()
                    .into_bytes();
                (Method::POST, "v1/image/find".into(), Some(body))
            }
            Op::SizeGet => (
                Method::GET,
                format!("v1/size/{}", ids.sizes[n % ids.sizes.len()]),
                None,
            ),
            Op::SizeList => (Method::GET, "v1/size".into(), None),
        }
    }
}

/// The seeded ids.
struct Ids {
    images: Vec<String>,
    sizes: Vec<String>,
}

/// Benchmark settings.
#[derive(Debug, Clone)]
struct Settings {
    duration: Duration,
    concurrency: usize,
    backends: Vec<Backend>,
    ops: Vec<Op>,
}

impl Settings {
    fn from_env() -> Self {
        let secs: f64 = env_or("BENCH_SECONDS", 5.0);
        assert!(
            secs > 0.0 && secs <= 600.0,
            "BENCH_SECONDS must lie in (0, 600]"
        );
        let concurrency: usize = env_or("BENCH_CONCURRENCY", 16);
        assert!(
            (1..=1024).contains(&concurrency),
            "BENCH_CONCURRENCY must lie in 1..=1024"
        );
        let backends = std::env::var("BENCH_BACKENDS")
            .unwrap_or_else(|_| "sqlite,postgres".into())
            .split(',')
            .map(|b| match b.trim() {
                "sqlite" => Backend::Sqlite,
                "postgres" => Backend::Postgres,
                other => panic!("BENCH_BACKENDS: unknown backend {other:?} (sqlite, postgres)"),
            })
            .collect();
        let ops = match std::env::var("BENCH_OPS") {
            Err(_) => Op::ALL.to_vec(),
            Ok(v) => v
                .split(',')
                .map(|k| {
                    let k = k.trim();
                    Op::ALL
                        .into_iter()
                        .find(|op| op.key() == k)
                        .unwrap_or_else(|| panic!("BENCH_OPS: unknown operation {k:?}"))
                })
                .collect(),
        };
        Self {
            duration: Duration::from_secs_f64(secs),
            concurrency,
            backends,
            ops,
        }
    }
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    match std::env::var(name) {
        Ok(v) => v
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}: cannot parse {v:?}")),
        Err(_) => default,
    }
}

/// Signs requests as metal-stack's clients do: HMAC-SHA256 over X-Date, method and
/// X-Data-Salt, sent as `Authorization: <type> <hex>`.
#[derive(Clone)]
struct Signer {
    auth_type: &'static str,
    key: String,
}

impl Signer {
    fn sign(&self, rb: reqwest::RequestBuilder, method: &Method) -> reqwest::RequestBuilder {
        let date = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let salt: String = rand::thread_rng()
            .sample_iter(&Alphanumeric)
            .filter(u8::is_ascii_alphabetic)
            .take(24)
            .map(char::from)
            .collect();
        let mac =
            metal_util::hmac::hmac_signature(self.key.as_bytes(), &date, method.as_str(), &salt);
        rb.header("Authorization", format!("{} {mac}", self.auth_type))
            .header("X-Date", date)
            .header("X-Data-Salt", salt)
    }
}

/// What one operation's load produced.
struct OpResult {
    backend: &'static str,
    op: Op,
    /// Latencies of the measured requests, in microseconds.
    latencies: Vec<u64>,
    elapsed: Duration,
    /// Body size of one answer (the last one seen), in bytes.
    body_bytes: usize,
}

impl OpResult {
    fn requests(&self) -> usize {
        self.latencies.len()
    }
    fn rate(&self) -> f64 {
        self.requests() as f64 / self.elapsed.as_secs_f64()
    }
    /// The `q` quantile (0..=1) in milliseconds, nearest-rank on the sorted latencies.
    fn quantile_ms(&self, q: f64) -> f64 {
        if self.latencies.is_empty() {
            return f64::NAN;
        }
        let rank = (q * self.latencies.len() as f64).ceil() as usize;
        let idx = rank.clamp(1, self.latencies.len()) - 1;
        self.latencies[idx] as f64 / 1000.0
    }
}

fn backend_name(b: Backend) -> &'static str {
    match b {
        Backend::Sqlite => "SQLite",
        Backend::Postgres => "PostgreSQL",
    }
}

fn image_id(i: usize) -> String {
    let os = OSES[i % OSES.len()];
    let k = i / OSES.len();
    format!("{os}-{}.{}.{}", 18 + k / 50, (k / 5) % 10, 20200101 + k % 5)
}

fn size_id(i: usize) -> String {
    format!("bench-size-{i:04}")
}

/// Creates the images and sizes through the REST API, one request after the other.
async fn seed(c: &TestClient) -> Ids {
    let images: Vec<String> = (0..IMAGES).map(image_id).collect();
    for id in &images {
        let body = json!({
            "id": id, "name": id, "description": "benchmark image",
            "url": format!("http://images.test/{id}.tar.lz4"),
            "features": ["machine"],
        });
        let r = c.put("v1/image", body).await;
        assert_eq!(r.status, 201, "creating image {id}: {:?}", r.body);
    }
    let sizes: Vec<String> = (0..SIZES).map(size_id).collect();
    const GIB: u64 = 1 << 30;
    for (i, id) in sizes.iter().enumerate() {
        let cores = 2 * i as u64 + 1;
        let body = json!({
            "id": id, "name": id, "description": "benchmark size",
            "constraints": [
                {"type": "cores", "min": cores, "max": cores + 1},
                {"type": "memory", "min": GIB, "max": 512 * GIB},
            ],
        });
        let r = c.put("v1/size", body).await;
        assert_eq!(r.status, 201, "creating size {id}: {:?}", r.body);
    }
    Ids { images, sizes }
}

/// Checks once that the answers have the expected shape before load is put on them.
async fn sanity_check(c: &TestClient, ids: &Ids) {
    let n = |r: metal_testkit::TestResponse| {
        assert_eq!(r.status, 200, "{:?}", r.body);
        r.body.as_array().map(Vec::len).unwrap_or(0)
    };
    assert_eq!(n(c.get("v1/image").await), IMAGES);
    assert_eq!(n(c.get("v1/size").await), SIZES);
    assert_eq!(
        n(c.post("v1/image/find", json!({"os": "ubuntu"})).await),
        IMAGES / OSES.len()
    );
    let r = c.get(&format!("v1/image/{}", ids.images[7])).await;
    assert_eq!(r.body["id"], ids.images[7].as_str());
    let r = c.get(&format!("v1/size/{}", ids.sizes[7])).await;
    assert_eq!(r.body["id"], ids.sizes[7].as_str());
}

/// One worker: requests back to back until `end`, recording latencies after `measure_from`.
async fn worker(
    base: String,
    signer: Signer,
    op: Op,
    ids: std::sync::Arc<Ids>,
    first: usize,
    measure_from: Instant,
    end: Instant,
) -> (Vec<u64>, usize) {
    let http = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(1)
        .build()
        .expect("building HTTP client");
    let mut lat = Vec::with_capacity(16 * 1024);
    let mut body_bytes = 0;
    let mut n = first;
    loop {
        let start = Instant::now();
        if start >= end {
            break;
        }
        let (method, path, body) = op.request(n, &ids);
        n += 1;
        let mut rb = http.request(method.clone(), format!("{base}{path}"));
        if let Some(b) = body {
            rb = rb.header("Content-Type", "application/json").body(b);
        }
        let resp = signer
            .sign(rb, &method)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = resp.status().as_u16();
        let bytes = resp
            .bytes()
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: reading body: {e}"));
        assert_eq!(
            status,
            200,
            "{method} {path}: {}",
            String::from_utf8_lossy(&bytes)
        );
        if start >= measure_from {
            lat.push(start.elapsed().as_micros() as u64);
        }
        body_bytes = bytes.len();
    }
    (lat, body_bytes)
}

/// Runs one operation with `settings.concurrency` workers for warm-up plus the measured time.
async fn load(
    api: &TestApi,
    backend: Backend,
    op: Op,
    ids: &std::sync::Arc<Ids>,
    s: &Settings,
) -> OpResult {
    let signer = Signer {
        auth_type: "Metal-View",
        key: api.keys.view.clone(),
    };
    let measure_from = Instant::now() + WARMUP;
    let end = measure_from + s.duration;
    let tasks: Vec<_> = (0..s.concurrency)
        .map(|w| {
            // Spread the workers over the ids so they do not ask for the same entity in step.
            let first = w * 61;
            tokio::spawn(worker(
                api.url(),
                signer.clone(),
                op,
                ids.clone(),
                first,
                measure_from,
                end,
            ))
        })
        .collect();
    let mut latencies = Vec::new();
    let mut body_bytes = 0;
    for t in tasks {
        let (l, b) = t.await.expect("worker panicked");
        latencies.extend(l);
        body_bytes = b;
    }
    // Workers stop starting requests at `end`; the last answers arrive a little later.
    let elapsed = Instant::now().saturating_duration_since(measure_from);
    latencies.sort_unstable();
    OpResult {
        backend: backend_name(backend),
        op,
        latencies,
        elapsed,
        body_bytes,
    }
}

/// Median duration of `runs` sequential runs of `f`, in milliseconds.
async fn median_ms<F, Fut>(runs: usize, mut f: F) -> f64
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t = Instant::now();
        f().await;
        times.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

/// In-process timings of the steps of a list answer, one request at a time (no load).
struct Breakdown {
    backend: &'static str,
    what: &'static str,
    /// SQL query and row transfer only (`SELECT id, doc, revision ...`).
    sql_ms: f64,
    /// Query plus decoding the JSON documents into entities (what the store's list does).
    store_ms: f64,
    /// Encoding the entities as the JSON answer.
    encode_ms: f64,
    /// A client decoding the answer into JSON values.
    client_decode_ms: f64,
    /// One whole HTTP request, for comparison.
    http_ms: f64,
}

async fn breakdown_of<T: metal_store::Document + 'static>(
    api: &TestApi,
    backend: Backend,
    what: &'static str,
    path: &str,
) -> Breakdown {
    let pool = api.store().reader();
    let sql = &format!("SELECT id, doc, revision FROM {} ORDER BY id", T::TABLE);
    let sql_ms = median_ms(BREAKDOWN_RUNS, move || async move {
        let mut conn = pool.acquire().await.expect("acquire");
        let rows = sqlx::query(sql).fetch_all(&mut *conn).await.expect("query");
        let total: usize = rows.iter().map(|r| r.get::<String, _>("doc").len()).sum();
        assert!(total > 0);
    })
    .await;
    let store_ms = median_ms(BREAKDOWN_RUNS, move || async move {
        let mut conn = pool.acquire().await.expect("acquire");
        let all = docs::list::<T>(&mut conn).await.expect("list");
        assert!(!all.is_empty());
    })
    .await;
    let all = &{
        let mut conn = pool.acquire().await.expect("acquire");
        docs::list::<T>(&mut conn).await.expect("list")
    };
    let encode_ms = median_ms(BREAKDOWN_RUNS, move || async move {
        let out = serde_json::to_vec(all).expect("encode");
        assert!(!out.is_empty());
    })
    .await;
    let encoded = &serde_json::to_vec(all).expect("encode");
    let client_decode_ms = median_ms(BREAKDOWN_RUNS, move || async move {
        let v: Value = serde_json::from_slice(encoded).expect("decode");
        assert!(v.is_array());
    })
    .await;
    let client = &api.client(metal_testkit::Caller::View);
    let http_ms = median_ms(BREAKDOWN_RUNS, move || async move {
        assert_eq!(client.get(path).await.status, 200);
    })
    .await;
    Breakdown {
        backend: backend_name(backend),
        what,
        sql_ms,
        store_ms,
        encode_ms,
        client_decode_ms,
        http_ms,
    }
}

async fn run_backend(backend: Backend, s: &Settings) -> (Vec<OpResult>, Vec<Breakdown>) {
    let name = backend_name(backend);
    let api = TestApi::start(backend)
        .await
        .unwrap_or_else(|e| panic!("starting metal-api on {name}: {e:#}"));
    let admin = api.admin();
    let t = Instant::now();
    let ids = seed(&admin).await;
    eprintln!(
        "{name}: seeded {IMAGES} images and {SIZES} sizes through the API in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    sanity_check(&admin, &ids).await;
    let ids = std::sync::Arc::new(ids);
    let mut results = Vec::new();
    for &op in &s.ops {
        let r = load(&api, backend, op, &ids, s).await;
        eprintln!(
            "{name}: {:<16} {:>8} requests, {:>9.1} req/s",
            op.name(),
            r.requests(),
            r.rate()
        );
        results.push(r);
    }
    let breakdown = vec![
        breakdown_of::<Image>(&api, backend, "image list", "v1/image").await,
        breakdown_of::<Size>(&api, backend, "size list", "v1/size").await,
    ];
    api.stop().await;
    (results, breakdown)
}

fn print_results(results: &[OpResult], breakdown: &[Breakdown], s: &Settings) {
    println!();
    println!(
        "catalog reads: {IMAGES} images, {SIZES} sizes; {} s per operation (after {} ms warm-up), {} concurrent workers, {} cores",
        s.duration.as_secs_f64(),
        WARMUP.as_millis(),
        s.concurrency,
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
    );
    println!();
    println!("| backend | operation | requests | req/s | p50 ms | p99 ms | answer KiB |");
    println!("|---|---|---:|---:|---:|---:|---:|");
    for r in results {
        println!(
            "| {} | {} | {} | {:.0} | {:.2} | {:.2} | {:.1} |",
            r.backend,
            r.op.name(),
            r.requests(),
            r.rate(),
            r.quantile_ms(0.50),
            r.quantile_ms(0.99),
            r.body_bytes as f64 / 1024.0,
        );
    }
    println!();
    println!("list answers in-process, one at a time (medians of {BREAKDOWN_RUNS} runs, ms):");
    println!();
    println!("| backend | answer | SQL rows | + decode docs | encode answer | client decode | whole HTTP request |");
    println!("|---|---|---:|---:|---:|---:|---:|");
    for b in breakdown {
        println!(
            "| {} | {} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} |",
            b.backend, b.what, b.sql_ms, b.store_ms, b.encode_ms, b.client_decode_ms, b.http_ms
        );
    }
}

fn main() {
    let settings = Settings::from_env();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("building the tokio runtime");
    rt.block_on(async {
        let mut results = Vec::new();
        let mut breakdown = Vec::new();
        for &backend in &settings.backends {
            let (r, b) = run_backend(backend, &settings).await;
            results.extend(r);
            breakdown.extend(b);
        }
        print_results(&results, &breakdown, &settings);
    });
}
