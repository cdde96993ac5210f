//! The fleet view against its floor (issue 19, item 1): `GET /v1/machine` and `POST
//! /v1/machine/find` over 1,000, 10,000 and 50,000 machines on SQLite and PostgreSQL, each
//! compared with reading the same machine documents and their event containers straight from
//! the database in the same run; `metalctl machine ls` over 10,000 machines; metal-api's
//! resident memory with the fleet stored and while it answers the list.
//!
//! The machines are what registration and allocation leave: two thirds allocated (a private
//! and an internet network each, half of them with an image that exists), the rest waiting;
//! two disks, four NICs with their switch neighbours, a CPU, BMC and FRU data, and an event
//! log of twelve events (the answer shows them all; the cap is twenty).
//!
//! - **floor**: `SELECT doc FROM machines ORDER BY id` and `SELECT doc FROM event_containers`,
//!   every row read into a string, through the same driver (sqlx) and database metal-api uses;
//! - **GET** and **find**: signed requests over loopback, the body read to its last byte and
//!   counted, not decoded (the client's JSON decoding is not the server's cost);
//! - **memory**: metal-api runs in this process; the client keeps no body, so the process'
//!   `VmRSS` (and its anonymous part, `RssAnon`: heap, not file pages) is metal-api's plus the
//!   bench's small state, taken before the floor has read anything into the process.
//!   `VmHWM` is reset (`clear_refs`) before one more list request, so the peak is that of
//!   answering it.
//!
//! p50 of `BENCH_RUNS` (default 5) runs after one warm-up. The last line is the worst ratio of
//! GET p50 to floor p50 over every backend and size.
//!
//! Settings: `BENCH_BACKENDS` (sqlite,postgres), `BENCH_FLEETS` (1000,10000,50000),
//! `BENCH_RUNS`.
//!
//! Run: `cargo bench -p metalctl --bench fleetview`

#[path = "fleet/machine_ls.rs"]
mod machine_ls;

use std::time::{Duration, Instant};

use metal_domain::event::{EventContainer, EventType, ProvisioningEvent};
use metal_domain::machine::{
    Allocation, Machine, MachineBios, MachineBlockDevice, MachineFru, MachineHardware, MachineIpmi,
    MachineNetwork, MachineNic, MetalCpu, NetworkKind, Role,
};
use metal_testkit::{Backend, Caller, TestApi, TestClient};
use reqwest::Method;
use serde_json::{json, Value};
use sqlx::Row;

const PARTITION: &str = "fra";
const SIZE: &str = "c1-large";
const IMAGE: &str = "debian-12.0.20240101";

fn machine(i: usize, now: chrono::DateTime<chrono::Utc>) -> Machine {
    let id = format!("00000000-0000-0000-0000-{i:012}");
    let nic = |n: usize| MachineNic {
        mac: format!(
            "aa:{:02x}:{:02x}:{:02x}:00:{n:02x}",
            i >> 16 & 255,
            i >> 8 & 255,
            i & 255
        ),
        name: format!("lan{n}"),
        identifier: format!("0000:0{n}:00.0"),
        neighbors: vec![MachineNic {
            mac: format!("bb:00:00:{:02x}:{:02x}:{n:02x}", i >> 8 & 255, i & 255),
            name: format!("swp{}", i % 48 + 1),
            hostname: format!("leaf0{}", n % 2 + 1),
            ..Default::default()
        }],
        ..Default::default()
    };
    let allocated = !i.is_multiple_of(3);
    let net = |id: &str, ip: String, private: bool| MachineNetwork {
        networkid: id.into(),
        projectid: if private { "p1".into() } else { String::new() },
        prefixes: vec![if private {
            "10.0.0.0/16"
        } else {
            "100.64.0.0/16"
        }
        .into()],
        ips: vec![ip],
        destinationprefixes: if private {
            vec![]
        } else {
            vec!["0.0.0.0/0".into()]
        },
        vrf: if private { 30 } else { 104009 },
        asn: 4_200_000_000 + i as u64,
        nat: !private,
        private,
        underlay: false,
        networktype: if private {
            NetworkKind::PrivatePrimaryUnshared
        } else {
            NetworkKind::External
        },
        networktypev2: if private {
            "privateprimaryunshared"
        } else {
            "external"
        }
        .into(),
        nattypev2: if private { "none" } else { "ipv4-masquerade" }.into(),
    };
    Machine {
        id: id.clone(),
        name: id.clone(),
        partitionid: PARTITION.into(),
        rackid: format!("rack-{}", i % 20),
        sizeid: SIZE.into(),
        waiting: !allocated,
        hardware: MachineHardware {
            memory: 256 << 30,
            cpu_cores: 32,
            disks: vec![
                MachineBlockDevice {
                    name: "/dev/nvme0n1".into(),
                    size: 960 << 30,
                },
                MachineBlockDevice {
                    name: "/dev/nvme1n1".into(),
                    size: 960 << 30,
                },
            ],
            nics: (0..4).map(nic).collect(),
            cpus: vec![MetalCpu {
                vendor: "AuthenticAMD".into(),
                model: "AMD EPYC 7543P 32-Core Processor".into(),
                cores: 32,
                threads: 64,
            }],
            ..Default::default()
        },
        bios: MachineBios {
            version: "2.6.3".into(),
            vendor: "American Megatrends Inc.".into(),
            date: "07/14/2023".into(),
        },
        tags: vec![format!("machine.metal-stack.io/rack={}", i % 20)],
        ipmi: MachineIpmi {
            address: format!("10.1.{}.{}:623", i >> 8 & 255, i & 255),
            mac: format!("cc:00:00:{:02x}:{:02x}:01", i >> 8 & 255, i & 255),
            user: "metal".into(),
            password: "not-answered".into(),
            interface: "lanplus".into(),
            bmcversion: "1.74.8".into(),
            powerstate: "ON".into(),
            fru: MachineFru {
                board_mfg: "Supermicro".into(),
                board_part_number: "H12SSL-i".into(),
                product_manufacturer: "Supermicro".into(),
                product_serial: format!("S{i:09}"),
                ..Default::default()
            },
            ..Default::default()
        },
        allocation: allocated.then(|| Allocation {
            allocationuuid: format!("a-{i}"),
            creator: "bench@example.com".into(),
            created: Some(now),
            name: format!("worker-{i}"),
            hostname: format!("worker-{i}"),
            project: "p1".into(),
            // half of them with an image that is still stored
            imageid: if i.is_multiple_of(2) {
                IMAGE.into()
            } else {
                "ubuntu-20.04.20200101".into()
            },
            networks: vec![
                net("tenant", format!("10.0.{}.{}", i >> 8 & 255, i & 255), true),
                net(
                    "internet",
                    format!("100.64.{}.{}", i >> 8 & 255, i & 255),
                    false,
                ),
            ],
            ssh_pub_keys: vec![
                "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKtfM6i5J6Xt4a4nnvbqV bench".into(),
            ],
            succeeded: true,
            role: Role::Machine,
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn events(id: &str, now: chrono::DateTime<chrono::Utc>) -> EventContainer {
    let kinds = [
        EventType::PhonedHome,
        EventType::BootingNewKernel,
        EventType::Installing,
        EventType::Waiting,
        EventType::Registering,
        EventType::Preparing,
        EventType::PxeBooting,
    ];
    let mut c = EventContainer::new(id);
    c.events = (0..12)
        .map(|k| ProvisioningEvent {
            time: now - chrono::Duration::seconds(60 * k as i64),
            event: kinds[k % kinds.len()],
            message: if k % 3 == 0 {
                "metal-hammer 0.13.2".into()
            } else {
                String::new()
            },
        })
        .collect();
    c.last_event_time = Some(now);
    c
}

async fn world(api: &TestApi, n: usize) {
    let c = api.admin();
    c.ok("PUT", "v1/tenant", json!({"meta": {"id": "t"}})).await;
    c.ok(
        "PUT",
        "v1/project",
        json!({"meta": {"id": "p1"}, "tenant_id": "t"}),
    )
    .await;
    c.ok(
        "PUT",
        "v1/partition",
        json!({"id": PARTITION, "name": "Frankfurt", "bootconfig": {"imageurl": "http://images/pxe",
            "kernelurl": "http://images/kernel", "commandline": "console=ttyS0"}}),
    )
    .await;
    c.ok(
        "PUT",
        "v1/size",
        json!({"id": SIZE, "constraints": [{"type": "cores", "min": 32, "max": 32}]}),
    )
    .await;
    c.ok(
        "PUT",
        "v1/image",
        json!({"id": IMAGE, "url": "http://images/debian.tar.lz4", "features": ["machine"]}),
    )
    .await;
    let now = chrono::Utc::now();
    for start in (0..n).step_by(500) {
        let mut ms: Vec<Machine> = (start..n.min(start + 500))
            .map(|i| machine(i, now))
            .collect();
        let mut es: Vec<EventContainer> = ms.iter().map(|m| events(&m.id, now)).collect();
        let mut tx = api.store().begin().await.unwrap();
        metal_store::docs::insert_many(&mut tx, &mut ms)
            .await
            .unwrap();
        metal_store::docs::insert_many(&mut tx, &mut es)
            .await
            .unwrap();
        tx.commit().await.unwrap();
    }
}

fn p50(mut v: Vec<Duration>) -> f64 {
    v.sort();
    v[v.len() / 2].as_secs_f64() * 1000.0
}

/// Reads the documents as the floor does: every row into a string.
async fn floor_once(pool: &sqlx::AnyPool) -> usize {
    let mut bytes = 0;
    for sql in [
        "SELECT doc FROM machines ORDER BY id",
        "SELECT doc FROM event_containers",
    ] {
        for row in sqlx::query(sql).fetch_all(pool).await.unwrap() {
            let doc: String = row.get("doc");
            bytes += doc.len();
        }
    }
    bytes
}

/// Sends the request and reads the answer to its end; the bytes and the count of machines
/// (top-level objects of the array, counted on the way).
async fn read_answer(
    c: &TestClient,
    method: Method,
    path: &str,
    body: Option<&Value>,
) -> (usize, usize) {
    let mut resp = c.send_unread(method, path, body).await;
    assert_eq!(resp.status(), 200, "{path}");
    let (mut bytes, mut depth, mut in_str, mut esc, mut objects) = (0, 0i32, false, false, 0);
    while let Some(chunk) = resp.chunk().await.unwrap() {
        bytes += chunk.len();
        for &b in chunk.iter() {
            if in_str {
                match (esc, b) {
                    (true, _) => esc = false,
                    (false, b'\\') => esc = true,
                    (false, b'"') => in_str = false,
                    _ => {}
                }
                continue;
            }
            match b {
                b'"' => in_str = true,
                b'{' | b'[' => {
                    depth += 1;
                    if depth == 2 && b == b'{' {
                        objects += 1;
                    }
                }
                b'}' | b']' => depth -= 1,
                _ => {}
            }
        }
    }
    assert_eq!(
        depth, 0,
        "{path}: the answer is not one whole JSON document"
    );
    (bytes, objects)
}

fn status_kib(field: &str) -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn reset_peak() {
    // 5: reset the peak resident set size (VmHWM) to the current one
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let env = |k: &str, d: &str| std::env::var(k).unwrap_or_else(|_| d.into());
    let runs: usize = env("BENCH_RUNS", "5").parse().unwrap_or(5);
    let fleets: Vec<usize> = env("BENCH_FLEETS", "1000,10000,50000")
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let backends: Vec<Backend> = env("BENCH_BACKENDS", "sqlite,postgres")
        .split(',')
        .map(|b| {
            if b.trim() == "postgres" {
                Backend::Postgres
            } else {
                Backend::Sqlite
            }
        })
        .collect();
    println!("| backend | machines | floor p50 ms | GET p50 ms | GET / floor | find p50 ms | find / floor | answer MB | RSS stored MiB | of it anonymous MiB | peak RSS listing MiB |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    let mut worst: f64 = 0.0;
    let mut per_machine = Vec::new();
    for backend in backends {
        for &n in &fleets {
            let api = TestApi::start(backend).await.expect("metal-api");
            let t = Instant::now();
            world(&api, n).await;
            eprintln!(
                "{backend:?}: seeded {n} machines in {:.1} s",
                t.elapsed().as_secs_f64()
            );
            let pool = sqlx::AnyPool::connect(&api.db.url).await.unwrap();
            let c = api.client(Caller::View);
            let find_body = json!({"partition_id": PARTITION, "sizeid": SIZE});
            // warm-up: caches of the database and of the server
            let (bytes, count) = read_answer(&c, Method::GET, "v1/machine", None).await;
            assert_eq!(count, n, "GET /v1/machine answers every machine");
            let (_, found) =
                read_answer(&c, Method::POST, "v1/machine/find", Some(&find_body)).await;
            assert_eq!(found, n, "the search finds every machine");
            // memory before the floor has read anything into this process
            let stored = (status_kib("VmRSS:"), status_kib("RssAnon:"));
            reset_peak();
            read_answer(&c, Method::GET, "v1/machine", None).await;
            let listing = status_kib("VmHWM:");
            floor_once(&pool).await;
            let (mut floor, mut get, mut find) = (Vec::new(), Vec::new(), Vec::new());
            for _ in 0..runs {
                let t = Instant::now();
                floor_once(&pool).await;
                floor.push(t.elapsed());
                let t = Instant::now();
                read_answer(&c, Method::GET, "v1/machine", None).await;
                get.push(t.elapsed());
                let t = Instant::now();
                read_answer(&c, Method::POST, "v1/machine/find", Some(&find_body)).await;
                find.push(t.elapsed());
            }
            let (floor, get, find) = (p50(floor), p50(get), p50(find));
            worst = worst.max(get / floor).max(find / floor);
            per_machine.push((backend, n, get / n as f64));
            println!(
                "| {backend:?} | {n} | {floor:.1} | {get:.1} | {:.2} | {find:.1} | {:.2} | {:.1} | {} | {} | {} |",
                get / floor,
                find / floor,
                bytes as f64 / 1e6,
                stored.0 / 1024,
                stored.1 / 1024,
                listing / 1024
            );
            if n == 10_000 {
                let walls = machine_ls::wall_times(&api, n, 3);
                eprintln!("{backend:?}: metalctl machine ls over {n} machines: p50 {:.0} ms wall time (goal < 300 ms)", p50(walls));
            }
            pool.close().await;
            api.stop().await;
        }
    }
    for (backend, n, ms) in &per_machine {
        eprintln!(
            "{backend:?}: {n} machines: {:.1} µs per machine (GET)",
            ms * 1000.0
        );
    }
    println!("ratio: worst GET or find p50 / floor p50 = {worst:.2} (goal <= 3.00)");
}
