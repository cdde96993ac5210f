//! droptailer-server: takes the lines of droptailer clients and prints each as
//! `<timestamp> <JSON>` on stdout, as metal-stack's server does. Configured by metal-stack's
//! variables (`SERVER_PORT`, `SERVER_CERTIFICATE`, `SERVER_KEY`), each also a flag;
//! `SERVER_CA_CERTIFICATE` makes it refuse clients without a certificate of that CA.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;
use droptailer::server::Printer;
use metal_proto::droptailer::droptailer_server::DroptailerServer;

#[derive(Debug, Parser)]
#[command(name = "droptailer-server", version, about)]
struct Args {
    #[arg(long, env = "SERVER_PORT", default_value_t = 50051)]
    port: u16,
    /// the address to listen on (default: every address, IPv6 and IPv4)
    #[arg(long, env = "SERVER_ADDRESS")]
    address: Option<std::net::IpAddr>,
    /// the server's certificate (chain), PEM
    #[arg(long, env = "SERVER_CERTIFICATE", default_value = "tls.crt")]
    certificate: PathBuf,
    #[arg(long, env = "SERVER_KEY", default_value = "tls.key")]
    key: PathBuf,
    /// require client certificates that chain to this CA (metal-stack's server asks for none)
    #[arg(long, env = "SERVER_CA_CERTIFICATE")]
    ca_certificate: Option<PathBuf>,
    /// also append every line's JSON object to this file (JSON lines)
    #[arg(long, env = "SERVER_JSON_FILE")]
    json_file: Option<PathBuf>,
    #[arg(long, env = "SERVER_LOG_LEVEL", default_value = "info")]
    log_level: String,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let a = Args::parse();
    droptailer::process::init_logging(&a.log_level);
    let tls = metal_proto::tls::server_tls_config_optional_client_ca(
        &a.certificate,
        &a.key,
        a.ca_certificate.as_deref(),
    )?;
    let json: Option<Box<dyn std::io::Write + Send>> = match &a.json_file {
        Some(p) => Some(Box::new(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .map_err(|e| anyhow::anyhow!("opening --json-file {}: {e}", p.display()))?,
        )),
        None => None,
    };
    let printer = Printer::new(Box::new(std::io::stdout()), json);
    let listener = match a.address {
        Some(ip) => tokio::net::TcpListener::bind(SocketAddr::new(ip, a.port)).await?,
        None => match tokio::net::TcpListener::bind(("::", a.port)).await {
            Ok(l) => l,
            // a host without IPv6
            Err(_) => tokio::net::TcpListener::bind(("0.0.0.0", a.port)).await?,
        },
    };
    tracing::info!(
        address = %listener.local_addr()?,
        client_certificates = if a.ca_certificate.is_some() { "required" } else { "not asked for" },
        "droptailer server listening"
    );
    tonic::transport::Server::builder()
        .tls_config(tls)?
        .add_service(DroptailerServer::new(printer))
        .serve_with_incoming_shutdown(
            tokio_stream::wrappers::TcpListenerStream::new(listener),
            droptailer::process::shutdown(),
        )
        .await?;
    Ok(())
}
