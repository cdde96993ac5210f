//! A listening port that goes down and up, or is removed and made again, keeps receiving LLDP
//! (a switch port flaps when the machine behind it reboots, and when the switch moves it into a
//! VRF; the lab found metal-core's receiver stopping for good there). Real raw sockets on a
//! veth pair in a network namespace this test makes: root, `METAL_PRIVILEGED_TESTS=1`.

use std::os::fd::AsFd;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn ip(args: &[&str]) {
    let out = Command::new("ip")
        .args(args)
        .output()
        .expect("ip (iproute2)");
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Removes the namespace at the end, also when the test fails.
struct Netns(String);

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

fn veth(ns: &str) {
    ip(&[
        "-n", ns, "link", "add", "lla", "type", "veth", "peer", "name", "llb",
    ]);
    ip(&["-n", ns, "link", "set", "lla", "up"]);
    ip(&["-n", ns, "link", "set", "llb", "up"]);
}

fn until_more(count: &AtomicUsize, than: usize, what: &str) -> usize {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let n = count.load(Ordering::SeqCst);
        if n > than {
            return n;
        }
        assert!(Instant::now() < deadline, "no LLDP frame {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn the_receiver_survives_a_port_flap_and_a_port_made_again() {
    if std::env::var("METAL_PRIVILEGED_TESTS").as_deref() != Ok("1") {
        eprintln!("skipped: needs root and network namespaces (METAL_PRIVILEGED_TESTS=1)");
        return;
    }
    let ns = Netns(format!("lldpflap{}", std::process::id()));
    ip(&["netns", "add", &ns.0]);
    veth(&ns.0);
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    let name = ns.0.clone();
    // the raw sockets and their threads are made in the namespace (threads inherit it)
    std::thread::spawn(move || {
        let f = std::fs::File::open(format!("/run/netns/{name}")).unwrap();
        nix::sched::setns(f.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
        let n = metal_lldp::listen(&["lla".to_string()], move |iface, nb| {
            assert_eq!(iface, "lla");
            assert_eq!(nb.system_name, "flap-test");
            seen.fetch_add(1, Ordering::SeqCst);
        })
        .unwrap();
        assert_eq!(n, 1);
        // the sender is reopened the same way: frames every 200 ms from "llb"
        std::thread::spawn(move || loop {
            let _ = metal_lldp::send(&["llb".to_string()], Duration::from_secs(3600), |mac| {
                metal_lldp::build_frame(mac, "flap-test", "test", 120)
            });
            std::thread::sleep(Duration::from_millis(200));
        });
    })
    .join()
    .unwrap();
    let n = until_more(&count, 0, "at first");
    ip(&["-n", &ns.0, "link", "set", "lla", "down"]);
    std::thread::sleep(Duration::from_millis(500));
    ip(&["-n", &ns.0, "link", "set", "lla", "up"]);
    let n = until_more(&count, n + 2, "after the port went down and up");
    ip(&["-n", &ns.0, "link", "del", "lla"]);
    std::thread::sleep(Duration::from_millis(1500));
    veth(&ns.0);
    until_more(&count, n + 2, "after the port was removed and made again");
}
