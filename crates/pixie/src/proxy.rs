//! ProxyDHCP (RFC 4578/PXE): answers PXE requests with boot instructions only, never with an
//! address. Pure functions from a request to the reply and where to send it; the sockets are in
//! [`crate::server`].

use std::net::{Ipv4Addr, SocketAddrV4};

use crate::classify::BootFile;
use crate::dhcp::{opt, MessageType, Packet, FLAG_BROADCAST};

/// Adds the PXE boot instructions of `boot`, served by `server`, to a reply of `req`.
pub fn add_boot(reply: &mut Packet, req: &Packet, server: Ipv4Addr, boot: &BootFile) {
    reply.siaddr = server;
    reply.sname = server.to_string();
    reply.file = boot.file.clone();
    reply.set(opt::SERVER_ID, server.octets());
    reply.set(opt::VENDOR_CLASS, boot.vendor_class.as_bytes());
    if boot.pxe_discovery_control {
        reply.set(opt::VENDOR_SPECIFIC, [6, 1, 8, opt::END]);
    }
    if let Some(g) = req.get(opt::CLIENT_GUID) {
        reply.set(opt::CLIENT_GUID, g);
    }
}

/// Echoes the relay agent information (option 82) as RFC 3046 requires; it goes last.
pub fn echo_relay_info(reply: &mut Packet, req: &Packet) {
    if let Some(o82) = req.get(opt::RELAY_AGENT_INFO) {
        reply.set(opt::RELAY_AGENT_INFO, o82);
    }
}

/// The proxy reply (OFFER to a DISCOVER on port 67, ACK to a REQUEST on port 4011).
pub fn proxy_reply(req: &Packet, kind: MessageType, server: Ipv4Addr, boot: &BootFile) -> Packet {
    let mut r = req.reply(kind);
    r.flags |= FLAG_BROADCAST;
    add_boot(&mut r, req, server, boot);
    echo_relay_info(&mut r, req);
    r
}

/// Where a reply to a request received on port 67 goes: the relay (giaddr:67) or a broadcast
/// to the client port on the receiving interface.
pub fn destination(req: &Packet) -> SocketAddrV4 {
    if req.giaddr.is_unspecified() {
        SocketAddrV4::new(Ipv4Addr::BROADCAST, 68)
    } else {
        SocketAddrV4::new(req.giaddr, 67)
    }
}

/// Whether a request is one proxyDHCP answers: a DISCOVER on port 67, a REQUEST (or an INFORM)
/// on port 4011; both with option 97 absent or well formed.
pub fn wants_answer(req: &Packet, on_4011: bool) -> Option<MessageType> {
    if req.op != crate::dhcp::BOOTREQUEST || req.mac().is_none() {
        return None;
    }
    if let Some(g) = req.get(opt::CLIENT_GUID) {
        crate::dhcp::guid_uuid(g)?;
    }
    match (req.message_type()?, on_4011) {
        (MessageType::Discover, false) => Some(MessageType::Offer),
        (MessageType::Request | MessageType::Inform, true) => Some(MessageType::Ack),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::{boot_file, classify};

    fn discover(arch: u8) -> Packet {
        let mut p = Packet {
            xid: 7,
            chaddr: [0x52, 0x54, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            ..Packet::default()
        };
        p.set(opt::MESSAGE_TYPE, [1]);
        p.set(opt::CLIENT_ARCH, [0, arch]);
        p.set(opt::CLIENT_GUID, [0u8; 17]);
        p
    }

    #[test]
    fn bios_offer_has_discovery_control_and_echoes() {
        let mut req = discover(0);
        req.giaddr = Ipv4Addr::new(10, 9, 0, 1);
        req.set(opt::RELAY_AGENT_INFO, [1, 3, b'p', b'o', b'1']);
        let ip = Ipv4Addr::new(10, 0, 0, 1);
        let boot = boot_file(classify(&req).unwrap(), req.mac().unwrap(), ip, 4242);
        let kind = wants_answer(&req, false).unwrap();
        let r = proxy_reply(&req, kind, ip, &boot);
        assert_eq!(r.message_type(), Some(MessageType::Offer));
        assert_eq!(r.xid, 7);
        assert_eq!(r.yiaddr, Ipv4Addr::UNSPECIFIED);
        assert_eq!(r.siaddr, ip);
        assert_eq!(r.giaddr, req.giaddr);
        assert_eq!(r.file, "52:54:00:00:00:01/0");
        assert_eq!(r.get(opt::VENDOR_SPECIFIC), Some(&[6u8, 1, 8, 255][..]));
        assert_eq!(r.get(opt::VENDOR_CLASS), Some(&b"PXEClient"[..]));
        assert_eq!(r.get_ip(opt::SERVER_ID), Some(ip));
        assert_eq!(r.get(opt::CLIENT_GUID), Some(&[0u8; 17][..]));
        assert_eq!(r.options.last().unwrap().0, opt::RELAY_AGENT_INFO);
        assert_eq!(destination(&req), "10.9.0.1:67".parse().unwrap());
        assert_eq!(
            destination(&discover(0)),
            "255.255.255.255:68".parse().unwrap()
        );
    }

    #[test]
    fn which_requests_are_answered() {
        let d = discover(7);
        assert_eq!(wants_answer(&d, false), Some(MessageType::Offer));
        assert_eq!(wants_answer(&d, true), None);
        let mut r = d.clone();
        r.set(opt::MESSAGE_TYPE, [3]);
        assert_eq!(wants_answer(&r, true), Some(MessageType::Ack));
        assert_eq!(wants_answer(&r, false), None);
        let mut bad_guid = d.clone();
        bad_guid.set(opt::CLIENT_GUID, [1u8; 17]);
        assert_eq!(wants_answer(&bad_guid, false), None);
        let mut reply = d;
        reply.op = crate::dhcp::BOOTREPLY;
        assert_eq!(wants_answer(&reply, false), None);
    }
}
