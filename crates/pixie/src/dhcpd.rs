//! The DHCP service: receives requests on port 67 (proxy or full mode) and on the PXE port
//! 4011, asks the booter (metal-api `Dhcp`) for PXE clients with a GUID, and sends the reply.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::{Arc, Mutex};

use crate::booter::Booter;
use crate::classify::{boot_file, classify};
use crate::dhcp::{guid_uuid, opt, MessageType, Packet};
use crate::full::FullDhcp;
use crate::metrics::Metrics;
use crate::net::{Iface, Transport};
use crate::proxy;

/// proxyDHCP or full server.
pub enum Mode {
    Proxy,
    Full(Mutex<FullDhcp>),
}

/// What the DHCP tasks share.
pub struct DhcpService {
    pub mode: Mode,
    pub booter: Arc<dyn Booter>,
    pub http_port: u16,
    pub metrics: Arc<Metrics>,
}

impl DhcpService {
    /// Tells metal-api about a PXE client with a GUID; `false` when that failed.
    async fn announce(&self, req: &Packet) -> bool {
        let Some(uuid) = req.get(opt::CLIENT_GUID).and_then(guid_uuid) else {
            return true;
        };
        match self.booter.dhcp(&uuid).await {
            Ok(()) => true,
            Err(e) => {
                self.metrics.inc(&self.metrics.dhcp_booter_errors);
                tracing::warn!(%uuid, "not answering PXE request: {e}");
                false
            }
        }
    }

    /// The reply to a datagram from `src`, received on port 67 or (`on_4011`) 4011 of an
    /// interface with address `ip`.
    pub async fn handle(
        &self,
        data: &[u8],
        ip: Ipv4Addr,
        src: SocketAddrV4,
        on_4011: bool,
    ) -> Option<(Vec<u8>, SocketAddrV4)> {
        let req = Packet::parse(data).ok()?;
        let mac = req.mac()?;
        self.metrics.inc(&self.metrics.dhcp_requests);
        let client = classify(&req);
        let full = match &self.mode {
            Mode::Full(f) if !on_4011 => f,
            _ => {
                let kind = proxy::wants_answer(&req, on_4011)?;
                let client = client?;
                if kind == MessageType::Offer && !self.announce(&req).await {
                    return None;
                }
                let boot = boot_file(client, mac, ip, self.http_port);
                let reply = proxy::proxy_reply(&req, kind, ip, &boot);
                let dst = if on_4011 {
                    src
                } else {
                    proxy::destination(&req)
                };
                tracing::info!(%mac, file = %boot.file, %dst, "PXE {kind:?}");
                return Some((reply.to_bytes(), dst));
            }
        };
        let mut boot = client.map(|c| boot_file(c, mac, ip, self.http_port));
        if boot.is_some()
            && req.message_type() == Some(MessageType::Discover)
            && !self.announce(&req).await
        {
            boot = None;
        }
        let outcome = {
            let mut f = full.lock().unwrap_or_else(|e| e.into_inner());
            let o = f.handle(&req, ip, boot.as_ref(), crate::leases::now());
            if o.changed {
                if let Err(e) = f.leases.save() {
                    tracing::error!("{e:#}");
                }
            }
            o
        };
        let (reply, dst) = outcome.reply?;
        tracing::info!(%mac, yiaddr = %reply.yiaddr, file = %reply.file, %dst,
            "DHCP {:?}", reply.message_type());
        Some((reply.to_bytes(), dst))
    }
}

/// Serves one transport until it fails.
pub async fn serve(
    transport: Transport,
    iface: Iface,
    svc: Arc<DhcpService>,
    on_4011: bool,
) -> std::io::Result<()> {
    let transport = Arc::new(transport);
    loop {
        let (data, src) = transport.recv().await?;
        let (t, svc, ip) = (transport.clone(), svc.clone(), iface.ip);
        tokio::spawn(async move {
            if let Some((reply, dst)) = svc.handle(&data, ip, src, on_4011).await {
                match t.send(&reply, dst).await {
                    Ok(()) => svc.metrics.inc(&svc.metrics.dhcp_replies),
                    Err(e) => tracing::warn!(%dst, "sending DHCP reply: {e}"),
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::booter::BootError;
    use crate::dhcp::Mac;
    use crate::ipxe::Spec;
    use futures::future::BoxFuture;

    /// Records Dhcp calls; fails for one UUID.
    #[derive(Default)]
    struct Fake {
        calls: Mutex<Vec<String>>,
    }

    impl Booter for Fake {
        fn dhcp<'a>(&'a self, uuid: &'a str) -> BoxFuture<'a, Result<(), BootError>> {
            Box::pin(async move {
                self.calls.lock().unwrap().push(uuid.to_string());
                if uuid.starts_with("ffffffff") {
                    return Err(BootError::Grpc {
                        call: "Dhcp",
                        status: tonic::Status::unavailable("down"),
                    });
                }
                Ok(())
            })
        }
        fn boot(&self, _mac: Mac) -> BoxFuture<'_, Result<Option<Spec>, BootError>> {
            Box::pin(async { Ok(None) })
        }
    }

    fn svc(mode: Mode) -> (DhcpService, Arc<Fake>) {
        let fake = Arc::new(Fake::default());
        let s = DhcpService {
            mode,
            booter: fake.clone(),
            http_port: 4242,
            metrics: Arc::default(),
        };
        (s, fake)
    }

    fn discover(guid_byte: u8) -> Vec<u8> {
        let mut p = Packet {
            xid: 9,
            chaddr: [2, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            ..Packet::default()
        };
        p.set(opt::MESSAGE_TYPE, [1]);
        p.set(opt::CLIENT_ARCH, [0, 7]);
        let mut g = vec![0u8];
        g.extend_from_slice(&[guid_byte; 16]);
        p.set(opt::CLIENT_GUID, g);
        p.to_bytes()
    }

    const IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
    const SRC: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 68);

    #[tokio::test]
    async fn proxy_offers_after_telling_metal_api() {
        let (s, fake) = svc(Mode::Proxy);
        let (reply, dst) = s.handle(&discover(0x11), IP, SRC, false).await.unwrap();
        let r = Packet::parse(&reply).unwrap();
        assert_eq!(r.file, "02:00:00:00:00:01/2");
        assert_eq!(dst, "255.255.255.255:68".parse().unwrap());
        assert_eq!(
            fake.calls.lock().unwrap().as_slice(),
            ["11111111-1111-1111-1111-111111111111"]
        );
        // metal-api failing → no offer
        assert!(s.handle(&discover(0xff), IP, SRC, false).await.is_none());
        // on 4011 a DISCOVER is not answered, a REQUEST is, to its sender
        assert!(s.handle(&discover(0x11), IP, SRC, true).await.is_none());
        let mut req = Packet::parse(&discover(0x11)).unwrap();
        req.set(opt::MESSAGE_TYPE, [3]);
        let from: SocketAddrV4 = "10.0.0.50:68".parse().unwrap();
        let (reply, dst) = s.handle(&req.to_bytes(), IP, from, true).await.unwrap();
        assert_eq!(
            Packet::parse(&reply).unwrap().message_type(),
            Some(MessageType::Ack)
        );
        assert_eq!(dst, from);
        assert_eq!(
            fake.calls.lock().unwrap().len(),
            2,
            "4011 does not call Dhcp"
        );
    }

    #[tokio::test]
    async fn full_mode_gives_address_and_boot_file() {
        let full = FullDhcp {
            ranges: vec!["10.0.0.10-10.0.0.20/24".parse().unwrap()],
            lease_time: 60,
            leases: Default::default(),
        };
        let (s, _) = svc(Mode::Full(Mutex::new(full)));
        let (reply, _) = s.handle(&discover(0x11), IP, SRC, false).await.unwrap();
        let r = Packet::parse(&reply).unwrap();
        assert_eq!(r.yiaddr, Ipv4Addr::new(10, 0, 0, 10));
        assert_eq!(r.file, "02:00:00:00:00:01/2");
        // metal-api failing → the address, but no boot file
        let (reply, _) = s.handle(&discover(0xff), IP, SRC, false).await.unwrap();
        let r = Packet::parse(&reply).unwrap();
        assert_eq!(r.yiaddr, Ipv4Addr::new(10, 0, 0, 10));
        assert_eq!(r.file, "");
    }
}
