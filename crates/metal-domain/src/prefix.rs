//! Prefix arithmetic for IP address management: parsing CIDRs strictly, address families,
//! sizes, overlap, the addresses a prefix reserves, and a fixed-width hex form of addresses
//! whose text order is their numeric order (so the store can range-scan and sort them as text,
//! identically on SQLite and PostgreSQL).

use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::error::{DomainError, DomainResult};

/// IPv4 or IPv6, spelled as the reference spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum AddressFamily {
    IPv4,
    IPv6,
}

impl AddressFamily {
    pub fn of(ip: &IpAddr) -> Self {
        match ip {
            IpAddr::V4(_) => Self::IPv4,
            IpAddr::V6(_) => Self::IPv6,
        }
    }
    pub fn of_net(net: &IpNet) -> Self {
        Self::of(&net.addr())
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Self::IPv4 => "IPv4",
            Self::IPv6 => "IPv6",
        }
    }
    /// Address width in bits.
    pub fn bits(self) -> u8 {
        match self {
            Self::IPv4 => 32,
            Self::IPv6 => 128,
        }
    }
    /// Parses "IPv4"/"IPv6" (case-insensitive, also "4"/"6", "ipv4"); 400 otherwise.
    pub fn parse(s: &str) -> DomainResult<Self> {
        match s.to_ascii_lowercase().as_str() {
            "ipv4" | "4" => Ok(Self::IPv4),
            "ipv6" | "6" => Ok(Self::IPv6),
            _ => Err(DomainError::invalid(format!(
                "addressfamily must be IPv4 or IPv6, got {s:?}"
            ))),
        }
    }
}

/// Parses a CIDR that must be in canonical form (host bits zero): `10.0.0.0/24` is fine,
/// `10.0.0.1/24` is refused with the canonical spelling in the message.
pub fn parse_cidr(field: &str, s: &str) -> DomainResult<IpNet> {
    let net: IpNet = s
        .trim()
        .parse()
        .map_err(|_| DomainError::invalid(format!("{field}: {s:?} is not a valid CIDR prefix")))?;
    if net.addr() != net.network() {
        return Err(DomainError::invalid(format!(
            "{field}: {s:?} has host bits set, did you mean {}?",
            net.trunc()
        )));
    }
    Ok(net)
}

/// Parses an IP address; 400 naming the field otherwise.
pub fn parse_ip(field: &str, s: &str) -> DomainResult<IpAddr> {
    s.trim()
        .parse()
        .map_err(|_| DomainError::invalid(format!("{field}: {s:?} is not a valid IP address")))
}

/// The address as an unsigned integer (IPv4 in the low 32 bits).
pub fn to_u128(ip: &IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(u32::from(*v4)),
        IpAddr::V6(v6) => u128::from(*v6),
    }
}

/// The address of `family` with integer value `n`.
pub fn from_u128(family: AddressFamily, n: u128) -> IpAddr {
    match family {
        AddressFamily::IPv4 => IpAddr::V4(std::net::Ipv4Addr::from(n as u32)),
        AddressFamily::IPv6 => IpAddr::V6(std::net::Ipv6Addr::from(n)),
    }
}

/// Fixed-width (32 hex digits) form of an address value: text order = numeric order.
pub fn hex(n: u128) -> String {
    format!("{n:032x}")
}

/// Parses [`hex`] output.
pub fn from_hex(s: &str) -> Option<u128> {
    u128::from_str_radix(s, 16).ok()
}

/// First and last address value of a prefix.
pub fn range(net: &IpNet) -> (u128, u128) {
    (to_u128(&net.network()), to_u128(&net.broadcast()))
}

/// Number of addresses in a prefix, saturating at `u128::MAX` for `::/0`.
pub fn size(net: &IpNet) -> u128 {
    let host_bits = u32::from(net.max_prefix_len() - net.prefix_len());
    1u128.checked_shl(host_bits).unwrap_or(u128::MAX)
}

/// Whether two prefixes share an address.
pub fn overlaps(a: &IpNet, b: &IpNet) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

/// The range of addresses handed out from a prefix: IPv4 keeps its network and broadcast
/// addresses back (for prefixes up to /30), IPv6 its first address (the subnet-router anycast
/// address, for prefixes up to /126). Returns `None` when nothing is usable.
pub fn usable_range(net: &IpNet) -> Option<(u128, u128)> {
    let (first, last) = range(net);
    let len = net.prefix_len();
    match AddressFamily::of_net(net) {
        AddressFamily::IPv4 if len <= 30 => Some((first + 1, last - 1)),
        AddressFamily::IPv6 if len <= 126 => Some((first + 1, last)),
        _ => Some((first, last)),
    }
}

/// How many addresses of a prefix are reserved (counted as used from the start, as go-ipam does).
pub fn reserved_count(net: &IpNet) -> u64 {
    let (first, last) = range(net);
    match usable_range(net) {
        Some((a, b)) => ((a - first) + (last - b)) as u64,
        None => 0,
    }
}

/// Formats a prefix from its first address and length.
pub fn net_from(family: AddressFamily, start: u128, len: u8) -> DomainResult<IpNet> {
    IpNet::new(from_u128(family, start), len)
        .map_err(|_| DomainError::invalid(format!("invalid prefix length {len}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    #[test]
    fn cidr_parsing() {
        assert!(parse_cidr("prefixes", "10.0.0.0/24").is_ok());
        assert!(parse_cidr("prefixes", "2001:db8::/64").is_ok());
        let e = parse_cidr("prefixes", "10.0.0.1/24").unwrap_err();
        assert!(e.to_string().contains("10.0.0.0/24"), "{e}");
        assert!(parse_cidr("prefixes", "10.0.0.0/33").is_err());
        assert!(parse_cidr("prefixes", "banana").is_err());
        assert!(parse_cidr("prefixes", "10.0.0.0").is_err());
    }

    #[test]
    fn hex_orders_numerically() {
        let a = hex(to_u128(&"10.0.0.9".parse().unwrap()));
        let b = hex(to_u128(&"10.0.0.10".parse().unwrap()));
        assert!(a < b);
        assert_eq!(a.len(), 32);
        assert_eq!(from_hex(&a), Some(0x0a000009));
    }

    #[test]
    fn overlap_and_sizes() {
        assert!(overlaps(&n("10.0.0.0/16"), &n("10.0.5.0/24")));
        assert!(overlaps(&n("10.0.5.0/24"), &n("10.0.0.0/16")));
        assert!(!overlaps(&n("10.0.0.0/24"), &n("10.0.1.0/24")));
        assert!(!overlaps(&n("10.0.0.0/24"), &n("2001:db8::/64")));
        assert_eq!(size(&n("10.0.0.0/24")), 256);
        assert_eq!(size(&n("::/0")), u128::MAX);
        assert_eq!(size(&n("2001:db8::/64")), 1 << 64);
    }

    #[test]
    fn reserved_addresses() {
        let v4 = n("10.0.0.0/24");
        assert_eq!(usable_range(&v4), Some((0x0a000001, 0x0a0000fe)));
        assert_eq!(reserved_count(&v4), 2);
        assert_eq!(reserved_count(&n("10.0.0.0/31")), 0);
        assert_eq!(reserved_count(&n("2001:db8::/64")), 1);
        assert_eq!(reserved_count(&n("2001:db8::/127")), 0);
    }

    #[test]
    fn families() {
        assert_eq!(AddressFamily::parse("IPv6").unwrap(), AddressFamily::IPv6);
        assert_eq!(AddressFamily::parse("ipv4").unwrap(), AddressFamily::IPv4);
        assert!(AddressFamily::parse("IPX").is_err());
        assert_eq!(
            net_from(AddressFamily::IPv4, 0x0a000100, 24).unwrap(),
            n("10.0.1.0/24")
        );
    }
}
