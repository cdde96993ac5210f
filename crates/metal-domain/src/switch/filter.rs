//! The BGP filter of a switch port with an allocated machine (metal-api §4.12): what the
//! machine behind the port may announce, rendered by metal-core into route maps.
//!
//! - A machine may announce the prefixes of its private network and every other IP of its
//!   project as a host route, except addresses of its private and underlay networks;
//!   overlapping and adjacent routes are merged. No VNIs.
//! - A firewall, once its port is in VRF `default` (installed; before, the port is still in
//!   the PXE VLAN and a filter would break the installation): the VNIs of its non-underlay
//!   networks, and host routes of its underlay IPs.
//!
//! Host routes are `/32` for IPv4 and `/128` for IPv6 (metal-stack v0.30 used `/32` for both).

use std::collections::BTreeSet;
use std::net::IpAddr;

use ipnet::IpNet;

use super::BgpFilter;
use crate::error::{DomainError, DomainResult};

/// A network of a machine's allocation, as far as the filter needs it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FilterNetwork {
    pub prefixes: Vec<String>,
    pub ips: Vec<String>,
    pub vrf: u64,
    pub private: bool,
    pub underlay: bool,
}

/// An allocated machine behind a port.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FilterMachine {
    pub firewall: bool,
    pub networks: Vec<FilterNetwork>,
}

impl FilterMachine {
    /// What the filter needs of a machine's allocation.
    pub fn of(a: &crate::machine::Allocation) -> Self {
        Self {
            firewall: a.role == crate::machine::Role::Firewall,
            networks: a
                .networks
                .iter()
                .map(|n| FilterNetwork {
                    prefixes: n.prefixes.clone(),
                    ips: n.ips.clone(),
                    vrf: u64::from(n.vrf),
                    private: n.private,
                    underlay: n.underlay,
                })
                .collect(),
        }
    }
}

fn net(s: &str) -> DomainResult<IpNet> {
    s.parse::<IpNet>()
        .map(|n| n.trunc())
        .map_err(|_| DomainError::unprocessable(format!("{s:?} is not a prefix")))
}

fn host(s: &str) -> DomainResult<IpNet> {
    s.parse::<IpAddr>()
        .map(IpNet::from)
        .map_err(|_| DomainError::unprocessable(format!("{s:?} is not an ip address")))
}

fn sorted(items: impl IntoIterator<Item = String>) -> Vec<String> {
    items
        .into_iter()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// The filter of a port in VRF `port_vrf` with machine `m` behind it; `project_ips` are the
/// addresses of all IPs of the machine's project.
pub fn bgp_filter(
    m: &FilterMachine,
    port_vrf: &str,
    project_ips: &[String],
) -> DomainResult<BgpFilter> {
    if m.firewall {
        if port_vrf != "default" {
            return Ok(BgpFilter::default());
        }
        let mut cidrs = Vec::new();
        let mut vnis = Vec::new();
        for n in &m.networks {
            if n.underlay {
                for ip in &n.ips {
                    cidrs.push(host(ip)?.to_string());
                }
            } else {
                vnis.push(n.vrf.to_string());
            }
        }
        return Ok(BgpFilter {
            cidrs: sorted(cidrs),
            vnis: sorted(vnis),
        });
    }
    let private = m.networks.iter().find(|n| n.private);
    let underlay = m.networks.iter().find(|n| n.underlay);
    let prefixes = |n: Option<&FilterNetwork>| -> DomainResult<Vec<IpNet>> {
        n.map_or(Ok(Vec::new()), |n| {
            n.prefixes.iter().map(|p| net(p)).collect()
        })
    };
    let private_nets = prefixes(private)?;
    let underlay_nets = prefixes(underlay)?;
    let mut routes = private_nets.clone();
    for ip in project_ips {
        let addr: IpAddr = ip
            .parse()
            .map_err(|_| DomainError::unprocessable(format!("{ip:?} is not an ip address")))?;
        if private_nets
            .iter()
            .chain(&underlay_nets)
            .any(|n| n.contains(&addr))
        {
            continue;
        }
        routes.push(IpNet::from(addr));
    }
    Ok(BgpFilter {
        cidrs: sorted(IpNet::aggregate(&routes).iter().map(IpNet::to_string)),
        vnis: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn network(
        prefixes: &[&str],
        ips: &[&str],
        vrf: u64,
        private: bool,
        underlay: bool,
    ) -> FilterNetwork {
        FilterNetwork {
            prefixes: prefixes.iter().map(|s| s.to_string()).collect(),
            ips: ips.iter().map(|s| s.to_string()).collect(),
            vrf,
            private,
            underlay,
        }
    }

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn machine_filter() {
        let m = FilterMachine {
            firewall: false,
            networks: vec![
                network(&["10.0.0.0/22"], &["10.0.0.1"], 42, true, false),
                network(&["10.1.0.0/24"], &["10.1.0.5"], 0, false, true),
                network(&["212.34.0.0/24"], &["212.34.0.9"], 0, false, false),
            ],
        };
        let project_ips = strings(&[
            "10.0.0.1",    // private: covered by the prefix
            "10.1.0.7",    // underlay: never announced
            "212.34.0.9",  // external ip of the project
            "212.34.0.8",  // its neighbour: merged with .9 into a /31
            "2001:db8::1", // IPv6: a /128
            "185.1.1.1",
        ]);
        let f = bgp_filter(&m, "vrf42", &project_ips).unwrap();
        assert_eq!(
            f.cidrs,
            strings(&[
                "10.0.0.0/22",
                "185.1.1.1/32",
                "2001:db8::1/128",
                "212.34.0.8/31"
            ])
        );
        assert!(f.vnis.is_empty());
        // without a private network only the project's ips remain
        let bare = FilterMachine::default();
        assert_eq!(
            bgp_filter(&bare, "", &strings(&["1.2.3.4"])).unwrap().cidrs,
            strings(&["1.2.3.4/32"])
        );
        assert!(bgp_filter(&bare, "", &strings(&["nonsense"])).is_err());
    }

    #[test]
    fn firewall_filter() {
        let fw = FilterMachine {
            firewall: true,
            networks: vec![
                network(&["10.1.0.0/24"], &["10.1.0.9"], 0, false, true),
                network(&["10.0.0.0/22"], &["10.0.0.1"], 42, true, false),
                network(&["0.0.0.0/0"], &["212.34.0.3"], 104, false, false),
            ],
        };
        let f = bgp_filter(&fw, "default", &strings(&["9.9.9.9"])).unwrap();
        assert_eq!(f.cidrs, strings(&["10.1.0.9/32"]));
        assert_eq!(f.vnis, strings(&["104", "42"]));
        assert_eq!(bgp_filter(&fw, "", &[]).unwrap(), BgpFilter::default());
    }
}
