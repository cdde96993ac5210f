//! metal-core: the leaf switch agent. `run` registers the switch and listens for phone-home
//! beacons on its ports; `phone-home` only listens.

use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
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
    /// Register the switch (its `swp*` ports) with metal-api, and turn the LLDP "provisioned"
    /// beacons seen on those ports into Phoned Home events.
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
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default()
}

/// The first IPv4 address of eth0, if any.
fn eth0_ipv4() -> Option<String> {
    pnet_datalink::interfaces()
        .into_iter()
        .find(|i| i.name == "eth0")?
        .ips
        .into_iter()
        .find(|ip| ip.is_ipv4())
        .map(|ip| ip.ip().to_string())
}

async fn run(a: RunArgs, channel: tonic::transport::Channel) -> anyhow::Result<()> {
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
        id: a.switch_id.clone().unwrap_or_else(hostname),
        partition_id: a.partition_id.clone(),
        rack_id: a.rack_id.clone(),
        management_ip: a
            .management_ip
            .clone()
            .or_else(eth0_ipv4)
            .unwrap_or_default(),
        management_user: a.management_user.clone(),
        ports,
    };
    anyhow::ensure!(!info.id.is_empty(), "no --switch-id and no hostname");
    let names: Vec<String> = info.ports.iter().map(|(n, _)| n.clone()).collect();
    let registration = tokio::spawn(async move {
        metal_core::register::register(&client, &info, metal_core::register::RETRY).await;
    });
    let phone_home = metal_core::phonehome::run(
        &names,
        Duration::from_secs(a.interval_secs.max(1)),
        EventServiceClient::new(channel),
    );
    let result = phone_home.await;
    registration.abort();
    result
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_new(&cli.log_level)
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    anyhow::ensure!(!cli.grpc_address.is_empty(), "--grpc-address is required");
    let uri = if cli.grpc_address.contains("://") {
        cli.grpc_address.clone()
    } else {
        format!("http://{}", cli.grpc_address)
    };
    let endpoint = tonic::transport::Endpoint::from_shared(uri.clone())
        .with_context(|| format!("invalid gRPC address {uri:?}"))?
        .connect_timeout(Duration::from_secs(5));
    let channel = metal_proto::keepalive::endpoint(endpoint).connect_lazy();
    match cli.command {
        Cmd::Run(args) => run(*args, channel).await,
        Cmd::PhoneHome {
            interfaces,
            interval_secs,
        } => {
            metal_core::phonehome::run(
                &interfaces,
                Duration::from_secs(interval_secs.max(1)),
                EventServiceClient::new(channel),
            )
            .await
        }
    }
}
