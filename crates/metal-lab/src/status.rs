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
    out.push_str("\nMACHINE\tUUID\tBMC\tPOWER\tLAST EVENT\tALLOCATION\n");
    let client = state.client()?;
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
