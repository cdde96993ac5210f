//! metal-core: the leaf switch agent. `run` registers the switch and listens for phone-home
//! beacons on its ports; `phone-home` only listens; `render` writes the switch configuration of
//! a switch document into a directory; `bench-render` times that.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use metal_core::apply::{Applier, Commands, Paths};
use metal_core::model::vlan::KernelVlans;
use metal_core::model::Flavor;
use metal_core::settings::SettingsArgs;
use metal_proto::api::v1::event_service_client::EventServiceClient;

#[derive(Debug, Parser)]
#[command(name = "metal-core", version, about)]
struct Cli {
    /// metal-api's gRPC address (`host:port`, or a URL)
    #[arg(
        long,
        env = "METAL_CORE_GRPC_ADDRESS",
        global = true,
        default_value = ""
    )]
    grpc_address: String,
    /// log level
    #[arg(
        long,
        env = "METAL_CORE_LOG_LEVEL",
        global = true,
        default_value = "info"
    )]
    log_level: String,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Register the switch (its `swp*` ports) with metal-api, reconcile its configuration
    /// (Cumulus-style: ifupdown2 and FRR) with metal-api's view every interval, and turn the
    /// LLDP "provisioned" beacons seen on its ports into Phoned Home events.
    Run(Box<RunArgs>),
    /// Turn the LLDP "provisioned" beacons seen on the switch ports into Phoned Home events.
    PhoneHome {
        /// switch ports to listen on (comma separated or repeated)
        #[arg(
            long = "interface",
            env = "METAL_CORE_INTERFACES",
            value_delimiter = ',',
            required = true
        )]
        interfaces: Vec<String>,
        /// how often the beacons seen are sent, in seconds (metal-core: 60)
        #[arg(long, env = "METAL_CORE_PHONE_HOME_INTERVAL", default_value_t = 60)]
        interval_secs: u64,
    },
    /// Render the switch configuration of a switch document (the answer of
    /// `GET /v1/switch/{id}`) into a directory, without applying it.
    Render(Box<RenderArgs>),
    /// Time the rendering of a synthetic leaf (parse, build, render every file).
    BenchRender {
        #[arg(long, default_value_t = 64)]
        ports: usize,
        #[arg(long, default_value_t = 50)]
        vrfs: usize,
        #[arg(long, default_value_t = 2000)]
        iterations: usize,
    },
}

#[derive(Debug, clap::Args)]
struct RenderArgs {
    #[arg(long, value_enum)]
    flavor: Flavor,
    /// the switch document (JSON, `v1.SwitchResponse`); `-` reads standard input
    #[arg(long)]
    switch_file: PathBuf,
    /// directory the files are written into (created if missing)
    #[arg(long)]
    out: PathBuf,
    /// eth0's address with prefix length (default: eth0's first IPv4 address here, if any)
    #[arg(long, env = "METAL_CORE_ETH0_CIDR")]
    eth0_cidr: Option<String>,
    /// VLAN ids the kernel already gives VNIs, as VNI=VLAN (comma separated or repeated)
    #[arg(long, value_delimiter = ',', conflicts_with = "vlans_from_kernel")]
    vlan_mapping: Vec<String>,
    /// read the VLAN ids of the VNIs from this network namespace (ip, bridge)
    #[arg(long)]
    vlans_from_kernel: bool,
    #[command(flatten)]
    settings: SettingsArgs,
}

#[derive(Debug, clap::Args)]
struct RunArgs {
    #[arg(long, env = "METAL_CORE_PARTITION_ID")]
    partition_id: String,
    #[arg(long, env = "METAL_CORE_RACK_ID")]
    rack_id: String,
    /// the switch's id and name in metal-api (default: the hostname)
    #[arg(long, env = "METAL_CORE_SWITCH_ID")]
    switch_id: Option<String>,
    #[arg(long, env = "METAL_CORE_METAL_API_PROTOCOL", default_value = "http")]
    metal_api_protocol: String,
    #[arg(long, env = "METAL_CORE_METAL_API_IP", default_value = "localhost")]
    metal_api_ip: String,
    #[arg(long, env = "METAL_CORE_METAL_API_PORT", default_value_t = 8080)]
    metal_api_port: u16,
    #[arg(long, env = "METAL_CORE_METAL_API_BASEPATH", default_value = "")]
    metal_api_basepath: String,
    /// HMAC key of type Metal-Edit for the REST calls
    #[arg(long, env = "METAL_CORE_HMAC_KEY", hide_env_values = true)]
    hmac_key: String,
    /// the switch's management address (default: the first IPv4 address of eth0)
    #[arg(long, env = "METAL_CORE_MANAGEMENT_IP")]
    management_ip: Option<String>,
    #[arg(long, env = "METAL_CORE_MANAGEMENT_USER", default_value = "cumulus")]
    management_user: String,
    /// switch ports are the links whose names start with this
    #[arg(long, env = "METAL_CORE_PORT_PREFIX", default_value = "swp")]
    port_prefix: String,
    /// how often the beacons seen are sent, in seconds (metal-core: 60)
    #[arg(long, env = "METAL_CORE_PHONE_HOME_INTERVAL", default_value_t = 60)]
    interval_secs: u64,
    /// apply the rendered configuration; without, every run only renders and reports (a dry
    /// run, metal-core's default)
    #[arg(long, env = "METAL_CORE_RECONFIGURE_SWITCH")]
    reconfigure_switch: bool,
    /// how often the switch is reconciled (`10s`, `1m`)
    #[arg(long, env = "METAL_CORE_RECONFIGURE_SWITCH_INTERVAL", default_value = "10s", value_parser = metal_util::duration::parse_duration)]
    reconfigure_switch_interval: Duration,
    /// how long fetching and rendering of one run may take
    #[arg(long, env = "METAL_CORE_TIMEOUT", default_value = "15s", value_parser = metal_util::duration::parse_duration)]
    timeout: Duration,
    /// how long one check or reload command may take
    #[arg(long, env = "METAL_CORE_COMMAND_TIMEOUT", default_value = "60s", value_parser = metal_util::duration::parse_duration)]
    command_timeout: Duration,
    /// eth0's address with prefix length (default: eth0's first IPv4 address, read every run)
    #[arg(long, env = "METAL_CORE_ETH0_CIDR")]
    eth0_cidr: Option<String>,
    /// where /metrics is served (`host:port`; empty: not served)
    #[arg(
        long,
        env = "METAL_CORE_METRICS_ADDRESS",
        default_value = "0.0.0.0:2112"
    )]
    metrics_address: String,
    #[arg(
        long,
        env = "METAL_CORE_INTERFACES_FILE",
        default_value = "/etc/network/interfaces"
    )]
    interfaces_file: PathBuf,
    #[arg(long, env = "METAL_CORE_FRR_FILE", default_value = "/etc/frr/frr.conf")]
    frr_file: PathBuf,
    #[arg(
        long,
        env = "METAL_CORE_DHCP_RELAY_FILE",
        default_value = "/etc/default/isc-dhcp-relay"
    )]
    dhcp_relay_file: PathBuf,
    /// checks a rendered frr.conf (the file is appended)
    #[arg(
        long,
        env = "METAL_CORE_FRR_CHECK_COMMAND",
        default_value = "vtysh -C -f"
    )]
    frr_check_command: String,
    /// checks a rendered interfaces file (the file is appended)
    #[arg(
        long,
        env = "METAL_CORE_INTERFACES_CHECK_COMMAND",
        default_value = "ifup -a --syntax-check -i"
    )]
    interfaces_check_command: String,
    #[arg(
        long,
        env = "METAL_CORE_INTERFACES_RELOAD_COMMAND",
        default_value = "ifreload -a"
    )]
    interfaces_reload_command: String,
    /// reloads FRR with the new frr.conf (the file is appended)
    #[arg(
        long,
        env = "METAL_CORE_FRR_RELOAD_COMMAND",
        default_value = "/usr/lib/frr/frr-reload.py --reload"
    )]
    frr_reload_command: String,
    #[arg(
        long,
        env = "METAL_CORE_DHCP_RELAY_RESTART_COMMAND",
        default_value = "systemctl restart isc-dhcp-relay"
    )]
    dhcp_relay_restart_command: String,
    /// prints FRR's BGP neighbours as JSON, for the notify (empty: none reported)
    #[arg(
        long,
        env = "METAL_CORE_BGP_STATE_COMMAND",
        default_value = "vtysh -c 'show bgp vrf all neighbors json'"
    )]
    bgp_state_command: String,
    #[command(flatten)]
    settings: SettingsArgs,
}

fn render(a: RenderArgs, log_level: &str) -> anyhow::Result<()> {
    let eth0 = match a.eth0_cidr.as_deref() {
        Some(c) => Some(c.parse().with_context(|| format!("--eth0-cidr {c:?}"))?),
        None => metal_core::host::eth0_ipv4(),
    };
    let settings = a.settings.settings(log_level, eth0)?;
    let kernel = if a.vlans_from_kernel {
        metal_core::kernel::read().context("reading the VLANs of the VNIs")?
    } else {
        let mut by_vni = BTreeMap::new();
        for m in &a.vlan_mapping {
            let parsed = m.split_once('=').and_then(|(vni, vlan)| {
                Some((vni.trim().parse().ok()?, vlan.trim().parse().ok()?))
            });
            let (vni, vlan) =
                parsed.with_context(|| format!("--vlan-mapping {m:?} is not VNI=VLAN"))?;
            by_vni.insert(vni, vlan);
        }
        KernelVlans::from_mapping(by_vni)
    };
    let json = if a.switch_file.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin())
            .context("reading the switch document from stdin")?
    } else {
        std::fs::read_to_string(&a.switch_file)
            .with_context(|| format!("reading {}", a.switch_file.display()))?
    };
    let files = metal_core::render_document(&json, &settings, &kernel, a.flavor)
        .with_context(|| format!("rendering {}", a.switch_file.display()))?;
    let written = metal_core::render::write_all(&a.out, &files)?;
    for (path, f) in written.iter().zip(&files) {
        println!("{} ({})", path.display(), f.target);
    }
    Ok(())
}

fn bench_render(ports: usize, vrfs: usize, iterations: usize) -> anyhow::Result<()> {
    let (doc, settings) = metal_core::bench::synthetic(ports, vrfs);
    let json = serde_json::to_string(&doc)?;
    println!(
        "switch document: {} ports ({} in the document), {vrfs} VRFs, {} bytes of JSON",
        ports.max(vrfs + 4),
        doc.nics.len(),
        json.len()
    );
    for flavor in [Flavor::Cumulus, Flavor::Sonic] {
        let r = metal_core::bench::run(&json, &settings, flavor, iterations)?;
        println!(
            "{:<7} {} renders of {} bytes: min {:?}, median {:?}, p99 {:?}",
            r.flavor.as_str(),
            r.iterations,
            r.bytes,
            r.min,
            r.median,
            r.p99
        );
    }
    Ok(())
}

async fn run(
    a: RunArgs,
    log_level: String,
    channel: tonic::transport::Channel,
) -> anyhow::Result<()> {
    let base = format!(
        "{}://{}:{}/{}",
        a.metal_api_protocol,
        a.metal_api_ip,
        a.metal_api_port,
        a.metal_api_basepath.trim_start_matches('/')
    );
    let client = metal_client::Client::builder(&base)
        .hmac(a.hmac_key.clone(), metal_client::HmacAuthType::Edit)
        .timeout(Duration::from_secs(15))
        .build()
        .context("metal-api REST client")?;
    let ports = metal_core::register::ports(&a.port_prefix);
    anyhow::ensure!(
        !ports.is_empty(),
        "no switch ports (links named {}*) in this network namespace",
        a.port_prefix
    );
    let info = metal_core::register::SwitchInfo {
        id: a
            .switch_id
            .clone()
            .unwrap_or_else(metal_core::host::hostname),
        partition_id: a.partition_id.clone(),
        rack_id: a.rack_id.clone(),
        management_ip: a
            .management_ip
            .clone()
            .or_else(|| metal_core::host::eth0_ipv4().map(|n| n.addr().to_string()))
            .unwrap_or_default(),
        management_user: a.management_user.clone(),
        ports,
    };
    anyhow::ensure!(!info.id.is_empty(), "no --switch-id and no hostname");
    let names: Vec<String> = info.ports.iter().map(|(n, _)| n.clone()).collect();
    let metrics = Arc::new(metal_core::metrics::Metrics::default());
    if !a.metrics_address.is_empty() {
        let listener = tokio::net::TcpListener::bind(&a.metrics_address)
            .await
            .with_context(|| format!("binding --metrics-address {}", a.metrics_address))?;
        tracing::info!(address = %listener.local_addr()?, "serving /metrics");
        let m = metrics.clone();
        let app = axum::Router::new().route(
            "/metrics",
            axum::routing::get(move || {
                let m = m.clone();
                async move { m.render() }
            }),
        );
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "metrics server stopped");
            }
        });
    }
    let eth0 = match a.eth0_cidr.as_deref() {
        Some(c) => Some(c.parse().with_context(|| format!("--eth0-cidr {c:?}"))?),
        None => None,
    };
    // the settings are checked once here, so that a bad flag stops metal-core at the start
    a.settings
        .settings(&log_level, eth0.or_else(metal_core::host::eth0_ipv4))?;
    let reconciler = metal_core::reconcile::Reconciler {
        client: client.clone(),
        switch_id: info.id.clone(),
        settings: a.settings.clone(),
        log_level,
        eth0,
        reconfigure: a.reconfigure_switch,
        applier: Applier {
            paths: Paths {
                interfaces: a.interfaces_file.clone(),
                frr: a.frr_file.clone(),
                dhcp_relay: a.dhcp_relay_file.clone(),
            },
            commands: Commands {
                frr_check: metal_core::apply::words(&a.frr_check_command),
                interfaces_check: metal_core::apply::words(&a.interfaces_check_command),
                interfaces_reload: metal_core::apply::words(&a.interfaces_reload_command),
                frr_reload: metal_core::apply::words(&a.frr_reload_command),
                dhcp_relay_restart: metal_core::apply::words(&a.dhcp_relay_restart_command),
                timeout: a.command_timeout,
            },
        },
        bgp_command: metal_core::apply::words(&a.bgp_state_command),
        timeout: a.timeout,
        metrics: metrics.clone(),
    };
    let interval = a.reconfigure_switch_interval.max(Duration::from_secs(1));
    let registration = tokio::spawn(async move {
        metal_core::register::register(&client, &info, metal_core::register::RETRY).await;
        // the first run one interval after registration, then every interval
        reconciler.run(interval).await;
    });
    let phone_home = metal_core::phonehome::run(
        &names,
        Duration::from_secs(a.interval_secs.max(1)),
        EventServiceClient::new(channel),
        Some(&metrics),
    );
    let result = phone_home.await;
    registration.abort();
    result
}

/// A lazily connecting channel to metal-api's gRPC address.
fn channel(grpc_address: &str) -> anyhow::Result<tonic::transport::Channel> {
    anyhow::ensure!(!grpc_address.is_empty(), "--grpc-address is required");
    let uri = if grpc_address.contains("://") {
        grpc_address.to_string()
    } else {
        format!("http://{grpc_address}")
    };
    let endpoint = tonic::transport::Endpoint::from_shared(uri.clone())
        .with_context(|| format!("invalid gRPC address {uri:?}"))?
        .connect_timeout(Duration::from_secs(5));
    Ok(metal_proto::keepalive::endpoint(endpoint).connect_lazy())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_new(&cli.log_level)
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        // colours only on a terminal, not in a switch's journal or log file
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .init();
    match cli.command {
        Cmd::Run(args) => run(*args, cli.log_level.clone(), channel(&cli.grpc_address)?).await,
        Cmd::PhoneHome {
            interfaces,
            interval_secs,
        } => {
            metal_core::phonehome::run(
                &interfaces,
                Duration::from_secs(interval_secs.max(1)),
                EventServiceClient::new(channel(&cli.grpc_address)?),
                None,
            )
            .await
        }
        Cmd::Render(args) => render(*args, &cli.log_level),
        Cmd::BenchRender {
            ports,
            vrfs,
            iterations,
        } => bench_render(ports, vrfs, iterations),
    }
}
