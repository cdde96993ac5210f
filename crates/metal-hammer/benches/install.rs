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

/// One variant's runs: wall-clock and CPU time (of the whole process with its server, and of
/// its child processes).
#[derive(Default)]
struct Runs {
    wall: Vec<Duration>,
    cpu: Vec<Duration>,
}

impl Runs {
    fn time<T>(&mut self, f: impl FnOnce() -> T) -> T {
        let (t, c) = (Instant::now(), cpu_now());
        let r = f();
        self.wall.push(t.elapsed());
        self.cpu.push(cpu_now().saturating_sub(c));
        r
    }

    fn report(&self, name: &str, compressed: u64, tar: u64) {
        let s = median(&self.wall).as_secs_f64();
        let all: Vec<String> = self
            .wall
            .iter()
            .map(|d| format!("{:.2}", d.as_secs_f64()))
            .collect();
        println!(
            "{name:<36} median {s:>6.3} s  {:>6.1} MB/s compressed  {:>6.1} MB/s uncompressed  cpu {:.2} s  (runs: {})",
            compressed as f64 / 1e6 / s,
            tar as f64 / 1e6 / s,
            median(&self.cpu).as_secs_f64(),
            all.join(" ")
        );
    }
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

/// CPU time of this process (the file server included) and of its waited-for children, from
/// `/proc/self/stat` (clock ticks of 10 ms).
fn cpu_now() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    // the fields after the command name in parentheses; utime..cstime are the 14th..17th
    let rest = &stat[stat.rfind(')').expect("stat") + 2..];
    let ticks: u64 = rest
        .split_whitespace()
        .skip(11)
        .take(4)
        .map(|f| f.parse::<u64>().expect("tick count"))
        .sum();
    Duration::from_millis(ticks * 10)
}

fn shell(cmd: &str) {
    let st = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!("set -o pipefail; {cmd}"))
        .status()
        .expect("bash");
    assert!(st.success(), "{cmd} failed");
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

    let mut mh_http = Runs::default();
    let mut mh_file = Runs::default();
    let mut curl = Runs::default();
    let mut lz4 = Runs::default();
    let mut stats: Vec<ImageStats> = Vec::new();
    let install = |url: &str, d: &Path| rt.block_on(install_image(url, d)).expect("install");
    for _ in 0..runs {
        let d = fresh(work.path(), "mh-http");
        let s = mh_http.time(|| install(&http_url, &d));
        assert_eq!(s.md5, image.md5);
        assert_eq!(s.uncompressed_bytes, image.tar_bytes);
        stats.push(s);

        let d = fresh(work.path(), "curl");
        curl.time(|| {
            shell(&format!(
                "curl -sSf {http_url} | lz4 -d | tar -x -C {}",
                d.display()
            ))
        });

        let d = fresh(work.path(), "mh-file");
        let s = mh_file.time(|| install(&file_url, &d));
        assert_eq!(s.md5, image.md5);

        let d = fresh(work.path(), "lz4");
        lz4.time(|| shell(&format!("lz4 -d < {archive} | tar -x -C {}", d.display())));
    }
    let (c, u) = (image.compressed_bytes, image.tar_bytes);
    println!("{runs} rounds, variants interleaved; cpu: median CPU time of the process (with the file server) and its children");
    mh_http.report("metal-hammer, HTTP loopback + md5", c, u);
    curl.report("curl | lz4 -d | tar -x (no checksum)", c, u);
    mh_file.report("metal-hammer, file:// + md5", c, u);
    lz4.report("lz4 -d < img | tar -x (no checksum)", c, u);

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
            "  {:<9} busy {:>6.3} s  waiting for input {:>6.3} s  for output {:>6.3} s  cpu {}  {} chunks/blocks",
            st.name,
            st.busy.as_secs_f64(),
            st.input_wait.as_secs_f64(),
            st.output_wait.as_secs_f64(),
            st.cpu
                .map(|c| format!("{:.3} s", c.as_secs_f64()))
                .unwrap_or_else(|| "   -   ".into()),
            st.items
        );
    }
    let ratio = median(&curl.wall).as_secs_f64() / median(&mh_http.wall).as_secs_f64();
    println!("ratio: metal-hammer throughput / pipeline throughput = {ratio:.2} (goal >= 0.90)");
}
