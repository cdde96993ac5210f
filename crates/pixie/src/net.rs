//! Interfaces and DHCP sockets: a UDP socket on port 67 shared with other DHCP servers
//! (SO_REUSEADDR + SO_REUSEPORT, bound to the interface), or with `--dhcp-no-bind` a raw
//! IPv4/UDP socket that snoops port 67 without binding it and sends replies with its own UDP
//! header.

use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::UdpSocket;

/// A network interface pixie serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Iface {
    pub name: String,
    pub index: u32,
    pub ip: Ipv4Addr,
    pub mac: Option<[u8; 6]>,
}

/// The IPv4 address of an interface: global unicast first, then link-local, then loopback.
fn best_ipv4(ips: &[Ipv4Addr]) -> Option<Ipv4Addr> {
    ips.iter()
        .copied()
        .min_by_key(|ip| (ip.is_loopback(), ip.is_link_local()))
}

/// The named interfaces, or every up non-loopback interface with IPv4 when `names` is empty.
pub fn interfaces(names: &[String]) -> anyhow::Result<Vec<Iface>> {
    let all = pnet_datalink::interfaces();
    let pick = |i: &pnet_datalink::NetworkInterface| -> Option<Iface> {
        let v4: Vec<Ipv4Addr> = i
            .ips
            .iter()
            .filter_map(|n| match n.ip() {
                std::net::IpAddr::V4(a) => Some(a),
                std::net::IpAddr::V6(_) => None,
            })
            .collect();
        Some(Iface {
            name: i.name.clone(),
            index: i.index,
            ip: best_ipv4(&v4)?,
            mac: i.mac.map(|m| m.octets()),
        })
    };
    if names.is_empty() {
        return Ok(all
            .iter()
            .filter(|i| i.is_up() && !i.is_loopback())
            .filter_map(pick)
            .collect());
    }
    names
        .iter()
        .map(|n| {
            let i = all
                .iter()
                .find(|i| &i.name == n)
                .ok_or_else(|| anyhow::anyhow!("interface {n} does not exist"))?;
            pick(i).ok_or_else(|| anyhow::anyhow!("interface {n} has no IPv4 address"))
        })
        .collect()
}

/// A UDP socket on `0.0.0.0:port` bound to `iface`, sharing the port with other servers.
pub fn shared_udp(iface: &str, port: u16) -> io::Result<UdpSocket> {
    let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
    s.set_reuse_address(true)?;
    s.set_reuse_port(true)?;
    s.set_broadcast(true)?;
    s.bind_device(Some(iface.as_bytes()))?;
    s.bind(&SocketAddr::from((Ipv4Addr::UNSPECIFIED, port)).into())?;
    s.set_nonblocking(true)?;
    UdpSocket::from_std(s.into())
}

/// Where DHCP packets come from and replies go.
pub enum Transport {
    Udp(UdpSocket),
    /// Raw IPv4/UDP socket, `port` is the snooped destination port. Tokio's UdpSocket only
    /// issues recv/sendto on it, which work on raw sockets alike; this keeps the code free of
    /// `unsafe` (registering a raw fd with tokio directly is unsafe).
    Raw {
        sock: UdpSocket,
        port: u16,
    },
}

impl Transport {
    /// A raw snooping transport for `port` on `iface`.
    pub fn raw(iface: &str, port: u16) -> io::Result<Self> {
        let s = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::UDP))?;
        s.set_broadcast(true)?;
        s.bind_device(Some(iface.as_bytes()))?;
        s.set_nonblocking(true)?;
        Ok(Self::Raw {
            sock: UdpSocket::from_std(s.into())?,
            port,
        })
    }

    /// The next UDP payload for our port and its source.
    pub async fn recv(&self) -> io::Result<(Vec<u8>, SocketAddrV4)> {
        match self {
            Self::Udp(s) => {
                let mut buf = vec![0u8; 1600];
                loop {
                    let (n, from) = s.recv_from(&mut buf).await?;
                    if let SocketAddr::V4(from) = from {
                        buf.truncate(n);
                        return Ok((buf, from));
                    }
                }
            }
            Self::Raw { sock, port } => {
                let mut buf = vec![0u8; 1600];
                loop {
                    let n = sock.recv(&mut buf).await?;
                    if let Some((payload, from)) = udp_payload(&buf[..n], *port) {
                        return Ok((payload.to_vec(), from));
                    }
                }
            }
        }
    }

    /// Sends a payload from port 67 to `to`.
    pub async fn send(&self, payload: &[u8], to: SocketAddrV4) -> io::Result<()> {
        match self {
            Self::Udp(s) => s.send_to(payload, to).await.map(|_| ()),
            Self::Raw { sock, port } => {
                let mut dgram = Vec::with_capacity(8 + payload.len());
                dgram.extend_from_slice(&port.to_be_bytes());
                dgram.extend_from_slice(&to.port().to_be_bytes());
                dgram.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
                dgram.extend_from_slice(&[0, 0]); // checksum optional in IPv4
                dgram.extend_from_slice(payload);
                sock.send_to(&dgram, SocketAddrV4::new(*to.ip(), 0))
                    .await
                    .map(|_| ())
            }
        }
    }
}

/// The UDP payload of an IPv4 packet addressed to `port`, with its source.
pub fn udp_payload(ip: &[u8], port: u16) -> Option<(&[u8], SocketAddrV4)> {
    let (&vihl, _) = ip.split_first()?;
    if vihl >> 4 != 4 || ip.get(9) != Some(&17) {
        return None;
    }
    let ihl = usize::from(vihl & 0x0f) * 4;
    let udp = ip.get(ihl..)?;
    if udp.len() < 8 || u16::from_be_bytes([udp[2], udp[3]]) != port {
        return None;
    }
    let len = usize::from(u16::from_be_bytes([udp[4], udp[5]]));
    let payload = udp.get(8..len)?;
    let src = Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]);
    Some((
        payload,
        SocketAddrV4::new(src, u16::from_be_bytes([udp[0], udp[1]])),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extracts_udp_payloads() {
        let mut p = vec![
            0x45, 0, 0, 0, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 9, 255, 255, 255, 255,
        ];
        p.extend_from_slice(&[0, 68, 0, 67, 0, 11, 0, 0, b'a', b'b', b'c']);
        let (payload, src) = udp_payload(&p, 67).unwrap();
        assert_eq!(payload, b"abc");
        assert_eq!(src, "10.0.0.9:68".parse().unwrap());
        assert!(udp_payload(&p, 68).is_none());
        let mut tcp = p.clone();
        tcp[9] = 6;
        assert!(udp_payload(&tcp, 67).is_none());
        let mut long = p.clone();
        long[25] = 200;
        assert!(udp_payload(&long, 67).is_none());
        assert!(udp_payload(&p[..22], 67).is_none());
        assert!(udp_payload(&[], 67).is_none());
    }

    #[test]
    fn prefers_global_addresses() {
        let ll = Ipv4Addr::new(169, 254, 1, 1);
        let g = Ipv4Addr::new(10, 0, 0, 1);
        assert_eq!(best_ipv4(&[ll, Ipv4Addr::LOCALHOST, g]), Some(g));
        assert_eq!(best_ipv4(&[Ipv4Addr::LOCALHOST, ll]), Some(ll));
        assert_eq!(best_ipv4(&[]), None);
    }
}
