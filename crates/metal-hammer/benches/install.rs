//! `cargo bench -p metal-hammer --bench install`: metal-hammer's one-pass image install
//! (download → md5 → lz4 → tar) from a loopback HTTP server and from `file://`, against
//! `lz4 -d < img | tar -x -C dir` on the same file (which verifies no checksum).
//!
//! The image is the test image plus ~`METAL_BENCH_IMAGE_MB` (default 250) MB of filler files of
//! mixed sizes, compressible about 2:1. Each variant runs `METAL_BENCH_RUNS` (default 3) times
//! into a fresh directory; the median is reported. Everything stays in the page cache.

use std::path::Path;
use std::time::{Duration, Instant};

use metal_sim::fileserver::FileServer;
use metal_sim::osimage::OsImageBuilder;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn report(name: &str, d: Duration, compressed: u64, tar: u64) {
    let s = d.as_secs_f64();
    println!(
        "{name:<34} median {s:>6.2} s   {:>7.1} MB/s compressed   {:>7.1} MB/s uncompressed",
        compressed as f64 / 1e6 / s,
        tar as f64 / 1e6 / s
    );
}

fn fresh(base: &Path, i: usize) -> std::path::PathBuf {
    let d = base.join(format!("t{i}"));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let mb: u64 = std::env::var("METAL_BENCH_IMAGE_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(250);
    let runs: usize = std::env::var("METAL_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
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

    let mut http = Vec::new();
    let mut file = Vec::new();
    let mut shell = Vec::new();
    for i in 0..runs {
        let d = fresh(work.path(), i);
        let t = Instant::now();
        rt.block_on(metal_hammer::image::install_image(&http_url, &d))
            .expect("http install");
        http.push(t.elapsed());

        let d = fresh(work.path(), i);
        let t = Instant::now();
        rt.block_on(metal_hammer::image::install_image(&file_url, &d))
            .expect("file install");
        file.push(t.elapsed());

        let d = fresh(work.path(), i);
        std::fs::create_dir_all(&d).expect("mkdir");
        let t = Instant::now();
        let st = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!(
                "lz4 -d < {} | tar -x -C {}",
                image.archive.display(),
                d.display()
            ))
            .status()
            .expect("lz4 | tar");
        assert!(st.success(), "lz4 | tar failed");
        shell.push(t.elapsed());
        let _ = std::fs::remove_dir_all(&d);
    }
    println!("{runs} runs each");
    report(
        "metal-hammer, HTTP loopback + md5",
        median(http),
        image.compressed_bytes,
        image.tar_bytes,
    );
    report(
        "metal-hammer, file:// + md5",
        median(file),
        image.compressed_bytes,
        image.tar_bytes,
    );
    report(
        "lz4 -d | tar -x (no checksum)",
        median(shell),
        image.compressed_bytes,
        image.tar_bytes,
    );
}
