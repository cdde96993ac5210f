//! The lab network (see [`crate::plan`]), made and removed with iproute2. Every link is created
//! inside a lab namespace (veth peers are placed straight into the other namespace), so deleting
//! the namespaces removes every link; nothing is added to the host's own namespace.

use std::process::Command;

use anyhow::{bail, Context};

use crate::plan::{Plan, BMC_NET_IP, LEAVES, MGMT_IP, PXE_PREFIX_LEN};

/// Runs `ip args...` to success.
pub fn ip(args: &[&str]) -> anyhow::Result<()> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .context("running ip (package iproute2)")?;
    if !out.status.success() {
        bail!(
            "ip {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// `ip -n <ns> args...`
fn ipn(ns: &str, args: &[&str]) -> anyhow::Result<()> {
    let mut v = vec!["-n", ns];
    v.extend_from_slice(args);
    ip(&v)
}

/// The network namespaces that exist whose names start with `<name>-`.
pub fn lab_namespaces(name: &str) -> anyhow::Result<Vec<String>> {
    let out = Command::new("ip")
        .args(["netns", "list"])
        .output()
        .context("running ip netns list")?;
    let prefix = format!("{name}-");
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| n.starts_with(&prefix))
        .map(String::from)
        .collect())
}

/// Makes the namespaces, bridges, cables and taps of the plan.
pub fn create(plan: &Plan) -> anyhow::Result<()> {
    for ns in plan.namespaces() {
        ip(&["netns", "add", &ns])?;
        ipn(&ns, &["link", "set", "lo", "up"])?;
    }
    let (mgmt, hosts) = (plan.ns_mgmt(), plan.ns_hosts());
    let pxe_addr = format!("{MGMT_IP}/{PXE_PREFIX_LEN}");
    ipn(&mgmt, &["link", "add", "pxe", "type", "bridge"])?;
    ipn(&mgmt, &["addr", "add", &pxe_addr, "dev", "pxe"])?;
    ipn(&mgmt, &["link", "set", "pxe", "up"])?;

    // the BMC network: one cable between metal-bmc and the BMCs of all machines
    ipn(
        &mgmt,
        &[
            "link", "add", "bmcnet", "type", "veth", "peer", "name", "bmc", "netns", &hosts,
        ],
    )?;
    ipn(
        &mgmt,
        &["addr", "add", &format!("{BMC_NET_IP}/24"), "dev", "bmcnet"],
    )?;
    ipn(&mgmt, &["link", "set", "bmcnet", "up"])?;
    for m in plan.all_machines() {
        ipn(
            &hosts,
            &["addr", "add", &format!("{}/24", m.bmc_ip), "dev", "bmc"],
        )?;
    }
    ipn(&hosts, &["link", "set", "bmc", "up"])?;

    if plan.routed {
        return create_routed(plan);
    }
    // the leaves: a bridge with an uplink into the provisioning network
    for j in 0..LEAVES {
        let leaf = plan.ns_leaf(j);
        let uplink = Plan::leaf_name(j);
        ipn(&leaf, &["link", "add", "br0", "type", "bridge"])?;
        ipn(
            &leaf,
            &[
                "addr",
                "add",
                &format!("{}/{PXE_PREFIX_LEN}", Plan::leaf_ip(j)),
                "dev",
                "br0",
            ],
        )?;
        ipn(
            &mgmt,
            &[
                "link", "add", &uplink, "type", "veth", "peer", "name", "up0", "netns", &leaf,
            ],
        )?;
        ipn(&mgmt, &["link", "set", &uplink, "master", "pxe", "up"])?;
        ipn(&leaf, &["link", "set", "up0", "master", "br0", "up"])?;
        ipn(&leaf, &["link", "set", "br0", "up"])?;
    }

    // per machine and NIC: tap ── bridge (forwarding LLDP) ── cable ── switch port
    for m in plan.all_machines() {
        for j in 0..LEAVES {
            let (tap, br, end) = (&m.taps[j], &m.cable_bridges[j], &m.cable_ends[j]);
            let leaf = plan.ns_leaf(j);
            ipn(
                &hosts,
                &[
                    "link",
                    "add",
                    end,
                    "type",
                    "veth",
                    "peer",
                    "name",
                    &m.switch_port,
                    "netns",
                    &leaf,
                ],
            )?;
            cable_bridge(&hosts, tap, br, &[end])?;
            ipn(
                &leaf,
                &["link", "set", &m.switch_port, "master", "br0", "up"],
            )?;
        }
    }
    Ok(())
}

/// A tap, a bridge that forwards LLDP (group address 01:80:c2:00:00:0e, bit 14 of the mask),
/// and the bridge's other ports, all in `ns` and up: one piece of "cable".
fn cable_bridge(ns: &str, tap: &str, bridge: &str, others: &[&str]) -> anyhow::Result<()> {
    ipn(ns, &["tuntap", "add", "dev", tap, "mode", "tap"])?;
    ipn(
        ns,
        &[
            "link",
            "add",
            bridge,
            "type",
            "bridge",
            "group_fwd_mask",
            "0x4000",
        ],
    )?;
    for port in std::iter::once(&tap).chain(others) {
        ipn(ns, &["link", "set", port, "master", bridge, "up"])?;
    }
    ipn(ns, &["link", "set", bridge, "up"])
}

/// The routed lab's cables (see [`crate::plan`]): the fabric guest's management NIC on the
/// management bridge, and each machine NIC's tap bridged with the fabric guest's tap of its
/// switch port; the management server's route to the leaves' PXE subnets, through the exit.
fn create_routed(plan: &Plan) -> anyhow::Result<()> {
    let (mgmt, hosts) = (plan.ns_mgmt(), plan.ns_hosts());
    ipn(
        &mgmt,
        &[
            "route",
            "add",
            crate::routed::PXE_SUPERNET,
            "via",
            &crate::fabric::EXIT_MANAGEMENT_IP.to_string(),
        ],
    )?;
    ipn(
        &hosts,
        &[
            "link",
            "add",
            FABRIC_VETH,
            "type",
            "veth",
            "peer",
            "name",
            "fabric",
            "netns",
            &mgmt,
        ],
    )?;
    ipn(&mgmt, &["link", "set", "fabric", "master", "pxe", "up"])?;
    cable_bridge(&hosts, FABRIC_MGMT_TAP, "fabmb", &[FABRIC_VETH])?;
    for m in plan.all_machines() {
        for j in 0..LEAVES {
            ipn(
                &hosts,
                &["tuntap", "add", "dev", &m.fabric_taps[j], "mode", "tap"],
            )?;
            cable_bridge(
                &hosts,
                &m.taps[j],
                &m.cable_bridges[j],
                &[&m.fabric_taps[j]],
            )?;
        }
    }
    Ok(())
}

/// The fabric guest's management NIC (a tap in the hosts namespace).
pub const FABRIC_MGMT_TAP: &str = "fabm";
const FABRIC_VETH: &str = "fabv";

/// Deletes the namespaces (and with them every link in them). Missing ones are fine.
pub fn delete(namespaces: &[String]) -> anyhow::Result<()> {
    let mut errors = Vec::new();
    for ns in namespaces {
        if let Err(e) = ip(&["netns", "del", ns]) {
            if !e.to_string().contains("No such file") {
                errors.push(format!("{e:#}"));
            }
        }
    }
    if !errors.is_empty() {
        bail!("{}", errors.join("; "));
    }
    Ok(())
}

/// The pids of the processes in a namespace.
pub fn namespace_pids(ns: &str) -> Vec<i32> {
    Command::new("ip")
        .args(["netns", "pids", ns])
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}
