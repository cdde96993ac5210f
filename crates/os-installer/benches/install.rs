//! os-installer's run time: `cargo bench -p os-installer --bench install` (root: it creates the
//! `metal` user with `useradd --root`). Each round unpacks a fresh minimal image root
//! (tests/image) and runs the built binary over it for the firewall and a machine case, with
//! the checks (`vtysh -C -f`, `nft --check`) and without; prints the median and the range of
//! 15 rounds, and what the checks cost of it.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

#[path = "../tests/image/mod.rs"]
mod image;

fn run(case: &str, extra: &[&str]) -> f64 {
    let tmp = tempfile::tempdir().unwrap();
    image::build(tmp.path(), case);
    let start = Instant::now();
    let o = Command::new(env!("CARGO_BIN_EXE_os-installer"))
        .arg("--root")
        .arg(tmp.path())
        .args(extra)
        .env("OS_INSTALLER_LOG", "warn")
        .output()
        .unwrap();
    let ms = start.elapsed().as_secs_f64() * 1e3;
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(Path::new(&tmp.path().join("etc/metal/boot-info.yaml")).exists());
    ms
}

fn main() {
    let root = std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"));
    if !root {
        eprintln!("os-installer bench: needs root (useradd --root); run it as root");
        std::process::exit(1);
    }
    for case in ["machine-private", "firewall"] {
        let mut with = Vec::new();
        let mut without = Vec::new();
        for _ in 0..15 {
            with.push(run(case, &[]));
            without.push(run(case, &["--skip-checks"]));
        }
        let med = |v: &mut Vec<f64>| {
            v.sort_by(f64::total_cmp);
            (v[v.len() / 2], v[0], v[v.len() - 1])
        };
        let (w, wmin, wmax) = med(&mut with);
        let (n, nmin, nmax) = med(&mut without);
        println!(
            "{case}: install {w:.1} ms (min {wmin:.1}, max {wmax:.1}); without the checks {n:.1} ms (min {nmin:.1}, max {nmax:.1}); the checks are {:.0}% of it",
            100.0 * (w - n) / w
        );
    }
}
