//! metal-bmc: reports the partition's BMCs to metal-api and executes its BMC commands.

use std::sync::Arc;

use anyhow::Context;
use clap::Parser;
use metal_bmc::agent::{grpc_channel, Agent, Settings};
use metal_bmc::bmc::{Access, Credentials};
use metal_bmc::config::Config;
use metal_client::{Client, HmacAuthType};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let c = Config::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_new(&c.log_level)
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    metal_proto::tls::install_crypto_provider();
    let tls = match (
        &c.grpc_ca_cert_file,
        &c.grpc_client_cert_file,
        &c.grpc_client_key_file,
    ) {
        (Some(ca), Some(cert), Some(key)) => Some(metal_proto::tls::client_tls_config(
            ca,
            cert,
            key,
            c.grpc_server_name.clone(),
        )?),
        (None, None, None) => None,
        _ => anyhow::bail!("the gRPC CA, client certificate and key files go together"),
    };
    let agent_name = c.agent_name.clone().unwrap_or_else(|| {
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_else(|_| "metal-bmc".into())
    });
    let settings = Settings {
        partition_id: c.partition_id.clone(),
        agent: agent_name,
        lease_file: c.lease_file.clone(),
        report_interval: c.report_interval,
        allowed_cidrs: c.allowed_cidrs()?,
        ignore_macs: c.ignore_macs(),
        credentials: Credentials {
            user: c.ipmi_user.clone(),
            password: c.ipmi_password.clone(),
        },
        access: Access {
            protocol: c.protocol,
            ipmi_port: c.ipmi_port,
            redfish_port: c.redfish_port,
            timeout: c.bmc_timeout,
        },
        concurrency: c.concurrency,
        max_in_flight: c.max_in_flight,
    };
    let rest = Client::builder(&c.metal_api_url)
        .hmac(c.metal_api_hmac_key.clone(), HmacAuthType::Edit)
        .build()
        .context("metal-api REST client")?;
    let agent = Agent {
        settings: Arc::new(settings),
        rest,
        grpc: grpc_channel(&c.metal_api_grpc_address, tls)?,
    };
    tracing::info!(
        partition = c.partition_id,
        api = c.metal_api_url,
        grpc = c.metal_api_grpc_address,
        lease_file = %c.lease_file.display(),
        interval = ?c.report_interval,
        protocol = ?c.protocol,
        "metal-bmc starting"
    );
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let reporter = tokio::spawn(agent.clone().reporter(stop_rx.clone()));
    let commands = tokio::spawn(agent.commands(stop_rx));
    shutdown_signal().await;
    tracing::info!("metal-bmc stopping");
    let _ = stop_tx.send(true);
    let _ = reporter.await;
    let _ = commands.await;
    Ok(())
}

async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("installing the SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
