//! `metal-core run` against real LLDP frames and a real metal-api: it registers its switch with
//! its port (name and MAC); an "installed machine" in a network namespace sends `provisioned
//! since …` beacons on its end of a veth pair; metal-core listens on the other end (the switch
//! port) and metal-api records `Phoned Home` for the machines that sent beacons, not for one
//! that only sent metal-hammer's announcement. Runs with root and `METAL_PRIVILEGED_TESTS=1`
//! only.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use metal_testkit::{until_every, Backend, TestApi};

struct Lab {
    ns: String,
    port: String,
    core: Option<Child>,
}

impl Drop for Lab {
    fn drop(&mut self) {
        if let Some(mut c) = self.core.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = Command::new("ip")
            .args(["link", "del", &self.port])
            .status();
        let _ = Command::new("ip").args(["netns", "del", &self.ns]).status();
    }
}

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("ip");
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Sends beacons from inside the namespace: a thread that enters it and starts the senders.
fn send_from(ns: &str, iface: &str, frames: Vec<(String, String)>) {
    let (ns, iface) = (ns.to_string(), iface.to_string());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let f = std::fs::File::open(format!("/run/netns/{ns}")).expect("netns file");
        nix::sched::setns(f, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
        for (name, desc) in frames {
            let n = metal_lldp::send(
                std::slice::from_ref(&iface),
                Duration::from_millis(500),
                move |mac| metal_lldp::build_frame(mac, &name, &desc, 120),
            )
            .expect("LLDP sender");
            assert_eq!(n, 1);
        }
        tx.send(()).unwrap();
    });
    rx.recv_timeout(Duration::from_secs(10))
        .expect("senders started");
}

async fn events(api: &TestApi, id: &str) -> Vec<String> {
    let r = api.admin().get(&format!("v1/machine/{id}")).await;
    r.body["events"]["log"]
        .as_array()
        .map(|l| {
            l.iter()
                .filter_map(|e| e["event"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn beacons_become_phoned_home_events() {
    let test = "beacons_become_phoned_home_events";
    if !metal_testkit::privileged(test, &[("ip", "iproute2")]) {
        return;
    }
    let tag = std::process::id() % 100_000;
    let mut lab = Lab {
        ns: format!("mcore{tag}"),
        port: format!("mcswp{tag}"),
        core: None,
    };
    let machine_if = format!("mceth{tag}");
    ip(&["netns", "add", &lab.ns]);
    ip(&[
        "link",
        "add",
        &lab.port,
        "type",
        "veth",
        "peer",
        "name",
        &machine_if,
    ]);
    ip(&["link", "set", &machine_if, "netns", &lab.ns]);
    ip(&["link", "set", &lab.port, "up"]);
    ip(&["-n", &lab.ns, "link", "set", &machine_if, "up"]);

    let api = TestApi::start(Backend::Sqlite).await.unwrap();
    let r = api
        .admin()
        .put(
            "v1/partition",
            serde_json::json!({"id": "p1", "name": "p1", "description": "test"}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    lab.core = Some(
        Command::new(env!("CARGO_BIN_EXE_metal-core"))
            .args(["--grpc-address", &api.server.grpc_addr.to_string()])
            .args([
                "run",
                "--partition-id",
                "p1",
                "--rack-id",
                "rack-1",
                "--switch-id",
                "leaf-test",
                "--metal-api-ip",
                "127.0.0.1",
                "--metal-api-port",
                &api.server.addr.port().to_string(),
                "--management-ip",
                "192.0.2.1",
                // only this test's port, not other links of the host
                "--port-prefix",
                &lab.port,
                "--interval-secs",
                "1",
                // the reconcile loop renders (a dry run: no --reconfigure-switch) every run
                "--cidr",
                "10.255.255.2/24",
                "--eth0-cidr",
                "192.0.2.1/24",
                // no metrics listener on 0.0.0.0:2112 from a test
                "--metrics-address",
                "",
            ])
            .env("METAL_CORE_HMAC_KEY", &api.keys.edit)
            .env("METAL_CORE_LOG_LEVEL", "debug")
            .stdout(Stdio::null())
            .spawn()
            .expect("metal-core"),
    );
    let m1 = "5b0e3a56-0000-4000-8000-000000000001";
    let m2 = "5b0e3a56-0000-4000-8000-000000000002";
    let m3 = "5b0e3a56-0000-4000-8000-000000000003";
    send_from(
        &lab.ns,
        &machine_if,
        vec![
            (m1.into(), "provisioned since 2026-11-21T10:00:00Z".into()),
            (m2.into(), "provisioned since 2026-11-21T11:00:00Z".into()),
            (
                m3.into(),
                "metal-hammer IP:10.0.0.7 version:0.1.0 waiting since x for installation".into(),
            ),
        ],
    );
    until_every(
        "Phoned Home of both machines",
        Duration::from_secs(30),
        Duration::from_millis(200),
        async || {
            let (e1, e2) = (events(&api, m1).await, events(&api, m2).await);
            if e1.iter().any(|e| e == "Phoned Home") && e2.iter().any(|e| e == "Phoned Home") {
                return Ok(());
            }
            if let Some(c) = lab.core.as_mut() {
                assert!(c.try_wait().unwrap().is_none(), "metal-core exited");
            }
            Err(format!("no Phoned Home: {e1:?} {e2:?}"))
        },
    )
    .await;
    // the switch registered itself with its port, whose MAC is the LLDP port id machines see
    let mac = std::fs::read_to_string(format!("/sys/class/net/{}/address", lab.port))
        .unwrap()
        .trim()
        .to_string();
    let sw = api.admin().get("v1/switch/leaf-test").await;
    assert_eq!(sw.status, 200, "{:?}", sw.body);
    assert_eq!(sw.body["rack_id"], "rack-1", "{:?}", sw.body);
    assert_eq!(sw.body["partition"]["id"], "p1", "{:?}", sw.body);
    assert_eq!(sw.body["management_ip"], "192.0.2.1", "{:?}", sw.body);
    let nics = sw.body["nics"].as_array().unwrap();
    assert_eq!(nics.len(), 1, "{nics:?}");
    assert_eq!(nics[0]["name"], lab.port.as_str());
    assert_eq!(nics[0]["mac"], mac.as_str());
    // the machine that only announced itself as waiting did not phone home
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(!events(&api, m3).await.iter().any(|e| e == "Phoned Home"));
    drop(lab);
    api.stop().await;
}
