//! The machine simulator against a real metal-api (SQLite and PostgreSQL): six machines in two
//! racks register through their leaf switches and wait, three are allocated, install, report
//! and phone home, freed ones come back to waiting; the simulator survives metal-api
//! connections breaking; the `metal-lab` binary runs until SIGTERM and exits 0.

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;

use metal_sim::poll::equals;
use metal_sim::sim::{Phase, SimConfig, SimHandle, Simulator};
use metal_testkit::{backend_test, until, Backend, Caller, FaultProxy, TestApi, TestClient};
use serde_json::{json, Value};

const DEADLINE: Duration = Duration::from_secs(60);

/// Tenant and projects, partition `fra` with a boot configuration, a private super network,
/// a size that matches the simulated hardware (4 cores, 64 GiB, 100 GiB), an image, a
/// filesystem layout, and a tenant network of p1 (whose id is returned).
async fn world(api: &TestApi) -> String {
    let c = api.admin();
    let ok = |r: metal_testkit::TestResponse| {
        assert!(r.status == 200 || r.status == 201, "{:?}", r.body);
        r
    };
    ok(
        c.put("v1/tenant", json!({"meta": {"id": "acme"}, "name": "acme"}))
            .await,
    );
    ok(c.put(
        "v1/project",
        json!({"meta": {"id": "p1"}, "name": "p1", "tenant_id": "acme"}),
    )
    .await);
    ok(c.put("v1/partition", json!({
        "id": "fra", "name": "fra", "description": "simulated partition", "privatenetworkprefixlength": 24,
        "bootconfig": {"imageurl": "http://images.test/hammer.img", "kernelurl": "http://images.test/vmlinuz", "commandline": "console=ttyS0"}
    })).await);
    ok(c.put("v1/network", json!({"id": "super", "partitionid": "fra", "prefixes": ["10.0.0.0/16"], "destinationprefixes": [],
        "privatesuper": true, "nat": false, "underlay": false}))
        .await);
    let gib = 1u64 << 30;
    ok(c.put(
        "v1/size",
        json!({"id": "n1-medium-x86", "constraints": [
        {"type": "cores", "min": 4, "max": 4},
        {"type": "memory", "min": 32 * gib, "max": 128 * gib},
        {"type": "storage", "min": 50 * gib, "max": 200 * gib}]}),
    )
    .await);
    ok(c.put(
        "v1/image",
        json!({"id": "ubuntu-22.04.20240101", "url": "http://images.test/ubuntu.tar.lz4", "features": ["machine"]}),
    )
    .await);
    ok(c.put("v1/filesystemlayout", json!({"id": "default", "constraints": {"sizes": ["n1-medium-x86"], "images": {"ubuntu": "*"}},
        "disks": [{"device": "/dev/sda", "wipeonreinstall": true, "partitions": [{"number": 1, "size": 0, "gpttype": "8300"}]}],
        "filesystems": [{"path": "/", "device": "/dev/sda1", "format": "ext4"}]}))
    .await);
    let r = ok(c
        .post(
            "v1/network/allocate",
            json!({"partitionid": "fra", "projectid": "p1", "name": "p1-net"}),
        )
        .await);
    r.body["id"].as_str().unwrap().to_string()
}

/// A simulator configuration for tests: the given machines and racks, short intervals.
fn config(api: &TestApi, grpc: SocketAddr, machines: usize, racks: usize) -> SimConfig {
    let mut c = SimConfig::new(grpc.to_string(), api.url(), api.keys.edit.clone(), "fra");
    c.machines = machines;
    c.racks = racks;
    c.seed = 7;
    c.phone_home_interval = Duration::from_millis(300);
    c.alive_interval = Duration::from_millis(500);
    c.reclaim_poll_interval = Duration::from_millis(200);
    c.wait_retry = Duration::from_millis(200);
    c.crash_reboot_delay = Duration::from_millis(200);
    c.min_backoff = Duration::from_millis(50);
    c.max_backoff = Duration::from_millis(500);
    c
}

async fn allocatable(c: &TestClient) -> u64 {
    let r = c.post("v1/partition/capacity", json!({"id": "fra"})).await;
    r.body[0]["servers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|s| s["size"] == "n1-medium-x86")
        .map(|s| s["allocatable"].as_u64().unwrap_or(0))
        .sum()
}

fn newest_event(m: &Value) -> &str {
    m["events"]["log"][0]["event"].as_str().unwrap_or("")
}

async fn allocate(c: &TestClient, tenant: &str, name: &str) -> String {
    let body = json!({"projectid": "p1", "partitionid": "fra", "sizeid": "n1-medium-x86", "imageid": "ubuntu-22.04",
        "name": name, "hostname": name, "networks": [{"networkid": tenant}]});
    let r = c.post("v1/machine/allocate", body).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    r.body["id"].as_str().unwrap().to_string()
}

/// Installed as metal-api sees it: boot info reported, and metal-core phoned home.
async fn installed_and_phoned_home(c: &TestClient, id: &str) -> bool {
    let m = c.get(&format!("v1/machine/{id}")).await.body;
    m["allocation"]["boot_info"]["primary_disk"] == "/dev/sda"
        && m["allocation"]["boot_info"]["image_id"] == "ubuntu-22.04.20240101"
        && m["allocation"]["boot_info"]["os_partition"] == "/dev/sda1"
        && newest_event(&m) == "Phoned Home"
}

/// Waiting again as metal-api sees it: not allocated, newest event Waiting.
async fn waiting_again(c: &TestClient, h: &SimHandle, id: &str) -> bool {
    let m = c.get(&format!("v1/machine/{id}")).await.body;
    h.phase(id) == Some(Phase::Waiting)
        && m["allocation"].is_null()
        && newest_event(&m) == "Waiting"
}

backend_test!(six_machines_in_two_racks, |api| {
    let tenant = world(api).await;
    let c = api.client(Caller::Edit);
    let sim = Simulator::start(config(api, api.server.grpc_addr, 6, 2))
        .await
        .unwrap();
    let h = sim.handle();
    h.wait_for_count(Phase::Waiting, 6, DEADLINE).await.unwrap();
    until("6 allocatable machines", DEADLINE, async || {
        equals(allocatable(&c).await, 6)
    })
    .await;

    // the cabling: every leaf has three machines, every machine its rack and size
    assert_eq!(h.switches().len(), 4);
    for s in h.switches() {
        let sw = c.get(&format!("v1/switch/{}", s.id)).await.body;
        assert_eq!(sw["rack_id"], s.rack_id.as_str(), "{sw}");
        assert_eq!(sw["connections"].as_array().unwrap().len(), 3, "{sw}");
    }
    for spec in h.machine_specs() {
        let m = c.get(&format!("v1/machine/{}", spec.id)).await.body;
        assert_eq!(m["rackid"], spec.rack_id.as_str(), "{m}");
        assert_eq!(m["size"]["id"], "n1-medium-x86", "{m}");
        assert_eq!(m["partition"]["id"], "fra", "{m}");
        assert_eq!(m["hardware"]["cpu_cores"], 4, "{m}");
        assert_eq!(m["liveliness"], "Alive", "{m}");
    }

    // three allocations: installed, reported, phoned home
    let mut allocated = Vec::new();
    for i in 0..3 {
        allocated.push(allocate(&c, &tenant, &format!("web-{i}")).await);
    }
    for id in &allocated {
        until(&format!("{id} installed and phoned home"), DEADLINE, || {
            installed_and_phoned_home(&c, id)
        })
        .await;
    }
    let counts = h
        .wait_until("3 phoned home, 3 waiting", DEADLINE, |c| {
            c.get(Phase::PhonedHome) == 3 && c.get(Phase::Waiting) == 3
        })
        .await
        .unwrap();
    assert_eq!(counts.total(), 6);
    assert_eq!(allocatable(&c).await, 3);
    // the switch ports of an installed machine are in the tenant VRF
    let vrf = c.get(&format!("v1/network/{tenant}")).await.body["vrf"]
        .as_u64()
        .unwrap();
    let spec = h
        .machine_specs()
        .iter()
        .find(|m| m.id == allocated[0])
        .unwrap();
    let sw = c
        .get(&format!("v1/switch/{}", spec.nics[0].switch_id))
        .await
        .body;
    let port = sw["nics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == spec.nics[0].port_name.as_str())
        .unwrap();
    assert_eq!(port["vrf"], format!("vrf{vrf}"), "{sw}");

    // freed over REST: the reclaim poll notices and the machine comes back to waiting
    assert_eq!(
        c.delete(&format!("v1/machine/{}/free", allocated[0]))
            .await
            .status,
        200
    );
    until("the freed machine waiting again", DEADLINE, || {
        waiting_again(&c, &h, &allocated[0])
    })
    .await;
    // freed through the handle: rebooted at once
    h.free(&allocated[1]).await.unwrap();
    until("the second freed machine waiting again", DEADLINE, || {
        waiting_again(&c, &h, &allocated[1])
    })
    .await;
    until("5 allocatable machines", DEADLINE, async || {
        equals(allocatable(&c).await, 5)
    })
    .await;
    let info = h.machines();
    for id in &allocated[..2] {
        let m = info.iter().find(|m| &m.id == id).unwrap();
        assert_eq!(m.boots, 2, "{m:?}");
        assert_eq!(m.crashes, 0, "{m:?}");
    }
    assert!(info.iter().all(|m| m.crashes == 0), "{info:?}");
    assert_eq!(h.count(Phase::PhonedHome), 1);
    assert_eq!(h.count(Phase::Waiting), 5);
    // the one still installed keeps phoning home
    assert!(installed_and_phoned_home(&c, &allocated[2]).await);

    // reinstall: the machine boots into the installer again, reports, and the flag clears
    let admin = api.admin();
    let id = allocated[2].clone();
    let r = admin
        .post(
            &format!("v1/machine/{id}/reinstall"),
            json!({"id": id, "imageid": "ubuntu-22.04.20240101"}),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["allocation"]["reinstall"], true);
    until("the reinstall to be reported", DEADLINE, || {
        let c = c.clone();
        let id = id.clone();
        async move {
            let m = c.get(&format!("v1/machine/{id}")).await.body;
            m["allocation"]["reinstall"] == false && m["events"]["log"][0]["event"] == "Phoned Home"
        }
    })
    .await;
    let m = h.machines().into_iter().find(|m| m.id == id).unwrap();
    assert_eq!(m.boots, 2, "installed a second time: {m:?}");

    sim.stop().await;
});

/// The gRPC connections break and the port is closed for a while, as when metal-api restarts:
/// the machines keep waiting (Wait reopened), and an allocation afterwards installs. Dropping
/// the simulator stops it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn survives_a_metal_api_restart() {
    let api = TestApi::start(Backend::Sqlite).await.unwrap();
    let tenant = world(&api).await;
    let c = api.client(Caller::Edit);
    let mut proxy = FaultProxy::start(api.server.grpc_addr).await.unwrap();
    let sim = Simulator::start(config(&api, proxy.addr(), 2, 1))
        .await
        .unwrap();
    let h = sim.handle();
    h.wait_for_count(Phase::Waiting, 2, DEADLINE).await.unwrap();
    until("2 allocatable machines", DEADLINE, async || {
        equals(allocatable(&c).await, 2)
    })
    .await;

    proxy.down().await;
    // metal-api notices the streams are gone: nothing is allocatable while the port is closed
    until("no allocatable machine", DEADLINE, async || {
        equals(allocatable(&c).await, 0)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    proxy.up().await.unwrap();

    // the Wait streams are reopened
    until("2 allocatable machines again", DEADLINE, async || {
        equals(allocatable(&c).await, 2)
    })
    .await;
    let id = allocate(&c, &tenant, "after-restart").await;
    until("the machine installed after the restart", DEADLINE, || {
        installed_and_phoned_home(&c, &id)
    })
    .await;
    h.wait_for_phase(&id, Phase::PhonedHome, DEADLINE)
        .await
        .unwrap();
    assert!(
        h.machines().iter().all(|m| m.crashes == 0),
        "{:?}",
        h.machines()
    );
    // dropping the simulator stops it: the Wait stream of the other machine closes
    drop(sim);
    until(
        "no allocatable machine after the drop",
        DEADLINE,
        async || equals(allocatable(&c).await, 0),
    )
    .await;
    proxy.down().await;
    api.stop().await;
}

/// `metal-lab sim` registers machines and exits 0 on SIGTERM.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metal_lab_binary_runs_until_sigterm() {
    let api = TestApi::start(Backend::Sqlite).await.unwrap();
    world(&api).await;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_metal-lab"))
        .args([
            "sim",
            "--machines",
            "2",
            "--racks",
            "1",
            "--log-interval",
            "0.2",
        ])
        .env("METAL_LAB_API_URL", api.url())
        .env("METAL_LAB_GRPC_ADDR", api.server.grpc_addr.to_string())
        .env("METAL_LAB_HMAC", &api.keys.edit)
        .env("METAL_LAB_PARTITION", "fra")
        .env("METAL_LAB_PHONE_HOME_INTERVAL", "0.5")
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    // the log, line by line
    let (lines_tx, mut lines) = tokio::sync::mpsc::unbounded_channel::<String>();
    let stderr = child.stderr.take().unwrap();
    let reader = tokio::spawn(async move {
        use tokio::io::AsyncBufReadExt;
        let mut r = tokio::io::BufReader::new(stderr).lines();
        while let Ok(Some(line)) = r.next_line().await {
            let _ = lines_tx.send(line);
        }
    });
    let mut log = Vec::new();
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while !log
        .last()
        .is_some_and(|l: &String| l.contains("machines: waiting=2"))
    {
        match tokio::time::timeout_at(deadline, lines.recv()).await {
            Ok(Some(line)) => log.push(line),
            _ => panic!("no log line with 2 waiting machines:\n{}", log.join("\n")),
        }
    }
    let c = api.client(Caller::View);
    until("2 machines registered and waiting", DEADLINE, async || {
        let r = c.get("v1/machine").await;
        let waiting = r
            .body
            .as_array()
            .into_iter()
            .flatten()
            .filter(|m| {
                m["size"]["id"] == "n1-medium-x86"
                    && m["rackid"] == "fra-rack01"
                    && newest_event(m) == "Waiting"
            })
            .count();
        equals(waiting, 2)
    })
    .await;
    until("allocatable machines", DEADLINE, async || {
        equals(allocatable(&c).await, 2)
    })
    .await;

    let pid = child.id().unwrap();
    let kill = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("metal-lab exits after SIGTERM")
        .unwrap();
    reader.await.unwrap();
    while let Ok(line) = lines.try_recv() {
        log.push(line);
    }
    let log = log.join("\n");
    assert!(status.success(), "{status:?}\n{log}");
    assert!(log.contains("stopping the simulation"), "{log}");
    assert!(log.contains("machines at stop: waiting=2"), "{log}");
    // the Wait streams are closed: metal-api no longer offers the machines
    until(
        "no allocatable machine after the exit",
        DEADLINE,
        async || equals(allocatable(&c).await, 0),
    )
    .await;
    api.stop().await;
}
