//! droptailer-client and droptailer-server, the built binaries, over mutual TLS on loopback:
//! lines of a followed kernel log file arrive in order and printed as metal-stack prints them;
//! clients without a certificate of the server's CA are refused; a server restart loses
//! nothing the client buffered, and a full buffer's losses are counted.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

mod common;
use common::{server, Pki};

/// The client following `log`, once it follows.
fn client(pki: &Pki, port: u16, log: &Path, cert: &str, queue: usize) -> common::Proc {
    let mut p = common::client(pki, port, &format!("file:{}", log.display()), cert, queue);
    p.wait_log("following");
    p
}

/// Appends kernel log lines `range` in rsyslog's precise format: even ones dropped TCP, odd
/// ones accepted UDP; the second of line i is 11:08:00 + i.
fn append(log: &Path, range: std::ops::Range<usize>) {
    let mut f = std::fs::OpenOptions::new().append(true).open(log).unwrap();
    for i in range {
        let (m, s) = (i / 60 % 60, i % 60);
        let line = if i.is_multiple_of(2) {
            format!("2026-12-07T11:{m:02}:{s:02}.250000+00:00 fw01 kernel: [ 17.5] nftables-firewall-dropped: IN=vrf3981 OUT=vlan104009 MAC=52:54:00:12:34:56:52:54:00:65:43:21:08:00 SRC=10.0.16.2 DST=203.0.113.100 LEN=60 TOS=0x00 PREC=0x00 TTL=63 ID={i} DF PROTO=TCP SPT=40000 DPT=25 WINDOW=64240 RES=0x00 SYN URGP=0 ")
        } else {
            format!("2026-12-07T11:{m:02}:{s:02}.250000+00:00 fw01 kernel: [ 17.5] nftables-firewall-accepted: IN=vrf3981 OUT=vlan104009 MAC=52:54:00:12:34:56:52:54:00:65:43:21:08:00 SRC=10.0.16.2 DST=203.0.113.100 LEN=73 TOS=0x00 PREC=0x00 TTL=62 ID={i} DF PROTO=UDP SPT=35609 DPT=53 LEN=53 ")
        };
        writeln!(f, "{line}").unwrap();
        // a line the client must skip between them
        writeln!(f, "2026-12-07T11:00:00+00:00 fw01 kernel: eth0: link up").unwrap();
    }
}

/// The ids of printed lines, checking each line's shape on the way.
fn ids(lines: &[String]) -> Vec<usize> {
    lines
        .iter()
        .map(|l| {
            let (ts, json) = l.split_at(l.find(" {").expect("timestamp, then JSON"));
            let v: serde_json::Value = serde_json::from_str(json.trim()).unwrap();
            let id: usize = v["ID"].as_str().unwrap().parse().unwrap();
            let (m, s) = (id / 60 % 60, id % 60);
            assert_eq!(ts, format!("2026-12-07 11:{m:02}:{s:02} +0000 UTC"), "{l}");
            assert_eq!(v["timestamp"], ts, "{l}");
            let want = if id.is_multiple_of(2) {
                ("drop", "TCP", "25")
            } else {
                ("accept", "UDP", "53")
            };
            assert_eq!(
                (
                    v["ACTION"].as_str().unwrap(),
                    v["PROTO"].as_str().unwrap(),
                    v["DPT"].as_str().unwrap()
                ),
                want,
                "{l}"
            );
            assert_eq!(v["DF"], "", "{l}");
            assert_eq!(v["MAC"], "52:54:00:12:34:56:52:54:00:65:43:21:08:00");
            // keys sorted as Go prints them: netfilter's upper-case keys, then timestamp
            let keys: Vec<&str> = v.as_object().unwrap().keys().map(|k| k.as_str()).collect();
            assert_eq!(keys.last(), Some(&"timestamp"));
            let pos: Vec<usize> = keys
                .iter()
                .map(|k| json.find(&format!("\"{k}\":")).unwrap())
                .collect();
            assert!(pos.windows(2).all(|w| w[0] < w[1]), "keys not sorted: {l}");
            id
        })
        .collect()
}

#[test]
fn lines_arrive_in_order_and_as_metal_stack_prints_them() {
    let pki = Pki::new();
    let log = pki.path("kern.log");
    std::fs::write(&log, "").unwrap();
    let json = pki.path("drops.jsonl");
    let (mut srv, port) = server(&pki, 0, &json);
    let _cli = client(&pki, port, &log, "client", 10_000);
    append(&log, 0..300);
    let lines = srv.lines(300);
    assert_eq!(ids(&lines), (0..300).collect::<Vec<_>>());
    srv.quiet_for(Duration::from_millis(500));
    // the JSON-lines file holds the same objects
    let file = std::fs::read_to_string(&json).unwrap();
    let objects: Vec<&str> = file.lines().collect();
    assert_eq!(objects.len(), 300);
    for (l, o) in lines.iter().zip(objects) {
        assert!(l.ends_with(o), "{l} vs {o}");
    }
}

#[test]
fn clients_without_a_certificate_of_the_ca_are_refused() {
    let pki = Pki::new();
    let log = pki.path("kern.log");
    std::fs::write(&log, "").unwrap();
    let (mut srv, port) = server(&pki, 0, &pki.path("drops.jsonl"));
    // a client certificate of another CA
    let mut stranger = client(&pki, port, &log, "stranger", 100);
    append(&log, 0..3);
    stranger.wait_log("server did not take the line");
    srv.quiet_for(Duration::from_secs(2));
    // no client certificate at all
    let rt = tokio::runtime::Runtime::new().unwrap();
    let status = rt.block_on(async {
        metal_proto::tls::install_crypto_provider();
        let tls = tonic::transport::ClientTlsConfig::new()
            .ca_certificate(tonic::transport::Certificate::from_pem(
                std::fs::read(pki.path("ca.crt")).unwrap(),
            ))
            .domain_name("droptailer");
        let ch = droptailer::client::channel(&format!("127.0.0.1:{port}"), Some(tls)).unwrap();
        let mut c = metal_proto::droptailer::droptailer_client::DroptailerClient::new(ch);
        c.push(metal_proto::droptailer::Drop::default()).await
    });
    assert!(status.is_err(), "a client without certificate was served");
    srv.quiet_for(Duration::from_millis(500));
    // the client with the CA's certificate is served
    drop(stranger);
    let _cli = client(&pki, port, &log, "client", 100);
    append(&log, 3..5);
    assert_eq!(ids(&srv.lines(2)), [3, 4]);
}

#[test]
fn a_server_restart_loses_nothing_that_was_buffered() {
    let pki = Pki::new();
    let log = pki.path("kern.log");
    std::fs::write(&log, "").unwrap();
    let json = pki.path("drops.jsonl");
    let (mut srv, port) = server(&pki, 0, &json);
    let mut cli = client(&pki, port, &log, "client", 10_000);
    append(&log, 0..50);
    assert_eq!(ids(&srv.lines(50)), (0..50).collect::<Vec<_>>());
    srv.stop();
    append(&log, 50..150);
    cli.wait_log("retrying");
    std::thread::sleep(Duration::from_secs(1));
    let (mut srv, _) = server(&pki, port, &json);
    assert_eq!(ids(&srv.lines(100)), (50..150).collect::<Vec<_>>());
    cli.wait_log("server took the line again");
    srv.quiet_for(Duration::from_millis(500));
}

#[test]
fn a_full_queue_drops_the_oldest_and_says_how_many() {
    let pki = Pki::new();
    let log = pki.path("kern.log");
    std::fs::write(&log, "").unwrap();
    let json = pki.path("drops.jsonl");
    // a port nobody listens on yet: take one and let it go
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut cli = client(&pki, port, &log, "client", 10);
    // line 0 first: the sender holds it and retries; then 29 more into a queue of 10
    append(&log, 0..1);
    cli.wait_log("retrying");
    append(&log, 1..30);
    std::thread::sleep(Duration::from_millis(500));
    let (mut srv, _) = server(&pki, port, &json);
    // line 0 was being sent; of the other 29 the queue kept the newest 10
    let want: Vec<usize> = std::iter::once(0).chain(20..30).collect();
    assert_eq!(ids(&srv.lines(11)), want);
    let lost = cli.wait_log("lines lost while the server was away");
    assert!(lost.contains("lost=19"), "{lost}");
    srv.quiet_for(Duration::from_millis(500));
}
