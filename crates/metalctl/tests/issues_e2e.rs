//! `metalctl machine issues` and `metalctl machine ipmi` against a real metal-api (in-process
//! on port 0, SQLite and PostgreSQL): machines seeded with a shared BMC address, without BMC
//! data, locked with a long reason, and one only seen by PXE; the issue table with its filters
//! (`--only`, `--omit`, `--severity`), JSON and wide output, the BMC table, and `issues list`.

mod driver;

use driver::{header, row_of, rows, Ctl};
use metal_testkit::{insert_machine, seed_waiting_machine, set_machine_ipmi, Backend, TestApi};
use serde_json::json;

/// `machine issues`: machines a and b share a BMC address, c has no BMC data (and a long lock
/// reason), x was only seen by PXE (no partition, no event container).
async fn issues(backend: Backend) {
    let api = TestApi::start(backend).await.unwrap();
    let r = api
        .admin()
        .put("v1/partition", json!({"id": "fra", "name": "fra"}))
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    for id in ["a", "b", "c"] {
        seed_waiting_machine(api.store(), id, "fra", "s", "r1", 4, 100)
            .await
            .unwrap();
    }
    insert_machine(api.store(), "x", None, None, None, None, json!({}))
        .await
        .unwrap();
    let now = chrono::Utc::now().to_rfc3339();
    for (id, mac, power) in [
        ("a", "aa:00:00:00:00:01", "ON"),
        ("b", "aa:00:00:00:00:02", "OFF"),
    ] {
        let ipmi = json!({"address": "10.1.1.1:623", "mac": mac, "powerstate": power, "last_updated": now});
        set_machine_ipmi(api.store(), id, ipmi).await.unwrap();
    }
    let ctl = std::sync::Arc::new(Ctl::admin(&api));
    let c = ctl.clone();
    tokio::task::spawn_blocking(move || issues_scenario(&c))
        .await
        .unwrap();
    api.stop().await;
}

fn issues_scenario(ctl: &Ctl) {
    ctl.ok(&[
        "machine",
        "lock",
        "c",
        "-d",
        "waiting for the new power supply",
    ]);
    let out = ctl.ok(&["machine", "issues"]);
    assert_eq!(
        header(&out),
        [
            "ID",
            "POWER",
            "ALLOCATED",
            "LOCK",
            "REASON",
            "LAST",
            "EVENT",
            "WHEN",
            "ISSUES"
        ]
    );
    // one row per machine, one more per further issue of c
    assert_eq!(rows(&out).len(), 6, "{out}");
    let a = row_of(&out, "a ");
    assert!(a.contains(" ON ") && a.contains(" no "), "{a}");
    assert!(
        a.ends_with("BMC IP address is not distinct (bmc-no-distinct-ip)"),
        "{a}"
    );
    assert!(row_of(&out, "b ").contains(" OFF "), "{out}");
    let c = row_of(&out, "c ");
    assert!(c.contains("waiting for the new power s..."), "{c}");
    assert!(c.contains('🔒'), "{c}");
    let continued: Vec<&str> = rows(&out)
        .into_iter()
        .filter(|l| l.starts_with(' '))
        .collect();
    assert_eq!(continued.len(), 2, "{out}");
    assert!(
        continued[0].trim_start().ends_with("(bmc-without-ip)"),
        "{out}"
    );
    assert!(
        continued[1].trim_start().ends_with("(bmc-info-outdated)"),
        "{out}"
    );
    assert!(
        row_of(&out, "x ").ends_with("(no-event-container)"),
        "{out}"
    );

    // the filters go to the server
    let only = ctl.ok(&[
        "machine",
        "issues",
        "--only",
        "bmc-without-ip,no-event-container",
    ]);
    assert_eq!(rows(&only).len(), 2, "{only}");
    assert!(row_of(&only, "c ").ends_with("(bmc-without-ip)"), "{only}");
    let omit = ctl.ok(&[
        "machine",
        "issues",
        "--partition",
        "fra",
        "--omit",
        "bmc-no-distinct-ip",
    ]);
    assert_eq!(rows(&omit).len(), 3, "{omit}");
    assert!(row_of(&omit, "c ").contains("(bmc-without-mac)"), "{omit}");
    let critical = ctl.ok(&["machine", "issues", "--severity", "critical"]);
    assert!(rows(&critical).is_empty(), "{critical}");
    let err = ctl.fails(&["machine", "issues", "--only", "no-such-issue"]);
    assert!(err.contains("no-such-issue"), "{err}");

    // json: the machine with its BMC, and the issues in full
    let all = ctl.json(&["machine", "issues"]);
    let all = all.as_array().unwrap();
    assert_eq!(all.len(), 4);
    assert_eq!(all[0]["machine"]["id"], "a");
    assert_eq!(all[0]["machine"]["ipmi"]["powerstate"], "ON");
    assert_eq!(all[0]["issues"][0]["id"], "bmc-no-distinct-ip");
    assert_eq!(all[0]["issues"][0]["severity"], "major");
    assert_eq!(all[2]["issues"].as_array().unwrap().len(), 3);

    // wide: partition, state and the reference links
    let wide = ctl.ok(&["machine", "issues", "-o", "wide"]);
    assert_eq!(&header(&wide)[..4], ["ID", "NAME", "PARTITION", "PROJECT"]);
    let a = row_of(&wide, "a ");
    assert!(a.contains(" fra "), "{a}");
    assert!(
        a.contains(
            "https://docs.metal-stack.io/stable/installation/troubleshoot/#bmc-no-distinct-ip"
        ),
        "{a}"
    );
    let c = row_of(&wide, "c ");
    assert!(
        c.contains("LOCKED") && c.contains("waiting for the new power supply"),
        "{c}"
    );

    // the BMC table: the power state, address and MAC reported, and when
    let ipmi = ctl.ok(&["machine", "ipmi"]);
    assert_eq!(
        header(&ipmi),
        [
            "ID",
            "POWER",
            "IP",
            "MAC",
            "BOARD",
            "PART",
            "NUMBER",
            "BIOS",
            "BMC",
            "SIZE",
            "PARTITION",
            "RACK",
            "UPDATED"
        ]
    );
    assert_eq!(rows(&ipmi).len(), 4, "{ipmi}");
    let a = row_of(&ipmi, "a ");
    assert!(
        a.contains(" ON ") && a.contains(" 10.1.1.1:623 ") && a.contains(" aa:00:00:00:00:01 "),
        "{a}"
    );
    assert!(a.ends_with(" ago"), "{a}");
    assert!(row_of(&ipmi, "c ").ends_with(" never"), "{ipmi}");
    let one = ctl.ok(&["machine", "ipmi", "b"]);
    assert_eq!(rows(&one).len(), 1, "{one}");
    assert!(row_of(&one, "b ").contains(" OFF "), "{one}");
    let wide = ctl.ok(&["machine", "ipmi", "-o", "wide"]);
    assert!(row_of(&wide, "c ").contains("Locked"), "{wide}");
    let all = ctl.json(&["machine", "ipmi", "--partition", "fra"]);
    assert_eq!(all.as_array().unwrap().len(), 3, "{all}");
    assert_eq!(all[1]["ipmi"]["mac"], "aa:00:00:00:00:02");

    // the catalogue
    let list = ctl.ok(&["machine", "issues", "list"]);
    assert_eq!(
        header(&list),
        ["ID", "SEVERITY", "DESCRIPTION", "REFERENCE", "URL"]
    );
    assert_eq!(rows(&list).len(), 13, "{list}");
    assert!(
        row_of(&list, "failed-machine-reclaim").contains(" critical "),
        "{list}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn machine_issues_sqlite() {
    issues(Backend::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn machine_issues_postgres() {
    issues(Backend::Postgres).await
}
