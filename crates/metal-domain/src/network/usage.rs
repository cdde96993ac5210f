//! A network's usage (`usage` and `consumption` of its view): addresses and child prefixes, in
//! total and per address family, from the counters the IPAM keeps per prefix.

use std::collections::BTreeMap;

use ipnet::IpNet;

use super::{Network, NetworkConsumption, NetworkUsage};
use crate::prefix::{self, AddressFamily};

/// The counters of one prefix of a network, as the IPAM keeps them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrefixCounters {
    pub cidr: IpNet,
    /// Addresses taken, the reserved ones (network, broadcast) included.
    pub used_ips: u64,
    /// Child prefixes cut from it.
    pub child_count: u64,
    /// Addresses covered by those children.
    pub child_addresses: u128,
}

impl PrefixCounters {
    /// A prefix just added: only its reserved addresses are taken.
    pub fn fresh(cidr: &IpNet) -> Self {
        Self {
            cidr: *cidr,
            used_ips: prefix::reserved_count(cidr),
            child_count: 0,
            child_addresses: 0,
        }
    }
}

/// The usage of a network with these prefixes: child prefixes are available only in a private
/// super network with a child length longer than the prefix.
pub fn usage(
    n: &Network,
    prefixes: impl IntoIterator<Item = PrefixCounters>,
) -> (NetworkUsage, NetworkConsumption) {
    let mut total = NetworkUsage::default();
    let mut per: BTreeMap<AddressFamily, NetworkUsage> = BTreeMap::new();
    for p in prefixes {
        let family = AddressFamily::of_net(&p.cidr);
        let size = prefix::size(&p.cidr);
        let available_prefixes = match n.defaultchildprefixlength.get(&family) {
            Some(len) if n.privatesuper && *len > p.cidr.prefix_len() => {
                let block = 1u128 << (u32::from(family.bits()) - u32::from(*len));
                (size.saturating_sub(p.child_addresses) / block).min(u128::from(u64::MAX)) as u64
            }
            _ => 0,
        };
        let u = NetworkUsage {
            available_ips: size.min(u128::from(u64::MAX)) as u64,
            used_ips: p.used_ips,
            available_prefixes,
            used_prefixes: p.child_count,
        };
        total.add(&u);
        per.entry(family).or_default().add(&u);
    }
    let consumption = NetworkConsumption {
        ipv4: per.get(&AddressFamily::IPv4).copied(),
        ipv6: per.get(&AddressFamily::IPv6).copied(),
    };
    (total, consumption)
}

/// The network with its usage filled in.
pub fn with_usage(mut n: Network, prefixes: impl IntoIterator<Item = PrefixCounters>) -> Network {
    let (u, c) = usage(&n, prefixes);
    n.usage = u;
    n.consumption = c;
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    fn counters(
        cidr: &str,
        used_ips: u64,
        child_count: u64,
        child_addresses: u128,
    ) -> PrefixCounters {
        PrefixCounters {
            cidr: net(cidr),
            used_ips,
            child_count,
            child_addresses,
        }
    }

    fn super_network(v4: u8, v6: u8) -> Network {
        Network {
            privatesuper: true,
            defaultchildprefixlength: [(AddressFamily::IPv4, v4), (AddressFamily::IPv6, v6)]
                .into_iter()
                .collect(),
            ..Default::default()
        }
    }

    fn u(
        available_ips: u64,
        used_ips: u64,
        available_prefixes: u64,
        used_prefixes: u64,
    ) -> NetworkUsage {
        NetworkUsage {
            available_ips,
            used_ips,
            available_prefixes,
            used_prefixes,
        }
    }

    #[test]
    fn usage_per_family_and_in_total() {
        // (what, network, prefixes, total, ipv4, ipv6)
        type Usage = Option<NetworkUsage>;
        type Case = (
            &'static str,
            Network,
            Vec<PrefixCounters>,
            NetworkUsage,
            Usage,
            Usage,
        );
        let cases: Vec<Case> = vec![
            (
                "no prefixes",
                Network::default(),
                vec![],
                u(0, 0, 0, 0),
                None,
                None,
            ),
            (
                "plain network: addresses only",
                Network::default(),
                vec![counters("10.0.0.0/24", 7, 0, 0)],
                u(256, 7, 0, 0),
                Some(u(256, 7, 0, 0)),
                None,
            ),
            (
                "super network: /22 in /24 children, one taken",
                super_network(24, 64),
                vec![counters("10.0.0.0/22", 2, 1, 256)],
                u(1024, 2, 3, 1),
                Some(u(1024, 2, 3, 1)),
                None,
            ),
            (
                "dual stack super network",
                super_network(24, 64),
                vec![
                    counters("10.0.0.0/23", 2, 0, 0),
                    counters("2001:db8::/62", 1, 2, 2 << 64),
                ],
                u(u64::MAX, 3, 4, 2),
                Some(u(512, 2, 2, 0)),
                Some(u(u64::MAX, 1, 2, 2)),
            ),
            (
                "child length not longer than the prefix: no child prefixes",
                super_network(24, 64),
                vec![counters("10.0.0.0/24", 2, 0, 0)],
                u(256, 2, 0, 0),
                Some(u(256, 2, 0, 0)),
                None,
            ),
        ];
        for (what, n, prefixes, total, v4, v6) in cases {
            let (t, c) = usage(&n, prefixes);
            assert_eq!(t, total, "{what}: total");
            assert_eq!(c.ipv4, v4, "{what}: ipv4");
            assert_eq!(c.ipv6, v6, "{what}: ipv6");
        }
    }

    #[test]
    fn fresh_prefixes_hold_only_their_reserved_addresses() {
        let n = with_usage(
            Network::default(),
            [PrefixCounters::fresh(&net("10.1.0.0/24"))],
        );
        assert_eq!(
            n.usage,
            u(256, prefix::reserved_count(&net("10.1.0.0/24")), 0, 0)
        );
    }
}
