//! pixie: the PXE boot server of a metal-stack partition.
//!
//! - [`dhcp`] packet codec, [`classify`] firmware detection, [`proxy`] proxyDHCP replies,
//!   [`full`] + [`leases`] the optional full DHCP server, [`dhcpd`] the DHCP service and its
//!   socket loops over [`net`];
//! - [`tftp`] serves the iPXE binaries, [`http`] the iPXE script, kernel/initrd ([`cache`]) and
//!   the one-time MetalConfig ([`tokens`]), [`ra`] IPv6 router advertisements;
//! - [`booter`] asks metal-api what to boot; [`config`] is the command line.

pub mod booter;
pub mod cache;
pub mod classify;
pub mod config;
pub mod dhcp;
pub mod dhcpd;
pub mod full;
pub mod http;
pub mod ipxe;
pub mod leases;
pub mod metrics;
pub mod net;
pub mod proxy;
pub mod ra;
pub mod tftp;
pub mod tokens;

use std::future::Future;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use tokio::task::JoinSet;

use crate::booter::{Booter, GrpcBooter};
use crate::config::{DhcpMode, GrpcArgs};
use crate::dhcpd::{DhcpService, Mode};
use crate::metrics::Metrics;
use crate::net::Transport;

/// The gRPC channel to metal-api (mTLS when the CA is given); connects lazily so that pixie
/// starts while metal-api is still down.
fn channel(args: &GrpcArgs) -> anyhow::Result<tonic::transport::Channel> {
    let tls = args.grpc_ca_cert.is_some();
    let addr = &args.grpc_address;
    let url = if addr.contains("://") {
        addr.clone()
    } else if tls {
        format!("https://{addr}")
    } else {
        format!("http://{addr}")
    };
    let mut ep = tonic::transport::Endpoint::from_shared(url.clone())
        .with_context(|| format!("gRPC address {url}"))?;
    ep = metal_proto::keepalive::endpoint(ep);
    if let (Some(ca), Some(cert), Some(key)) = (&args.grpc_ca_cert, &args.grpc_cert, &args.grpc_key)
    {
        let host = addr
            .rsplit_once(':')
            .map(|(h, _)| h)
            .unwrap_or(addr.as_str())
            .trim_start_matches("https://")
            .trim_matches(['[', ']']);
        let cfg = metal_proto::tls::client_tls_config(ca, cert, key, host)?;
        ep = ep.tls_config(cfg)?;
    }
    Ok(ep.connect_lazy())
}

/// Runs `pixie grpc` until `shutdown` completes or a server fails.
pub async fn run(args: GrpcArgs, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    metal_proto::tls::install_crypto_provider();
    if args.dhcp_mode == DhcpMode::Full && args.dhcp_ranges.is_empty() {
        anyhow::bail!("--dhcp-mode full needs at least one --dhcp-range");
    }
    let booter: Arc<dyn Booter> =
        Arc::new(GrpcBooter::new(channel(&args)?, args.partition.clone()));
    let metrics = Arc::new(Metrics::default());
    let files = Arc::new(tftp::IpxeFiles {
        bios: args
            .ipxe_bios
            .clone()
            .unwrap_or_else(|| args.ipxe_dir.join(tftp::BIOS_BIN)),
        efi32: args
            .ipxe_efi32
            .clone()
            .unwrap_or_else(|| args.ipxe_dir.join(tftp::EFI32_BIN)),
        efi64: args
            .ipxe_efi64
            .clone()
            .unwrap_or_else(|| args.ipxe_dir.join(tftp::EFI64_BIN)),
        ipxe: args
            .ipxe_ipxe
            .clone()
            .unwrap_or_else(|| args.ipxe_dir.join(tftp::IPXE_BIN)),
        dir: args.ipxe_dir.clone(),
    });
    let ifaces = net::interfaces(&args.interface)?;
    anyhow::ensure!(
        !ifaces.is_empty(),
        "no interface with an IPv4 address to serve DHCP on"
    );

    let mut tasks: JoinSet<anyhow::Result<()>> = JoinSet::new();

    let http_state = Arc::new(http::HttpState {
        booter: booter.clone(),
        tokens: tokens::Tokens::new(args.token_ttl),
        signer: tokens::Signer::default(),
        cache: cache::FileCache::new(args.cache_dir.clone()),
        files: files.clone(),
        metal_config: args.metal_config()?,
        pixie_api_url: args.pixie_api_url.clone(),
        metrics: metrics.clone(),
    });
    let http_listener = tokio::net::TcpListener::bind((args.listen_addr, args.port))
        .await
        .with_context(|| format!("binding HTTP {}:{}", args.listen_addr, args.port))?;
    tasks.spawn(async move {
        axum::serve(http_listener, http::router(http_state)).await?;
        Ok(())
    });
    if args.metrics_port != 0 {
        let l = tokio::net::TcpListener::bind((args.listen_addr, args.metrics_port))
            .await
            .with_context(|| format!("binding metrics port {}", args.metrics_port))?;
        let m = metrics.clone();
        let app = axum::Router::new().route(
            "/metrics",
            axum::routing::get(move || async move { m.render() }),
        );
        tasks.spawn(async move {
            axum::serve(l, app).await?;
            Ok(())
        });
    }

    let tftp_sock = tokio::net::UdpSocket::bind((args.listen_addr, 69))
        .await
        .context("binding TFTP port 69")?;
    let (f, m) = (files.clone(), metrics.clone());
    tasks.spawn(async move { Ok(tftp::serve(tftp_sock, f, m).await?) });

    let mode = match args.dhcp_mode {
        DhcpMode::Proxy => Mode::Proxy,
        DhcpMode::Full => Mode::Full(Mutex::new(full::FullDhcp {
            ranges: args.dhcp_ranges.clone(),
            lease_time: args.lease_time,
            leases: leases::Leases::load(args.lease_file.clone(), leases::now())?,
        })),
    };
    let svc = Arc::new(DhcpService {
        mode,
        booter,
        http_port: args.port,
        metrics,
    });
    for iface in &ifaces {
        let t67 = if args.dhcp_no_bind {
            Transport::raw(&iface.name, 67)
        } else {
            net::shared_udp(&iface.name, 67).map(Transport::Udp)
        }
        .with_context(|| format!("DHCP socket on {}", iface.name))?;
        let t4011 = net::shared_udp(&iface.name, 4011)
            .with_context(|| format!("PXE port 4011 on {}", iface.name))?;
        tracing::info!(iface = %iface.name, ip = %iface.ip, mode = ?args.dhcp_mode,
            no_bind = args.dhcp_no_bind, "serving DHCP");
        let (i, s) = (iface.clone(), svc.clone());
        tasks.spawn(async move { Ok(dhcpd::serve(t67, i, s, false).await?) });
        let (i, s) = (iface.clone(), svc.clone());
        tasks.spawn(async move { Ok(dhcpd::serve(Transport::Udp(t4011), i, s, true).await?) });
        if args.router_advertisements() {
            let i = iface.clone();
            tasks.spawn(async move { Ok(ra::serve(i).await?) });
        }
    }
    tracing::info!(http = %format!("{}:{}", args.listen_addr, args.port), "pixie ready");

    tokio::select! {
        () = shutdown => {
            tracing::info!("shutting down");
            Ok(())
        }
        Some(r) = tasks.join_next() => match r {
            Ok(Ok(())) => anyhow::bail!("a server stopped unexpectedly"),
            Ok(Err(e)) => Err(e),
            Err(e) => Err(e.into()),
        },
    }
}
