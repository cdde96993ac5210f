//! proxyDHCP next to dnsmasq as the plain DHCP server (no PXE options) on the same interface:
//! - with a real PXE client, iPXE (`ipxe.lkrn`) in qemu: address from dnsmasq, boot file from
//!   pixie's proxy offer (iPXE takes the file name from it without asking port 4011), then the script, kernel and initrd through pixie, and
//!   metal-api records "PXE Booting" for the VM's SMBIOS UUID; pixie snoops (`--dhcp-no-bind`);
//! - with udhcpc and tcpdump: both servers answer the same DISCOVER, pixie bound to :67
//!   with SO_REUSEPORT and SO_BINDTODEVICE next to dnsmasq's socket.

use std::time::Duration;

use metal_testkit::until_every;

use crate::lab::{self, veth, Netns, Proc};
use crate::{start_pixie, udhcpc, World};

fn dnsmasq(ns: &Netns, iface: &str, dir: &std::path::Path) -> Proc {
    let mut cmd = ns.command("/usr/sbin/dnsmasq");
    cmd.args([
        "-d",
        "-k",
        "--conf-file=/dev/null",
        "--port=0",
        "--bind-interfaces",
        &format!("--interface={iface}"),
        "--dhcp-range=10.55.0.50,10.55.0.60,255.255.255.0,1h",
        &format!("--dhcp-leasefile={}", dir.join("dnsmasq.leases").display()),
        &format!("--pid-file={}", dir.join("dnsmasq.pid").display()),
        "--log-dhcp",
    ]);
    Proc::spawn(cmd, dir.join("dnsmasq.log"), "dnsmasq")
}

/// Waits until dnsmasq has its DHCP socket (it logs the range after setting it up).
async fn dnsmasq_ready(dns: &mut Proc) {
    until_every(
        "dnsmasq to serve DHCP",
        Duration::from_secs(20),
        lab::POLL,
        async || {
            dns.assert_running();
            dns.output().contains("DHCP, IP range").then_some(())
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn proxy_next_to_dnsmasq_boots_ipxe_in_qemu() {
    let test = "proxy_next_to_dnsmasq_boots_ipxe_in_qemu";
    if !metal_testkit::privileged(
        test,
        &[
            ("/usr/sbin/dnsmasq", "dnsmasq-base"),
            ("/usr/bin/qemu-system-x86_64", "qemu-system-x86"),
            ("/usr/lib/ipxe/ipxe.lkrn", "ipxe"),
        ],
    ) {
        return;
    }
    let t = lab::tag();
    let srv = Netns::new(format!("pxs{t}"));
    let (ours, theirs) = lab::uplink(&srv, &t);
    let (br, tap) = (format!("pb{t}"), format!("pt{t}"));
    srv.run(&["ip", "link", "add", &br, "type", "bridge"]);
    srv.run(&["ip", "addr", "add", "10.55.0.1/24", "dev", &br]);
    srv.run(&["ip", "link", "set", &br, "up"]);
    srv.run(&["ip", "tuntap", "add", "dev", &tap, "mode", "tap"]);
    srv.run(&["ip", "link", "set", &tap, "master", &br]);
    srv.run(&["ip", "link", "set", &tap, "up"]);
    let world = World::start(ours).await;
    let dir = tempfile::tempdir().unwrap();
    let mut dns = dnsmasq(&srv, &br, dir.path());
    let _pixie = start_pixie(
        &srv,
        &world,
        dir.path(),
        theirs,
        &[
            "--interface",
            &br,
            "--dhcp-no-bind",
            "--router-advertisements",
            "true",
        ],
    )
    .await;
    let pixie_log = dir.path().join("pixie.log");
    dnsmasq_ready(&mut dns).await;

    let mac = "52:54:00:a1:b2:c3";
    let uuid = "0a6b5f4e-3c2d-4b1a-9f8e-7d6c5b4a3f2e";
    let mut qemu_cmd = srv.command("qemu-system-x86_64");
    qemu_cmd
        .args([
            "-accel",
            "tcg",
            "-cpu",
            "max",
            "-m",
            "256",
            "-nodefaults",
            "-display",
            "none",
        ])
        .args([
            "-no-reboot",
            "-kernel",
            "/usr/lib/ipxe/ipxe.lkrn",
            "-uuid",
            uuid,
        ])
        .args([
            "-serial",
            &format!("file:{}", dir.path().join("serial.log").display()),
        ])
        .args([
            "-netdev",
            &format!("tap,id=n0,ifname={tap},script=no,downscript=no"),
        ])
        .args(["-device", &format!("virtio-net-pci,netdev=n0,mac={mac}")]);
    let mut qemu = Proc::spawn(qemu_cmd, dir.path().join("qemu.log"), "qemu");

    let file_lines = |kind: &str| {
        std::fs::read_to_string(&pixie_log)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("serving boot file") && l.contains(mac) && l.contains(kind))
            .count()
    };
    until_every(
        "iPXE to fetch script, kernel and initrd through pixie",
        Duration::from_secs(180),
        lab::POLL,
        async || {
            qemu.assert_running();
            (file_lines("kernel") > 0 && file_lines("initrd") > 0).then_some(())
        },
    )
    .await;
    let log = std::fs::read_to_string(&pixie_log).unwrap();
    assert!(
        log.lines()
            .any(|l| l.contains("served iPXE script") && l.contains(mac)),
        "{log}"
    );
    assert!(
        log.lines().any(|l| l.contains("PXE Offer")
            && l.contains(&format!("http://10.55.0.1:4242/_/ipxe?arch=0&mac={mac}"))),
        "proxy offer with the script URL on port 67:\n{log}"
    );
    let leases = std::fs::read_to_string(dir.path().join("dnsmasq.leases")).unwrap_or_default();
    assert!(
        leases.contains(mac),
        "the address came from dnsmasq: {leases}"
    );
    assert!(world.file_hits.load(std::sync::atomic::Ordering::SeqCst) >= 2);
    // iPXE sends option 97 with the first three UUID fields little-endian (RFC 4578/EFI order);
    // pixie swaps them back, so the event lands on the machine's SMBIOS uuid (qemu -uuid), not
    // on the wire-order id metal-stack's pixiecore would record.
    let wire_order = "4e5f6b0a-2d3c-1a4b-9f8e-7d6c5b4a3f2e";
    assert_eq!(world.events(uuid).await, ["PXE Booting"], "{log}");
    assert!(world.events(wire_order).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn proxy_and_dnsmasq_both_offer() {
    let test = "proxy_and_dnsmasq_both_offer";
    if !metal_testkit::privileged(
        test,
        &[
            ("/usr/sbin/dnsmasq", "dnsmasq-base"),
            ("/usr/bin/busybox", "busybox-static"),
            ("/usr/bin/tcpdump", "tcpdump"),
        ],
    ) {
        return;
    }
    let t = lab::tag();
    let srv = Netns::new(format!("pxs{t}"));
    let cli = Netns::new(format!("pxc{t}"));
    let (ours, theirs) = lab::uplink(&srv, &t);
    let (lan_s, lan_c) = (format!("pl{t}a"), format!("pl{t}b"));
    veth(Some(&srv), &lan_s, Some("10.55.0.1/24"), &cli, &lan_c, None);
    let world = World::start(ours).await;
    let dir = tempfile::tempdir().unwrap();
    let mut dns = dnsmasq(&srv, &lan_s, dir.path());
    let _pixie = start_pixie(&srv, &world, dir.path(), theirs, &["--interface", &lan_s]).await;
    dnsmasq_ready(&mut dns).await;
    let mut dump_cmd = cli.command("tcpdump");
    dump_cmd.args(["-i", &lan_c, "-n", "-vvv", "-l", "udp", "port", "68"]);
    let mut dump = Proc::spawn(dump_cmd, dir.path().join("tcpdump.log"), "tcpdump");
    until_every(
        "tcpdump to listen",
        Duration::from_secs(20),
        lab::POLL,
        async || {
            dump.assert_running();
            dump.output().contains("listening on").then_some(())
        },
    )
    .await;
    // The lease itself does not matter (udhcpc takes the first offer); the offers do.
    let _ = udhcpc(
        &cli,
        &lan_c,
        dir.path(),
        &["-x", "0x5d:0000", "-V", "PXEClient"],
    );
    // Both offers (dnsmasq pings an address before offering it, so its offer can come late).
    let (dnsmasq_offer, pixie_offer) = until_every(
        "both offers",
        Duration::from_secs(30),
        lab::POLL,
        async || {
            let log = dump.output();
            let offers: Vec<&str> = log
                .split(" IP (tos")
                .filter(|p| p.contains("DHCP-Message (53), length 1: Offer"))
                .collect();
            // any address of dnsmasq's range 10.55.0.50-60 (it picks one by a hash of the MAC)
            let from_dnsmasq = offers.iter().find(|o| o.contains("Your-IP 10.55.0."))?;
            let from_pixie = offers.iter().find(|o| o.contains("PXEClient"))?;
            Some((from_dnsmasq.to_string(), from_pixie.to_string()))
        },
    )
    .await;
    assert!(
        !dnsmasq_offer.contains("PXEClient"),
        "dnsmasq sends no PXE options"
    );
    assert!(
        !pixie_offer.contains("Your-IP"),
        "pixie offers no address:\n{pixie_offer}"
    );
    let mac = crate::mac_of(&cli, &lan_c);
    assert!(
        pixie_offer.contains(&format!("file \"{mac}/0\"")),
        "{pixie_offer}"
    );
    assert!(pixie_offer.contains("Server-IP 10.55.0.1"), "{pixie_offer}");
}
