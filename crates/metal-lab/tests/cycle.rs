//! The whole life of two machines in the lab, with every real component: `metal-lab up` builds
//! the network namespaces, metal-api, pixie, metal-bmc, metal-core, ipmi_sim BMCs and two qemu
//! machines. The test powers them on through metal-api → metal-bmc → IPMI (ipmi_sim starts the
//! VMs), waits for PXE Booting and Waiting, allocates one machine (raid layout) and one
//! firewall (default layout), waits for Installing, Booting New Kernel and Phoned Home (the
//! installed OS's LLDP beacon seen by metal-core on the leaves), checks what the installed OS
//! found on its disks, frees both, waits for the wipe and Waiting again, allocates the wiped
//! machine once more with the striped LVM layout, and finally checks that `metal-lab down`
//! leaves no namespace, process or file behind. Prints the wall time of each phase (the bench
//! `cargo bench -p metal-lab --bench cycle` measures them; docs/benchmarks.md).
//!
//! Runs only with `METAL_PRIVILEGED_TESTS=1` (root, qemu); takes about 2 minutes under TCG.

mod common;

use std::time::Duration;

use common::{down_leaves_nothing, metal_lab, up, Up};
use metal_lab::cycle::{allocate, events, facts_since, free, machine, marks, wait_for_event, Role};
use metal_lab::lab::{self, State};
use metal_lab::machine::{CONSOLE_LOG, SOL_LOG};
use metal_lab::seed;

fn privileged(test: &str) -> bool {
    metal_sim::privileged(
        test,
        &[
            ("ip", "iproute2"),
            ("ipmi_sim", "openipmi"),
            ("ipmitool", "ipmitool"),
            ("qemu-system-x86_64", "qemu-system-x86"),
            ("busybox", "busybox-static"),
            ("mdadm", "mdadm"),
            ("lvm", "lvm2"),
            ("/usr/share/OVMF/OVMF_CODE_4M.fd", "ovmf"),
            ("/usr/lib/ipxe/qemu/efi-virtio.rom", "ipxe-qemu"),
        ],
    )
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
    let Up {
        name,
        dir,
        guard,
        took,
        tmp: _tmp,
        ..
    } = up("mlt", &[]);
    let up_took = took;
    let state = State::load(&dir).unwrap();
    let plan = state.plan().unwrap();
    let c = state.client().unwrap();
    let env = metal_lab(&name, &dir, &["env"]);
    assert!(String::from_utf8_lossy(&env.stdout)
        .contains(&format!("METALCTL_API_URL={}", state.api_url())));
    let [m1, m2] = [plan.machine(1), plan.machine(2)];

    // metal-bmc reported both BMCs; the machines are off
    for m in [&m1, &m2] {
        let mv = serde_json::to_value(
            c.get_ipmi_machine(&m.uuid)
                .await
                .expect("the machine's BMC data"),
        )
        .unwrap();
        let address = mv["ipmi"]["address"].as_str().unwrap_or("");
        assert!(address.starts_with(&m.bmc_ip.to_string()), "{mv}");
        assert!(events(&mv).is_empty(), "{mv}");
    }

    // power on through metal-api → metal-bmc → ipmi_sim, which starts the VMs
    for m in [&m1, &m2] {
        lab::power(&c, &m.uuid, "on").await.unwrap();
    }
    let to_waiting = wait_for_event(&c, &plan, "Waiting", &[], Duration::from_secs(300))
        .await
        .unwrap();
    for m in [&m1, &m2] {
        let mv = machine(&c, &m.uuid).await.unwrap();
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

    // what a newcomer sees
    let status = metal_lab(&name, &dir, &["status"]);
    assert!(status.status.success());
    let status = String::from_utf8_lossy(&status.stdout);
    for m in [&m1, &m2] {
        let line = status
            .lines()
            .find(|l| l.contains(&m.uuid))
            .unwrap_or_else(|| panic!("{} missing in status:\n{status}", m.name));
        assert!(line.contains("Waiting"), "{line}");
    }
    assert!(
        status.contains("metal-api\t") && status.contains("running"),
        "{status}"
    );
    assert!(!status.contains("STOPPED"), "{status}");
    assert!(status.contains(&state.private_network), "{status}");

    // allocate a machine with the raid layout and a firewall with the default layout
    let mk = marks(&c, &plan).await.unwrap();
    let r = allocate(
        &c,
        &state,
        &m1,
        Role::Machine,
        "debian-12.0",
        "raid",
        "lab-machine",
    )
    .await
    .unwrap();
    assert_eq!(r["allocation"]["filesystemlayout"]["id"], "raid", "{r}");
    let r = allocate(
        &c,
        &state,
        &m2,
        Role::Firewall,
        "firewall-debian-3.0",
        "default",
        "lab-firewall",
    )
    .await
    .unwrap();
    assert_eq!(r["allocation"]["role"], "firewall", "{r}");
    let to_phoned_home = wait_for_event(&c, &plan, "Phoned Home", &mk, Duration::from_secs(420))
        .await
        .unwrap();
    for m in [&m1, &m2] {
        let mv = machine(&c, &m.uuid).await.unwrap();
        in_order(
            &events(&mv)[mk[m.index - 1]..],
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
    let f1 = facts_since(&m1, 0).join("\n");
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
    let f2 = facts_since(&m2, 0).join("\n");
    assert!(f2.contains("LAB-OS-FACT mount / /dev/vda2 ext4"), "{f2}");
    assert!(
        f2.contains("LAB-OS-FACT mount /boot/efi /dev/vda1 vfat"),
        "{f2}"
    );
    assert!(!f2.contains("LAB-OS-FACT mdadm"), "{f2}");

    // free both: metal-bmc boots them from PXE, metal-hammer wipes the disks and waits again
    let mk = marks(&c, &plan).await.unwrap();
    let sol_marks: Vec<usize> = [&m1, &m2]
        .iter()
        .map(|m| {
            std::fs::read_to_string(m.dir.join(SOL_LOG))
                .unwrap_or_default()
                .len()
        })
        .collect();
    for m in [&m1, &m2] {
        free(&c, m).await.unwrap();
    }
    let back_to_waiting = wait_for_event(&c, &plan, "Waiting", &mk, Duration::from_secs(300))
        .await
        .unwrap();
    for m in [&m1, &m2] {
        let mv = machine(&c, &m.uuid).await.unwrap();
        assert!(mv["allocation"].is_null(), "{mv}");
        in_order(
            &events(&mv)[mk[m.index - 1]..],
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

    // the wiped machine again, now with the striped LVM layout
    let console_mark = std::fs::metadata(m1.dir.join(CONSOLE_LOG)).unwrap().len() as usize;
    let mk = marks(&c, &plan).await.unwrap();
    let r = allocate(
        &c,
        &state,
        &m1,
        Role::Machine,
        "debian-13.0",
        "lvm",
        "lab-lvm",
    )
    .await
    .unwrap();
    assert_eq!(r["allocation"]["filesystemlayout"]["id"], "lvm", "{r}");
    // machine-2 stays waiting: wait on a plan of machine-1 alone
    let only_m1 = metal_lab::plan::Plan::new(&plan.name, &plan.dir, 1).unwrap();
    let lvm_to_phoned_home = wait_for_event(
        &c,
        &only_m1,
        "Phoned Home",
        &mk[..1],
        Duration::from_secs(300),
    )
    .await
    .unwrap();
    let f = facts_since(&m1, console_mark).join("\n");
    let lv = f
        .lines()
        .find(|l| l.contains("LAB-OS-FACT lv root vg00"))
        .unwrap_or_else(|| panic!("no LV root in vg00: {f}"));
    assert!(lv.contains("striped") && lv.ends_with(" 2"), "{lv}");
    assert!(
        f.lines()
            .any(|l| l.starts_with("LAB-OS-FACT mount / /dev/") && l.ends_with(" ext4")),
        "{f}"
    );
    assert!(!f.contains("LAB-OS-FACT mdadm"), "the RAID is gone: {f}");

    eprintln!(
        "metal-lab phases (TCG, 2 machines in parallel): up {:.1}s, power on → Waiting {:.1}s, allocation → Phoned Home {:.1}s, free → Waiting {:.1}s, lvm allocation → Phoned Home {:.1}s",
        up_took.as_secs_f64(),
        to_waiting.as_secs_f64(),
        to_phoned_home.as_secs_f64(),
        back_to_waiting.as_secs_f64(),
        lvm_to_phoned_home.as_secs_f64()
    );

    down_leaves_nothing(guard);
}
