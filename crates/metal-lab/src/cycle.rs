//! Driving a running lab through metal-api, as an operator does: power, allocation, free, and
//! waiting for the machines' provisioning events. Used by the cycle test and the cycle bench.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::bail;
use metal_client::Client;
use metal_domain::machine::{MachineAllocateRequest, MachineAllocationNetwork};
use serde_json::Value;

use crate::lab::State;
use crate::machine::{CONSOLE_LOG, SOL_LOG};
use crate::plan::{MachinePlan, Plan, PARTITION};
use crate::seed;

/// `GET /v1/machine/{id}`, as JSON.
pub async fn machine(c: &Client, uuid: &str) -> anyhow::Result<Value> {
    let m = c
        .get_machine(uuid)
        .await
        .map_err(|e| anyhow::anyhow!("GET machine {uuid}: {e}"))?;
    Ok(serde_json::to_value(m)?)
}

/// Event names of a machine document, oldest first.
pub fn events(m: &Value) -> Vec<String> {
    let mut e: Vec<String> = m["events"]["log"]
        .as_array()
        .map(|l| {
            l.iter()
                .map(|e| e["event"].as_str().unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_default();
    e.reverse();
    e
}

/// How many events each machine has now: marks for [`wait_for_event`].
pub async fn marks(c: &Client, plan: &Plan) -> anyhow::Result<Vec<usize>> {
    marks_of(c, &plan.all_machines()).await
}

/// [`marks`] of some of the lab's machines.
pub async fn marks_of(c: &Client, machines: &[MachinePlan]) -> anyhow::Result<Vec<usize>> {
    let mut v = Vec::new();
    for m in machines {
        v.push(events(&machine(c, &m.uuid).await?).len());
    }
    Ok(v)
}

/// The last `lines` lines of a file.
pub fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let v: Vec<&str> = text.lines().collect();
    v[v.len().saturating_sub(lines)..].join("\n")
}

/// Waits until the newest event of every machine is `event`, counting only events after the
/// machine's mark; returns how long that took. A `Crashed` after the mark, or the limit, is an
/// error with the machine's events and console tails.
pub async fn wait_for_event(
    c: &Client,
    plan: &Plan,
    event: &str,
    marks: &[usize],
    limit: Duration,
) -> anyhow::Result<Duration> {
    wait_for_event_of(c, &plan.all_machines(), event, marks, limit).await
}

/// [`wait_for_event`] of some of the lab's machines (`marks` from [`marks_of`] of the same).
pub async fn wait_for_event_of(
    c: &Client,
    machines: &[MachinePlan],
    event: &str,
    marks: &[usize],
    limit: Duration,
) -> anyhow::Result<Duration> {
    let start = Instant::now();
    let deadline = start + limit;
    loop {
        let mut done = true;
        for (k, m) in machines.iter().enumerate() {
            let mv = machine(c, &m.uuid).await?;
            let ev = events(&mv);
            let new = &ev[marks.get(k).copied().unwrap_or(0).min(ev.len())..];
            if new.last().map(String::as_str) == Some(event) {
                continue;
            }
            done = false;
            if Instant::now() > deadline || new.iter().any(|e| e == "Crashed") {
                bail!(
                    "{}: no {event} within {limit:?}; events since the mark {new:?}; newest: {}\n--- ttyS1 (metal-hammer):\n{}\n--- ttyS0:\n{}",
                    m.name,
                    mv["events"]["log"][0],
                    tail(&m.dir.join(SOL_LOG), 40),
                    tail(&m.dir.join(CONSOLE_LOG), 30)
                );
            }
        }
        if done {
            return Ok(start.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// What to allocate a machine as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// `POST /v1/machine/allocate` with the project's private network
    Machine,
    /// `POST /v1/firewall/allocate` with the private network and the internet
    Firewall,
}

/// Allocates this machine in the lab's project, partition and size (metal-client's typed
/// endpoints); returns the machine as metal-api answered it.
pub async fn allocate(
    c: &Client,
    state: &State,
    m: &MachinePlan,
    role: Role,
    image: &str,
    layout: &str,
    hostname: &str,
) -> anyhow::Result<Value> {
    let network = |id: &str| MachineAllocationNetwork {
        networkid: id.to_string(),
        autoacquire: true,
    };
    let mut req = MachineAllocateRequest {
        uuid: m.uuid.clone(),
        name: hostname.to_string(),
        hostname: hostname.to_string(),
        projectid: seed::PROJECT.to_string(),
        partitionid: PARTITION.to_string(),
        sizeid: seed::SIZE.to_string(),
        imageid: image.to_string(),
        filesystemlayoutid: layout.to_string(),
        networks: vec![network(&state.private_network)],
        ..Default::default()
    };
    let answer = match role {
        Role::Machine => c.allocate_machine(&req).await,
        Role::Firewall => {
            req.networks.push(network(seed::INTERNET));
            c.allocate_firewall(&req).await
        }
    }
    .map_err(|e| anyhow::anyhow!("allocating {} as {role:?}: {e}", m.name))?;
    Ok(serde_json::to_value(answer)?)
}

/// `DELETE /v1/machine/{id}/free`.
pub async fn free(c: &Client, m: &MachinePlan) -> anyhow::Result<()> {
    c.free_machine(&m.uuid)
        .await
        .map_err(|e| anyhow::anyhow!("freeing {}: {e}", m.name))?;
    Ok(())
}

/// The `LAB-OS-FACT` lines the installed OS printed on its console after byte `offset`.
pub fn facts_since(m: &MachinePlan, offset: usize) -> Vec<String> {
    let bytes = std::fs::read(m.dir.join(CONSOLE_LOG)).unwrap_or_default();
    String::from_utf8_lossy(&bytes[offset.min(bytes.len())..])
        .lines()
        .filter(|l| l.contains(crate::artifacts::OS_FACT))
        .map(|l| l.trim().to_string())
        .collect()
}

/// Wall times of one cycle of every machine of the lab.
#[derive(Debug, Clone, Copy)]
pub struct Phases {
    pub to_waiting: Duration,
    pub to_phoned_home: Duration,
    pub back_to_waiting: Duration,
}

/// Powers every machine on and waits for Waiting, allocates machine 1 with `raid` and the
/// others as firewalls with `default`, waits for Phoned Home, frees them all and waits for
/// Waiting again. The machines must be off and never allocated.
pub async fn run(c: &Client, state: &State, plan: &Plan) -> anyhow::Result<Phases> {
    let limit = Duration::from_secs(300 + 60 * plan.machines as u64);
    for m in plan.all_machines() {
        crate::lab::power(c, &m.uuid, "on").await?;
    }
    let to_waiting = wait_for_event(c, plan, "Waiting", &[], limit).await?;
    let mk = marks(c, plan).await?;
    for m in plan.all_machines() {
        if m.index == 1 {
            allocate(
                c,
                state,
                &m,
                Role::Machine,
                "debian-12.0",
                "raid",
                "lab-machine",
            )
            .await?;
        } else {
            let name = format!("lab-firewall-{}", m.index);
            let image = "firewall-debian-3.0";
            allocate(c, state, &m, Role::Firewall, image, "default", &name).await?;
        }
    }
    let to_phoned_home = wait_for_event(c, plan, "Phoned Home", &mk, limit).await?;
    let mk = marks(c, plan).await?;
    for m in plan.all_machines() {
        free(c, &m).await?;
    }
    let back_to_waiting = wait_for_event(c, plan, "Waiting", &mk, limit).await?;
    Ok(Phases {
        to_waiting,
        to_phoned_home,
        back_to_waiting,
    })
}
