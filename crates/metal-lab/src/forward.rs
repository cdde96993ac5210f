//! `metal-lab forward`: a TCP listener on the host's loopback whose connections are relayed to
//! an address inside a lab namespace, so that metalctl on the host reaches metal-api without any
//! address outside the lab's namespaces.
//!
//! The listener is bound first, in the host's namespace; then the process enters the lab
//! namespace (`setns`, before the runtime starts its threads, which inherit it), so every
//! connection it opens is made there.

use std::net::SocketAddr;
use std::os::fd::AsFd;

use anyhow::Context;
use nix::sched::{setns, CloneFlags};

pub fn run(netns: &str, listen: SocketAddr, to: SocketAddr) -> anyhow::Result<()> {
    let listener = std::net::TcpListener::bind(listen)
        .with_context(|| format!("binding {listen} on the host"))?;
    listener.set_nonblocking(true)?;
    let ns = std::fs::File::open(format!("/run/netns/{netns}"))
        .with_context(|| format!("opening network namespace {netns}"))?;
    setns(ns.as_fd(), CloneFlags::CLONE_NEWNET)
        .with_context(|| format!("entering network namespace {netns}"))?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::from_std(listener)?;
        tracing::info!(%listen, %to, netns, "forwarding");
        loop {
            let (mut inbound, peer) = listener.accept().await?;
            tokio::spawn(async move {
                match tokio::net::TcpStream::connect(to).await {
                    Ok(mut outbound) => {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                    Err(e) => tracing::warn!(%peer, %to, error = %e, "connecting failed"),
                }
            });
        }
    })
}
