//! What the lab's privileged tests share: running the `metal-lab` binary, a guard that takes
//! the lab down, the check that `down` left nothing behind, and the workspace's binaries.
#![allow(dead_code)] // each test binary uses its part

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// `metal-lab --name NAME --dir DIR args...`
pub fn metal_lab(name: &str, dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_metal-lab"))
        .args(["--name", name, "--dir"])
        .arg(dir)
        .args(args)
        .output()
        .expect("running metal-lab")
}

/// Takes the lab down when the test ends, also when it fails.
pub struct Down {
    pub name: String,
    pub dir: PathBuf,
}

impl Drop for Down {
    fn drop(&mut self) {
        let out = metal_lab(&self.name, &self.dir, &["down"]);
        if !out.status.success() {
            eprintln!("metal-lab down: {}", String::from_utf8_lossy(&out.stderr));
        }
    }
}

/// Takes the lab down and checks that no namespace, mount, process or file of it is left.
pub fn down_leaves_nothing(guard: Down) {
    let (name, dir) = (guard.name.clone(), guard.dir.clone());
    drop(guard);
    let out = Command::new("ip").args(["netns", "list"]).output().unwrap();
    let left = String::from_utf8_lossy(&out.stdout);
    assert!(
        !left.lines().any(|l| l.starts_with(&format!("{name}-"))),
        "namespaces left: {left}"
    );
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap();
    assert!(
        !mounts.contains(&format!("/run/netns/{name}-")),
        "mounts left: {mounts}"
    );
    let procs = metal_lab::procs::with_cmdline_containing(&dir.display().to_string());
    assert!(procs.is_empty(), "processes left: {procs:?}");
    assert!(!dir.exists(), "{} left", dir.display());
}

/// A workspace binary: beside this test's metal-lab, built when `cargo test -p metal-lab`
/// alone did not.
pub fn bin(package: &str, name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_BIN_EXE_metal-lab")).parent().unwrap();
    let path = dir.join(name);
    if !path.is_file() {
        let status = Command::new(env!("CARGO"))
            .args(["build", "-p", package, "--bins"])
            .status()
            .unwrap();
        assert!(status.success(), "cargo build -p {package}");
    }
    assert!(path.is_file(), "{} missing", path.display());
    path
}

/// A lab brought up by a test: `metal-lab up` with two machines, powered off, any free API
/// port and metal-core's phone-home interval at 5 s.
pub struct Up {
    pub name: String,
    pub dir: PathBuf,
    /// takes the lab down when dropped (or give it to [`down_leaves_nothing`])
    pub guard: Down,
    pub out: Output,
    pub took: Duration,
    /// the lab's directory lives in here: dropped after the guard
    pub tmp: tempfile::TempDir,
}

/// `metal-lab up EXTRA... --machines 2 --api-port 0 --no-power-on --phone-home-interval 5`
/// (`--machines` of EXTRA instead, where it has one)
/// for a lab named `<prefix><pid>`, which must succeed.
pub fn up(prefix: &str, extra: &[&str]) -> Up {
    let name = format!("{prefix}{}", std::process::id() % 100_000);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("lab");
    let guard = Down {
        name: name.clone(),
        dir: dir.clone(),
    };
    let started = Instant::now();
    let mut args = vec!["up"];
    args.extend_from_slice(extra);
    if !extra.contains(&"--machines") {
        args.extend_from_slice(&["--machines", "2"]);
    }
    args.extend_from_slice(&[
        "--api-port",
        "0",
        "--no-power-on",
        "--phone-home-interval",
        "5",
    ]);
    let out = metal_lab(&name, &dir, &args);
    // the guard, dropped while unwinding, takes a half-made lab down
    assert!(
        out.status.success(),
        "metal-lab {} failed:\n{}{}\n--- fabric console (routed labs):\n{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        std::fs::read_to_string(dir.join("log/fabric.log")).unwrap_or_default()
    );
    Up {
        name,
        dir,
        guard,
        out,
        took: started.elapsed(),
        tmp,
    }
}
