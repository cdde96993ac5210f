//! `metalctl machine ls` as a user runs it: the release binary, a fresh process, table output.

use std::time::{Duration, Instant};

use metal_testkit::TestApi;

/// Wall times of `runs` runs of `metalctl machine ls` against `api`, sorted; each must print a
/// row per machine of the `fleet`.
pub fn wall_times(api: &TestApi, fleet: usize, runs: usize) -> Vec<Duration> {
    let mut walls: Vec<Duration> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            let out = std::process::Command::new(env!("CARGO_BIN_EXE_metalctl"))
                .args(["machine", "ls"])
                .env("HOME", api.data_dir.path())
                .env("METALCTL_API_URL", api.url())
                .env("METALCTL_HMAC", &api.keys.admin)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(
                out.stdout.iter().filter(|b| **b == b'\n').count() > fleet,
                "a row per machine"
            );
            t.elapsed()
        })
        .collect();
    walls.sort();
    walls
}
