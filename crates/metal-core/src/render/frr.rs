//! `frr.conf` of the leaf, both flavours (network.md §2.3), in this order: header and logging;
//! a `vrf` with its VNI per tenant VRF; router advertisements on every BGP port (uplinks,
//! firewalls, machine ports); `router bgp <ASN>` with the peer groups FABRIC (spines) and
//! FIREWALL, IPv4/IPv6 unicast and EVPN (`advertise-all-vni`); the redistribution route map;
//! each firewall's prefix lists and route maps; the management VRF's routes; per tenant VRF
//! `router bgp <ASN> vrf <name>` with the peer group MACHINE, then its prefix lists and route
//! maps; `line vty`.
//!
//! SONiC differs in the header (`password zebra`, `agentx`, `log facility local4`, zebra
//! debugging), redistributes connected and kernel routes through `DENY_MGMT` (everything but
//! eth0) instead of `LOOPBACKS` (only lo), names VRFs `Vrf<VNI>`, and may set the loopback as
//! source of BGP routes (`SET_SRC_LOOPBACK`).
//!
//! Every firewall port is filtered in all three address families with its route maps
//! `fw-<port>-in` (IPv4), `fw-<port>-in6` (IPv6) and `fw-<port>-vni` (EVPN, outbound); one its
//! filter has no entries for does not exist, and FRR's bgpd denies every route through a
//! route map that is referenced but not defined.

use super::{line, Text};
use crate::model::filter::{Family, Filter, Match};
use crate::model::{Flavor, SwitchConfig, Vrf};

/// Peer group timers: keepalive 2 s, hold 8 s.
const TIMERS: &str = "timers 2 8";

/// `frr.conf` of `c` (its down ports already removed where the flavour wants that).
pub fn render(c: &SwitchConfig) -> String {
    let mut out = Text::default();
    header(&mut out, c);
    for vrf in c.vrfs.values() {
        line!(out, "vrf {}", vrf.name);
        line!(out, " vni {}", vrf.vni);
        line!(out, "exit-vrf");
        line!(out, "!");
    }
    let plain = c.underlay.iter().chain(c.firewalls.keys());
    let bgp_ports = plain.map(|p| p.to_string()).chain(
        c.vrfs
            .values()
            .flat_map(|v| v.ports.iter().map(move |p| format!("{p} vrf {}", v.name))),
    );
    for port in bgp_ports {
        line!(out, "interface {port}");
        line!(out, " ipv6 nd ra-interval 6");
        line!(out, " no ipv6 nd suppress-ra");
        line!(out, "!");
    }
    default_vrf(&mut out, c);
    redistribution_map(&mut out, c.flavor);
    for (port, fw) in c.firewalls.iter().filter(|(_, fw)| !fw.filter.is_empty()) {
        line!(out, "! route-maps for firewall@{port}");
        filter(&mut out, &fw.filter);
        line!(out, "!");
    }
    if let Some(gw) = c.settings.management.gateway {
        line!(out, "ip route 0.0.0.0/0 {gw} nexthop-vrf mgmt");
        for route in &c.settings.management.routes {
            line!(out, "ip route {route} {gw} nexthop-vrf mgmt");
        }
        line!(out, "!");
    }
    for vrf in c.vrfs.values() {
        tenant_vrf(&mut out, c, vrf);
        if !vrf.filter.is_empty() {
            line!(out, "! route-maps for {}", vrf.name);
            filter(&mut out, &vrf.filter);
            line!(out, "!");
        }
    }
    if c.flavor == Flavor::Sonic && c.settings.set_src_loopback {
        line!(out, "route-map RM_SET_SRC permit 10");
        line!(out, " set src {}", c.settings.loopback);
        line!(out, "exit");
        line!(out, "!");
        line!(out, "ip protocol bgp route-map RM_SET_SRC");
        line!(out, "!");
    }
    line!(out, "line vty");
    line!(out, "!");
    out.into_string()
}

fn header(out: &mut Text, c: &SwitchConfig) {
    line!(
        out,
        "! frr.conf of {}, rendered by metal-core from the switch document: edits are overwritten",
        c.name
    );
    line!(out, "frr defaults datacenter");
    line!(out, "hostname {}", c.name);
    match c.flavor {
        Flavor::Cumulus => {
            line!(out, "username cumulus nopassword");
            line!(out, "service integrated-vtysh-config");
            line!(out, "!");
        }
        Flavor::Sonic => {
            line!(out, "password zebra");
            line!(out, "enable password zebra");
            line!(out, "!");
            line!(out, "agentx");
        }
    }
    line!(out, "log syslog {}", c.settings.frr_log_level());
    if c.flavor == Flavor::Sonic {
        line!(out, "log facility local4");
    }
    for topic in ["updates", "nht", "update-groups", "zebra"] {
        line!(out, "debug bgp {topic}");
    }
    if c.flavor == Flavor::Sonic {
        for topic in ["events", "nexthop detail", "rib detailed", "nht detailed"] {
            line!(out, "debug zebra {topic}");
        }
    }
    line!(out, "!");
}

fn peer_group(out: &mut Text, group: &str, ports: impl Iterator<Item = impl AsRef<str>>) {
    line!(out, " neighbor {group} peer-group");
    line!(out, " neighbor {group} remote-as external");
    line!(out, " neighbor {group} {TIMERS}");
    for port in ports {
        line!(
            out,
            " neighbor {} interface peer-group {group}",
            port.as_ref()
        );
    }
}

fn redistribute(out: &mut Text, flavor: Flavor) {
    match flavor {
        Flavor::Cumulus => line!(out, "  redistribute connected route-map LOOPBACKS"),
        Flavor::Sonic => {
            line!(out, "  redistribute connected route-map DENY_MGMT");
            line!(out, "  redistribute kernel route-map DENY_MGMT");
        }
    }
}

/// `router bgp <ASN>` of the default VRF: spines, firewalls, EVPN.
fn default_vrf(out: &mut Text, c: &SwitchConfig) {
    let s = &c.settings;
    line!(out, "router bgp {}", s.asn);
    line!(out, " bgp router-id {}", s.loopback);
    line!(out, " bgp bestpath as-path multipath-relax");
    peer_group(out, "FABRIC", c.underlay.iter());
    peer_group(out, "FIREWALL", c.firewalls.keys());
    for (family, suffix) in [("ipv4", "in"), ("ipv6", "in6")] {
        line!(out, " !");
        line!(out, " address-family {family} unicast");
        redistribute(out, c.flavor);
        line!(out, "  neighbor FIREWALL allowas-in 2");
        if family == "ipv6" {
            line!(out, "  neighbor FIREWALL activate");
        }
        for port in c.firewalls.keys() {
            line!(out, "  neighbor {port} route-map fw-{port}-{suffix} in");
        }
        line!(out, " exit-address-family");
    }
    line!(out, " !");
    line!(out, " address-family l2vpn evpn");
    line!(out, "  advertise-all-vni");
    for group in ["FABRIC", "FIREWALL"] {
        line!(out, "  neighbor {group} activate");
        line!(out, "  neighbor {group} allowas-in 2");
    }
    for port in c.firewalls.keys() {
        line!(out, "  neighbor {port} route-map fw-{port}-vni out");
    }
    line!(out, " exit-address-family");
    line!(out, "exit");
    line!(out, "!");
}

/// The route map the connected (and on SONiC kernel) routes are redistributed through.
fn redistribution_map(out: &mut Text, flavor: Flavor) {
    match flavor {
        Flavor::Cumulus => {
            line!(out, "route-map LOOPBACKS permit 10");
            line!(out, " match interface lo");
            line!(out, "exit");
        }
        Flavor::Sonic => {
            line!(out, "route-map DENY_MGMT deny 10");
            line!(out, " match interface eth0");
            line!(out, "exit");
            line!(out, "route-map DENY_MGMT permit 20");
            line!(out, "exit");
        }
    }
    line!(out, "!");
}

/// `router bgp <ASN> vrf <name>`: the machines of a tenant VRF. An address family only when
/// the VRF's filter has prefixes of it; without IPv4 prefixes the machines are deactivated in
/// IPv4 unicast, which FRR activates for every neighbour by default (`bgp default
/// ipv4-unicast`): unfiltered, a machine of an IPv6-only VRF could announce any IPv4 route.
fn tenant_vrf(out: &mut Text, c: &SwitchConfig, vrf: &Vrf) {
    let s = &c.settings;
    line!(out, "router bgp {} vrf {}", s.asn, vrf.name);
    line!(out, " bgp router-id {}", s.loopback);
    line!(out, " bgp bestpath as-path multipath-relax");
    peer_group(out, "MACHINE", vrf.ports.iter());
    for (family, name, suffix) in [(Family::V4, "ipv4", "in"), (Family::V6, "ipv6", "in6")] {
        if !vrf.filter.has(family) {
            if family == Family::V4 {
                line!(out, " !");
                line!(out, " address-family ipv4 unicast");
                line!(out, "  no neighbor MACHINE activate");
                line!(out, " exit-address-family");
            }
            continue;
        }
        line!(out, " !");
        line!(out, " address-family {name} unicast");
        line!(out, "  redistribute connected");
        line!(out, "  neighbor MACHINE maximum-prefix 24000");
        if family == Family::V6 {
            line!(out, "  neighbor MACHINE activate");
        }
        line!(out, "  neighbor MACHINE route-map {}-{suffix} in", vrf.name);
        line!(out, " exit-address-family");
    }
    line!(out, " !");
    line!(out, " address-family l2vpn evpn");
    for (family, name) in [(Family::V4, "ipv4"), (Family::V6, "ipv6")] {
        if vrf.filter.has(family) {
            line!(out, "  advertise {name} unicast");
        }
    }
    line!(out, " exit-address-family");
    line!(out, "exit");
    line!(out, "!");
}

/// Prefix lists, then route maps, in the filter's order.
fn filter(out: &mut Text, f: &Filter) {
    for list in &f.prefix_lists {
        for prefix in &list.prefixes {
            line!(
                out,
                "{} prefix-list {} permit {prefix} le {}",
                list.family.keyword(),
                list.name,
                list.family.max_len()
            );
        }
    }
    for entry in &f.route_maps {
        line!(out, "route-map {} permit {}", entry.name, entry.order);
        match &entry.matches {
            Match::PrefixList { family, name } => {
                let af = match family {
                    Family::V4 => "ip",
                    Family::V6 => "ipv6",
                };
                line!(out, " match {af} address prefix-list {name}");
            }
            Match::EvpnVni(vni) => line!(out, " match evpn vni {vni}"),
        }
        line!(out, "exit");
    }
}
