//! `metalctl machine` and `metalctl firewall` against a real metal-api (in-process on port 0,
//! SQLite and PostgreSQL): waiting machines seeded as registration leaves them, the catalog
//! created over REST; then allocating from flags and from a file, the list with the columns of
//! metal-stack's metalctl and its status symbols, reserve, lock, update, free, removal from the
//! database, and firewalls with a size-image constraint the server enforces. The console
//! password and reinstall requests are checked against a stub server.
//!
//! Kept in one file although it is long: the tests walk one machine lifecycle with the same
//! `Ctl` harness and seeding helpers, and read best in that order; split, the helpers would
//! become a shared module and the lifecycle would be spread over several test binaries.

mod driver;

use driver::{header, row_of, rows, Ctl};
use metal_testkit::{seed_waiting_machine, Backend, TestApi};
use serde_json::{json, Value};

const KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl u@h";

/// Partition `fra` with a private super network, the internet and an underlay; size
/// n1-medium-x86; a machine and two firewall images; a layout for both; a size-image constraint
/// for firewalls; three waiting machines; a tenant network of project p1 (returned).
async fn world(api: &TestApi) -> String {
    let c = api.admin();
    let created = |r: metal_testkit::TestResponse| {
        assert_eq!(r.status, 201, "{:?}", r.body);
        r
    };
    created(
        c.put("v1/tenant", json!({"meta": {"id": "acme"}, "name": "acme"}))
            .await,
    );
    created(
        c.put(
            "v1/project",
            json!({"meta": {"id": "p1"}, "name": "p1", "tenant_id": "acme"}),
        )
        .await,
    );
    created(c.put("v1/partition", json!({"id": "fra", "name": "fra", "privatenetworkprefixlength": 24,
        "bootconfig": {"imageurl": "http://images.test/hammer.img", "kernelurl": "http://images.test/vmlinuz"}})).await);
    created(c.put("v1/network", json!({"id": "super", "partitionid": "fra", "prefixes": ["10.0.0.0/16"], "privatesuper": true})).await);
    created(c.put("v1/network", json!({"id": "internet", "prefixes": ["185.1.2.0/24"], "destinationprefixes": ["0.0.0.0/0"], "shared": true, "nat": true})).await);
    created(c.put("v1/network", json!({"id": "underlay", "partitionid": "fra", "prefixes": ["10.255.0.0/24"], "underlay": true})).await);
    created(
        c.put(
            "v1/size",
            json!({"id": "n1-medium-x86", "constraints": [{"type": "cores", "min": 4, "max": 4}]}),
        )
        .await,
    );
    for (id, feature) in [
        ("ubuntu-22.04.20240101", "machine"),
        ("firewall-ubuntu-2.0.20201126", "firewall"),
        ("firewall-ubuntu-2.0.20210912", "firewall"),
    ] {
        created(
            c.put(
                "v1/image",
                json!({"id": id, "url": "http://images.test/x", "features": [feature]}),
            )
            .await,
        );
    }
    created(c.put("v1/filesystemlayout", json!({"id": "default",
        "constraints": {"sizes": ["n1-medium-x86"], "images": {"ubuntu": "*", "firewall-ubuntu": "*"}},
        "disks": [{"device": "/dev/sda", "partitions": [{"number": 1, "size": 0, "gpttype": "8300"}]}],
        "filesystems": [{"path": "/", "device": "/dev/sda1", "format": "ext4"}]})).await);
    created(
        c.put(
            "v1/size-image-constraint",
            json!({"id": "n1-medium-x86",
        "constraints": {"images": {"firewall-ubuntu": ">= 2.0.20210912"}}}),
        )
        .await,
    );
    for i in 0..3 {
        seed_waiting_machine(
            api.store(),
            &format!("m{i:03}"),
            "fra",
            "n1-medium-x86",
            &format!("rack-{i}"),
            4,
            100,
        )
        .await
        .unwrap();
    }
    let r = created(
        c.post(
            "v1/network/allocate",
            json!({"partitionid": "fra", "projectid": "p1", "name": "p1-net"}),
        )
        .await,
    );
    r.body["id"].as_str().unwrap().to_string()
}

async fn machines(backend: Backend) {
    let api = TestApi::start(backend).await.unwrap();
    let tenant = world(&api).await;
    let ctl = std::sync::Arc::new(Ctl::admin(&api));
    let c = ctl.clone();
    tokio::task::spawn_blocking(move || scenario(&c, &tenant))
        .await
        .unwrap();
    api.stop().await;
}

fn scenario(ctl: &Ctl, tenant: &str) {
    // three free machines, alive and without status symbols
    let list = ctl.ok(&["machine", "ls"]);
    assert_eq!(
        header(&list),
        [
            "ID",
            "LAST",
            "EVENT",
            "WHEN",
            "AGE",
            "HOSTNAME",
            "PROJECT",
            "SIZE",
            "IMAGE",
            "PARTITION",
            "RACK"
        ]
    );
    assert_eq!(rows(&list).len(), 3, "{list}");
    let row = row_of(&list, "m001");
    assert!(row.contains("n1-medium-x86") && row.contains("fra") && row.contains("rack-1"));
    assert!(!row.contains('🚧') && !row.contains('❓'), "{row}");

    // allocate from flags, with the key and the user data from files
    let key = ctl.file("key.pub", &format!("{KEY}\n"));
    let userdata = ctl.file("userdata.yaml", "#cloud-config\n");
    let networks = format!("{tenant},internet");
    let m = ctl.json(&[
        "machine",
        "create",
        "-H",
        "web-1",
        "-d",
        "the shop",
        "-i",
        "ubuntu-22.04",
        "-P",
        "p1",
        "-S",
        "fra",
        "-s",
        "n1-medium-x86",
        "-p",
        &format!("@{key}"),
        "--userdata",
        &format!("@{userdata}"),
        "--networks",
        &networks,
        "--tags",
        "team=a",
    ]);
    let id = m["id"].as_str().unwrap().to_string();
    let a = &m["allocation"];
    assert_eq!(a["hostname"], "web-1");
    assert_eq!(a["name"], "web-1", "the name defaults to the hostname");
    assert_eq!(a["image"]["id"], "ubuntu-22.04.20240101");
    assert_eq!(a["ssh_pub_keys"], json!([KEY]));
    assert_eq!(a["user_data"], "I2Nsb3VkLWNvbmZpZwo=", "base64");
    assert_eq!(a["networks"].as_array().unwrap().len(), 2);

    // the list shows it, also searched by project
    let list = ctl.ok(&["machine", "ls", "--project", "p1"]);
    assert_eq!(rows(&list).len(), 1, "{list}");
    let row = row_of(&list, &id);
    for col in [
        "web-1",
        "p1",
        "n1-medium-x86",
        "ubuntu-22.04.20240101",
        "fra",
        m["rackid"].as_str().unwrap(),
    ] {
        assert!(row.contains(col), "{col} in {row}");
    }
    let wide = ctl.ok(&["machine", "ls", "-o", "wide", "--project", "p1"]);
    assert_eq!(header(&wide).last().unwrap(), "LOCK/RESERVE");
    assert!(
        wide.contains("10.0.0.1") && wide.contains("185.1.2.1"),
        "{wide}"
    );
    assert!(wide.contains("the shop"), "{wide}");
    let list = ctl.ok(&["machine", "ls", "--network-ips", "185.1.2.1"]);
    assert_eq!(rows(&list).len(), 1, "{list}");
    assert!(ctl
        .ok(&["machine", "describe", &id])
        .contains("hostname: web-1"));

    // reserve a free machine: one table row with 🚧, found by state, and back
    let all = ctl.json(&["machine", "ls"]);
    let free: Vec<String> = all
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["allocation"].is_null())
        .map(|m| m["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(free.len(), 2);
    let out = ctl.ok(&["machine", "reserve", &free[0], "-d", "for the demo"]);
    assert_eq!(header(&out)[0], "ID");
    assert_eq!(rows(&out).len(), 1, "one row: {out}");
    assert!(row_of(&out, &free[0]).contains('🚧'), "{out}");
    let list = ctl.ok(&["machine", "ls", "--state", "RESERVED"]);
    assert_eq!(rows(&list).len(), 1, "{list}");
    assert!(row_of(&list, &free[0]).contains('🚧'));
    let wide = ctl.ok(&["machine", "ls", "-o", "wide"]);
    assert!(
        row_of(&wide, &free[0]).contains("RESERVED:for the demo"),
        "{wide}"
    );
    let out = ctl.ok(&["machine", "reserve", &free[0], "--remove"]);
    assert!(!out.contains('🚧'), "{out}");
    let err = ctl.fails(&["machine", "reserve", &free[0]]);
    assert!(err.contains("description"), "{err}");

    // lock: 🔒, and a locked machine is not freed
    let out = ctl.ok(&["machine", "lock", &id, "-d", "keep it"]);
    assert!(row_of(&out, &id).contains('🔒'), "{out}");
    let err = ctl.fails(&["machine", "delete", &id]);
    assert!(err.contains(&format!("machine {id} is locked")), "{err}");
    let out = ctl.ok(&["machine", "lock", &id, "-r"]);
    assert!(!out.contains('🔒'), "{out}");

    // update description and tags
    let m = ctl.json(&[
        "machine",
        "update",
        &id,
        "--description",
        "the new shop",
        "--add-tags",
        "env=prod",
        "--remove-tags",
        "team=a",
    ]);
    assert_eq!(m["allocation"]["description"], "the new shop");
    let tags: Vec<&str> = m["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    assert!(
        tags.contains(&"env=prod") && !tags.contains(&"team=a"),
        "{tags:?}"
    );
    let err = ctl.fails(&["machine", "update", &id, "--remove-tags", "team=a"]);
    assert!(err.contains("has no tag \"team=a\""), "{err}");

    // the event log table
    let logs = ctl.ok(&["machine", "logs", &id]);
    assert_eq!(header(&logs), ["TIME", "EVENT", "MESSAGE"]);

    // allocate a given machine from a file
    let doc = ctl.file(
        "m.yaml",
        &format!("uuid: {}\nhostname: db-1\nprojectid: p1\nimageid: ubuntu-22.04\nnetworks:\n- networkid: {tenant}\n", free[0]),
    );
    let m = ctl.json(&["machine", "create", "-f", &doc]);
    assert_eq!(m["id"], free[0].as_str());
    assert_eq!(m["allocation"]["hostname"], "db-1");
    let list = ctl.ok(&["machine", "ls", "--project", "p1"]);
    assert_eq!(rows(&list).len(), 2, "{list}");

    // free both; removing from the database needs the confirmation flag and a dead machine
    for m in [&id, &free[0]] {
        let freed = ctl.json(&["machine", "delete", m]);
        assert!(freed["allocation"].is_null(), "{freed}");
    }
    let list = ctl.ok(&["machine", "ls", "--project", "p1"]);
    assert!(rows(&list).is_empty(), "{list}");
    let err = ctl.fails(&["machine", "rm", &free[1], "--remove-from-database"]);
    assert!(
        err.contains("remove-from-database is set but you forgot to add --yes-i-really-mean-it"),
        "{err}"
    );
    let err = ctl.fails(&[
        "machine",
        "rm",
        &free[1],
        "--remove-from-database",
        "--yes-i-really-mean-it",
    ]);
    assert!(err.contains("can only delete dead machines"), "{err}");

    // firewalls: the size-image constraint refuses the old image with the server's message
    let rules = ctl.file(
        "rules.yaml",
        "egress:\n- protocol: TCP\n  ports: [443]\n  to: [0.0.0.0/0]\n  comment: https out\n",
    );
    let fw = |image: &str| {
        vec![
            "firewall".to_string(),
            "create".into(),
            "-H".into(),
            "fw-1".into(),
            "-i".into(),
            image.into(),
            "-P".into(),
            "p1".into(),
            "-S".into(),
            "fra".into(),
            "-s".into(),
            "n1-medium-x86".into(),
            "--networks".into(),
            networks.clone(),
            "--firewall-rules-file".into(),
            rules.clone(),
        ]
    };
    let old = fw("firewall-ubuntu-2.0.20201126");
    let old: Vec<&str> = old.iter().map(String::as_str).collect();
    let err = ctl.fails(&old);
    assert_eq!(
        err.trim_end(),
        "Error: given size:n1-medium-x86 with image:firewall-ubuntu-2.0.20201126 does violate image constraint:firewall-ubuntu >=2.0.20210912"
    );
    let new = fw("firewall-ubuntu-2.0.20210912");
    let mut new: Vec<&str> = new.iter().map(String::as_str).collect();
    new.extend(["-o", "json"]);
    let f: Value = serde_json::from_str(&ctl.ok(&new)).unwrap();
    let fw_id = f["id"].as_str().unwrap().to_string();
    assert_eq!(f["allocation"]["role"], "firewall");

    let list = ctl.ok(&["fw", "ls"]);
    assert_eq!(
        header(&list),
        [
            "ID",
            "AGE",
            "HOSTNAME",
            "PROJECT",
            "NETWORKS",
            "IPS",
            "PARTITION"
        ]
    );
    let row = row_of(&list, &fw_id);
    for col in ["fw-1", "p1", tenant, "fra"] {
        assert!(row.contains(col), "{col} in {row}");
    }
    assert!(
        list.contains("internet") && list.contains("underlay"),
        "{list}"
    );
    assert!(rows(&ctl.ok(&["fw", "ls", "--project", "nobody"])).is_empty());
    let desc = ctl.ok(&["firewall", "describe", &fw_id]);
    assert!(
        desc.contains("role: firewall") && desc.contains("comment: https out"),
        "{desc}"
    );
    let list = ctl.ok(&["machine", "ls", "--role", "firewall"]);
    assert_eq!(rows(&list).len(), 1, "{list}");
    assert!(row_of(&list, &fw_id).contains("fw-1"));
    let err = ctl.fails(&["firewall", "describe", &id]);
    assert!(!err.is_empty());
}

/// Serves one request with `body` (status 200); returns the base URL and a receiver for the
/// whole request (head and body).
fn stub(body: &'static str) -> (String, std::sync::mpsc::Receiver<String>) {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/metal/", listener.local_addr().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let (mut sock, _) = listener.accept().unwrap();
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        let complete = |buf: &[u8]| {
            let text = String::from_utf8_lossy(buf);
            let Some((head, body)) = text.split_once("\r\n\r\n") else {
                return false;
            };
            let length = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            body.len() >= length
        };
        while !complete(&buf) {
            let n = sock.read(&mut chunk).unwrap();
            if n == 0 {
                return;
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        let answer = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        sock.write_all(answer.as_bytes()).unwrap();
        let _ = tx.send(String::from_utf8_lossy(&buf).to_string());
    });
    (url, rx)
}

// The endpoints metal-api is still growing: the requests metalctl sends and how it prints the
// answers, against a stub.
#[test]
fn console_password_and_reinstall_requests() {
    let ctl = |url: String| Ctl::new(url, "k");
    let (url, rx) =
        stub(r#"{"id": "m1", "name": "", "description": "", "console_password": "s3cret"}"#);
    let out = ctl(url).ok(&[
        "machine",
        "consolepassword",
        "m1",
        "--reason",
        "debugging the boot",
    ]);
    assert_eq!(out, "s3cret\n", "the password only");
    let req = rx.recv().unwrap();
    assert!(
        req.starts_with("GET /metal/v1/machine/consolepassword "),
        "{req}"
    );
    let body: Value = serde_json::from_str(req.split_once("\r\n\r\n").unwrap().1).unwrap();
    assert_eq!(body, json!({"id": "m1", "reason": "debugging the boot"}));

    let (url, rx) = stub(
        r#"{"id": "m1", "name": "", "description": "", "rackid": "rack-1", "hardware": {}, "bios": {},
        "state": {"value": "LOCKED", "description": "x"}, "ledstate": {}, "tags": [], "liveliness": "Alive", "events": {}}"#,
    );
    let out = ctl(url).ok(&[
        "machine",
        "reinstall",
        "m1",
        "--image",
        "ubuntu-24.04",
        "-d",
        "new os",
    ]);
    let req = rx.recv().unwrap();
    assert!(
        req.starts_with("POST /metal/v1/machine/m1/reinstall "),
        "{req}"
    );
    let body: Value = serde_json::from_str(req.split_once("\r\n\r\n").unwrap().1).unwrap();
    assert_eq!(
        body,
        json!({"id": "m1", "imageid": "ubuntu-24.04", "name": "", "description": "new os"})
    );
    assert_eq!(header(&out)[0], "ID", "one table row: {out}");
    assert!(row_of(&out, "m1").contains('🔒'), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn machines_and_firewalls_sqlite() {
    machines(Backend::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn machines_and_firewalls_postgres() {
    machines(Backend::Postgres).await
}
