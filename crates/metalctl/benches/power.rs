//! Power-off latency: from `metalctl machine power off <id>` to the simulated BMC (OpenIPMI
//! `ipmi_sim` on loopback) being off, through metal-api's command queue, its gRPC command
//! stream and metal-bmc (in-process) running ipmitool. Also from the REST call alone (no
//! metalctl process start). SQLite and PostgreSQL.
//!
//! `cargo bench -p metalctl --bench power` (needs ipmi_sim and ipmitool).

use std::sync::Arc;
use std::time::{Duration, Instant};

use metal_bmc::agent::{grpc_channel, Agent, Settings};
use metal_bmc::bmc::{Access, Credentials, Protocol};
use metal_sim::ipmisim::{free_udp_port, lease_file, IpmiSim, SimBmc};
use metal_testkit::{until_every, Backend, TestApi};
use serde_json::json;

const ID: &str = "7b2d0e4e-0b7a-4f65-9a3b-1f00000000aa";
const ROUNDS: usize = 20;

/// Waits (polling every millisecond) until the simulated BMC is powered `on` or off.
async fn until_power(sim: &IpmiSim, on: bool) {
    until_every(
        "the BMC to switch",
        Duration::from_secs(30),
        Duration::from_millis(1),
        async || sim.powered() == on,
    )
    .await;
}

fn stats(name: &str, mut v: Vec<Duration>) {
    v.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{name:<44} median {:>7.1} ms  p95 {:>7.1} ms  max {:>7.1} ms  (n={})",
        ms(v[v.len() / 2]),
        ms(v[(v.len() * 95 / 100).min(v.len() - 1)]),
        ms(v[v.len() - 1]),
        v.len()
    );
}

async fn run(backend: Backend) {
    let api = TestApi::start(backend).await.unwrap();
    let r = api
        .admin()
        .put("v1/partition", json!({"id": "fra", "name": "fra"}))
        .await;
    assert_eq!(r.status, 201);
    let ip = "127.0.0.21";
    let port = free_udp_port(&[ip]);
    let bmc = SimBmc::example(ID, "bench-secret", 1);
    let sim = IpmiSim::start(ip, port, &bmc).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let leases = dir.path().join("dhcpd.leases");
    std::fs::write(&leases, lease_file(&[ip])).unwrap();
    let agent = Agent {
        settings: Arc::new(Settings {
            agent: "bench".into(),
            report_interval: Duration::from_secs(3600),
            ..Settings::new(
                "fra",
                leases,
                Credentials {
                    user: "ADMIN".into(),
                    password: "bench-secret".into(),
                },
                Access {
                    protocol: Protocol::Ipmi,
                    ipmi_port: port,
                    redfish_port: 443,
                    timeout: Duration::from_secs(5),
                },
            )
        }),
        rest: metal_client::Client::builder(&api.url())
            .hmac(api.keys.edit.clone(), metal_client::HmacAuthType::Edit)
            .build()
            .unwrap(),
        grpc: grpc_channel(&format!("http://{}", api.server.grpc_addr), None).unwrap(),
    };
    agent.report_once().await.unwrap();
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let consumer = tokio::spawn(agent.clone().commands(stop_rx));
    let home = tempfile::tempdir().unwrap();
    let metalctl = |args: &[&str]| {
        let mut c = tokio::process::Command::new(env!("CARGO_BIN_EXE_metalctl"));
        c.args(args)
            .env("HOME", home.path())
            .env("METALCTL_API_URL", api.url())
            .env("METALCTL_HMAC", &api.keys.admin)
            .stdout(std::process::Stdio::null());
        c
    };
    let client = api.admin();
    let (mut via_ctl, mut via_rest) = (Vec::new(), Vec::new());
    for i in 0..ROUNDS * 2 {
        client
            .post(&format!("v1/machine/{ID}/power/on"), json!([]))
            .await;
        until_power(&sim, true).await;
        let t0 = Instant::now();
        if i % 2 == 0 {
            let status = metalctl(&["machine", "power", "off", ID])
                .status()
                .await
                .unwrap();
            assert!(status.success());
            until_power(&sim, false).await;
            via_ctl.push(t0.elapsed());
        } else {
            let r = client
                .post(&format!("v1/machine/{ID}/power/off"), json!([]))
                .await;
            assert_eq!(r.status, 200);
            until_power(&sim, false).await;
            via_rest.push(t0.elapsed());
        }
    }
    let name = format!("{backend:?}");
    stats(&format!("{name}: metalctl power off -> BMC off"), via_ctl);
    stats(&format!("{name}: REST power/off -> BMC off"), via_rest);
    let _ = stop.send(true);
    let _ = consumer.await;
    drop(sim);
    api.stop().await;
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        run(backend).await;
    }
}
