//! Through isc-dhcp-relay (`dhcrelay -a`, adds option 82) in a middle namespace: pixie in full
//! mode picks the range by giaddr, answers unicast to the relay and echoes option 82 (seen by
//! tcpdump on the server link); the client gets address and boot file.

use std::time::Duration;

use metal_testkit::until_every;

use crate::lab::{self, veth, Netns, Proc};
use crate::{mac_of, start_pixie, udhcpc, var, World};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn relayed_requests_are_answered_via_giaddr() {
    let test = "relayed_requests_are_answered_via_giaddr";
    if !metal_testkit::privileged(
        test,
        &[
            ("/usr/bin/busybox", "busybox-static"),
            ("/usr/sbin/dhcrelay", "isc-dhcp-relay"),
            ("/usr/bin/tcpdump", "tcpdump"),
        ],
    ) {
        return;
    }
    let t = lab::tag();
    let srv = Netns::new(format!("pxs{t}"));
    let rel = Netns::new(format!("pxr{t}"));
    let cli = Netns::new(format!("pxc{t}"));
    let (ours, theirs) = lab::uplink(&srv, &t);
    let (up_s, up_r) = (format!("pr{t}a"), format!("pr{t}b"));
    let (down_r, down_c) = (format!("pd{t}a"), format!("pd{t}b"));
    veth(
        Some(&srv),
        &up_s,
        Some("10.56.0.1/24"),
        &rel,
        &up_r,
        Some("10.56.0.2/24"),
    );
    veth(
        Some(&rel),
        &down_r,
        Some("10.57.0.1/24"),
        &cli,
        &down_c,
        None,
    );
    srv.run(&["ip", "route", "add", "10.57.0.0/24", "via", "10.56.0.2"]);
    let world = World::start(ours).await;
    let dir = tempfile::tempdir().unwrap();
    let _pixie = start_pixie(
        &srv,
        &world,
        dir.path(),
        theirs,
        &[
            "--interface",
            &up_s,
            "--dhcp-mode",
            "full",
            "--dhcp-range",
            "10.57.0.100-10.57.0.150/24,router=10.57.0.1",
        ],
    )
    .await;

    let mut dump_cmd = srv.command("tcpdump");
    dump_cmd.args(["-i", &up_s, "-n", "-vvv", "-l", "udp", "port", "67"]);
    let mut dump = Proc::spawn(dump_cmd, dir.path().join("tcpdump.log"), "tcpdump");
    let mut relay_cmd = rel.command("dhcrelay");
    relay_cmd.args([
        "-d",
        "-4",
        "-a",
        "--no-pid",
        "-iu",
        &up_r,
        "-id",
        &down_r,
        "10.56.0.1",
    ]);
    let mut relay = Proc::spawn(relay_cmd, dir.path().join("dhcrelay.log"), "dhcrelay");
    until_every(
        "tcpdump and dhcrelay to listen",
        Duration::from_secs(20),
        lab::POLL,
        async || {
            dump.assert_running();
            relay.assert_running();
            (dump.output().contains("listening on") && relay.output().contains("Sending on"))
                .then_some(())
        },
    )
    .await;

    let mac = mac_of(&cli, &down_c);
    let env = udhcpc(
        &cli,
        &down_c,
        dir.path(),
        &["-x", "0x5d:0000", "-V", "PXEClient"],
    )
    .expect("a lease through the relay");
    assert_eq!(var(&env, "ip"), "10.57.0.100");
    assert_eq!(var(&env, "router"), "10.57.0.1");
    assert_eq!(var(&env, "siaddr"), "10.56.0.1");
    assert_eq!(var(&env, "boot_file"), format!("{mac}/0"));

    // pixie's replies go to the relay's giaddr:67 and carry the relay's option 82.
    let log = until_every(
        "tcpdump to show the ACK",
        Duration::from_secs(10),
        lab::POLL,
        async || {
            let log = dump.output();
            log.contains("DHCP-Message (53), length 1: ACK")
                .then_some(log)
        },
    )
    .await;
    let replies: Vec<&str> = log.split("10.56.0.1.67 > 10.57.0.1.67:").skip(1).collect();
    assert_eq!(replies.len(), 2, "OFFER and ACK unicast to giaddr:\n{log}");
    for r in replies {
        let r = r.split(" IP (tos").next().unwrap_or(r);
        assert!(r.contains("Agent-Information"), "option 82 echoed:\n{r}");
        assert!(r.contains("Gateway-IP 10.57.0.1"), "giaddr kept:\n{r}");
    }
}
