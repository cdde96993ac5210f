//! `/etc/network/interfaces` of a Cumulus-style leaf (ifupdown2), in the section order of
//! network.md §2.2: loopback; eth0 in the management VRF `mgmt`; uplinks and firewall ports
//! (MTU 9216, routed); the VLAN-aware `bridge` with the PXE VXLAN, the unprovisioned and blade
//! ports and each tenant's VXLAN; per tenant VRF its device, machine ports, SVI and VXLAN; the
//! PXE VLAN's SVI, VXLAN and access ports.
//!
//! Blade ports appear only in `bridge-ports` (no stanza of their own: they carry every bridge
//! VLAN). The `gateway` line is left out when no management gateway is set (upstream prints it
//! empty).

use super::{line, Text};
use crate::model::SwitchConfig;

/// The MTU of routed ports towards spines and firewalls.
const MTU_FABRIC: u32 = 9216;
/// The MTU of machine-facing ports, SVIs and VXLANs.
const MTU_MACHINE: u32 = 9000;

fn stanza(out: &mut Text, name: &str, attrs: &[String]) {
    line!(out);
    line!(out, "auto {name}");
    line!(out, "iface {name}");
    for a in attrs {
        line!(out, "    {a}");
    }
}

/// The attributes of a VXLAN device in the bridge with access VLAN `vlan`.
fn vxlan(c: &SwitchConfig, vni: u32, vlan: u16, suppress: bool) -> Vec<String> {
    let mut a = vec![
        format!("mtu {MTU_MACHINE}"),
        format!("bridge-access {vlan}"),
    ];
    if suppress {
        a.push("bridge-arp-nd-suppress on".into());
    }
    a.extend([
        "bridge-learning off".to_string(),
        "mstpctl-bpduguard yes".into(),
        "mstpctl-portbpdufilter yes".into(),
        format!("vxlan-id {vni}"),
        format!("vxlan-local-tunnelip {}", c.settings.loopback),
    ]);
    a
}

/// The interfaces file of `c` (its down ports already removed).
pub fn render(c: &SwitchConfig) -> String {
    let s = &c.settings;
    let mut out = Text::default();
    line!(
        out,
        "# /etc/network/interfaces of {}, rendered by metal-core from the switch document:",
        c.name
    );
    line!(
        out,
        "# edits are overwritten. Local additions go to /etc/network/interfaces.d/*.intf"
    );
    line!(out);
    line!(out, "source /etc/network/interfaces.d/*.intf");
    line!(out);
    line!(out, "# The loopback network interface");
    line!(out, "auto lo");
    line!(out, "iface lo inet loopback");
    line!(out, "    address {}/32", s.loopback);
    line!(out);
    line!(out, "# The primary network interface");
    let mut eth0 = Vec::new();
    if let Some(addr) = s.management.eth0 {
        eth0.push(format!("address {addr}"));
    }
    if let Some(gw) = s.management.gateway {
        eth0.push(format!("gateway {gw}"));
    }
    eth0.push("vrf mgmt".into());
    line!(out, "auto eth0");
    line!(out, "iface eth0");
    for a in &eth0 {
        line!(out, "    {a}");
    }
    stanza(
        &mut out,
        "mgmt",
        &["address 127.0.0.1/8".into(), "vrf-table auto".into()],
    );
    for port in c.underlay.iter().chain(c.firewalls.keys()) {
        stanza(&mut out, port, &[format!("mtu {MTU_FABRIC}")]);
    }
    let pxe_vni = s.pxe_vni();
    let ports: Vec<String> = std::iter::once(format!("vni{pxe_vni}"))
        .chain(c.unprovisioned.iter().cloned())
        .chain(c.blade.iter().cloned())
        .chain(c.vrfs.values().map(|v| format!("vni{}", v.vni)))
        .collect();
    stanza(
        &mut out,
        "bridge",
        &[
            format!("bridge-ports {}", ports.join(" ")),
            format!("bridge-vids {}", c.bridge_vids().join(" ")),
            "bridge-vlan-aware yes".into(),
        ],
    );
    line!(out);
    line!(out, "# Tenants");
    for vrf in c.vrfs.values() {
        stanza(&mut out, &vrf.name, &["vrf-table auto".into()]);
        for port in &vrf.ports {
            stanza(
                &mut out,
                port,
                &[
                    format!("mtu {MTU_MACHINE}"),
                    format!("post-up sysctl -w net.ipv6.conf.{port}.disable_ipv6=0"),
                    format!("vrf {}", vrf.name),
                ],
            );
        }
        stanza(
            &mut out,
            &format!("vlan{}", vrf.vlan),
            &[
                format!("mtu {MTU_MACHINE}"),
                format!("vlan-id {}", vrf.vlan),
                "vlan-raw-device bridge".into(),
                format!("vrf {}", vrf.name),
            ],
        );
        stanza(
            &mut out,
            &format!("vni{}", vrf.vni),
            &vxlan(c, vrf.vni, vrf.vlan, true),
        );
    }
    line!(out);
    line!(out, "# PXE-Config");
    stanza(
        &mut out,
        &format!("vlan{}", s.pxe_vlan),
        &[
            format!("mtu {MTU_MACHINE}"),
            format!("address {}", s.metal_core_cidr),
            format!("vlan-id {}", s.pxe_vlan),
            "vlan-raw-device bridge".into(),
        ],
    );
    stanza(
        &mut out,
        &format!("vni{pxe_vni}"),
        &vxlan(c, pxe_vni, s.pxe_vlan, false),
    );
    for port in &c.unprovisioned {
        stanza(
            &mut out,
            port,
            &[
                format!("mtu {MTU_MACHINE}"),
                format!("bridge-access {}", s.pxe_vlan),
            ],
        );
    }
    out.into_string()
}
