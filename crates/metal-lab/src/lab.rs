//! `metal-lab up` and `env` (the lab's [`State`]); `status` and `down` are in their own modules.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use metal_client::{Client, HmacAuthType, Method};
use metal_sim::poll::try_until;
use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::plan::{
    Plan, API_PORT, BMC_NET_IP, BMC_USER, DHCP_FIRST, DHCP_LAST, GRPC_PORT, IMAGES_PORT, LEAVES,
    METRICS_PORT, MGMT_IP, PARTITION, PXE_PREFIX_LEN,
};
use crate::procs::{self, Daemon};
use crate::{artifacts, machine, net, seed};

pub use crate::down::down;
pub use crate::status::{daemons, status};

/// What `up` decided and later commands need; `lab.json` in the lab directory (mode 0600: it
/// holds the HMAC keys).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct State {
    pub name: String,
    pub dir: PathBuf,
    pub machines: usize,
    pub api_port: u16,
    pub hmac_view: String,
    pub hmac_edit: String,
    pub hmac_admin: String,
    pub bmc_password: String,
    pub private_network: String,
    pub started: String,
    /// the leaves are nodes of the fabric guest (`up --routed`)
    #[serde(default)]
    pub routed: bool,
    /// the fabric guest's command service takes requests with this token (`metal-lab exec`)
    #[serde(default)]
    pub exec_token: String,
}

impl State {
    pub fn load(dir: &Path) -> anyhow::Result<State> {
        let path = dir.join("lab.json");
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("no lab in {} (metal-lab up makes one)", dir.display()))?;
        serde_json::from_str(&text).with_context(|| format!("reading {}", path.display()))
    }

    fn save(&self) -> anyhow::Result<()> {
        let path = self.dir.join("lab.json");
        metal_util::fs::write_private(&path, serde_json::to_string_pretty(self)?.as_bytes())
            .map_err(|e| anyhow::anyhow!("writing {}: {e}", path.display()))
    }

    pub fn plan(&self) -> anyhow::Result<Plan> {
        Plan::new(&self.name, &self.dir, self.machines)?.routed(self.routed)
    }

    /// metal-api's REST URL on the host (through `metal-lab forward`).
    pub fn api_url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.api_port)
    }

    pub fn client(&self) -> anyhow::Result<Client> {
        Client::builder(&self.api_url())
            .hmac(self.hmac_admin.clone(), HmacAuthType::Admin)
            .timeout(Duration::from_secs(20))
            .build()
            .context("metal-api client")
    }

    /// The `export` lines of `metal-lab env`.
    pub fn env(&self) -> String {
        format!(
            "export METALCTL_API_URL={}\nexport METALCTL_HMAC={}\nexport METALCTL_HMAC_AUTH_TYPE=Metal-Admin\n",
            self.api_url(),
            self.hmac_admin
        )
    }
}

/// Options of `metal-lab up`.
#[derive(Debug, Clone)]
pub struct UpOptions {
    pub name: String,
    pub dir: PathBuf,
    pub machines: usize,
    /// 0: any free port
    pub api_port: u16,
    /// where metal-api, pixie, metal-bmc, metal-core, metal-hammer and metal-lldpd are
    pub bin_dir: PathBuf,
    pub power_on: bool,
    /// seconds between two phone-home batches of metal-core
    pub phone_home_interval: u64,
    /// the leaves as Cumulus-style switches in the fabric guest, machines PXE-booting through
    /// their DHCP relays ([`crate::routed`])
    pub routed: bool,
    /// also build and register the Debian machine and firewall images ([`crate::images`])
    pub debian_images: bool,
}

const BINARIES: &[&str] = &[
    "metal-api",
    "pixie",
    "metal-bmc",
    "metal-core",
    "metal-hammer",
    "metal-lldpd",
];

/// What building and running the fabric guest of a routed lab takes beyond [`TOOLS`].
const ROUTED_TOOLS: &[(&str, &str)] = &[("debootstrap", "debootstrap"), ("mkfs.ext4", "e2fsprogs")];

/// What building the Debian images takes beyond [`TOOLS`].
const IMAGE_TOOLS: &[(&str, &str)] = &[
    ("debootstrap", "debootstrap"),
    ("lz4", "lz4"),
    ("tar", "tar"),
    ("strip", "binutils"),
];

const TOOLS: &[(&str, &str)] = &[
    ("ip", "iproute2"),
    ("ipmi_sim", "openipmi"),
    ("ipmitool", "ipmitool"),
    ("qemu-system-x86_64", "qemu-system-x86"),
    ("qemu-img", "qemu-utils"),
    ("busybox", "busybox-static"),
    ("sgdisk", "gdisk"),
    ("mdadm", "mdadm"),
    ("lvm", "lvm2"),
    ("kexec", "kexec-tools"),
    ("mkfs.ext4", "e2fsprogs"),
    ("mkfs.fat", "dosfstools"),
    ("ssh-keygen", "openssh-client"),
];

/// The directory of this executable (where cargo puts the workspace's other binaries).
pub fn default_bin_dir() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .unwrap_or_else(|| PathBuf::from("."))
}

fn check_host(bin_dir: &Path, routed: bool, debian_images: bool) -> anyhow::Result<()> {
    if !nix::unistd::geteuid().is_root() {
        bail!("metal-lab makes network namespaces and tap devices: run it as root");
    }
    let image_bins: &[&str] = if debian_images {
        &["os-installer", "droptailer-client"]
    } else {
        &[]
    };
    let missing: Vec<String> = BINARIES
        .iter()
        .chain(image_bins)
        .filter(|b| !bin_dir.join(b).is_file())
        .map(|b| b.to_string())
        .collect();
    if !missing.is_empty() {
        bail!(
            "{} not found in {}: build them first (cargo build --release --bins), or give --bin-dir",
            missing.join(", "),
            bin_dir.display()
        );
    }
    let extra = if routed { ROUTED_TOOLS } else { &[] };
    let images = if debian_images { IMAGE_TOOLS } else { &[] };
    let missing: Vec<String> = TOOLS
        .iter()
        .chain(extra)
        .chain(images)
        .filter(|(t, _)| metal_sim::vm::initramfs::find_program(t).is_err())
        .map(|(t, p)| format!("{t} (package {p})"))
        .collect();
    if !missing.is_empty() {
        bail!(
            "missing tools: {} (.ci/run installs them)",
            missing.join(", ")
        );
    }
    for f in [
        metal_sim::vm::qemu::OVMF_CODE,
        metal_sim::vm::qemu::OVMF_VARS,
    ] {
        if !Path::new(f).is_file() {
            bail!("{f} is missing (package ovmf)");
        }
    }
    Ok(())
}

fn random_hex(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    rand::thread_rng().fill(&mut b[..]);
    hex::encode(b)
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()?
        .port())
}

/// Brings the lab up. On any failure everything made so far is removed again.
pub async fn up(o: UpOptions) -> anyhow::Result<State> {
    // the request first, then the lab already there, then the host: nothing is made before
    let plan = Plan::new(&o.name, &o.dir, o.machines)?.routed(o.routed)?;
    let left = net::lab_namespaces(&o.name)?;
    if !left.is_empty() || plan.state_file().exists() {
        bail!(
            "a lab named {:?} is up or was left behind ({}): metal-lab down first",
            o.name,
            if left.is_empty() {
                plan.state_file().display().to_string()
            } else {
                left.join(", ")
            }
        );
    }
    check_host(&o.bin_dir, o.routed, o.debian_images)?;
    for d in [plan.run_dir(), plan.log_dir()] {
        std::fs::create_dir_all(&d).with_context(|| format!("creating {}", d.display()))?;
    }
    match bring_up(&plan, &o).await {
        Ok(s) => Ok(s),
        Err(e) => {
            eprintln!("metal-lab up failed: {e:#}\nremoving what was made");
            let logs = plan.log_dir();
            if let Err(d) = down(&o.name, &o.dir, true) {
                eprintln!("cleaning up failed too: {d:#}");
            }
            Err(e.context(format!(
                "the daemons' logs were in {} (removed; keep them with METAL_LAB_KEEP=1)",
                logs.display()
            )))
        }
    }
}

fn step(started: Instant, what: &str) {
    eprintln!("[{:6.1}s] {what}", started.elapsed().as_secs_f64());
}

async fn bring_up(plan: &Plan, o: &UpOptions) -> anyhow::Result<State> {
    let t0 = Instant::now();
    let bin = |b: &str| o.bin_dir.join(b);
    let api_port = if o.api_port == 0 {
        free_port()?
    } else {
        o.api_port
    };
    let mut state = State {
        name: plan.name.clone(),
        dir: plan.dir.clone(),
        machines: plan.machines,
        api_port,
        hmac_view: random_hex(24),
        hmac_edit: random_hex(24),
        hmac_admin: random_hex(24),
        bmc_password: random_hex(8),
        private_network: String::new(),
        started: chrono::Utc::now().to_rfc3339(),
        routed: o.routed,
        exec_token: random_hex(24),
    };
    state.save()?;
    // the key `metal-lab ssh` logs in with; allocations take its .pub
    crate::ssh::ensure_key(&plan.dir)?;

    let (hammer, lldpd) = (bin("metal-hammer"), bin("metal-lldpd"));
    let files = plan.files_dir();
    let art =
        tokio::task::spawn_blocking(move || artifacts::build(&files, &hammer, &lldpd)).await??;
    step(
        t0,
        &format!(
            "kernel {}, metal-hammer ramdisk and OS image ({} MB) built",
            art.kernel_version,
            art.image.compressed_bytes / 1_000_000
        ),
    );

    let guest = if o.routed {
        let g = tokio::task::spawn_blocking(|| {
            metal_sim::vm::debian::DebianGuest::get(&metal_sim::vm::debian::NETWORK)
        })
        .await??;
        step(t0, "the fabric guest's Debian image is ready");
        Some(g)
    } else {
        None
    };

    net::create(plan)?;
    for m in plan.all_machines() {
        machine::prepare(&m, &state.bmc_password)?;
    }
    step(t0, "network namespaces, bridges, cables and taps made");

    let (run, logs) = (plan.run_dir(), plan.log_dir());
    let (mgmt, hosts) = (plan.ns_mgmt(), plan.ns_hosts());
    let spawn = |d: Daemon| d.spawn(&run, &logs);
    let api_dir = plan.dir.join("api");
    spawn(
        Daemon::new("metal-api", bin("metal-api"))
            .netns(&mgmt)
            .args([
                "--bind-addr",
                "0.0.0.0",
                "--port",
                &API_PORT.to_string(),
                "--grpc-port",
                &GRPC_PORT.to_string(),
                "--metrics-port",
                &METRICS_PORT.to_string(),
                "--data-dir",
                &api_dir.display().to_string(),
            ])
            .env("HOME", &plan.dir.display().to_string())
            .env("METAL_API_HMAC_VIEW_KEY", &state.hmac_view)
            .env("METAL_API_HMAC_EDIT_KEY", &state.hmac_edit)
            .env("METAL_API_HMAC_ADMIN_KEY", &state.hmac_admin),
    )?;
    let me = std::env::current_exe()?;
    spawn(Daemon::new("forward", &me).args([
        "forward",
        "--netns",
        &mgmt,
        "--listen",
        &format!("127.0.0.1:{api_port}"),
        "--to",
        &format!("{MGMT_IP}:{API_PORT}"),
    ]))?;
    let client = state.client()?;
    wait_healthy(&client, Duration::from_secs(60)).await?;
    step(t0, &format!("metal-api up at {}", state.api_url()));

    state.private_network = seed::seed(&client).await?;
    state.save()?;
    step(t0, "master data created");
    if o.debian_images {
        let (files, bins) = (plan.files_dir(), o.bin_dir.clone());
        tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
            for kind in [crate::images::Kind::Machine, crate::images::Kind::Firewall] {
                crate::images::build(&files, &bins, kind)?;
            }
            Ok(())
        })
        .await??;
        seed::debian_images(&client).await?;
        step(
            t0,
            &format!(
                "Debian images {} and {} built and registered",
                seed::DEBIAN_MACHINE_IMAGE,
                seed::DEBIAN_FIREWALL_IMAGE
            ),
        );
    }

    spawn(Daemon::new("images", &me).netns(&mgmt).args([
        "serve",
        "--dir",
        &plan.files_dir().display().to_string(),
        "--listen",
        &format!("{MGMT_IP}:{IMAGES_PORT}"),
    ]))?;
    let pixie_dir = plan.dir.join("pixie");
    std::fs::create_dir_all(pixie_dir.join("cache"))?;
    let ranges: Vec<String> = if o.routed {
        crate::fabric::Leaf::ALL
            .iter()
            .map(|l| l.dhcp_range())
            .collect()
    } else {
        vec![format!(
            "{DHCP_FIRST}-{DHCP_LAST}/{PXE_PREFIX_LEN},router={MGMT_IP}"
        )]
    };
    spawn(
        Daemon::new("pixie", bin("pixie"))
            .netns(&mgmt)
            .args([
                "grpc",
                "--partition",
                PARTITION,
                "--grpc-address",
                &Plan::grpc_addr(),
                "--metal-api-url",
                &Plan::api_url(),
                "--interface",
                "pxe",
                "--dhcp-mode",
                "full",
                "--lease-file",
                &pixie_dir.join("leases.json").display().to_string(),
                "--cache-dir",
                &pixie_dir.join("cache").display().to_string(),
                "--token-ttl",
                "10m",
            ])
            .args(ranges.iter().flat_map(|r| ["--dhcp-range", r.as_str()]))
            .env("PIXIE_METAL_API_VIEW_HMAC", &state.hmac_view),
    )?;

    // the BMCs and the agent that reads and commands them
    let machines = plan.all_machines();
    for m in &machines {
        spawn(
            Daemon::new(&format!("bmc-{}", m.name), "ipmi_sim")
                .netns(&hosts)
                .args(machine::ipmi_sim_args(m)),
        )?;
    }
    let bmc_dir = plan.dir.join("bmc");
    std::fs::create_dir_all(&bmc_dir)?;
    let ips: Vec<String> = machines.iter().map(|m| m.bmc_ip.to_string()).collect();
    let ips: Vec<&str> = ips.iter().map(String::as_str).collect();
    let leases = bmc_dir.join("dhcpd.leases");
    std::fs::write(&leases, metal_sim::ipmisim::lease_file(&ips))?;
    spawn(
        Daemon::new("metal-bmc", bin("metal-bmc"))
            .netns(&mgmt)
            .args([
                "--partition-id",
                PARTITION,
                "--agent-name",
                "metal-bmc-lab",
                "--lease-file",
                &leases.display().to_string(),
                "--metal-api-url",
                &Plan::api_url(),
                "--metal-api-grpc-address",
                &format!("http://{}", Plan::grpc_addr()),
                "--protocol",
                "ipmi",
                "--ipmi-user",
                BMC_USER,
                "--report-interval",
                "15s",
                "--allowed-cidrs",
                &format!("{BMC_NET_IP}/24"),
            ])
            .env("METAL_BMC_METAL_API_HMAC_KEY", &state.hmac_edit)
            .env("METAL_BMC_IPMI_PASSWORD", &state.bmc_password),
    )?;

    if let Some(guest) = &guest {
        start_fabric(plan, o, &state, guest, t0).await?;
    }
    // the leaves: the switch's LLDP announcements and metal-core's phone home
    let ports = plan.switch_ports().join(",");
    for j in (0..LEAVES).filter(|_| !o.routed) {
        let leaf = Plan::leaf_name(j);
        let ns = plan.ns_leaf(j);
        spawn(
            Daemon::new(&format!("lldpd-{leaf}"), bin("metal-lldpd"))
                .netns(&ns)
                .args([
                    "--interface",
                    &ports,
                    "--system-name",
                    &leaf,
                    "--description",
                    "metal-lab leaf switch",
                ]),
        )?;
        spawn(
            Daemon::new(&format!("metal-core-{leaf}"), bin("metal-core"))
                .netns(&ns)
                .args([
                    "--grpc-address",
                    &Plan::grpc_addr(),
                    "run",
                    "--partition-id",
                    PARTITION,
                    "--rack-id",
                    seed::RACK,
                    "--switch-id",
                    &leaf,
                    "--metal-api-ip",
                    &MGMT_IP.to_string(),
                    "--metal-api-port",
                    &API_PORT.to_string(),
                    "--management-ip",
                    &Plan::leaf_ip(j).to_string(),
                    "--interval-secs",
                    &o.phone_home_interval.to_string(),
                    // the leaves are bridges here: metal-core renders their configuration
                    // every run and reports, but does not apply it (no --reconfigure-switch)
                    "--cidr",
                    "10.255.255.2/24",
                    "--eth0-cidr",
                    &format!("{}/24", Plan::leaf_ip(j)),
                ])
                .env("METAL_CORE_HMAC_KEY", &state.hmac_edit),
        )?;
    }
    step(
        t0,
        "pixie, image server, ipmi_sim BMCs, metal-bmc, metal-core and LLDP on the leaves started",
    );

    // metal-core registers the leaves; metal-bmc's first report makes the machines known
    let deadline = Instant::now() + Duration::from_secs(90);
    let known: Vec<(String, String)> = (0..LEAVES)
        .map(|j| {
            let leaf = Plan::leaf_name(j);
            (format!("switch {leaf}"), format!("v1/switch/{leaf}"))
        })
        .chain(machines.iter().map(|m| {
            (
                format!("machine {} ({})", m.name, m.uuid),
                format!("v1/machine/{}", m.uuid),
            )
        }))
        .collect();
    for (what, path) in &known {
        // done when it is there (Ok) or a daemon stopped (Err)
        let found = try_until(
            what,
            deadline.saturating_duration_since(Instant::now()),
            Duration::from_millis(500),
            async || {
                let r: Result<Value, _> =
                    client.request::<(), Value>(Method::GET, path, None).await;
                if r.is_ok() {
                    return Some(Ok(()));
                }
                let stopped = daemons(plan)
                    .into_iter()
                    .find(|(_, pid)| !procs::alive(*pid));
                stopped.map(|(name, _)| {
                    Err(anyhow!(
                        "{name} stopped; see {}/{name}.log",
                        plan.log_dir().display()
                    ))
                })
            },
        )
        .await;
        match found {
            Ok(r) => r?,
            Err(_) => bail!(
                "{what} is not in metal-api after 90 s (metal-core and metal-bmc register them)"
            ),
        }
    }
    step(
        t0,
        "metal-core registered the leaves, metal-bmc reported every BMC",
    );
    if o.routed {
        wait_synced(plan, &state, &client).await?;
        step(
            t0,
            "metal-core configured both leaves (interfaces, FRR, DHCP relay) and reported the sync; BGP to the exit established",
        );
    }
    if o.power_on {
        for m in &machines {
            power(&client, &m.uuid, "on").await?;
        }
        step(t0, "machines powered on through metal-bmc");
    }
    Ok(state)
}

/// Starts the fabric guest of a routed lab (qemu in the hosts namespace, console in
/// `log/fabric.log`) and waits until its nodes run.
async fn start_fabric(
    plan: &Plan,
    o: &UpOptions,
    state: &State,
    guest: &metal_sim::vm::debian::DebianGuest,
    t0: Instant,
) -> anyhow::Result<()> {
    let params = crate::routed::FabricParams {
        machines: plan.machines,
        hmac_edit: state.hmac_edit.clone(),
        exec_token: state.exec_token.clone(),
        phone_home_interval: o.phone_home_interval,
    };
    let run = crate::routed::guest_run(&params, &o.bin_dir)?;
    let args = crate::routed::qemu_args(guest, &run, plan, &crate::routed::guest_dir(plan))?;
    let qemu = std::env::var("METAL_VM_QEMU").unwrap_or_else(|_| "qemu-system-x86_64".into());
    Daemon::new("fabric", qemu)
        .netns(&plan.ns_hosts())
        .args(args)
        .spawn(&plan.run_dir(), &plan.log_dir())?;
    let console = crate::routed::console_log(plan);
    let ready = try_until(
        "the fabric guest",
        Duration::from_secs(900),
        Duration::from_secs(1),
        async || {
            let text = std::fs::read_to_string(&console).unwrap_or_default();
            match crate::routed::readiness(&text) {
                Ok(true) => Some(Ok(())),
                Err(e) => Some(Err(e)),
                Ok(false) => fabric_stopped(plan).map(Err),
            }
        },
    )
    .await;
    match ready {
        Ok(r) => r?,
        Err(_) => bail!(
            "the fabric guest is not ready after 900 s; its console is {}",
            console.display()
        ),
    }
    step(
        t0,
        "fabric guest up: leaf01, leaf02 (metal-core, LLDP), exit and external host",
    );
    Ok(())
}

/// The error to end a wait with once the fabric guest's qemu is gone.
fn fabric_stopped(plan: &Plan) -> Option<anyhow::Error> {
    let pid = procs::pid_of(&plan.run_dir(), "fabric");
    (!pid.is_some_and(procs::alive)).then(|| {
        anyhow!(
            "the fabric guest stopped; its console is {}",
            crate::routed::console_log(plan).display()
        )
    })
}

/// Waits until metal-core reported a sync without error for every leaf (its first
/// reconfiguration: ifreload and FRR's reload under software emulation take minutes).
async fn wait_synced(plan: &Plan, state: &State, client: &Client) -> anyhow::Result<()> {
    for j in 0..LEAVES {
        let leaf = Plan::leaf_name(j);
        let synced = try_until(
            &format!("{leaf} synced"),
            Duration::from_secs(900),
            Duration::from_secs(2),
            async || {
                let path = format!("v1/switch/{leaf}");
                if let Ok(s) = client.request::<(), Value>(Method::GET, &path, None).await {
                    if s["last_sync"]["time"].is_string() && s.get("last_sync_error").is_none() {
                        return Some(Ok(()));
                    }
                }
                fabric_stopped(plan).map(Err)
            },
        )
        .await;
        match synced {
            Ok(r) => r?,
            Err(_) => bail!(
                "{leaf} did not report a sync without error in 900 s (metal-core's log: metal-lab exec {leaf} -- cat /nodes/{leaf}/metal-core.log)"
            ),
        }
    }
    // the reload restarted the leaves' BGP sessions: up once they are established again
    for j in 0..LEAVES {
        let leaf = Plan::leaf_name(j);
        let st = state.clone();
        let established = try_until(
            &format!("{leaf}'s BGP sessions"),
            Duration::from_secs(300),
            Duration::from_secs(2),
            async || {
                let (st, leaf) = (st.clone(), leaf.clone());
                let rows = tokio::task::spawn_blocking(move || {
                    crate::exec::capture(&st, &leaf, &["vtysh", "-c", "show bgp summary json"])
                })
                .await
                .ok()?
                .ok()?;
                crate::status::all_established(&rows.stdout_text()).then_some(())
            },
        )
        .await;
        if established.is_err() {
            bail!(
                "{leaf}'s BGP sessions to the exit are not established after 300 s (metal-lab exec {leaf} -- vtysh -c 'show bgp summary')"
            );
        }
    }
    Ok(())
}

async fn wait_healthy(c: &Client, limit: Duration) -> anyhow::Result<()> {
    try_until(
        "metal-api to be healthy",
        limit,
        Duration::from_millis(250),
        async || c.health().await.map(|_| ()),
    )
    .await?;
    Ok(())
}

/// `POST /v1/machine/{id}/power/{on|off|reset|cycle}`: metal-bmc carries it out.
pub async fn power(c: &Client, uuid: &str, what: &str) -> anyhow::Result<()> {
    c.machine_power(uuid, what)
        .await
        .map_err(|e| anyhow::anyhow!("power {what} {uuid}: {e}"))?;
    Ok(())
}

/// `metal-lab serve`: the OS image directory over HTTP inside the lab.
pub async fn serve(dir: &Path, listen: SocketAddr) -> anyhow::Result<()> {
    let server = metal_sim::fileserver::FileServer::start_on(dir, listen).await?;
    tracing::info!(url = server.url(""), "serving {}", dir.display());
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    drop(server);
    Ok(())
}
