//! BGP filters of the leaf as metal-core builds them (network.md §2.1): from a port's filter
//! (`cidrs`, `vnis` of the switch document) to prefix lists and route maps.
//!
//! With name prefix `p` (`fw-<port>` for a firewall port, the VRF's name for a VRF):
//! - IPv4 CIDRs: prefix list `p-in-prefixes` (`permit <cidr> le 32`, one line per CIDR, no
//!   `seq`) and route map `p-in permit 10` matching it;
//! - IPv6 CIDRs: `p-in6-prefixes` (`le 128`) and `p-in6 permit 10`, rendered as
//!   `ipv6 prefix-list` (upstream prints `ip prefix-list` here; see docs/metal-core.md);
//! - VNIs (firewalls only): `p-vni permit 10+i` matching `evpn vni <vni>`.
//!
//! A VRF's CIDRs are compacted first ([`compact`]); a firewall's are kept as given.

use ipnet::IpNet;

use super::ConfigError;

/// The address family of a prefix list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Family {
    V4,
    V6,
}

impl Family {
    pub fn of(net: &IpNet) -> Self {
        match net {
            IpNet::V4(_) => Self::V4,
            IpNet::V6(_) => Self::V6,
        }
    }

    /// The longest prefix length of the family (the `le` of every entry).
    pub fn max_len(self) -> u8 {
        match self {
            Self::V4 => 32,
            Self::V6 => 128,
        }
    }

    /// FRR's keyword: `ip` or `ipv6`.
    pub fn keyword(self) -> &'static str {
        match self {
            Self::V4 => "ip",
            Self::V6 => "ipv6",
        }
    }
}

/// A prefix list: every entry is `permit <prefix> le <max>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrefixList {
    pub name: String,
    pub family: Family,
    pub prefixes: Vec<IpNet>,
}

/// What a route map entry matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Match {
    PrefixList { family: Family, name: String },
    EvpnVni(u32),
}

/// One `route-map <name> permit <order>` entry with its match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteMapEntry {
    pub name: String,
    pub order: u32,
    pub matches: Match,
}

/// The prefix lists and route maps of one port or VRF, in rendering order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    pub prefix_lists: Vec<PrefixList>,
    pub route_maps: Vec<RouteMapEntry>,
}

impl Filter {
    /// The filter named `prefix` from CIDRs (already parsed, in rendering order) and VNIs.
    pub fn assemble(prefix: &str, cidrs: &[IpNet], vnis: &[u32]) -> Self {
        let mut f = Filter::default();
        for (family, suffix) in [(Family::V4, "in"), (Family::V6, "in6")] {
            let prefixes: Vec<IpNet> = cidrs
                .iter()
                .filter(|c| Family::of(c) == family)
                .copied()
                .collect();
            if prefixes.is_empty() {
                continue;
            }
            let list = format!("{prefix}-{suffix}-prefixes");
            f.route_maps.push(RouteMapEntry {
                name: format!("{prefix}-{suffix}"),
                order: 10,
                matches: Match::PrefixList {
                    family,
                    name: list.clone(),
                },
            });
            f.prefix_lists.push(PrefixList {
                name: list,
                family,
                prefixes,
            });
        }
        for (i, vni) in vnis.iter().enumerate() {
            f.route_maps.push(RouteMapEntry {
                name: format!("{prefix}-vni"),
                order: 10 + i as u32,
                matches: Match::EvpnVni(*vni),
            });
        }
        f
    }

    pub fn has(&self, family: Family) -> bool {
        self.prefix_lists.iter().any(|l| l.family == family)
    }

    pub fn is_empty(&self) -> bool {
        self.prefix_lists.is_empty() && self.route_maps.is_empty()
    }
}

/// Parses the CIDRs of a port's filter, host bits cleared (`10.0.0.1/24` is `10.0.0.0/24`).
pub fn parse_cidrs(port: &str, cidrs: &[String]) -> Result<Vec<IpNet>, ConfigError> {
    cidrs
        .iter()
        .map(|c| {
            c.trim()
                .parse::<IpNet>()
                .map(|n| n.trunc())
                .map_err(|_| ConfigError::Cidr {
                    port: port.to_string(),
                    cidr: c.clone(),
                })
        })
        .collect()
}

/// Parses the VNIs of a firewall port's filter (24-bit VXLAN ids).
pub fn parse_vnis(port: &str, vnis: &[String]) -> Result<Vec<u32>, ConfigError> {
    vnis.iter()
        .map(|v| {
            v.trim()
                .parse::<u32>()
                .ok()
                .filter(|n| (1..1 << 24).contains(n))
                .ok_or_else(|| ConfigError::Vni {
                    port: port.to_string(),
                    vni: v.clone(),
                })
        })
        .collect()
}

/// The smallest set of prefixes covering exactly the union of `cidrs`: duplicates and
/// prefixes inside others dropped, adjacent ones merged; IPv4 before IPv6, each by address
/// (what metal-core gets from netipx's `IPSet.Prefixes()`).
pub fn compact(cidrs: &[IpNet]) -> Vec<IpNet> {
    let truncated: Vec<IpNet> = cidrs.iter().map(IpNet::trunc).collect();
    IpNet::aggregate(&truncated)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(v: &[&str]) -> Vec<IpNet> {
        v.iter().map(|s| s.parse().unwrap()).collect()
    }

    fn strings(v: &[IpNet]) -> Vec<String> {
        v.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn compaction_merges_covers_and_sorts() {
        for (input, want) in [
            (vec![], vec![]),
            (vec!["10.0.0.0/24"], vec!["10.0.0.0/24"]),
            (vec!["10.0.0.0/24", "10.0.0.0/24"], vec!["10.0.0.0/24"]),
            // adjacent halves merge
            (vec!["10.0.1.0/24", "10.0.0.0/24"], vec!["10.0.0.0/23"]),
            // contained prefixes and host routes vanish
            (
                vec!["10.0.0.5/32", "10.0.0.0/16", "10.0.3.0/24"],
                vec!["10.0.0.0/16"],
            ),
            // not adjacent on a boundary: stays two
            (
                vec!["10.0.1.0/24", "10.0.2.0/24"],
                vec!["10.0.1.0/24", "10.0.2.0/24"],
            ),
            // IPv4 before IPv6, each by address
            (
                vec!["2001:db8::1/128", "212.17.234.17/32", "100.127.131.0/24"],
                vec!["100.127.131.0/24", "212.17.234.17/32", "2001:db8::1/128"],
            ),
            (
                vec!["fd00:10::/64", "fd00:10:0:1::/64", "2001:db8::/128"],
                vec!["2001:db8::/128", "fd00:10::/63"],
            ),
            // host bits are cleared before merging
            (vec!["10.0.0.7/24"], vec!["10.0.0.0/24"]),
        ] {
            assert_eq!(strings(&compact(&nets(&input))), want, "{input:?}");
        }
    }

    #[test]
    fn filters_as_metal_core_names_them() {
        let f = Filter::assemble(
            "fw-swp3",
            &nets(&["10.0.2.1/32", "2001:db8::1/128", "10.0.1.0/24"]),
            &[104001, 104009],
        );
        let lists: Vec<_> = f
            .prefix_lists
            .iter()
            .map(|l| (l.name.as_str(), l.family, strings(&l.prefixes)))
            .collect();
        assert_eq!(
            lists,
            [
                (
                    "fw-swp3-in-prefixes",
                    Family::V4,
                    vec!["10.0.2.1/32".to_string(), "10.0.1.0/24".to_string()]
                ),
                (
                    "fw-swp3-in6-prefixes",
                    Family::V6,
                    vec!["2001:db8::1/128".to_string()]
                ),
            ]
        );
        let maps: Vec<_> = f
            .route_maps
            .iter()
            .map(|r| (r.name.as_str(), r.order, r.matches.clone()))
            .collect();
        assert_eq!(
            maps,
            [
                (
                    "fw-swp3-in",
                    10,
                    Match::PrefixList {
                        family: Family::V4,
                        name: "fw-swp3-in-prefixes".into()
                    }
                ),
                (
                    "fw-swp3-in6",
                    10,
                    Match::PrefixList {
                        family: Family::V6,
                        name: "fw-swp3-in6-prefixes".into()
                    }
                ),
                ("fw-swp3-vni", 10, Match::EvpnVni(104001)),
                ("fw-swp3-vni", 11, Match::EvpnVni(104009)),
            ]
        );
        assert!(f.has(Family::V4) && f.has(Family::V6));
        let only6 = Filter::assemble("vrf1", &nets(&["fd00::/64"]), &[]);
        assert!(!only6.has(Family::V4) && only6.has(Family::V6));
        assert!(Filter::assemble("vrf1", &[], &[]).is_empty());
    }

    #[test]
    fn bad_cidrs_and_vnis_name_the_port() {
        assert_eq!(
            parse_cidrs("swp1", &["10.0.0.0/33".into()]),
            Err(ConfigError::Cidr {
                port: "swp1".into(),
                cidr: "10.0.0.0/33".into()
            })
        );
        assert_eq!(
            strings(&parse_cidrs("swp1", &[" 10.0.0.9/24 ".into()]).unwrap()),
            ["10.0.0.0/24"]
        );
        assert_eq!(parse_vnis("swp3", &["104001".into()]).unwrap(), [104001]);
        for bad in ["0", "16777216", "x", "-1"] {
            assert!(parse_vnis("swp3", &[bad.into()]).is_err(), "{bad}");
        }
    }
}
