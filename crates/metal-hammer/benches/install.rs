//! `cargo bench -p metal-hammer --bench install`: metal-hammer's image install (download → md5
//! → lz4 → tar, a pipeline over threads) against the shell pipeline the issue names,
//! `curl -s http://127.0.0.1:PORT/img.tar.lz4 | lz4 -d | tar -x -C dir` (which verifies no
//! checksum), both reading from the same loopback file server. The `file://` variant and
//! `lz4 -d < img | tar -x` are measured alongside for reference.
//!
//! The image is the test image plus ~`METAL_BENCH_IMAGE_MB` (default 250) MB of filler files of
//! mixed sizes, compressible about 2:1. Each of `METAL_BENCH_RUNS` (default 5) rounds runs every
//! variant once, in turn (A B C D A B C D ...), so that they share the machine's noise; each run
//! unpacks into a fresh directory after a `sync`, so that no run pays for the write-back of
//! another's dirty pages. The median per variant is reported, then metal-hammer's time per
//! pipeline stage, and on the last line the ratio of metal-hammer's HTTP throughput to the
//! curl pipeline's.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use metal_hammer::image::{install_image, ImageStats};
use metal_sim::fileserver::FileServer;
use metal_sim::osimage::OsImageBuilder;

fn median(v: &[Duration]) -> Duration {
    let mut v = v.to_vec();
    v.sort();
    v[v.len() / 2]
}

fn report(name: &str, runs: &[Duration], compressed: u64, tar: u64) {
    let s = median(runs).as_secs_f64();
    let all: Vec<String> = runs
        .iter()
        .map(|d| format!("{:.2}", d.as_secs_f64()))
        .collect();
    println!(
        "{name:<36} median {s:>6.3} s  {:>7.1} MB/s compressed  {:>7.1} MB/s uncompressed  (runs: {})",
        compressed as f64 / 1e6 / s,
        tar as f64 / 1e6 / s,
        all.join(" ")
    );
}

/// An empty directory for one run; the previous run's files are removed and everything
/// written so far is synced before the clock starts.
fn fresh(base: &Path, name: &str) -> PathBuf {
    let d = base.join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("mkdir");
    nix::unistd::sync();
    d
}

fn shell(cmd: &str) -> Duration {
    let t = Instant::now();
    let st = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!("set -o pipefail; {cmd}"))
        .status()
        .expect("bash");
    let d = t.elapsed();
    assert!(st.success(), "{cmd} failed");
    d
}

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let mb = env_or("METAL_BENCH_IMAGE_MB", 250);
    let runs = env_or("METAL_BENCH_RUNS", 5).max(1) as usize;
    let images = tempfile::tempdir().expect("tempdir");
    let work = tempfile::tempdir().expect("tempdir");
    let t = Instant::now();
    let image = OsImageBuilder::new()
        .filler(mb * 1_000_000)
        .build(images.path())
        .expect("building the image (busybox-static needed)");
    println!(
        "image: {:.1} MB tar, {:.1} MB lz4 ({:.2}:1), built in {:.1} s",
        image.tar_bytes as f64 / 1e6,
        image.compressed_bytes as f64 / 1e6,
        image.tar_bytes as f64 / image.compressed_bytes as f64,
        t.elapsed().as_secs_f64()
    );
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let server = rt
        .block_on(FileServer::start(images.path()))
        .expect("server");
    let http_url = server.url("img.tar.lz4");
    let file_url = format!("file://{}", image.archive.display());
    let archive = image.archive.display().to_string();

    let mut mh_http = Vec::new();
    let mut mh_file = Vec::new();
    let mut curl = Vec::new();
    let mut lz4 = Vec::new();
    let mut stats: Vec<ImageStats> = Vec::new();
    let install = |url: &str, d: &Path| -> (Duration, ImageStats) {
        let t = Instant::now();
        let s = rt.block_on(install_image(url, d)).expect("install");
        (t.elapsed(), s)
    };
    for _ in 0..runs {
        let d = fresh(work.path(), "mh-http");
        let (t, s) = install(&http_url, &d);
        assert_eq!(s.md5, image.md5);
        assert_eq!(s.uncompressed_bytes, image.tar_bytes);
        mh_http.push(t);
        stats.push(s);

        let d = fresh(work.path(), "curl");
        curl.push(shell(&format!(
            "curl -sSf {http_url} | lz4 -d | tar -x -C {}",
            d.display()
        )));

        let d = fresh(work.path(), "mh-file");
        let (t, s) = install(&file_url, &d);
        assert_eq!(s.md5, image.md5);
        mh_file.push(t);

        let d = fresh(work.path(), "lz4");
        lz4.push(shell(&format!(
            "lz4 -d < {archive} | tar -x -C {}",
            d.display()
        )));
    }
    let (c, u) = (image.compressed_bytes, image.tar_bytes);
    println!("{runs} rounds, variants interleaved");
    report("metal-hammer, HTTP loopback + md5", &mh_http, c, u);
    report("curl | lz4 -d | tar -x (no checksum)", &curl, c, u);
    report("metal-hammer, file:// + md5", &mh_file, c, u);
    report("lz4 -d < img | tar -x (no checksum)", &lz4, c, u);

    // the stages of the median HTTP run: time each thread worked, and waited for its input
    // and for room downstream
    let mut by_time: Vec<&ImageStats> = stats.iter().collect();
    by_time.sort_by_key(|s| s.elapsed);
    let s = by_time[by_time.len() / 2];
    println!(
        "stages of the median HTTP run ({:.3} s in install_image):",
        s.elapsed.as_secs_f64()
    );
    for st in &s.stages {
        println!(
            "  {:<10} busy {:>6.3} s   waiting for input {:>6.3} s   waiting for output {:>6.3} s",
            st.name,
            st.busy.as_secs_f64(),
            st.input_wait.as_secs_f64(),
            st.output_wait.as_secs_f64()
        );
    }
    let ratio = median(&curl).as_secs_f64() / median(&mh_http).as_secs_f64();
    println!("ratio: metal-hammer throughput / pipeline throughput = {ratio:.2} (goal >= 0.90)");
}
