//! Stress: 200 waiting machines, 64 concurrent allocations through two metal-api processes that
//! share one PostgreSQL database; one process is killed with SIGKILL in the middle. No machine
//! is allocated twice, no IP is given twice, every request either succeeds or says "no machine
//! available" (or loses its connection to the killed process), and nothing is left
//! half-written: every IP tagged with a machine belongs to that machine's allocation.

use std::collections::{HashMap, HashSet};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use futures::future::join_all;
use metal_testkit::{seed_waiting_machine, try_until, until, Caller, Keys, TestClient, TestDb};
use serde_json::json;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Proc {
    child: Child,
    url: String,
    _data: tempfile::TempDir,
}

fn spawn(db: &str, keys: &Keys) -> Proc {
    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_metal-api"))
        .args([
            "--port",
            &port.to_string(),
            "--metrics-port",
            "0",
            "--grpc-port",
            "0",
            "--no-metalctl-context",
        ])
        .args(["--db", db, "--data-dir", data.path().to_str().unwrap()])
        .args([
            "--hmac-view-key",
            &keys.view,
            "--hmac-edit-key",
            &keys.edit,
            "--hmac-admin-key",
            &keys.admin,
        ])
        .args([
            "--liveliness-interval",
            "0",
            "--resurrection-interval",
            "0",
            "--log-level",
            "warn",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("metal-api runs");
    Proc {
        child,
        url: format!("http://127.0.0.1:{port}/"),
        _data: data,
    }
}

async fn healthy(url: &str) {
    until(
        &format!("{url} to become healthy"),
        Duration::from_secs(30),
        async || {
            reqwest::get(format!("{url}v1/health"))
                .await
                .is_ok_and(|r| r.status().is_success())
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_200_machines_64_allocations_one_killed() {
    let db = TestDb::new(metal_testkit::Backend::Postgres).await.unwrap();
    let keys = Keys {
        view: "v-key".into(),
        edit: "e-key".into(),
        admin: "a-key".into(),
    };
    let mut a = spawn(&db.url, &keys);
    let mut b = spawn(&db.url, &keys);
    healthy(&a.url).await;
    healthy(&b.url).await;
    let admin = TestClient::new(a.url.clone(), Caller::Admin, keys.clone());
    crate::network::setup(&admin).await;
    admin
        .put(
            "v1/network",
            crate::network::super_network("super", &["10.0.0.0/16"]),
        )
        .await;
    admin
        .put(
            "v1/network",
            json!({"id": "internet", "prefixes": ["185.1.0.0/22"], "shared": true}),
        )
        .await;
    admin
        .put(
            "v1/size",
            json!({"id": "s", "constraints": [{"type": "cores", "min": 4, "max": 4}]}),
        )
        .await;
    admin.put("v1/image", json!({"id": "ubuntu-22.04.20240101", "url": "http://images.test/x", "features": ["machine"]})).await;
    admin.put("v1/filesystemlayout", json!({"id": "default", "constraints": {"sizes": ["s"], "images": {"ubuntu": "*"}},
        "disks": [{"device": "/dev/sda", "partitions": [{"number": 1, "size": 0, "gpttype": "8300"}]}],
        "filesystems": [{"path": "/", "device": "/dev/sda1", "format": "ext4"}]})).await;
    let tenant = admin
        .post(
            "v1/network/allocate",
            json!({"partitionid": "fra", "projectid": "p1", "length": {"IPv4": 22}}),
        )
        .await;
    assert_eq!(tenant.status, 201, "{:?}", tenant.body);
    let tenant = tenant.body["id"].as_str().unwrap().to_string();
    {
        let store = metal_store::Store::open(&metal_store::StoreOptions::new(&db.url))
            .await
            .unwrap();
        for i in 0..200 {
            seed_waiting_machine(
                &store,
                &format!("m{i:03}"),
                "fra",
                "s",
                &format!("r{}", i % 8),
                4,
                100,
            )
            .await
            .unwrap();
        }
        store.close().await;
    }

    // 64 allocations, half through each process; kill b while they run
    let body = json!({"projectid": "p1", "partitionid": "fra", "sizeid": "s", "imageid": "ubuntu-22.04",
        "networks": [{"networkid": tenant}, {"networkid": "internet"}]});
    let done = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let futs = (0..64).map(|i| {
        let url = if i % 2 == 0 {
            a.url.clone()
        } else {
            b.url.clone()
        };
        let c = TestClient::new(url, Caller::Edit, keys.clone());
        let body = body.clone();
        let done = done.clone();
        tokio::spawn(async move {
            let r = c.try_post("v1/machine/allocate", body).await;
            done.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            r
        })
    });
    let counter = done.clone();
    let killer = tokio::spawn(async move {
        // kill b when a quarter of the requests are answered, while the rest are in flight
        let _ = try_until(
            "a quarter of the requests answered",
            Duration::from_secs(60),
            Duration::from_millis(5),
            move || std::future::ready(counter.load(std::sync::atomic::Ordering::SeqCst) >= 16),
        )
        .await;
        b.child.kill().unwrap(); // SIGKILL
        let _ = b.child.wait();
    });
    let results: Vec<_> = join_all(futs)
        .await
        .into_iter()
        .map(|r| r.unwrap())
        .collect();
    killer.await.unwrap();
    let mut ok = 0;
    let lost = results.iter().filter(|r| r.is_err()).count();
    eprintln!(
        "answered {} of 64, {lost} lost with the killed process",
        64 - lost
    );
    for r in &results {
        match r {
            Ok(resp) if resp.status == 200 => ok += 1,
            Ok(resp) => {
                assert_eq!(resp.status, 422, "{:?}", resp.body);
                assert!(
                    resp.message().contains("no machine available"),
                    "{}",
                    resp.message()
                );
            }
            Err(_) => {} // a request to the killed process
        }
    }
    assert!(
        ok >= 32,
        "at least the requests to the surviving process succeed: {ok}"
    );

    // consistency, read through the surviving process
    let view = TestClient::new(a.url.clone(), Caller::View, keys.clone());
    let machines = view.get("v1/machine").await.body;
    let machines = machines.as_array().unwrap();
    let allocated: Vec<_> = machines
        .iter()
        .filter(|m| !m["allocation"].is_null())
        .collect();
    assert!(allocated.len() >= ok, "every answered allocation is stored");
    let mut ip_owner: HashMap<String, String> = HashMap::new();
    for m in &allocated {
        let id = m["id"].as_str().unwrap().to_string();
        for n in m["allocation"]["networks"].as_array().unwrap() {
            for ip in n["ips"].as_array().unwrap() {
                let ip = ip.as_str().unwrap().to_string();
                assert!(
                    ip_owner.insert(ip.clone(), id.clone()).is_none(),
                    "ip {ip} given twice"
                );
            }
        }
    }
    let asns: HashSet<_> = allocated
        .iter()
        .map(|m| m["allocation"]["networks"][0]["asn"].as_u64().unwrap())
        .collect();
    assert_eq!(asns.len(), allocated.len(), "one ASN per machine");
    let ips = view.get("v1/ip").await.body;
    for ip in ips.as_array().unwrap() {
        let addr = ip["ipaddress"].as_str().unwrap();
        for t in ip["tags"].as_array().unwrap() {
            if let Some(m) = t
                .as_str()
                .unwrap()
                .strip_prefix("machine.metal-stack.io/id=")
            {
                assert_eq!(
                    ip_owner.get(addr).map(String::as_str),
                    Some(m),
                    "ip {addr} is tagged with {m} but not in its allocation: orphaned"
                );
            }
        }
    }
    assert_eq!(
        ips.as_array().unwrap().len(),
        ip_owner.len(),
        "no ip without an allocation"
    );
    a.child.kill().unwrap();
    let _ = a.child.wait();
    db.drop_db().await;
}
