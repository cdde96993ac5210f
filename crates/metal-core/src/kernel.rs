//! The VLAN ids the kernel already maps (input of [`crate::model::vlan::allocate`]): each
//! VXLAN device's VNI with its first bridge VLAN, and every VLAN any bridge port carries. Read
//! with iproute2's JSON output (`ip -j -d link show type vxlan`, `bridge -j vlan show`), parsed
//! by the pure [`parse`].

use std::collections::BTreeMap;
use std::process::Command;

use serde_json::Value;

use crate::model::vlan::KernelVlans;

#[derive(Debug, thiserror::Error)]
pub enum KernelError {
    #[error("running {command}")]
    Run {
        command: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("{command} failed: {stderr}")]
    Failed {
        command: &'static str,
        stderr: String,
    },
    #[error("{command} printed no JSON array")]
    Json { command: &'static str },
}

const LINKS: &str = "ip -j -d link show type vxlan";
const VLANS: &str = "bridge -j vlan show";

fn json(command: &'static str, text: &str) -> Result<Vec<Value>, KernelError> {
    match serde_json::from_str::<Value>(text.trim()) {
        Ok(Value::Array(items)) => Ok(items),
        // `bridge -j vlan show` prints nothing at all without a bridge
        _ if text.trim().is_empty() => Ok(Vec::new()),
        _ => Err(KernelError::Json { command }),
    }
}

/// The VLAN ids in one port's entry of `bridge -j vlan show` (`vlan`, and `vlanEnd` for a
/// range), in their order.
fn vlans_of(entry: &Value) -> Vec<u16> {
    let mut out = Vec::new();
    for v in entry["vlans"].as_array().into_iter().flatten() {
        let Some(first) = v["vlan"].as_u64().and_then(|n| u16::try_from(n).ok()) else {
            continue;
        };
        let last = v["vlanEnd"]
            .as_u64()
            .and_then(|n| u16::try_from(n).ok())
            .unwrap_or(first);
        out.extend(first..=last.max(first));
    }
    out
}

/// The mapping from the two commands' output.
pub fn parse(vxlan_links: &str, bridge_vlans: &str) -> Result<KernelVlans, KernelError> {
    let links = json(LINKS, vxlan_links)?;
    let ports = json(VLANS, bridge_vlans)?;
    let mut vlans_by_port: BTreeMap<&str, Vec<u16>> = BTreeMap::new();
    let mut k = KernelVlans::default();
    for entry in &ports {
        let Some(name) = entry["ifname"].as_str() else {
            continue;
        };
        let vlans = vlans_of(entry);
        k.used.extend(vlans.iter().copied());
        vlans_by_port.entry(name).or_default().extend(vlans);
    }
    for link in &links {
        let (Some(name), Some(vni)) = (
            link["ifname"].as_str(),
            link["linkinfo"]["info_data"]["id"].as_u64(),
        ) else {
            continue;
        };
        let Ok(vni) = u32::try_from(vni) else {
            continue;
        };
        if let Some(vlan) = vlans_by_port.get(name).and_then(|v| v.first()) {
            k.by_vni.insert(vni, *vlan);
        }
    }
    Ok(k)
}

fn run(command: &'static str) -> Result<String, KernelError> {
    let mut words = command.split(' ');
    let program = words.next().unwrap_or_default();
    let out = Command::new(program)
        .args(words)
        .output()
        .map_err(|source| KernelError::Run { command, source })?;
    if !out.status.success() {
        return Err(KernelError::Failed {
            command,
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The mapping of this network namespace.
pub fn read() -> Result<KernelVlans, KernelError> {
    parse(&run(LINKS)?, &run(VLANS)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    // iproute2 6.1 (Debian 12), abridged
    const LINKS_JSON: &str = r#"[
      {"ifindex":7,"ifname":"vni104001","mtu":9000,"linkinfo":{"info_kind":"vxlan",
        "info_data":{"id":104001,"local":"10.0.0.11","port":4789},
        "info_slave_kind":"bridge"}},
      {"ifindex":8,"ifname":"vni104000","linkinfo":{"info_kind":"vxlan","info_data":{"id":104000}}},
      {"ifindex":9,"ifname":"vni7","linkinfo":{"info_kind":"vxlan","info_data":{"id":7}}}
    ]"#;
    const VLANS_JSON: &str = r#"[
      {"ifname":"swp1","vlans":[{"vlan":4000,"flags":["PVID","Egress Untagged"]}]},
      {"ifname":"swp7","vlans":[{"vlan":1,"flags":["PVID"]},{"vlan":201,"vlanEnd":203}]},
      {"ifname":"bridge","vlans":[{"vlan":1002,"flags":["PVID"]}]},
      {"ifname":"vni104001","vlans":[{"vlan":1001,"flags":["PVID","Egress Untagged"]}]},
      {"ifname":"vni104000","vlans":[{"vlan":4000,"flags":["PVID","Egress Untagged"]}]}
    ]"#;

    #[test]
    fn vxlan_vnis_map_to_their_first_bridge_vlan() {
        let k = parse(LINKS_JSON, VLANS_JSON).unwrap();
        assert_eq!(k.by_vni, [(104000, 4000), (104001, 1001)].into());
        let used: Vec<u16> = k.used.into_iter().collect();
        assert_eq!(used, [1, 201, 202, 203, 1001, 1002, 4000]);
    }

    #[test]
    fn empty_and_broken_output() {
        assert_eq!(parse("[]", "").unwrap(), KernelVlans::default());
        assert!(matches!(
            parse("[]", "{\"not\":\"an array\"}"),
            Err(KernelError::Json { command: VLANS })
        ));
        assert!(parse("garbage", "[]").is_err());
    }
}
