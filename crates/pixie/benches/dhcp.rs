//! proxyDHCP offers per second, measured with Kea's perfdhcp (DISCOVER/OFFER only, option 93 =
//! BIOS, option 60 = PXEClient, many simulated clients) on a veth pair between two network
//! namespaces, against pixie (bound to :67, and snooping with --dhcp-no-bind) and against
//! dnsmasq's PXE proxy on the same setup. Privileged: needs root and METAL_PRIVILEGED_TESTS=1.
//!
//! `cargo bench -p pixie --bench dhcp` (env PIXIE_BENCH_RATE, PIXIE_BENCH_SECS to change the
//! offered load).

#[allow(dead_code)]
#[path = "../tests/netboot/lab.rs"]
mod lab;

use std::process::Command;
use std::time::Duration;

use lab::{veth, Netns, Proc};
use metal_testkit::until_blocking;

struct Figures {
    sent: u64,
    received: u64,
    drops: u64,
    secs: u64,
}

fn field(out: &str, name: &str) -> u64 {
    out.lines()
        .find_map(|l| l.trim().strip_prefix(name))
        .and_then(|v| v.trim_start_matches(':').split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn perfdhcp(cli: &Netns, iface: &str, rate: u64, secs: u64) -> (Figures, String) {
    let out = cli
        .command("perfdhcp")
        .args(["-4", "-l", iface, "-i", "-R", "10000", "-o", "93,0000"])
        .args(["-o", "60,505845436c69656e74"])
        .args(["-r", &rate.to_string(), "-p", &secs.to_string(), "all"])
        .output()
        .expect("running perfdhcp");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let f = Figures {
        sent: field(&text, "sent packets"),
        received: field(&text, "received packets"),
        drops: field(&text, "drops"),
        secs,
    };
    (f, text)
}

fn wait_listening(ns: &Netns) {
    until_blocking(
        "the server to listen",
        Duration::from_secs(10),
        Duration::from_millis(100),
        || {
            let s = ns.run(&["ss", "-ulnp"]);
            s.contains(":4011") || s.contains("dnsmasq")
        },
    );
    std::thread::sleep(Duration::from_millis(300));
}

fn main() {
    if !metal_testkit::privileged(
        "bench dhcp",
        &[
            ("/usr/sbin/perfdhcp", "kea-admin"),
            ("/usr/sbin/dnsmasq", "dnsmasq-base"),
        ],
    ) {
        return;
    }
    let rate: u64 = std::env::var("PIXIE_BENCH_RATE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let secs: u64 = std::env::var("PIXIE_BENCH_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let t = lab::tag();
    let srv = Netns::new(format!("pbs{t}"));
    let cli = Netns::new(format!("pbc{t}"));
    let (lan_s, lan_c) = (format!("pl{t}a"), format!("pl{t}b"));
    veth(
        Some(&srv),
        &lan_s,
        Some("10.55.0.1/24"),
        &cli,
        &lan_c,
        Some("10.55.0.2/24"),
    );
    let dir = tempfile::tempdir().unwrap();
    let pixie = |extra: &[&str], name: &str| {
        let mut cmd = srv.command(env!("CARGO_BIN_EXE_pixie"));
        cmd.args([
            "grpc",
            "--partition",
            "bench",
            "--grpc-address",
            "127.0.0.1:9",
        ])
        .args(["--interface", &lan_s, "--metrics-port", "0"])
        .args([
            "--cache-dir",
            &dir.path().join("cache").display().to_string(),
        ])
        .args(extra)
        .env("RUST_LOG", "warn");
        Proc::spawn(cmd, dir.path().join(format!("{name}.log")), name)
    };
    let mut results = Vec::new();
    for (name, extra) in [
        ("pixie (bound :67)", vec![]),
        ("pixie --dhcp-no-bind", vec!["--dhcp-no-bind"]),
    ] {
        let p = pixie(&extra, "pixie");
        wait_listening(&srv);
        let (f, text) = perfdhcp(&cli, &lan_c, rate, secs);
        drop(p);
        results.push((name, f, text));
    }
    let mut dns = Command::new("ip");
    dns.args(["netns", "exec", &srv.name, "/usr/sbin/dnsmasq", "-d", "-k"])
        .args(["--conf-file=/dev/null", "--port=0", "--bind-interfaces"])
        .arg(format!("--interface={lan_s}"))
        .args([
            "--dhcp-range=10.55.0.0,proxy",
            "--pxe-service=x86PC,bench,undionly",
        ])
        .arg(format!(
            "--pid-file={}",
            dir.path().join("dnsmasq.pid").display()
        ));
    let d = Proc::spawn(dns, dir.path().join("dnsmasq.log"), "dnsmasq");
    wait_listening(&srv);
    let (f, text) = perfdhcp(&cli, &lan_c, rate, secs);
    drop(d);
    results.push(("dnsmasq proxy", f, text));

    println!("\nproxyDHCP DISCOVER->OFFER, perfdhcp -r {rate} -R 10000 -p {secs}, veth between namespaces\n");
    println!(
        "{:<24} {:>10} {:>10} {:>10} {:>12} {:>8}",
        "server", "sent", "offers", "drops", "offers/s", "drop %"
    );
    for (name, f, text) in &results {
        if f.sent == 0 {
            println!("{name}: perfdhcp output not understood:\n{text}");
            continue;
        }
        println!(
            "{:<24} {:>10} {:>10} {:>10} {:>12.0} {:>7.1}%",
            name,
            f.sent,
            f.received,
            f.drops,
            f.received as f64 / f.secs as f64,
            100.0 * f.drops as f64 / f.sent as f64
        );
    }
}
