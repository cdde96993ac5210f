//! metal-core: the leaf switch agent. Built so far: `phone-home`.

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
