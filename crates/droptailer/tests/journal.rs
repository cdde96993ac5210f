//! droptailer-client reading a real systemd journal (`DROPTAILER_SOURCE=journal:DIR`, through
//! `journalctl`): journal files written by `systemd-journal-remote` from journal export data,
//! kernel entries among others. The client ships the last 100 kernel entries with a prefix, in
//! order, with the journal's own times, then follows what is appended; entries of other programs
//! are not taken for the kernel's, whatever their text.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

mod common;
use common::{server, Pki};

const REMOTE: &str = "/lib/systemd/systemd-journal-remote";

/// Appends entries `range` to the journal file in `dir`: kernel lines (drops of port 22, with
/// second 1796641692 + i) and, between them, an sshd line with the same prefix.
fn append(dir: &Path, range: std::ops::Range<u64>) {
    let mut export = String::new();
    for i in range {
        let t = (1_796_641_692 + i) * 1_000_000;
        export.push_str(&format!(
            "__REALTIME_TIMESTAMP={t}\n__MONOTONIC_TIMESTAMP={}\n_BOOT_ID=0123456789abcdef0123456789abcdef\nSYSLOG_IDENTIFIER=kernel\nMESSAGE=nftables-metal-dropped: IN=vrf104009 OUT= SRC=203.0.113.7 DST=185.1.2.1 LEN=60 PROTO=TCP SPT=4000 DPT=22 ID={i} SYN\n\n",
            i + 1
        ));
        export.push_str(&format!(
            "__REALTIME_TIMESTAMP={}\n__MONOTONIC_TIMESTAMP={}\n_BOOT_ID=0123456789abcdef0123456789abcdef\nSYSLOG_IDENTIFIER=sshd\nMESSAGE=nftables-metal-dropped: ID=sshd{i}\n\n",
            t + 1,
            i + 1
        ));
    }
    let mut child = Command::new(REMOTE)
        .arg("-o")
        .arg(dir.join("kern.journal"))
        .arg("-")
        .stdin(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(export.as_bytes())
        .unwrap();
    assert!(child.wait().unwrap().success());
}

fn ids(lines: &[String]) -> Vec<u64> {
    lines
        .iter()
        .map(|l| {
            let (ts, json) = l.split_at(l.find(" {").unwrap());
            let v: serde_json::Value = serde_json::from_str(json.trim()).unwrap();
            let id: u64 = v["ID"].as_str().unwrap().parse().unwrap();
            // the journal's time of the entry: 2026-12-07 11:08:12 UTC + id seconds
            let t = chrono::DateTime::from_timestamp(1_796_641_692 + id as i64, 0).unwrap();
            assert_eq!(
                ts,
                t.format("%Y-%m-%d %H:%M:%S +0000 UTC").to_string(),
                "{l}"
            );
            assert_eq!(v["ACTION"], "drop");
            assert_eq!(v["DPT"], "22");
            id
        })
        .collect()
}

#[test]
fn the_journal_is_read_from_100_entries_before_its_end_and_followed() {
    let present =
        Path::new(REMOTE).exists() && Command::new("journalctl").arg("--version").output().is_ok();
    if !metal_sim::gate::tool_or_skip(
        "the_journal_is_read_from_100_entries_before_its_end_and_followed",
        present,
        "journalctl and systemd-journal-remote",
        "apt-get install systemd systemd-journal-remote",
    ) {
        return;
    }
    let pki = Pki::new();
    let journal = tempfile::tempdir().unwrap();
    append(journal.path(), 0..150);
    let (mut srv, port) = server(&pki, 0, &pki.path("drops.jsonl"));
    let _cli = common::client(
        &pki,
        port,
        &format!("journal:{}", journal.path().display()),
        "client",
        1000,
    );
    assert_eq!(ids(&srv.lines(100)), (50..150).collect::<Vec<_>>());
    append(journal.path(), 150..155);
    assert_eq!(ids(&srv.lines(5)), (150..155).collect::<Vec<_>>());
    srv.quiet_for(Duration::from_millis(800));
}
