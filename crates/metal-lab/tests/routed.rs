//! The routed lab (`metal-lab up --routed`) for real: the leaves are Cumulus-style switches in
//! the fabric guest (ifupdown2, FRR, metal-core with `--reconfigure-switch`, the ISC DHCP
//! relay, LLDP), with the exit router; two qemu machines are cabled to both leaves. The test
//! checks that `up` returns with both leaves configured and in sync, that `metal-lab status`
//! shows their BGP sessions and `metal-lab exec` runs commands in the fabric's nodes; then it
//! runs the lab's whole cycle (power on → Waiting, allocation → Phoned Home, free → Waiting),
//! where every DHCP request of the machines went through the leaves' relays to pixie (its
//! leases are in the leaves' PXE subnets), the allocated machine's port is moved into its VRF
//! on both leaves while it is allocated and back into the PXE VLAN once freed, and the freed
//! machine PXE-boots through the relay and waits again. Last, `down` leaves nothing behind.
//!
//! Privileged (root, qemu, debootstrap); the fabric guest's image is shared with the fabric,
//! metal-core and os-installer guest tests and cached.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{down_leaves_nothing, metal_lab, up, Up};
use metal_lab::cycle::{allocate, free, marks, wait_for_event, Role};
use metal_lab::lab::State;
use serde_json::Value;

const TOOLS: &[(&str, &str)] = &[
    ("ip", "iproute2"),
    ("ipmi_sim", "openipmi"),
    ("qemu-system-x86_64", "qemu-system-x86"),
    ("debootstrap", "debootstrap"),
    ("mkfs.ext4", "e2fsprogs"),
    ("busybox", "busybox-static"),
    ("mdadm", "mdadm"),
    ("/usr/share/OVMF/OVMF_CODE_4M.fd", "ovmf"),
];

/// `metal-lab exec node -- argv`: (exit code, stdout, stderr).
fn exec(name: &str, dir: &Path, node: &str, argv: &[&str]) -> (i32, String, String) {
    let mut args = vec!["exec", node, "--"];
    args.extend_from_slice(argv);
    let out = metal_lab(name, dir, &args);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Polls `metal-lab exec` until the command's output satisfies `ok`.
async fn until_exec(
    name: &str,
    dir: &Path,
    node: &str,
    argv: &[&str],
    limit: Duration,
    ok: impl Fn(&str) -> bool,
) -> String {
    let deadline = Instant::now() + limit;
    loop {
        let (code, out, err) = exec(name, dir, node, argv);
        if code == 0 && ok(&out) {
            return out;
        }
        assert!(
            Instant::now() < deadline,
            "{node}: {argv:?} did not get there in {limit:?}; last: {code} {out} {err}"
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn machines_pxe_boot_through_the_leaves_relays_and_their_ports_follow_the_allocation() {
    let test = "machines_pxe_boot_through_the_leaves_relays_and_their_ports_follow_the_allocation";
    if !metal_testkit::privileged(test, TOOLS) {
        return;
    }
    let Up {
        name,
        dir,
        guard,
        out,
        took,
        tmp: _tmp,
    } = up("mlr", &["--routed"]);
    let up_log = String::from_utf8_lossy(&out.stderr).into_owned();
    eprintln!("{up_log}up --routed took {took:?}");
    let state = State::load(&dir).unwrap();
    assert!(state.routed);
    let plan = state.plan().unwrap();
    let c = state.client().unwrap();

    // up returned with both leaves configured by metal-core and in sync
    for leaf in ["leaf01", "leaf02"] {
        let s: Value = c
            .request::<(), Value>(
                metal_client::Method::GET,
                &format!("v1/switch/{leaf}"),
                None,
            )
            .await
            .unwrap();
        assert!(s["last_sync"]["time"].is_string(), "{s}");
        assert!(s.get("last_sync_error").is_none(), "{s}");
        // the relay metal-core rendered points at pixie on the management server
        let (code, relay, err) = exec(&name, &dir, leaf, &["cat", "/etc/default/isc-dhcp-relay"]);
        assert_eq!(code, 0, "{err}");
        assert!(relay.contains("SERVERS=\"10.9.0.1\""), "{relay}");
        assert!(relay.contains("-id vlan4000 -iu swp31"), "{relay}");
        let (code, _, err) = exec(
            &name,
            &dir,
            leaf,
            &["sh", "-c", "kill -0 $(cat /run/network/dhcrelay.pid)"],
        );
        assert_eq!(code, 0, "{leaf}: no relay running: {err}");
    }
    // exec: output, exit codes, refusals
    let (code, out, _) = exec(
        &name,
        &dir,
        "leaf01",
        &["ip", "-br", "link", "show", "swp31"],
    );
    assert_eq!(code, 0);
    assert!(out.starts_with("swp31"), "{out}");
    assert_eq!(exec(&name, &dir, "exit", &["sh", "-c", "exit 7"]).0, 7);
    let (code, _, err) = exec(&name, &dir, "nosuch", &["true"]);
    assert_ne!(code, 0);
    assert!(err.contains("not a node of the fabric"), "{err}");
    let mut wrong = state.clone();
    wrong.exec_token = "0".repeat(48);
    let e = metal_lab::exec::capture(&wrong, "leaf01", &["true"])
        .unwrap_err()
        .to_string();
    assert!(e.contains("wrong exec token"), "{e}");

    // status: the switches' sync and their BGP sessions to the exit
    let out = metal_lab(&name, &dir, &["status"]);
    let status = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{status}");
    for leaf in ["leaf01", "leaf02"] {
        assert!(
            status.lines().any(|l| l.starts_with(&format!(
                "{leaf}\tdefault\tswp31\texit\tl2VpnEvpn\tEstablished"
            ))),
            "{status}"
        );
    }
    eprintln!("{status}");

    // the whole cycle, through the relays
    let limit = Duration::from_secs(900);
    let t = Instant::now();
    for m in plan.all_machines() {
        metal_lab::lab::power(&c, &m.uuid, "on").await.unwrap();
    }
    let to_waiting = wait_for_event(&c, &plan, "Waiting", &[], limit)
        .await
        .unwrap();
    eprintln!("power on → Waiting (PXE through the relays): {to_waiting:?}");
    // every lease pixie gave is in a leaf's PXE subnet: the requests came relayed
    let leases: Vec<Value> =
        serde_json::from_slice(&std::fs::read(dir.join("pixie/leases.json")).unwrap()).unwrap();
    for m in plan.all_machines() {
        for mac in &m.macs {
            let l = leases
                .iter()
                .find(|l| l["mac"].as_str() == Some(mac.as_str()) && l["bound"] == true)
                .unwrap_or_else(|| panic!("no lease for {mac}: {leases:?}"));
            assert!(l["ip"].as_str().unwrap().starts_with("10.255.255."), "{l}");
        }
    }

    let m1 = plan.machine(1);
    let mk = marks(&c, &plan).await.unwrap();
    let a = allocate(
        &c,
        &state,
        &m1,
        Role::Machine,
        "debian-12.0",
        "default",
        "routed-1",
    )
    .await
    .unwrap();
    let vrf = a["allocation"]["networks"][0]["vrf"]
        .as_u64()
        .expect("a VRF");
    let only_m1 = metal_lab::plan::Plan::new(&plan.name, &plan.dir, 1)
        .unwrap()
        .routed(true)
        .unwrap();
    let t_alloc = Instant::now();
    wait_for_event(&c, &only_m1, "Phoned Home", &mk[..1], limit)
        .await
        .unwrap();
    eprintln!("allocation → Phoned Home: {:?}", t_alloc.elapsed());
    for leaf in ["leaf01", "leaf02"] {
        until_exec(
            &name,
            &dir,
            leaf,
            &["ip", "-d", "link", "show", "swp1"],
            limit,
            |o| o.contains(&format!("master vrf{vrf} ")),
        )
        .await;
    }
    eprintln!(
        "both leaves moved swp1 into vrf{vrf} after {:?}",
        t_alloc.elapsed()
    );
    let switches: Value = c
        .request::<(), Value>(metal_client::Method::GET, "v1/switch", None)
        .await
        .unwrap();
    for s in switches.as_array().unwrap() {
        assert!(s.get("last_sync_error").is_none(), "{s}");
        let port = s["nics"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["name"] == "swp1")
            .unwrap();
        assert_eq!(port["vrf"], format!("vrf{vrf}"), "{s}");
    }

    // freed: the port goes back into the PXE VLAN, the machine PXE-boots through the relay
    let mk = marks(&c, &only_m1).await.unwrap();
    let t_free = Instant::now();
    free(&c, &m1).await.unwrap();
    for leaf in ["leaf01", "leaf02"] {
        until_exec(
            &name,
            &dir,
            leaf,
            &["bridge", "vlan", "show", "dev", "swp1"],
            limit,
            |o| o.contains("4000"),
        )
        .await;
        until_exec(&name, &dir, leaf, &["ip", "link"], limit, |o| {
            !o.contains(&format!("vrf{vrf}:"))
        })
        .await;
    }
    wait_for_event(&c, &only_m1, "Waiting", &mk, limit)
        .await
        .unwrap();
    eprintln!(
        "free → Waiting again: {:?}; whole cycle {:?}",
        t_free.elapsed(),
        t.elapsed()
    );

    down_leaves_nothing(guard);
}
