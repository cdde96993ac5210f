//! `metal-lab status`: the daemons of a lab, its namespaces and its machines with their power
//! and last event.

use std::path::Path;

use crate::lab::State;
use crate::plan::{Plan, PARTITION};
use crate::{net, procs, seed};

/// The daemons with pid files: (name, pid).
pub fn daemons(plan: &Plan) -> Vec<(String, i32)> {
    let Ok(entries) = std::fs::read_dir(plan.run_dir()) else {
        return Vec::new();
    };
    let mut v: Vec<(String, i32)> = entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().to_str()?.strip_suffix(".pid")?.to_string();
            let pid = procs::pid_of(&plan.run_dir(), &name)?;
            Some((name, pid))
        })
        .collect();
    v.sort();
    v
}

/// What `metal-lab status` prints.
pub async fn status(dir: &Path) -> anyhow::Result<String> {
    let state = State::load(dir)?;
    let plan = state.plan()?;
    let mut out = String::new();
    out.push_str(&format!(
        "lab {:?} in {} since {}, metal-api at {}\n\nDAEMON\tPID\tSTATE\n",
        state.name,
        state.dir.display(),
        state.started,
        state.api_url()
    ));
    for (name, pid) in daemons(&plan) {
        let s = if procs::alive(pid) {
            "running"
        } else {
            "STOPPED"
        };
        out.push_str(&format!("{name}\t{pid}\t{s}\n"));
    }
    let namespaces = net::lab_namespaces(&state.name)?;
    out.push_str(&format!("\nnamespaces: {}\n", namespaces.join(" ")));
    out.push_str(&format!(
        "project {} in partition {PARTITION}, private network {}\n",
        seed::PROJECT,
        state.private_network
    ));
    out.push_str(&format!(
        "ssh key for allocations: -p @{}.pub (metal-lab ssh MACHINE)\n",
        crate::ssh::key_path(&state.dir).display()
    ));
    let client = state.client()?;
    if state.routed {
        out.push_str(&switches(&state, &client).await);
    }
    out.push_str("\nMACHINE\tUUID\tBMC\tPOWER\tLAST EVENT\tALLOCATION\n");
    for m in plan.all_machines() {
        let r = crate::cycle::machine(&client, &m.uuid).await;
        let power = client
            .get_ipmi_machine(&m.uuid)
            .await
            .ok()
            .map(|v| v.ipmi.powerstate)
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| "?".into());
        let (event, alloc) = match r {
            Ok(v) => (
                v["events"]["log"][0]["event"]
                    .as_str()
                    .unwrap_or("-")
                    .to_string(),
                v["allocation"]["hostname"]
                    .as_str()
                    .unwrap_or("-")
                    .to_string(),
            ),
            Err(e) => (format!("({e:#})"), "-".into()),
        };
        out.push_str(&format!(
            "{}\t{}\t{}\t{power}\t{event}\t{alloc}\n",
            m.name, m.uuid, m.bmc_ip
        ));
    }
    Ok(out)
}

/// A routed lab's switches: metal-api's sync state of each leaf, and the BGP sessions FRR has
/// on it (read through the fabric guest's command service).
async fn switches(state: &State, client: &metal_client::Client) -> String {
    let mut out = String::from("\nSWITCH\tLAST SYNC\tDURATION\tERROR\n");
    for leaf in crate::fabric::Leaf::ALL {
        let path = format!("v1/switch/{}", leaf.name());
        let s = client
            .request::<(), serde_json::Value>(metal_client::Method::GET, &path, None)
            .await;
        let row = match s {
            Ok(s) => format!(
                "{}\t{}\t{}\t{}",
                leaf.name(),
                s["last_sync"]["time"].as_str().unwrap_or("never"),
                s["last_sync"]["duration"]
                    .as_i64()
                    .map_or("-".into(), |d| format!("{:.1}s", d as f64 / 1e9)),
                s["last_sync_error"]["error"].as_str().unwrap_or("-")
            ),
            Err(e) => format!("{}\t({e})\t-\t-", leaf.name()),
        };
        out.push_str(&row);
        out.push('\n');
    }
    out.push_str("\nSWITCH\tVRF\tNEIGHBOR\tHOST\tFAMILY\tSTATE\tPREFIXES\n");
    for node in ["leaf01", "leaf02", "exit"] {
        let st = state.clone();
        let r = tokio::task::spawn_blocking(move || {
            crate::exec::capture(&st, node, &["vtysh", "-c", "show bgp vrf all summary json"])
        })
        .await;
        match r {
            Ok(Ok(o)) if o.code == 0 => out.push_str(&bgp_rows(node, &o.stdout_text())),
            Ok(Ok(o)) => out.push_str(&format!(
                "{node}\t(vtysh exited {}: {})\n",
                o.code,
                String::from_utf8_lossy(&o.stderr).trim()
            )),
            Ok(Err(e)) => out.push_str(&format!("{node}\t({e:#})\n")),
            Err(e) => out.push_str(&format!("{node}\t({e})\n")),
        }
    }
    out
}

/// One BGP session of FRR's `show bgp [vrf all] summary json`: VRF, address family, neighbour
/// and the neighbour's object.
struct Session<'a> {
    vrf: &'a str,
    family: &'a str,
    peer: &'a str,
    p: &'a serde_json::Value,
}

/// The sessions of either shape: `vrf all` has VRFs at the top, the default VRF's own summary
/// its address families.
fn sessions(v: &serde_json::Value) -> Vec<Session<'_>> {
    let vrfs: Vec<(&str, &serde_json::Value)> = if v.get("ipv4Unicast").is_some() {
        vec![("default", v)]
    } else {
        v.as_object()
            .into_iter()
            .flatten()
            .map(|(vrf, f)| (vrf.as_str(), f))
            .collect()
    };
    let mut out = Vec::new();
    for (vrf, families) in vrfs {
        for (family, f) in families.as_object().into_iter().flatten() {
            for (peer, p) in f["peers"].as_object().into_iter().flatten() {
                out.push(Session {
                    vrf,
                    family,
                    peer,
                    p,
                });
            }
        }
    }
    out
}

/// Rows of FRR's `show bgp vrf all summary json`: one per VRF, neighbour and address family.
pub fn bgp_rows(node: &str, json: &str) -> String {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(json) else {
        return format!("{node}\t(not JSON: {})\n", json.trim());
    };
    let mut out = String::new();
    for Session {
        vrf,
        family,
        peer,
        p,
    } in sessions(&v)
    {
        out.push_str(&format!(
            "{node}\t{vrf}\t{peer}\t{}\t{family}\t{}\t{}\n",
            p["hostname"].as_str().unwrap_or("-"),
            p["state"].as_str().unwrap_or("?"),
            p["pfxRcd"].as_u64().map_or("-".into(), |n| n.to_string()),
        ));
    }
    if out.is_empty() {
        out = format!("{node}\t(no BGP sessions)\n");
    }
    out
}

/// Whether FRR's `show bgp [vrf all] summary json` has sessions, and all of them established.
pub fn all_established(json: &str) -> bool {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(json) else {
        return false;
    };
    let all = sessions(&v);
    !all.is_empty() && all.iter().all(|s| s.p["state"] == "Established")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bgp_sessions_are_one_row_each() {
        let json = r#"{"default":{"ipv4Unicast":{"routerId":"10.0.0.11","peers":{"swp31":{"hostname":"exit","remoteAs":4200000021,"state":"Established","pfxRcd":3}}},
            "l2VpnEvpn":{"peers":{"swp31":{"hostname":"exit","state":"Established","pfxRcd":12}}}},
            "vrf30":{"ipv4Unicast":{"peers":{"swp1":{"state":"Active"}}}}}"#;
        let rows = bgp_rows("leaf01", json);
        assert_eq!(rows.lines().count(), 3, "{rows}");
        assert!(rows.contains("leaf01\tdefault\tswp31\texit\tipv4Unicast\tEstablished\t3\n"));
        assert!(rows.contains("leaf01\tvrf30\tswp1\t-\tipv4Unicast\tActive\t-\n"));
        assert_eq!(bgp_rows("exit", "{}"), "exit\t(no BGP sessions)\n");
        assert!(!all_established(json), "vrf30's session is not");
        let up = r#"{"ipv4Unicast":{"peers":{"swp31":{"state":"Established"}}},"l2VpnEvpn":{"peers":{"swp31":{"state":"Established"}}}}"#;
        assert!(all_established(up));
        assert!(!all_established(
            &up.replace("Established\"}}},\"l2", "Idle\"}}},\"l2")
        ));
        assert!(!all_established("{}") && !all_established("no json"));
    }
}
