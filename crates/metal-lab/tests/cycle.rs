//! The whole life of two machines in the lab, with every real component: `metal-lab up` builds
//! the network namespaces, metal-api, pixie, metal-bmc, metal-core, ipmi_sim BMCs and two qemu
//! machines. The test powers them on through metal-api → metal-bmc → IPMI (ipmi_sim starts the
//! VMs), waits for PXE Booting and Waiting, allocates one machine (raid layout) and one
//! firewall (default layout), waits for Installing, Booting New Kernel and Phoned Home (the
//! installed OS's LLDP beacon seen by metal-core on the leaves), checks what the installed OS
//! found on its disks, frees both, waits for the wipe and Waiting again, and finally checks
//! that `metal-lab down` leaves no namespace, process or file behind. Prints the wall time of
//! each phase (docs/benchmarks.md).
//!
//! Runs only with `METAL_PRIVILEGED_TESTS=1` (root, qemu); takes about 5 minutes under TCG.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use metal_client::{Client, Method};
use metal_lab::lab::{self, State};
use metal_lab::machine::{CONSOLE_LOG, SOL_LOG};
use metal_lab::plan::Plan;
use metal_lab::seed;
use serde_json::{json, Value};

fn privileged(test: &str) -> bool {
    if std::env::var("METAL_PRIVILEGED_TESTS").as_deref() != Ok("1") {
        eprintln!("SKIPPED {test}: needs root and METAL_PRIVILEGED_TESTS=1 (qemu, namespaces)");
        return false;
    }
    true
}

fn metal_lab(name: &str, dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_metal-lab"))
        .args(["--name", name, "--dir"])
        .arg(dir)
        .args(args)
        .output()
        .expect("running metal-lab")
}

/// Takes the lab down when the test ends, also when it fails.
struct Down {
    name: String,
    dir: PathBuf,
}

impl Drop for Down {
    fn drop(&mut self) {
        let out = metal_lab(&self.name, &self.dir, &["down"]);
        if !out.status.success() {
            eprintln!("metal-lab down: {}", String::from_utf8_lossy(&out.stderr));
        }
    }
}

async fn machine(c: &Client, uuid: &str) -> Value {
    c.request::<(), Value>(Method::GET, &format!("v1/machine/{uuid}"), None)
        .await
        .unwrap_or_else(|e| panic!("GET machine {uuid}: {e}"))
}

/// Event names, oldest first.
fn events(m: &Value) -> Vec<String> {
    let mut e: Vec<String> = m["events"]["log"]
        .as_array()
        .map(|l| {
            l.iter()
                .map(|e| e["event"].as_str().unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_default();
    e.reverse();
    e
}

fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let v: Vec<&str> = text.lines().collect();
    v[v.len().saturating_sub(lines)..].join("\n")
}

/// Waits until every machine's newest event is `event` (and, if given, `since` events were
/// added after the mark); returns the time it took.
async fn wait_for_event(
    c: &Client,
    plan: &Plan,
    event: &str,
    marks: &[usize],
    limit: Duration,
) -> Duration {
    let start = Instant::now();
    let deadline = start + limit;
    loop {
        let mut done = true;
        for (k, m) in plan.all_machines().iter().enumerate() {
            let mv = machine(c, &m.uuid).await;
            let ev = events(&mv);
            let new = &ev[marks.get(k).copied().unwrap_or(0).min(ev.len())..];
            if new.last().map(String::as_str) != Some(event) {
                done = false;
                let crashed = new.iter().any(|e| e == "Crashed");
                if Instant::now() > deadline || crashed {
                    panic!(
                        "{}: no {event} within {limit:?}; events since the mark {new:?}; newest: {}\n--- ttyS1 (metal-hammer):\n{}\n--- ttyS0:\n{}",
                        m.name,
                        mv["events"]["log"][0],
                        tail(&m.dir.join(SOL_LOG), 40),
                        tail(&m.dir.join(CONSOLE_LOG), 30)
                    );
                }
            }
        }
        if done {
            return start.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn facts(m: &metal_lab::plan::MachinePlan) -> Vec<String> {
    std::fs::read_to_string(m.dir.join(CONSOLE_LOG))
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains(metal_lab::artifacts::OS_FACT))
        .map(|l| l.trim().to_string())
        .collect()
}

fn in_order(ev: &[String], expected: &[&str]) {
    let mut it = ev.iter();
    for e in expected {
        assert!(it.any(|x| x == e), "{e} missing or out of order in {ev:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_machines_are_powered_on_provisioned_phone_home_freed_and_wait_again() {
    let test = "two_machines_are_powered_on_provisioned_phone_home_freed_and_wait_again";
    if !privileged(test) {
        return;
    }
    let name = format!("mlt{}", std::process::id() % 100_000);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("lab");
    let guard = Down {
        name: name.clone(),
        dir: dir.clone(),
    };
    let up_started = Instant::now();
    let out = metal_lab(
        &name,
        &dir,
        &[
            "up",
            "--machines",
            "2",
            "--api-port",
            "0",
            "--no-power-on",
            "--phone-home-interval",
            "5",
        ],
    );
    assert!(
        out.status.success(),
        "metal-lab up failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let up_took = up_started.elapsed();
    let state = State::load(&dir).unwrap();
    let plan = state.plan().unwrap();
    let c = state.client().unwrap();
    let env = metal_lab(&name, &dir, &["env"]);
    assert!(String::from_utf8_lossy(&env.stdout)
        .contains(&format!("METALCTL_API_URL={}", state.api_url())));
    let [m1, m2] = [plan.machine(1), plan.machine(2)];

    // metal-bmc reported both BMCs; the machines are off
    for m in [&m1, &m2] {
        let mv: Value = c
            .request::<(), Value>(Method::GET, &format!("v1/machine/{}/ipmi", m.uuid), None)
            .await
            .expect("the machine's BMC data");
        let address = mv["ipmi"]["address"].as_str().unwrap_or("");
        assert!(address.starts_with(&m.bmc_ip.to_string()), "{mv}");
        assert!(events(&mv).is_empty(), "{mv}");
    }

    // power on through metal-api → metal-bmc → ipmi_sim, which starts the VMs
    for m in [&m1, &m2] {
        lab::power(&c, &m.uuid, "on").await.unwrap();
    }
    let to_waiting = wait_for_event(&c, &plan, "Waiting", &[], Duration::from_secs(300)).await;
    for m in [&m1, &m2] {
        let mv = machine(&c, &m.uuid).await;
        in_order(
            &events(&mv),
            &["PXE Booting", "Preparing", "Registering", "Waiting"],
        );
        assert_eq!(mv["size"]["id"], seed::SIZE, "{mv}");
        assert_eq!(mv["rackid"], seed::RACK, "connected to both leaves: {mv}");
        let nics = mv["hardware"]["nics"].as_array().unwrap();
        assert!(
            m.macs
                .iter()
                .all(|mac| nics.iter().any(|n| &n["mac"] == mac)),
            "{nics:?}"
        );
    }

    // allocate a machine with the raid layout and a firewall with the default layout
    let marks: Vec<usize> = {
        let mut v = Vec::new();
        for m in [&m1, &m2] {
            v.push(events(&machine(&c, &m.uuid).await).len());
        }
        v
    };
    let r: Value = c
        .request(
            Method::POST,
            "v1/machine/allocate",
            Some(
                &json!({"uuid": m1.uuid, "projectid": seed::PROJECT, "partitionid": "lab",
                "sizeid": seed::SIZE, "imageid": "debian-12.0", "filesystemlayoutid": "raid",
                "name": "lab-machine", "hostname": "lab-machine",
                "networks": [{"networkid": state.private_network}]}),
            ),
        )
        .await
        .expect("allocating the machine");
    assert_eq!(r["allocation"]["filesystemlayout"]["id"], "raid", "{r}");
    let r: Value = c
        .request(
            Method::POST,
            "v1/firewall/allocate",
            Some(&json!({"uuid": m2.uuid, "projectid": seed::PROJECT, "partitionid": "lab",
                "sizeid": seed::SIZE, "imageid": "firewall-debian-3.0", "filesystemlayoutid": "default",
                "name": "lab-firewall", "hostname": "lab-firewall",
                "networks": [{"networkid": state.private_network}, {"networkid": seed::INTERNET}]})),
        )
        .await
        .expect("allocating the firewall");
    assert_eq!(r["allocation"]["role"], "firewall", "{r}");
    let to_phoned_home =
        wait_for_event(&c, &plan, "Phoned Home", &marks, Duration::from_secs(420)).await;
    for m in [&m1, &m2] {
        let mv = machine(&c, &m.uuid).await;
        in_order(
            &events(&mv)[marks[m.index - 1]..],
            &["Installing", "Booting New Kernel", "Phoned Home"],
        );
        assert!(
            !events(&mv).iter().any(|e| e == "Crashed"),
            "{:?}",
            events(&mv)
        );
        assert!(mv["allocation"]["boot_info"]["cmdline"]
            .as_str()
            .unwrap_or("")
            .contains("root=UUID="));
    }

    // what the installed systems found on their disks
    let f1 = facts(&m1).join("\n");
    assert!(f1.contains("LAB-OS-FACT mount / /dev/md"), "{f1}");
    assert!(
        f1.lines()
            .any(|l| l.starts_with("LAB-OS-FACT mount / /dev/md") && l.ends_with(" ext4")),
        "{f1}"
    );
    assert!(
        f1.contains("LAB-OS-FACT mount /boot/efi /dev/vda1 vfat"),
        "{f1}"
    );
    let md = f1
        .lines()
        .find(|l| l.contains("LAB-OS-FACT mdadm"))
        .unwrap_or_else(|| panic!("no md array: {f1}"));
    assert!(md.contains("Version=1.0"), "{md}");
    assert!(md.contains("Raid_Level=raid1"), "{md}");
    assert!(md.contains("Active_Devices=2"), "{md}");
    assert!(
        f1.contains("vdb2[") && f1.contains("vda2["),
        "both disks in the mirror: {f1}"
    );
    let f2 = facts(&m2).join("\n");
    assert!(f2.contains("LAB-OS-FACT mount / /dev/vda2 ext4"), "{f2}");
    assert!(
        f2.contains("LAB-OS-FACT mount /boot/efi /dev/vda1 vfat"),
        "{f2}"
    );
    assert!(!f2.contains("LAB-OS-FACT mdadm"), "{f2}");

    // free both: metal-bmc boots them from PXE, metal-hammer wipes the disks and waits again
    let marks: Vec<usize> = {
        let mut v = Vec::new();
        for m in [&m1, &m2] {
            v.push(events(&machine(&c, &m.uuid).await).len());
        }
        v
    };
    let sol_marks: Vec<usize> = [&m1, &m2]
        .iter()
        .map(|m| {
            std::fs::read_to_string(m.dir.join(SOL_LOG))
                .unwrap_or_default()
                .len()
        })
        .collect();
    for m in [&m1, &m2] {
        let _: Value = c
            .request::<(), Value>(Method::DELETE, &format!("v1/machine/{}/free", m.uuid), None)
            .await
            .expect("freeing");
    }
    let back_to_waiting =
        wait_for_event(&c, &plan, "Waiting", &marks, Duration::from_secs(300)).await;
    for m in [&m1, &m2] {
        let mv = machine(&c, &m.uuid).await;
        assert!(mv["allocation"].is_null(), "{mv}");
        in_order(
            &events(&mv)[marks[m.index - 1]..],
            &["Machine Reclaim", "PXE Booting", "Preparing", "Waiting"],
        );
        let sol = std::fs::read_to_string(m.dir.join(SOL_LOG)).unwrap();
        let after = &sol[sol_marks[m.index - 1]..];
        assert!(
            after.contains("/dev/vda") && after.contains("/dev/vdb") && after.contains("wipe"),
            "{}: no wipe of both disks after the free:\n{after}",
            m.name
        );
    }

    eprintln!(
        "metal-lab phases (TCG, 2 machines in parallel): up {:.1}s, power on → Waiting {:.1}s, allocation → Phoned Home {:.1}s, free → Waiting {:.1}s",
        up_took.as_secs_f64(),
        to_waiting.as_secs_f64(),
        to_phoned_home.as_secs_f64(),
        back_to_waiting.as_secs_f64()
    );

    // down leaves nothing behind
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
