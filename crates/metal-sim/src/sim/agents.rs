//! The switch side (metal-core) and the BMC side (metal-bmc) of the lab:
//!
//! - every leaf switch registers over REST (`POST /v1/switch/register`, Cumulus, ports
//!   `swp1..swpN` with their MACs as identifiers), retried until it succeeds as metal-core does;
//! - every [`SimConfig::phone_home_interval`](super::SimConfig::phone_home_interval), one
//!   `EventService.Send` with `Phoned Home` for all installed machines (metal-core flushes
//!   the LLDP phone-home messages of its machines once a minute);
//! - every [`SimConfig::reclaim_poll_interval`](super::SimConfig::reclaim_poll_interval), one
//!   machine search of the partition over REST: an installed machine whose allocation is gone
//!   or replaced, or that is to be reinstalled, is power-cycled into PXE, as metal-bmc does
//!   when metal-api publishes the free or reinstall command.

use std::collections::HashMap;
use std::convert::Infallible;
use std::time::{Duration, Instant};

use metal_client::Method;
use metal_domain::event::EventType;
use metal_domain::machine::{MachineFindRequest, MachineResponse};
use metal_proto::api::v1::event_service_client::EventServiceClient;
use serde_json::json;
use tokio::time::MissedTickBehavior;

use super::identity::SwitchSpec;
use super::rpc::{events_request, Backoff};
use super::state::{Phase, Shared};

/// metal-core's `Phoned Home` flush takes at most this long.
const PHONE_HOME_TIMEOUT: Duration = Duration::from_secs(20);

/// At most this many events go into one `EventService.Send`, to stay far below the 4 MiB
/// message limit.
pub(crate) const MAX_BATCH: usize = 5000;

/// The registration body metal-core sends for a Cumulus switch.
pub(crate) fn switch_registration(s: &SwitchSpec, partition: &str) -> serde_json::Value {
    let nics: Vec<serde_json::Value> = s
        .ports
        .iter()
        .map(|p| json!({"name": p.name, "mac": p.mac, "identifier": p.mac}))
        .collect();
    json!({
        "id": s.id,
        "name": s.id,
        "description": "leaf switch simulated by metal-lab",
        "partition_id": partition,
        "rack_id": s.rack_id,
        "nics": nics,
        "os": {"vendor": "Cumulus", "version": "5.1.0", "metal_core_version": format!("v{} (metal-lab sim)", env!("CARGO_PKG_VERSION"))},
        "management_ip": s.management_ip,
        "management_user": "cumulus",
    })
}

/// Registers every leaf switch, each retried until metal-api accepts it.
pub(crate) async fn register_switches(shared: &Shared) {
    let c = &shared.config;
    for s in &shared.layout.switches {
        let body = switch_registration(s, &c.partition);
        let mut backoff = Backoff::new(c.min_backoff, c.max_backoff);
        loop {
            let r: metal_client::Result<serde_json::Value> = shared
                .rest
                .request(Method::POST, "v1/switch/register", Some(&body))
                .await;
            match r {
                Ok(_) => {
                    tracing::debug!(switch = s.id, rack = s.rack_id, "switch registered");
                    break;
                }
                Err(e) => {
                    let pause = backoff.pause();
                    tracing::warn!(switch = s.id, error = %e, ?pause, "switch registration failed, retrying");
                    tokio::time::sleep(pause).await;
                }
            }
        }
    }
    tracing::info!(
        switches = shared.layout.switches.len(),
        "leaf switches registered"
    );
}

fn ticker(every: Duration) -> tokio::time::Interval {
    let mut t = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    t.set_missed_tick_behavior(MissedTickBehavior::Delay);
    t
}

/// metal-core's phone-home flush.
pub(crate) async fn phone_home(shared: &Shared) -> Infallible {
    let mut tick = ticker(shared.config.phone_home_interval);
    let mut client = EventServiceClient::new(shared.channels[0].clone());
    loop {
        tick.tick().await;
        let batch: Vec<(usize, u64, String, String)> = shared
            .snapshot()
            .into_iter()
            .enumerate()
            .filter(|(_, s)| s.phase.is_installed())
            .map(|(idx, s)| {
                let since = s
                    .installed_at
                    .map(|(_, t)| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
                    .unwrap_or_default();
                (
                    idx,
                    s.boots,
                    shared.machine(idx).id.clone(),
                    format!("provisioned since {since}"),
                )
            })
            .collect();
        for chunk in batch.chunks(MAX_BATCH) {
            let req = events_request(
                chunk
                    .iter()
                    .map(|(_, _, id, msg)| (id.clone(), "Phoned Home", msg.clone())),
            );
            match tokio::time::timeout(PHONE_HOME_TIMEOUT, client.send(req)).await {
                Ok(Ok(_)) => {
                    for (idx, boots, _, _) in chunk {
                        if shared.status(*idx).phase == Phase::BootingNewKernel {
                            shared.update(*idx, |s| {
                                if s.boots == *boots && s.phase == Phase::BootingNewKernel {
                                    s.phase = Phase::PhonedHome;
                                }
                            });
                        }
                    }
                    tracing::debug!(machines = chunk.len(), "phoned home");
                }
                Ok(Err(e)) => {
                    tracing::warn!(machines = chunk.len(), error = %e, "phone home failed")
                }
                Err(_) => tracing::warn!(machines = chunk.len(), "phone home timed out"),
            }
        }
    }
}

/// Why an installed machine has to go back to PXE, if it has to.
pub(crate) fn reclaim_reason(m: &MachineResponse, installed: &str) -> Option<&'static str> {
    match &m.allocation {
        None => Some("freed"),
        Some(a) if a.allocationuuid != installed => Some("allocated anew"),
        Some(a) if a.reinstall => Some("reinstall"),
        Some(_) => m
            .events
            .log
            .first()
            .filter(|e| e.event == EventType::MachineReclaim)
            .map(|_| "reclaimed"),
    }
}

/// metal-bmc's reaction to free and reinstall, found by polling.
pub(crate) async fn reclaim_poll(shared: &Shared) -> Infallible {
    let mut tick = ticker(shared.config.reclaim_poll_interval);
    loop {
        tick.tick().await;
        let started = Instant::now();
        let installed: Vec<(usize, u64, String)> = shared
            .snapshot()
            .into_iter()
            .enumerate()
            .filter(|(_, s)| {
                s.phase.is_installed() && s.installed_at.is_some_and(|(at, _)| at < started)
            })
            .filter_map(|(idx, s)| Some((idx, s.boots, s.allocation_uuid?)))
            .collect();
        if installed.is_empty() {
            continue;
        }
        let req = MachineFindRequest {
            partition_id: Some(shared.config.partition.clone()),
            ..Default::default()
        };
        let found =
            match tokio::time::timeout(shared.config.call_timeout, shared.rest.find_machines(&req))
                .await
            {
                Ok(Ok(found)) => found,
                Ok(Err(e)) => {
                    tracing::debug!(error = %e, "reclaim poll failed");
                    continue;
                }
                Err(_) => {
                    tracing::debug!("reclaim poll timed out");
                    continue;
                }
            };
        let by_id: HashMap<&str, &MachineResponse> =
            found.iter().map(|m| (m.id.as_str(), m)).collect();
        for (idx, boots, allocation) in installed {
            let id = &shared.machine(idx).id;
            let Some(reason) = by_id
                .get(id.as_str())
                .and_then(|m| reclaim_reason(m, &allocation))
            else {
                continue;
            };
            // only if the machine is still in the installation seen at the start of the poll
            let still = shared.update(idx, |s| {
                let same = s.boots == boots && s.phase.is_installed();
                if same {
                    shared.reboot_signal(idx).notify_one();
                }
                same
            });
            if still {
                tracing::info!(machine = id, reason, "power cycle into PXE");
            }
        }
    }
}
