//! The provisioning phases of the lab, measured: `metal-lab up`, then per run power on →
//! Waiting, allocation (machine 1 with `raid`, the others as firewalls) → Phoned Home, free →
//! Waiting again; `metal-lab down`. Prints each run and the median of each phase.
//!
//! `METAL_PRIVILEGED_TESTS=1 cargo bench -p metal-lab --bench cycle` (root, qemu).
//! `METAL_LAB_BENCH_RUNS` (default 3) and `METAL_LAB_BENCH_MACHINES` (default 2). Each run
//! starts a fresh lab, so the machines begin powered off and unallocated.

use std::process::Command;
use std::time::{Duration, Instant};

use metal_lab::cycle;
use metal_lab::lab::State;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn metal_lab(name: &str, dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_metal-lab"))
        .args(["--name", name, "--dir"])
        .arg(dir)
        .args(args)
        .output()
        .expect("running metal-lab")
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    if std::env::var("METAL_PRIVILEGED_TESTS").as_deref() != Ok("1") {
        eprintln!("the lab bench needs root and METAL_PRIVILEGED_TESTS=1 (qemu, namespaces)");
        return;
    }
    let runs = env_usize("METAL_LAB_BENCH_RUNS", 3).max(1);
    let machines = env_usize("METAL_LAB_BENCH_MACHINES", 2).max(1).to_string();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let name = format!("mlb{}", std::process::id() % 100_000);
    let (mut ups, mut waiting, mut phoned, mut back) = (vec![], vec![], vec![], vec![]);
    println!("metal-lab cycle, {machines} machines in parallel, TCG");
    println!("run\tup\tpower on → Waiting\tallocation → Phoned Home\tfree → Waiting");
    for run in 1..=runs {
        let tmp = tempfile::tempdir().expect("temp dir");
        let dir = tmp.path().join("lab");
        let t = Instant::now();
        let out = metal_lab(
            &name,
            &dir,
            &[
                "up",
                "--machines",
                &machines,
                "--api-port",
                "0",
                "--no-power-on",
                "--phone-home-interval",
                "5",
            ],
        );
        assert!(
            out.status.success(),
            "metal-lab up: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let up = t.elapsed();
        let result = rt.block_on(async {
            let state = State::load(&dir)?;
            let plan = state.plan()?;
            cycle::run(&state.client()?, &state, &plan).await
        });
        let down = metal_lab(&name, &dir, &["down"]);
        assert!(down.status.success(), "metal-lab down failed");
        let p = result.unwrap_or_else(|e| panic!("run {run}: {e:#}"));
        println!(
            "{run}\t{:.1} s\t{:.1} s\t{:.1} s\t{:.1} s",
            up.as_secs_f64(),
            p.to_waiting.as_secs_f64(),
            p.to_phoned_home.as_secs_f64(),
            p.back_to_waiting.as_secs_f64()
        );
        ups.push(up);
        waiting.push(p.to_waiting);
        phoned.push(p.to_phoned_home);
        back.push(p.back_to_waiting);
    }
    println!(
        "median\t{:.1} s\t{:.1} s\t{:.1} s\t{:.1} s",
        median(ups).as_secs_f64(),
        median(waiting).as_secs_f64(),
        median(phoned).as_secs_f64(),
        median(back).as_secs_f64()
    );
}
