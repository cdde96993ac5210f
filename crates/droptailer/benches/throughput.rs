//! droptailer's throughput: lines per second from a followed kernel log file, through
//! droptailer-client, over mutual TLS on loopback, to droptailer-server's stdout.
//!
//! `cargo bench -p droptailer --bench throughput [-- LINES]` (default 100,000 lines, 3 rounds).
//! Each round starts both binaries, appends LINES netfilter lines to the file at once and times
//! until the server has printed the last one. For scale it also times, in this process, what the
//! client does per line besides the network (parsing) and what the server does (formatting).

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Instant;

use metal_proto::pki::Ca;

fn line(i: usize) -> String {
    format!("2026-12-07T11:08:12.250000+00:00 fw01 kernel: [ 17.5] nftables-firewall-accepted: IN=vrf3981 OUT=vlan104009 MAC=52:54:00:12:34:56:52:54:00:65:43:21:08:00 SRC=10.0.16.2 DST=203.0.113.100 LEN=73 TOS=0x00 PREC=0x00 TTL=62 ID={i} DF PROTO=UDP SPT=35609 DPT=53 LEN=53 \n")
}

fn round(dir: &std::path::Path, lines: usize) -> f64 {
    let log = dir.join("kern.log");
    std::fs::write(&log, "").unwrap();
    let mut srv = Command::new(env!("CARGO_BIN_EXE_droptailer-server"))
        .env_clear()
        .env("SERVER_ADDRESS", "127.0.0.1")
        .env("SERVER_PORT", "0")
        .env("SERVER_CERTIFICATE", dir.join("server.crt"))
        .env("SERVER_KEY", dir.join("server.key"))
        .env("SERVER_CA_CERTIFICATE", dir.join("ca.crt"))
        .env("SERVER_LOG_LEVEL", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(srv.stderr.take().unwrap()).lines();
    let port = loop {
        let l = err.next().expect("server log").unwrap();
        if let Some(a) = l
            .split_whitespace()
            .find_map(|w| w.strip_prefix("address="))
        {
            break a.rsplit(':').next().unwrap().to_string();
        }
    };
    let mut cli = Command::new(env!("CARGO_BIN_EXE_droptailer-client"))
        .env_clear()
        .env("DROPTAILER_SERVER_ADDRESS", format!("127.0.0.1:{port}"))
        .env("DROPTAILER_CA_CERTIFICATE", dir.join("ca.crt"))
        .env("DROPTAILER_CLIENT_CERTIFICATE", dir.join("client.crt"))
        .env("DROPTAILER_CLIENT_KEY", dir.join("client.key"))
        .env("DROPTAILER_SOURCE", format!("file:{}", log.display()))
        .env("DROPTAILER_QUEUE_SIZE", (lines + 1).to_string())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut cerr = BufReader::new(cli.stderr.take().unwrap()).lines();
    loop {
        let l = cerr.next().expect("client log").unwrap();
        if l.contains("following") {
            break;
        }
    }
    let text: String = (0..lines).map(line).collect();
    let mut out = BufReader::new(srv.stdout.take().unwrap());
    let start = Instant::now();
    std::fs::OpenOptions::new()
        .append(true)
        .open(&log)
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let mut buf = String::new();
    for _ in 0..lines {
        buf.clear();
        out.read_line(&mut buf).unwrap();
    }
    let secs = start.elapsed().as_secs_f64();
    assert!(buf.contains(&format!("\"ID\":\"{}\"", lines - 1)), "{buf}");
    let _ = cli.kill();
    let _ = srv.kill();
    let _ = cli.wait();
    let _ = srv.wait();
    secs
}

fn main() {
    let lines: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(100_000);
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("bench CA").unwrap();
    let server = ca.server("droptailer", &["droptailer"]).unwrap();
    let client = ca.client("bench").unwrap();
    for (name, text) in [
        ("ca.crt", ca.cert_pem()),
        ("server.crt", server.cert),
        ("server.key", server.key),
        ("client.crt", client.cert),
        ("client.key", client.key),
    ] {
        std::fs::write(dir.path().join(name), text).unwrap();
    }

    // in process: the client's parsing and the server's formatting of the same lines
    let prefixes = droptailer::parse::Prefixes::default();
    let now = chrono::Local::now();
    let text: Vec<String> = (0..lines).map(line).collect();
    let t = Instant::now();
    let entries: Vec<_> = text
        .iter()
        .map(|l| droptailer::source::file_line(l.trim_end(), &prefixes, now).unwrap())
        .collect();
    let parse = lines as f64 / t.elapsed().as_secs_f64();
    let t = Instant::now();
    let mut bytes = 0;
    for e in entries {
        bytes += droptailer::output::line(1_796_641_692, e.fields).0.len();
    }
    let format = lines as f64 / t.elapsed().as_secs_f64();
    println!("parse (client, in process): {parse:.0} lines/s");
    println!(
        "format (server, in process): {format:.0} lines/s ({} bytes/line)",
        bytes / lines
    );

    let mut rates: Vec<f64> = (0..3)
        .map(|r| {
            let s = round(dir.path(), lines);
            let rate = lines as f64 / s;
            println!("round {r}: {lines} lines in {s:.2} s = {rate:.0} lines/s");
            rate
        })
        .collect();
    rates.sort_by(f64::total_cmp);
    println!(
        "file -> client -> mTLS -> server stdout: median {:.0} lines/s ({:.1} us/line), {:.1}% of the in-process parse+format rate",
        rates[1],
        1e6 / rates[1],
        100.0 * rates[1] / (1.0 / (1.0 / parse + 1.0 / format))
    );
}
