//! The allocation's networks as the renderers need them: their kinds, the firewall's VRFs with
//! their VLAN ids, the addresses and families. Pure.

use std::net::IpAddr;

use ipnet::IpNet;

use crate::config::{InstallConfig, InstallNetwork};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// the project's own private network (CHILD, or the project's CHILD_SHARED)
    PrivatePrimary,
    /// another project's shared network (CHILD_SHARED of someone else)
    PrivateSecondaryShared,
    External,
    Underlay,
}

pub fn kind(n: &InstallNetwork) -> Kind {
    match n.networktype.as_str() {
        "privateprimaryunshared" | "privateprimaryshared" => Kind::PrivatePrimary,
        "privatesecondaryshared" => Kind::PrivateSecondaryShared,
        "underlay" => Kind::Underlay,
        "external" => Kind::External,
        // install.yaml of an older metal-hammer: the booleans only
        _ if n.underlay => Kind::Underlay,
        _ if n.private => Kind::PrivatePrimary,
        _ => Kind::External,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Family {
    V4,
    V6,
}

impl Family {
    pub fn of_ip(ip: &IpAddr) -> Self {
        if ip.is_ipv4() {
            Family::V4
        } else {
            Family::V6
        }
    }

    /// The family of an address or prefix; `None` when it is neither.
    pub fn of(s: &str) -> Option<Self> {
        if let Ok(ip) = s.parse::<IpAddr>() {
            return Some(Self::of_ip(&ip));
        }
        s.parse::<IpNet>().ok().map(|n| Self::of_ip(&n.addr()))
    }

    /// nftables' and FRR's keyword: `ip` or `ip6` / `ipv6`.
    pub fn nft(self) -> &'static str {
        match self {
            Family::V4 => "ip",
            Family::V6 => "ip6",
        }
    }

    pub fn frr(self) -> &'static str {
        match self {
            Family::V4 => "ip",
            Family::V6 => "ipv6",
        }
    }

    pub fn host_len(self) -> u8 {
        match self {
            Family::V4 => 32,
            Family::V6 => 128,
        }
    }
}

/// An address with its host prefix length: `10.0.0.1/32`, `2001:db8::1/128`.
pub fn host(ip: &str) -> String {
    match Family::of(ip) {
        Some(f) => format!("{ip}/{}", f.host_len()),
        None => ip.to_string(),
    }
}

/// A tenant VRF of a firewall: one per network with a VRF id (the first network with that id
/// decides), its VLAN id 1000 + the network's index in the allocation (gaps included, as
/// metal-stack numbers them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vrf<'a> {
    pub id: u64,
    pub vlan: u64,
    pub index: usize,
    pub network: &'a InstallNetwork,
    pub kind: Kind,
}

pub fn vrfs(cfg: &InstallConfig) -> Vec<Vrf<'_>> {
    let mut out: Vec<Vrf<'_>> = Vec::new();
    for (index, n) in cfg.networks.iter().enumerate() {
        if n.vrf == 0 || kind(n) == Kind::Underlay || out.iter().any(|v| v.id == n.vrf) {
            continue;
        }
        out.push(Vrf {
            id: n.vrf,
            vlan: 1000 + index as u64,
            index,
            network: n,
            kind: kind(n),
        });
    }
    out
}

/// The ids of the VRFs of private networks (the project's own and other projects' shared
/// ones), where tenant traffic enters a firewall.
pub fn private_vrfs(cfg: &InstallConfig) -> Vec<u64> {
    vrfs(cfg)
        .iter()
        .filter(|v| matches!(v.kind, Kind::PrivatePrimary | Kind::PrivateSecondaryShared))
        .map(|v| v.id)
        .collect()
}

pub fn primary(cfg: &InstallConfig) -> Option<&InstallNetwork> {
    cfg.networks
        .iter()
        .find(|n| kind(n) == Kind::PrivatePrimary)
}

pub fn underlay(cfg: &InstallConfig) -> Option<&InstallNetwork> {
    cfg.networks.iter().find(|n| kind(n) == Kind::Underlay)
}

/// The names of the machine's NICs, in the order metal-hammer lists them: `lan0`, `lan1`, …
pub fn lan_names(cfg: &InstallConfig) -> Vec<String> {
    (0..cfg.nics.len()).map(|i| format!("lan{i}")).collect()
}

/// The BGP AS number: the private primary network's, else the underlay's, else the first
/// network's (every network of an allocation carries the same).
pub fn asn(cfg: &InstallConfig) -> u64 {
    primary(cfg)
        .or_else(|| underlay(cfg))
        .or_else(|| cfg.networks.first())
        .map_or(0, |n| n.asn)
}

/// Whether `prefix` is a default route (`0.0.0.0/0`, `::/0`).
pub fn is_default(prefix: &str) -> bool {
    prefix.parse::<IpNet>().is_ok_and(|n| n.prefix_len() == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(t: &str, vrf: u64) -> InstallNetwork {
        InstallNetwork {
            networktype: t.into(),
            vrf,
            ..Default::default()
        }
    }

    #[test]
    fn vrfs_take_their_vlan_from_the_network_index() {
        let cfg = InstallConfig {
            networks: vec![
                net("underlay", 0),
                net("privateprimaryunshared", 3981),
                net("external", 104009),
                net("external", 104009),
                net("privatesecondaryshared", 3982),
            ],
            ..Default::default()
        };
        let v: Vec<(u64, u64)> = vrfs(&cfg).iter().map(|v| (v.id, v.vlan)).collect();
        assert_eq!(v, [(3981, 1001), (104009, 1002), (3982, 1004)]);
    }

    #[test]
    fn kinds_and_families() {
        assert_eq!(kind(&net("privateprimaryshared", 1)), Kind::PrivatePrimary);
        let old = InstallNetwork {
            private: true,
            ..Default::default()
        };
        assert_eq!(kind(&old), Kind::PrivatePrimary);
        assert_eq!(Family::of("2001:db8::/64"), Some(Family::V6));
        assert_eq!(Family::of("10.0.0.1"), Some(Family::V4));
        assert_eq!(Family::of("x"), None);
        assert_eq!(host("10.0.0.1"), "10.0.0.1/32");
        assert_eq!(host("2001:db8::1"), "2001:db8::1/128");
        assert!(is_default("::/0") && is_default("0.0.0.0/0") && !is_default("10.0.0.0/8"));
    }
}
