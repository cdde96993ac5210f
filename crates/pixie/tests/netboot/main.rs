//! pixie against real protocol peers in network namespaces: busybox udhcpc, tftp-hpa and
//! busybox tftp, isc-dhcp-relay, dnsmasq, iPXE in qemu, and a real metal-api (metal-testkit).
//! Privileged: they run with root and `METAL_PRIVILEGED_TESTS=1` only.

mod full;
mod lab;
mod proxy;
mod relay;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use lab::{Netns, Proc};
use metal_testkit::{until_every, Backend, TestApi};
use serde_json::json;

pub const KERNEL: &[u8] = b"not really a kernel, but served byte by byte";

/// A fake initrd big enough for several TCP segments.
pub fn initrd() -> Vec<u8> {
    (0..200_000u32).map(|i| (i * 7 % 256) as u8).collect()
}

/// metal-api with a partition `fra` whose boot configuration points at a file server of the
/// test, both reachable from the namespaces through the uplink address `ours`.
pub struct World {
    pub api: TestApi,
    pub grpc: SocketAddr,
    pub file_hits: Arc<AtomicUsize>,
}

impl World {
    pub async fn start(ours: Ipv4Addr) -> Self {
        let api = TestApi::start_with(Backend::Sqlite, |c| {
            c.bind_addr = Ipv4Addr::UNSPECIFIED.into();
        })
        .await
        .unwrap();
        let hits = Arc::new(AtomicUsize::new(0));
        let (h1, h2) = (hits.clone(), hits.clone());
        let app = axum::Router::new()
            .route(
                "/vmlinuz",
                axum::routing::get(move || async move {
                    h1.fetch_add(1, Ordering::SeqCst);
                    KERNEL.to_vec()
                }),
            )
            .route(
                "/initrd",
                axum::routing::get(move || async move {
                    h2.fetch_add(1, Ordering::SeqCst);
                    initrd()
                }),
            );
        let l = tokio::net::TcpListener::bind("0.0.0.0:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        tokio::spawn(async move { axum::serve(l, app).await });
        let r = api
            .admin()
            .put(
                "v1/partition",
                json!({
                    "id": "fra", "name": "fra", "description": "pixie test partition",
                    "bootconfig": {
                        "kernelurl": format!("http://{ours}:{port}/vmlinuz"),
                        "imageurl": format!("http://{ours}:{port}/initrd"),
                        "commandline": "console=ttyS0 ip=dhcp"
                    }
                }),
            )
            .await;
        assert!(
            (200..300).contains(&r.status),
            "creating partition: {:?}",
            r.body
        );
        let grpc = SocketAddr::new(ours.into(), api.server.grpc_addr.port());
        Self {
            api,
            grpc,
            file_hits: hits,
        }
    }

    /// The provisioning events metal-api recorded for a machine.
    pub async fn events(&self, uuid: &str) -> Vec<String> {
        let r = self.api.admin().get(&format!("v1/machine/{uuid}")).await;
        r.body["events"]["log"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|e| e["event"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Starts pixie in `ns` and waits until its HTTP server answers on `http_ip`.
pub async fn start_pixie(
    ns: &Netns,
    world: &World,
    dir: &Path,
    http_ip: Ipv4Addr,
    extra: &[&str],
) -> Proc {
    let mut cmd = ns.command(env!("CARGO_BIN_EXE_pixie"));
    cmd.args(["grpc", "--partition", "fra", "--metrics-port", "0"])
        .args(["--grpc-address", &world.grpc.to_string()])
        .args(["--cache-dir", &dir.join("cache").display().to_string()])
        .args(["--metal-api-url", "http://metal-api.test:8080"])
        .args(["--metal-api-view-hmac", "view-hmac-for-tests"])
        .args(extra)
        .env("RUST_LOG", "pixie=debug,info");
    let mut p = Proc::spawn(cmd, dir.join("pixie.log"), "pixie");
    let url = format!("http://{http_ip}:4242/_/booting?mac=00:00:00:00:00:00");
    let client = reqwest::Client::new();
    until_every(
        "pixie to answer HTTP",
        Duration::from_secs(30),
        lab::POLL,
        async || {
            p.assert_running();
            let r = client.get(&url).send().await.ok()?;
            r.status().is_success().then_some(())
        },
    )
    .await;
    p
}

/// The MAC address of an interface in a namespace.
pub fn mac_of(ns: &Netns, iface: &str) -> String {
    ns.run(&["cat", &format!("/sys/class/net/{iface}/address")])
        .trim()
        .to_string()
}

/// Runs busybox udhcpc once in `ns` on `iface` and returns the environment of its `bound`
/// event (`ip`, `siaddr`, `boot_file`, `router`, ...); the interface is left unconfigured.
pub fn udhcpc(
    ns: &Netns,
    iface: &str,
    dir: &Path,
    extra: &[&str],
) -> Option<Vec<(String, String)>> {
    let n = lab::tag();
    let env = dir.join(format!("udhcpc-{n}.env"));
    let script = dir.join(format!("udhcpc-{n}.sh"));
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\n[ \"$1\" = bound ] && env > {}\nexit 0\n",
            env.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let script_s = script.display().to_string();
    let mut args = vec![
        "busybox", "udhcpc", "-f", "-q", "-n", "-t", "6", "-T", "1", "-i", iface, "-s", &script_s,
    ];
    args.extend_from_slice(extra);
    let out = ns.command(args[0]).args(&args[1..]).output().unwrap();
    let text = std::fs::read_to_string(&env).ok();
    if text.is_none() {
        eprintln!("udhcpc: {}", String::from_utf8_lossy(&out.stderr));
    }
    Some(
        text?
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    )
}

pub fn var<'a>(env: &'a [(String, String)], k: &str) -> &'a str {
    env.iter()
        .find(|(key, _)| key == k)
        .map(|(_, v)| v.as_str())
        .unwrap_or("")
}
