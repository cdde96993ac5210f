//! IPv6 router advertisements with router lifetime 0 and no M/O flags: they tell iPXE at once
//! that there is no IPv6 router, so its IPv6 autoconfiguration ends instead of waiting ~13 s.
//! Sent to ff02::1 periodically and in answer to router solicitations.

use std::net::{Ipv6Addr, SocketAddrV6};
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::UdpSocket;

use crate::net::Iface;

const ROUTER_SOLICITATION: u8 = 133;
const ROUTER_ADVERTISEMENT: u8 = 134;
/// How often unsolicited advertisements are sent.
pub const INTERVAL: Duration = Duration::from_secs(3);

/// The ICMPv6 router advertisement (the kernel fills in the checksum).
pub fn packet(mac: Option<[u8; 6]>) -> Vec<u8> {
    let mut b = vec![
        ROUTER_ADVERTISEMENT,
        0, // code
        0,
        0,  // checksum
        64, // current hop limit
        0,  // flags: no M, no O
        0,
        0, // router lifetime 0: not a default router
        0,
        0,
        0,
        0, // reachable time
        0,
        0,
        0,
        0, // retrans timer
    ];
    if let Some(m) = mac {
        b.extend_from_slice(&[1, 1]); // source link-layer address, 8 bytes
        b.extend_from_slice(&m);
    }
    b
}

fn socket(iface: &Iface) -> std::io::Result<Socket> {
    let s = Socket::new(Domain::IPV6, Type::RAW, Some(Protocol::ICMPV6))?;
    s.bind_device(Some(iface.name.as_bytes()))?;
    s.set_multicast_hops_v6(255)?;
    s.set_unicast_hops_v6(255)?;
    s.set_multicast_if_v6(iface.index)?;
    s.set_multicast_loop_v6(false)?;
    s.join_multicast_v6(&Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 2), iface.index)?;
    s.set_nonblocking(true)?;
    Ok(s)
}

/// Sends advertisements on `iface` until the task is dropped. The raw ICMPv6 socket is driven
/// through tokio's UdpSocket (recv/sendto work on raw sockets alike), which needs no `unsafe`.
pub async fn serve(iface: Iface) -> std::io::Result<()> {
    let sock = UdpSocket::from_std(socket(&iface)?.into())?;
    let ra = packet(iface.mac);
    let all_nodes = SocketAddrV6::new(
        Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1),
        0,
        0,
        iface.index,
    );
    let mut tick = tokio::time::interval(INTERVAL);
    let mut buf = [0u8; 1500];
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            r = sock.recv(&mut buf) => {
                // Raw ICMPv6 sockets deliver the ICMPv6 message without the IPv6 header.
                if !matches!(r, Ok(n) if n > 0 && buf[0] == ROUTER_SOLICITATION) {
                    continue;
                }
            }
        }
        // Fails until the interface has a link-local address (DAD); the next tick retries.
        if let Err(e) = sock.send_to(&ra, all_nodes).await {
            tracing::debug!(iface = %iface.name, "router advertisement: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advertisement_bytes() {
        let p = packet(Some([0x52, 0x54, 0, 0, 0, 1]));
        assert_eq!(
            p,
            [134, 0, 0, 0, 64, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0x52, 0x54, 0, 0, 0, 1]
        );
        assert_eq!(packet(None).len(), 16);
    }
}
