//! droptailer-client: on a firewall, pushes the kernel's nftables drop and accept log lines to
//! a droptailer server over mutual TLS. Configured as metal-stack's unit does it, by
//! `DROPTAILER_*` variables, each also a flag.

use std::path::PathBuf;

use clap::Parser;
use droptailer::parse::{self, Prefixes};
use droptailer::source::Source;

#[derive(Debug, Parser)]
#[command(name = "droptailer-client", version, about)]
struct Args {
    /// the server, `host:port`; its certificate must be valid for --server-name
    #[arg(
        long,
        env = "DROPTAILER_SERVER_ADDRESS",
        default_value = "localhost:50051"
    )]
    server_address: String,
    /// log prefixes of dropped packets, comma-separated (spaces belong to the prefixes)
    #[arg(long, env = "DROPTAILER_PREFIXES_OF_DROPS", default_value = parse::DEFAULT_DROPS)]
    prefixes_of_drops: String,
    /// log prefixes of accepted packets, comma-separated
    #[arg(long, env = "DROPTAILER_PREFIXES_OF_ACCEPTS", default_value = parse::DEFAULT_ACCEPTS)]
    prefixes_of_accepts: String,
    /// the CA the server's certificate must chain to
    #[arg(
        long,
        env = "DROPTAILER_CA_CERTIFICATE",
        default_value = "/etc/droptailer-client/ca.crt"
    )]
    ca_certificate: PathBuf,
    /// the client certificate presented to the server
    #[arg(
        long,
        env = "DROPTAILER_CLIENT_CERTIFICATE",
        default_value = "/etc/droptailer-client/tls.crt"
    )]
    client_certificate: PathBuf,
    #[arg(
        long,
        env = "DROPTAILER_CLIENT_KEY",
        default_value = "/etc/droptailer-client/tls.key"
    )]
    client_key: PathBuf,
    /// the name the server's certificate must be valid for (metal-stack: droptailer)
    #[arg(long, env = "DROPTAILER_SERVER_NAME", default_value = "droptailer")]
    server_name: String,
    /// where the kernel log is read: journal, journal:DIR, kmsg or file:PATH
    #[arg(long, env = "DROPTAILER_SOURCE", default_value = "journal")]
    source: Source,
    /// lines kept while the server is away; beyond, the oldest are dropped and counted
    #[arg(long, env = "DROPTAILER_QUEUE_SIZE", default_value_t = 10_000)]
    queue_size: usize,
    #[arg(long, env = "DROPTAILER_LOG_LEVEL", default_value = "info")]
    log_level: String,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let a = Args::parse();
    droptailer::process::init_logging(&a.log_level);
    let prefixes = Prefixes {
        drops: parse::split_list(&a.prefixes_of_drops),
        accepts: parse::split_list(&a.prefixes_of_accepts),
    };
    anyhow::ensure!(
        !prefixes.drops.is_empty() || !prefixes.accepts.is_empty(),
        "no prefixes: set DROPTAILER_PREFIXES_OF_DROPS or DROPTAILER_PREFIXES_OF_ACCEPTS"
    );
    metal_proto::tls::install_crypto_provider();
    let tls = metal_proto::tls::client_tls_config(
        &a.ca_certificate,
        &a.client_certificate,
        &a.client_key,
        a.server_name.clone(),
    )?;
    let channel = droptailer::client::channel(&a.server_address, Some(tls))?;
    tracing::info!(server = %a.server_address, server_name = %a.server_name, queue = a.queue_size, "droptailer client");
    tokio::select! {
        r = droptailer::client::run(a.source, prefixes, a.queue_size, channel) => r,
        _ = droptailer::process::shutdown() => Ok(()),
    }
}
