//! The reconcile loop of `metal-core run` (agents.md §4.4, network.md §2.1): every interval
//! fetch the switch document (`GET /v1/switch/{id}`), build and render the configuration with
//! the kernel's VLAN mapping and eth0's address, apply it ([`crate::apply`], all or nothing;
//! only with `--reconfigure-switch`, else a dry run), and after every run, failed ones too,
//! report to metal-api (`POST /v1/switch/{id}/notify`): the run's duration and error, each
//! port's link state, the BGP sessions. Fetching and rendering have the run's timeout, every
//! check and reload its own; once files are moved into place the reloads run to their end, so a
//! run never stops half-applied.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use metal_client::{Client, Method};
use metal_domain::switch::{BgpPortState, SwitchResponse};
use serde_json::{json, Value};

use crate::apply::Applier;
use crate::metrics::Metrics;
use crate::model::vlan::KernelVlans;
use crate::model::{Flavor, SwitchConfig};
use crate::settings::SettingsArgs;

/// Everything a run needs besides the switch document.
pub struct Reconciler {
    pub client: Client,
    pub switch_id: String,
    pub settings: SettingsArgs,
    pub log_level: String,
    /// eth0's address; read from eth0 every run when `None`
    pub eth0: Option<ipnet::IpNet>,
    /// apply what is rendered; without, render only (metal-core's `RECONFIGURE_SWITCH`)
    pub reconfigure: bool,
    pub applier: Applier,
    /// the command that prints FRR's BGP neighbours as JSON, empty: none reported
    pub bgp_command: Vec<String>,
    pub timeout: Duration,
    pub metrics: Arc<Metrics>,
}

/// What one run did: its error, if any, and the ports of the document fetched.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    pub duration: Duration,
    pub error: Option<String>,
    pub ports: Vec<String>,
    /// files moved into place
    pub changed: Vec<&'static str>,
    /// how long each step took: fetching the document, rendering (with reading the kernel's
    /// VLANs), checking the changed files, moving them and reloading
    pub fetch: Duration,
    pub render: Duration,
    pub checks: Duration,
    pub reloads: Duration,
}

impl Reconciler {
    /// Runs every `interval`, the first one interval after the start, for ever.
    pub async fn run(&self, interval: Duration) {
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            self.once().await;
        }
    }

    /// One run and its notify.
    pub async fn once(&self) -> Outcome {
        let start = Instant::now();
        let (mut outcome, doc) = self.sync(start).await;
        outcome.duration = start.elapsed();
        self.metrics
            .record_sync(outcome.duration, outcome.error.is_none());
        match &outcome.error {
            Some(e) => {
                tracing::warn!(switch = self.switch_id, error = %e, "switch reconfiguration failed")
            }
            None if !outcome.changed.is_empty() => tracing::info!(
                switch = self.switch_id,
                changed = ?outcome.changed,
                took = ?outcome.duration,
                fetch = ?outcome.fetch,
                render = ?outcome.render,
                checks = ?outcome.checks,
                reloads = ?outcome.reloads,
                "switch reconfigured"
            ),
            None => tracing::debug!(
                switch = self.switch_id,
                took = ?outcome.duration,
                "switch configuration unchanged"
            ),
        }
        if let Err(e) = self.notify(&outcome, doc.as_ref()).await {
            self.metrics.error("reconfiguration-notification");
            tracing::warn!(switch = self.switch_id, error = %e, "notifying metal-api failed");
        }
        outcome
    }

    async fn sync(&self, start: Instant) -> (Outcome, Option<SwitchResponse>) {
        let mut outcome = Outcome::default();
        let path = format!("v1/switch/{}", self.switch_id);
        let fetched = tokio::time::timeout(
            self.timeout,
            self.client
                .request::<(), SwitchResponse>(Method::GET, &path, None),
        )
        .await;
        let doc = match fetched {
            Ok(Ok(doc)) => doc,
            Ok(Err(e)) => {
                self.metrics.error("switch-reconfiguration");
                outcome.error = Some(format!("fetching the switch: {e}"));
                return (outcome, None);
            }
            Err(_) => {
                self.metrics.error("switch-reconfiguration");
                outcome.error = Some(format!(
                    "fetching the switch: no answer within {:?}",
                    self.timeout
                ));
                return (outcome, None);
            }
        };
        outcome.fetch = start.elapsed();
        outcome.ports = doc.nics.iter().map(|n| n.name.clone()).collect();
        let rendering = Instant::now();
        let rendered = self.render(&doc).await;
        outcome.render = rendering.elapsed();
        let rendered = match rendered {
            Ok(files) => files,
            Err(e) => {
                self.metrics.error("switch-reconfiguration");
                outcome.error = Some(e);
                return (outcome, Some(doc));
            }
        };
        if !self.reconfigure {
            return (outcome, Some(doc));
        }
        // fetching and rendering count against the run's timeout; applying has a timeout per
        // command, and once files are moved the reloads run to their end
        let result = if start.elapsed() >= self.timeout {
            Err(format!("the run took longer than {:?}", self.timeout))
        } else {
            self.applier
                .apply(&rendered)
                .await
                .map_err(|e| e.to_string())
        };
        match result {
            Ok(applied) => {
                outcome.changed = applied.changed.iter().map(|k| k.as_str()).collect();
                outcome.checks = applied.checks;
                outcome.reloads = applied.reloads;
            }
            Err(e) => {
                self.metrics.error("switch-reconfiguration");
                outcome.error = Some(e);
            }
        }
        (outcome, Some(doc))
    }

    async fn render(
        &self,
        doc: &SwitchResponse,
    ) -> Result<Vec<crate::render::RenderedFile>, String> {
        let eth0 = self.eth0.or_else(crate::host::eth0_ipv4);
        let settings = self
            .settings
            .settings(&self.log_level, eth0)
            .map_err(|e| e.to_string())?;
        let kernel: KernelVlans = tokio::task::spawn_blocking(crate::kernel::read)
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("reading the kernel's VLANs: {e}"))?;
        let config = SwitchConfig::build(doc, &settings, &kernel, Flavor::Cumulus)
            .map_err(|e| e.to_string())?;
        Ok(crate::render::render(&config))
    }

    async fn notify(&self, o: &Outcome, doc: Option<&SwitchResponse>) -> Result<(), String> {
        let port_states: BTreeMap<&str, &str> = match doc {
            Some(_) => o
                .ports
                .iter()
                .map(|p| (p.as_str(), crate::host::link_state(p)))
                .collect(),
            None => BTreeMap::new(),
        };
        let mut body = json!({
            "sync_duration": i64::try_from(o.duration.as_nanos()).unwrap_or(i64::MAX),
            "port_states": port_states,
        });
        if let Some(e) = &o.error {
            body["error"] = json!(e);
        }
        if doc.is_some() {
            match self.bgp_states().await {
                Ok(states) => body["bgp_port_states"] = json!(states),
                Err(e) => tracing::debug!(error = %e, "no BGP states"),
            }
        }
        let path = format!("v1/switch/{}/notify", self.switch_id);
        tokio::time::timeout(
            self.timeout,
            self.client
                .request::<Value, Value>(Method::POST, &path, Some(&body)),
        )
        .await
        .map_err(|_| format!("no answer within {:?}", self.timeout))?
        .map(|_| ())
        .map_err(|e| e.to_string())
    }

    async fn bgp_states(&self) -> Result<BTreeMap<String, BgpPortState>, String> {
        let Some((program, args)) = self.bgp_command.split_first() else {
            return Err("no BGP command".into());
        };
        let out = tokio::time::timeout(
            Duration::from_secs(5),
            tokio::process::Command::new(program)
                .args(args)
                .kill_on_drop(true)
                .output(),
        )
        .await
        .map_err(|_| format!("{program} did not answer within 5 s"))?
        .map_err(|e| format!("running {program}: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "{program}: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        parse_bgp_neighbors(&String::from_utf8_lossy(&out.stdout))
    }
}

/// The BGP sessions by port from FRR's `show bgp vrf all neighbors json`: per VRF an object
/// with `vrfName` and the neighbours by name (an interface name for BGP unnumbered); each
/// neighbour's state, peer group, the epoch second it became established, and its prefixes
/// sent and accepted summed over the address families. Neighbours that are not interfaces
/// (numbered peers) are left out: the notify is by port.
pub fn parse_bgp_neighbors(text: &str) -> Result<BTreeMap<String, BgpPortState>, String> {
    let v: Value = serde_json::from_str(text.trim()).map_err(|e| format!("BGP JSON: {e}"))?;
    let mut out = BTreeMap::new();
    let Some(vrfs) = v.as_object() else {
        return Err("BGP JSON is no object".into());
    };
    for (vrf_key, vrf) in vrfs {
        let Some(neighbors) = vrf.as_object() else {
            continue;
        };
        let vrf_name = vrf["vrfName"].as_str().unwrap_or(vrf_key).to_string();
        for (name, n) in neighbors {
            if !n.is_object() || name.parse::<std::net::IpAddr>().is_ok() {
                continue;
            }
            let Some(state) = n["bgpState"].as_str() else {
                continue;
            };
            let (mut sent, mut accepted) = (0, 0);
            if let Some(afs) = n["addressFamilyInfo"].as_object() {
                for af in afs.values() {
                    sent += af["sentPrefixCounter"].as_i64().unwrap_or(0);
                    accepted += af["acceptedPrefixCounter"].as_i64().unwrap_or(0);
                }
            }
            out.insert(
                name.clone(),
                BgpPortState {
                    neighbor: n["hostname"].as_str().unwrap_or(name).to_string(),
                    peer_group: n["peerGroup"].as_str().unwrap_or_default().to_string(),
                    vrf_name: vrf_name.clone(),
                    bgp_state: state.to_string(),
                    bgp_timer_up_established: n["bgpTimerUpEstablishedEpoch"].as_i64().unwrap_or(0),
                    sent_prefix_counter: sent,
                    accepted_prefix_counter: accepted,
                },
            );
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bgp_neighbors_by_port() {
        // FRR 8.4, abridged
        let text = r#"{
          "default": {"vrfId": 0, "vrfName": "default",
            "swp31": {"remoteAs": 4200000001, "hostname": "spine01", "peerGroup": "FABRIC",
              "bgpState": "Established", "bgpTimerUpEstablishedEpoch": 1765000000,
              "addressFamilyInfo": {
                "ipv4Unicast": {"acceptedPrefixCounter": 3, "sentPrefixCounter": 5},
                "l2VpnEvpn": {"acceptedPrefixCounter": 10, "sentPrefixCounter": 2}}},
            "10.1.0.1": {"bgpState": "Active"}},
          "vrf104001": {"vrfId": 7, "vrfName": "vrf104001",
            "swp1": {"peerGroup": "MACHINE", "bgpState": "Active"}}
        }"#;
        let s = parse_bgp_neighbors(text).unwrap();
        assert_eq!(s.keys().collect::<Vec<_>>(), ["swp1", "swp31"]);
        let up = &s["swp31"];
        assert_eq!(
            (
                up.neighbor.as_str(),
                up.peer_group.as_str(),
                up.vrf_name.as_str()
            ),
            ("spine01", "FABRIC", "default")
        );
        assert_eq!(
            (up.sent_prefix_counter, up.accepted_prefix_counter),
            (7, 13)
        );
        assert_eq!(up.bgp_timer_up_established, 1765000000);
        let m = &s["swp1"];
        assert_eq!(
            (m.bgp_state.as_str(), m.vrf_name.as_str()),
            ("Active", "vrf104001")
        );
        assert_eq!(m.neighbor, "swp1");
        assert!(parse_bgp_neighbors("nonsense").is_err());
        assert!(parse_bgp_neighbors("{}").unwrap().is_empty());
    }
}
