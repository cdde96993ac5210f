//! The CONFIG_DB tables metal-core owns on a SONiC leaf (agents.md §4.4, network.md §2.3), as
//! a `config_db.json` fragment (`{"TABLE": {"key": {"field": "value"}}}`, what `config load`
//! and `sonic-cfggen -j` read), keys sorted:
//!
//! - `PORT`: admin state of every port of the document (down ports stay, `admin_status
//!   down`); MTU 9216 for uplinks and firewalls, 9000 for PXE and machine ports;
//! - `INTERFACE`: uplinks, firewalls and machine ports are routed with IPv6 link-local
//!   addresses only (BGP unnumbered); machine ports are bound to their VRF;
//! - `VLAN`, `VLAN_MEMBER`, `VLAN_INTERFACE`: the PXE VLAN (with its DHCP relay servers,
//!   its SVI address and its ports as untagged members) and each VRF's VLAN and SVI;
//! - `VRF`: each tenant VRF with its VNI; `VXLAN_TUNNEL_MAP`: VNI to VLAN on the VTEP `vtep`;
//!   `SUPPRESS_VLAN_NEIGH`: ARP/ND suppression on the tenant VLANs.
//!
//! The VTEP itself (`VXLAN_TUNNEL`, `VXLAN_EVPN_NVO`), the loopback and eth0 belong to the
//! switch's deployment, as upstream.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::model::SwitchConfig;

/// The VTEP the VXLAN maps belong to.
pub const VTEP: &str = "vtep";

type Tables = BTreeMap<&'static str, BTreeMap<String, Value>>;

fn admin(c: &SwitchConfig, port: &str) -> &'static str {
    if c.down.contains(port) {
        "down"
    } else {
        "up"
    }
}

/// The CONFIG_DB fragment of `c` (with its down ports).
pub fn render(c: &SwitchConfig) -> String {
    let s = &c.settings;
    let mut t = Tables::new();
    let mut put = |table: &'static str, key: String, value: Value| {
        t.entry(table).or_default().insert(key, value);
    };
    let link_local = || json!({"ipv6_use_link_local_only": "enable"});
    for port in &c.underlay {
        put(
            "PORT",
            port.clone(),
            json!({"admin_status": "up", "mtu": "9216"}),
        );
        put("INTERFACE", port.clone(), link_local());
    }
    for port in &c.blade {
        put(
            "PORT",
            port.clone(),
            json!({"admin_status": admin(c, port)}),
        );
    }
    for port in c.firewalls.keys() {
        let fields = json!({"admin_status": admin(c, port), "mtu": "9216"});
        put("PORT", port.clone(), fields);
        put("INTERFACE", port.clone(), link_local());
    }
    let pxe = format!("Vlan{}", s.pxe_vlan);
    // Fields in key order, also where serde_json keeps insertion order (`preserve_order`).
    let servers: Vec<String> = s.dhcp_relay.servers.iter().map(|a| a.to_string()).collect();
    let pxe_vlan = if servers.is_empty() {
        json!({"vlanid": s.pxe_vlan.to_string()})
    } else {
        json!({"dhcp_servers": servers, "vlanid": s.pxe_vlan.to_string()})
    };
    put("VLAN", pxe.clone(), pxe_vlan);
    put("VLAN_INTERFACE", pxe.clone(), json!({}));
    put(
        "VLAN_INTERFACE",
        format!("{pxe}|{}", s.metal_core_cidr),
        json!({}),
    );
    put(
        "VXLAN_TUNNEL_MAP",
        format!("{VTEP}|map_{}_{pxe}", s.pxe_vni()),
        json!({"vlan": pxe, "vni": s.pxe_vni().to_string()}),
    );
    for port in &c.unprovisioned {
        let fields = json!({"admin_status": admin(c, port), "mtu": "9000"});
        put("PORT", port.clone(), fields);
        put(
            "VLAN_MEMBER",
            format!("{pxe}|{port}"),
            json!({"tagging_mode": "untagged"}),
        );
    }
    for vrf in c.vrfs.values() {
        let vlan = format!("Vlan{}", vrf.vlan);
        put(
            "VRF",
            vrf.name.clone(),
            json!({"fallback": "false", "vni": vrf.vni.to_string()}),
        );
        put(
            "VLAN",
            vlan.clone(),
            json!({"vlanid": vrf.vlan.to_string()}),
        );
        put(
            "VLAN_INTERFACE",
            vlan.clone(),
            json!({"vrf_name": vrf.name}),
        );
        put(
            "SUPPRESS_VLAN_NEIGH",
            vlan.clone(),
            json!({"suppress": "on"}),
        );
        put(
            "VXLAN_TUNNEL_MAP",
            format!("{VTEP}|map_{}_{vlan}", vrf.vni),
            json!({"vlan": vlan, "vni": vrf.vni.to_string()}),
        );
        for port in &vrf.ports {
            let fields = json!({"admin_status": admin(c, port), "mtu": "9000"});
            put("PORT", port.clone(), fields);
            put(
                "INTERFACE",
                port.clone(),
                json!({"ipv6_use_link_local_only": "enable", "vrf_name": vrf.name}),
            );
        }
    }
    let mut text = serde_json::to_string_pretty(&t).unwrap_or_default();
    text.push('\n');
    text
}
