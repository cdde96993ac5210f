//! Full DHCP server mode: hands out addresses from the configured ranges (the range is chosen
//! by giaddr for relayed requests, by the receiving interface otherwise) and adds the PXE boot
//! instructions for PXE clients. Pure state machine over [`Leases`]; sockets live elsewhere.

use std::net::{Ipv4Addr, SocketAddrV4};

use crate::classify::BootFile;
use crate::dhcp::{opt, MessageType, Packet};
use crate::leases::{Leases, Range, OFFER_HOLD_SECS};
use crate::proxy::{add_boot, echo_relay_info};

/// The full DHCP server state.
#[derive(Debug)]
pub struct FullDhcp {
    pub ranges: Vec<Range>,
    pub lease_time: u32,
    pub leases: Leases,
}

/// The result of one request.
#[derive(Debug, Default)]
pub struct Outcome {
    pub reply: Option<(Packet, SocketAddrV4)>,
    /// The bound leases changed and should be saved.
    pub changed: bool,
}

impl FullDhcp {
    fn range_for(&self, req: &Packet, iface_ip: Ipv4Addr) -> Option<&Range> {
        let anchor = if req.giaddr.is_unspecified() {
            iface_ip
        } else {
            req.giaddr
        };
        self.ranges.iter().find(|r| r.subnet_contains(anchor))
    }

    /// Handles one request received on an interface with address `iface_ip`; `boot` is set for
    /// PXE clients.
    pub fn handle(
        &mut self,
        req: &Packet,
        iface_ip: Ipv4Addr,
        boot: Option<&BootFile>,
        now: u64,
    ) -> Outcome {
        let (Some(kind), Some(mac)) = (req.message_type(), req.mac()) else {
            return Outcome::default();
        };
        if req.op != crate::dhcp::BOOTREQUEST {
            return Outcome::default();
        }
        let Some(range) = self.range_for(req, iface_ip).cloned() else {
            return Outcome::default();
        };
        let requested = req.get_ip(opt::REQUESTED_IP);
        let server_id = req.get_ip(opt::SERVER_ID);
        match kind {
            MessageType::Discover => {
                let Some(ip) = self.leases.pick(mac, &range, requested, now) else {
                    tracing::warn!(%mac, "no free address in range {}-{}", range.first, range.last);
                    return Outcome::default();
                };
                let bound = self
                    .leases
                    .of_mac(mac, &range, now)
                    .is_some_and(|l| l.bound);
                if !bound {
                    self.leases
                        .put(ip, mac, &range, now + OFFER_HOLD_SECS, false);
                }
                let r = self.answer(req, MessageType::Offer, ip, &range, iface_ip, boot);
                Outcome {
                    reply: Some((r, destination(req, false))),
                    changed: false,
                }
            }
            MessageType::Request => {
                if server_id.is_some_and(|s| s != iface_ip) {
                    // The client chose another server's offer.
                    self.leases.release(requested.unwrap_or(req.ciaddr), mac);
                    return Outcome::default();
                }
                let want = requested.unwrap_or(req.ciaddr);
                let ok = range.contains(want) && self.leases.free_for(want, mac, now);
                if !ok && server_id.is_some() && self.offered_through_another_relay(req, want) {
                    // The client took our offer made through another relay of its segment (a
                    // PXE VLAN stretched over several leaves, each relaying every broadcast);
                    // that relay's copy of this request is answered, a NAK here would race it.
                    return Outcome::default();
                }
                if !ok {
                    let mut nak = req.reply(MessageType::Nak);
                    nak.set(opt::SERVER_ID, iface_ip.octets());
                    nak.set(opt::MESSAGE, b"address not available".to_vec());
                    echo_relay_info(&mut nak, req);
                    return Outcome {
                        reply: Some((nak, destination(req, true))),
                        changed: false,
                    };
                }
                self.leases
                    .put(want, mac, &range, now + u64::from(self.lease_time), true);
                let r = self.answer(req, MessageType::Ack, want, &range, iface_ip, boot);
                Outcome {
                    reply: Some((r, destination(req, false))),
                    changed: true,
                }
            }
            MessageType::Release => Outcome {
                reply: None,
                changed: self.leases.release(req.ciaddr, mac),
            },
            MessageType::Decline => {
                if let Some(ip) = requested {
                    if self.leases.get(ip).is_some_and(|l| l.mac == Some(mac)) {
                        self.leases.decline(ip, now + u64::from(self.lease_time));
                        return Outcome {
                            reply: None,
                            changed: true,
                        };
                    }
                }
                Outcome::default()
            }
            MessageType::Inform => {
                let mut r = self.answer(
                    req,
                    MessageType::Ack,
                    Ipv4Addr::UNSPECIFIED,
                    &range,
                    iface_ip,
                    boot,
                );
                r.ciaddr = req.ciaddr;
                r.remove(opt::LEASE_TIME);
                r.remove(opt::RENEWAL_TIME);
                r.remove(opt::REBINDING_TIME);
                Outcome {
                    reply: Some((r, destination(req, false))),
                    changed: false,
                }
            }
            MessageType::Offer | MessageType::Ack | MessageType::Nak => Outcome::default(),
        }
    }

    /// Whether `want`, asked for in a relayed request, lies in another of our ranges than the
    /// one of this request's relay: the address came from our offer through another relay.
    fn offered_through_another_relay(&self, req: &Packet, want: Ipv4Addr) -> bool {
        !req.giaddr.is_unspecified()
            && self
                .ranges
                .iter()
                .any(|r| r.contains(want) && !r.subnet_contains(req.giaddr))
    }

    fn answer(
        &self,
        req: &Packet,
        kind: MessageType,
        ip: Ipv4Addr,
        range: &Range,
        iface_ip: Ipv4Addr,
        boot: Option<&BootFile>,
    ) -> Packet {
        let mut r = req.reply(kind);
        r.yiaddr = ip;
        r.set(opt::SERVER_ID, iface_ip.octets());
        r.set(opt::LEASE_TIME, self.lease_time.to_be_bytes());
        r.set(opt::RENEWAL_TIME, (self.lease_time / 2).to_be_bytes());
        r.set(opt::REBINDING_TIME, (self.lease_time / 8 * 7).to_be_bytes());
        r.set(opt::SUBNET_MASK, range.netmask().octets());
        if let Some(gw) = range.router {
            r.set(opt::ROUTER, gw.octets());
        }
        if !range.dns.is_empty() {
            let dns: Vec<u8> = range.dns.iter().flat_map(|d| d.octets()).collect();
            r.set(opt::DNS, dns);
        }
        if let Some(b) = boot {
            add_boot(&mut r, req, iface_ip, b);
        }
        echo_relay_info(&mut r, req);
        r
    }
}

/// Where a full-mode reply goes: the relay, the client's own address (RENEW, INFORM) or a
/// broadcast on the receiving interface.
fn destination(req: &Packet, nak: bool) -> SocketAddrV4 {
    if !req.giaddr.is_unspecified() {
        SocketAddrV4::new(req.giaddr, 67)
    } else if !req.ciaddr.is_unspecified() && !nak {
        SocketAddrV4::new(req.ciaddr, 68)
    } else {
        SocketAddrV4::new(Ipv4Addr::BROADCAST, 68)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dhcp::Mac;

    const SERVER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);

    fn server() -> FullDhcp {
        FullDhcp {
            ranges: vec![
                "10.0.0.10-10.0.0.11/24,router=10.0.0.1".parse().unwrap(),
                "10.9.0.10-10.9.0.20/24,router=10.9.0.1".parse().unwrap(),
            ],
            lease_time: 600,
            leases: Leases::default(),
        }
    }

    fn msg(kind: u8, mac: u8) -> Packet {
        let mut p = Packet {
            xid: 42,
            chaddr: [2, 0, 0, 0, 0, mac, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            ..Packet::default()
        };
        p.set(opt::MESSAGE_TYPE, [kind]);
        p
    }

    fn reply(o: &Outcome) -> &Packet {
        &o.reply.as_ref().expect("a reply").0
    }

    #[test]
    fn discover_request_ack_release() {
        let mut s = server();
        let o = s.handle(&msg(1, 1), SERVER, None, 100);
        let offer = reply(&o);
        assert_eq!(offer.message_type(), Some(MessageType::Offer));
        assert_eq!(offer.yiaddr, Ipv4Addr::new(10, 0, 0, 10));
        assert_eq!(
            offer.get_ip(opt::SUBNET_MASK),
            Some(Ipv4Addr::new(255, 255, 255, 0))
        );
        assert_eq!(offer.get_ip(opt::ROUTER), Some(Ipv4Addr::new(10, 0, 0, 1)));
        assert_eq!(offer.get(opt::LEASE_TIME), Some(&600u32.to_be_bytes()[..]));
        assert_eq!(offer.get_ip(opt::SERVER_ID), Some(SERVER));
        assert_eq!(
            o.reply.as_ref().unwrap().1,
            "255.255.255.255:68".parse().unwrap()
        );
        assert!(!o.changed);

        // A second client gets the next address while the first offer is held.
        let o2 = s.handle(&msg(1, 2), SERVER, None, 100);
        assert_eq!(reply(&o2).yiaddr, Ipv4Addr::new(10, 0, 0, 11));

        let mut req = msg(3, 1);
        req.set(opt::REQUESTED_IP, [10, 0, 0, 10]);
        req.set(opt::SERVER_ID, SERVER.octets());
        let o = s.handle(&req, SERVER, None, 101);
        assert_eq!(reply(&o).message_type(), Some(MessageType::Ack));
        assert!(o.changed);
        assert!(s.leases.get(Ipv4Addr::new(10, 0, 0, 10)).unwrap().bound);

        // Third client: range exhausted → no offer.
        assert!(s.handle(&msg(1, 3), SERVER, None, 102).reply.is_none());

        // Client 2 requests client 1's address → NAK.
        let mut req = msg(3, 2);
        req.set(opt::REQUESTED_IP, [10, 0, 0, 10]);
        let o = s.handle(&req, SERVER, None, 103);
        assert_eq!(reply(&o).message_type(), Some(MessageType::Nak));

        // Renew by client 1 goes unicast to its address.
        let mut renew = msg(3, 1);
        renew.ciaddr = Ipv4Addr::new(10, 0, 0, 10);
        let o = s.handle(&renew, SERVER, None, 200);
        assert_eq!(reply(&o).message_type(), Some(MessageType::Ack));
        assert_eq!(o.reply.as_ref().unwrap().1, "10.0.0.10:68".parse().unwrap());

        let mut rel = msg(7, 1);
        rel.ciaddr = Ipv4Addr::new(10, 0, 0, 10);
        assert!(s.handle(&rel, SERVER, None, 201).changed);
        assert!(s.leases.get(Ipv4Addr::new(10, 0, 0, 10)).is_none());
    }

    #[test]
    fn request_for_another_server_drops_our_offer() {
        let mut s = server();
        s.handle(&msg(1, 1), SERVER, None, 100);
        let mut req = msg(3, 1);
        req.set(opt::REQUESTED_IP, [10, 0, 0, 10]);
        req.set(opt::SERVER_ID, [10, 0, 0, 99]);
        assert!(s.handle(&req, SERVER, None, 101).reply.is_none());
        assert!(s.leases.is_empty());
    }

    #[test]
    fn relayed_requests_use_the_giaddr_range_and_echo_option_82() {
        let mut s = server();
        let mut d = msg(1, 1);
        d.giaddr = Ipv4Addr::new(10, 9, 0, 1);
        d.set(opt::RELAY_AGENT_INFO, [1, 2, 0, 1]);
        let o = s.handle(&d, SERVER, None, 100);
        let (r, dst) = o.reply.unwrap();
        assert_eq!(r.yiaddr, Ipv4Addr::new(10, 9, 0, 10));
        assert_eq!(r.giaddr, d.giaddr);
        assert_eq!(r.get(opt::RELAY_AGENT_INFO), Some(&[1u8, 2, 0, 1][..]));
        assert_eq!(dst, "10.9.0.1:67".parse().unwrap());
        let mut unknown = msg(1, 2);
        unknown.giaddr = Ipv4Addr::new(192, 168, 0, 1);
        assert!(s.handle(&unknown, SERVER, None, 100).reply.is_none());
    }

    #[test]
    fn a_request_relayed_twice_is_answered_only_through_the_relay_of_its_offer() {
        // one segment, two relays (10.0.0.1 and 10.9.0.1): each DISCOVER and REQUEST arrives
        // twice; the client takes the offer made through the second relay
        let mut s = server();
        let relayed = |kind: u8, giaddr: [u8; 4]| {
            let mut p = msg(kind, 1);
            p.giaddr = Ipv4Addr::from(giaddr);
            p
        };
        s.handle(&relayed(1, [10, 0, 0, 1]), SERVER, None, 100);
        let offer = reply(&s.handle(&relayed(1, [10, 9, 0, 1]), SERVER, None, 100)).yiaddr;
        assert_eq!(offer, Ipv4Addr::new(10, 9, 0, 10));
        let request = |giaddr| {
            let mut p = relayed(3, giaddr);
            p.set(opt::REQUESTED_IP, offer.octets());
            p.set(opt::SERVER_ID, SERVER.octets());
            p
        };
        // the copy through the first relay: no NAK
        assert!(s
            .handle(&request([10, 0, 0, 1]), SERVER, None, 101)
            .reply
            .is_none());
        let ack = reply(&s.handle(&request([10, 9, 0, 1]), SERVER, None, 101)).clone();
        assert_eq!(ack.message_type(), Some(MessageType::Ack));
        assert_eq!(ack.yiaddr, offer);
        // an address of no range of ours is still refused
        let mut foreign = request([10, 0, 0, 1]);
        foreign.set(opt::REQUESTED_IP, [192, 168, 1, 1]);
        let nak = reply(&s.handle(&foreign, SERVER, None, 102)).clone();
        assert_eq!(nak.message_type(), Some(MessageType::Nak));
    }

    #[test]
    fn a_late_discover_through_the_other_relay_keeps_the_bound_address() {
        // machine 1 is given 10.0.0.10 through the first relay; its DISCOVER's copy through
        // the second relay arrives after the ACK. Machine 2 must not get 10.0.0.10 too.
        let mut s = server();
        let relayed = |kind: u8, n: u8, giaddr: [u8; 4]| {
            let mut p = msg(kind, n);
            p.giaddr = Ipv4Addr::from(giaddr);
            p
        };
        let offer = reply(&s.handle(&relayed(1, 1, [10, 0, 0, 1]), SERVER, None, 100)).yiaddr;
        let mut request = relayed(3, 1, [10, 0, 0, 1]);
        request.set(opt::REQUESTED_IP, offer.octets());
        request.set(opt::SERVER_ID, SERVER.octets());
        let ack = reply(&s.handle(&request, SERVER, None, 100)).clone();
        assert_eq!(ack.message_type(), Some(MessageType::Ack));
        let late = reply(&s.handle(&relayed(1, 1, [10, 9, 0, 1]), SERVER, None, 100)).yiaddr;
        assert_eq!(late, Ipv4Addr::new(10, 9, 0, 10));
        let second = reply(&s.handle(&relayed(1, 2, [10, 0, 0, 1]), SERVER, None, 101)).yiaddr;
        assert_ne!(second, offer, "{offer} was given twice");
        let lease = s.leases.get(offer).unwrap();
        assert!(
            lease.bound && lease.mac == Some(Mac([2, 0, 0, 0, 0, 1])),
            "{lease:?}"
        );
    }

    #[test]
    fn pxe_clients_get_boot_instructions_and_decline_blocks_an_address() {
        let mut s = server();
        let boot = BootFile {
            file: "02:00:00:00:00:01/0".into(),
            pxe_discovery_control: true,
            vendor_class: "PXEClient",
        };
        let o = s.handle(&msg(1, 1), SERVER, Some(&boot), 100);
        let r = reply(&o);
        assert_eq!(r.file, boot.file);
        assert_eq!(r.siaddr, SERVER);
        assert_eq!(r.get(opt::VENDOR_CLASS), Some(&b"PXEClient"[..]));
        let mut dec = msg(4, 1);
        dec.set(opt::REQUESTED_IP, [10, 0, 0, 10]);
        assert!(s.handle(&dec, SERVER, None, 101).changed);
        let again = s.handle(&msg(1, 1), SERVER, None, 102);
        assert_eq!(reply(&again).yiaddr, Ipv4Addr::new(10, 0, 0, 11));
        let mac = Mac([2, 0, 0, 0, 0, 1]);
        assert_eq!(
            s.leases.get(Ipv4Addr::new(10, 0, 0, 11)).unwrap().mac,
            Some(mac)
        );
    }
}
