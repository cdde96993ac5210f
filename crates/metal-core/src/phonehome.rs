//! Phone home: an installed machine's OS sends LLDP frames with its machine id as system name
//! and `provisioned since <time>` as system description. metal-core listens on the switch ports,
//! keeps the newest message per machine and sends them every interval (metal-core: 1 min) as
//! one `EventService.Send` with the event `Phoned Home`, which keeps allocated machines alive
//! in metal-api.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use metal_lldp::Neighbor;
use metal_proto::api::v1 as pb;
use metal_proto::api::v1::event_service_client::EventServiceClient;
use tonic::transport::Channel;

pub const EVENT: &str = "Phoned Home";
/// Timeout of one flush (metal-core: 20 s).
pub const SEND_TIMEOUT: Duration = Duration::from_secs(20);

/// Beacons seen since the last flush, newest message per machine.
#[derive(Debug, Clone, Default)]
pub struct Beacons {
    seen: Arc<Mutex<BTreeMap<String, String>>>,
}

impl Beacons {
    /// Records a neighbour if it is a phone-home beacon (its system description says
    /// "provisioned" and it names a machine); returns whether it was one.
    pub fn observe(&self, n: &Neighbor) -> bool {
        if !n.system_description.contains("provisioned") || n.system_name.trim().is_empty() {
            return false;
        }
        self.seen.lock().unwrap_or_else(|e| e.into_inner()).insert(
            n.system_name.trim().to_string(),
            n.system_description.clone(),
        );
        true
    }

    /// Takes what was seen so far.
    pub fn take(&self) -> BTreeMap<String, String> {
        std::mem::take(&mut *self.seen.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// The batch for what was seen, `None` when nothing was.
    pub fn request(&self) -> Option<pb::EventServiceSendRequest> {
        let seen = self.take();
        if seen.is_empty() {
            return None;
        }
        let d = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default();
        let time = metal_proto::prost_types::Timestamp {
            seconds: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
            nanos: i32::try_from(d.subsec_nanos()).unwrap_or(0),
        };
        Some(pb::EventServiceSendRequest {
            events: seen
                .into_iter()
                .map(|(id, message)| {
                    (
                        id,
                        pb::MachineProvisioningEvent {
                            time: Some(time),
                            event: EVENT.to_string(),
                            message,
                        },
                    )
                })
                .collect(),
        })
    }
}

/// Listens on `interfaces` and flushes every `interval` until the process ends. A failed
/// flush is logged and counted in `metrics` (`send-provisioning`); its beacons are not resent
/// (the machines send new ones every few seconds).
pub async fn run(
    interfaces: &[String],
    interval: Duration,
    client: EventServiceClient<Channel>,
    metrics: Option<&crate::metrics::Metrics>,
) -> anyhow::Result<()> {
    let beacons = Beacons::default();
    let b = beacons.clone();
    let n = metal_lldp::listen(interfaces, move |iface, nb| {
        if b.observe(&nb) {
            tracing::debug!(
                interface = iface,
                machine = nb.system_name,
                "phone-home beacon"
            );
        }
    })?;
    anyhow::ensure!(n > 0, "none of the interfaces {interfaces:?} exists");
    tracing::info!(
        interfaces = n,
        ?interval,
        "listening for phone-home beacons"
    );
    let mut tick = tokio::time::interval(interval);
    tick.tick().await;
    loop {
        tick.tick().await;
        let Some(req) = beacons.request() else {
            continue;
        };
        let machines = req.events.len();
        let mut c = client.clone();
        match tokio::time::timeout(SEND_TIMEOUT, c.send(req)).await {
            Ok(Ok(r)) => tracing::info!(machines, stored = r.into_inner().events, "phoned home"),
            Ok(Err(e)) => {
                tracing::warn!(machines, error = %e, "phone-home events not stored");
                metrics.inspect(|m| m.error("send-provisioning"));
            }
            Err(_) => {
                tracing::warn!(machines, "phone-home events not stored: timeout");
                metrics.inspect(|m| m.error("send-provisioning"));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn beacon(id: &str, desc: &str) -> Neighbor {
        let (n, _) =
            metal_lldp::parse_frame(&metal_lldp::build_frame([2, 0, 0, 0, 0, 1], id, desc, 120))
                .unwrap();
        n
    }

    #[test]
    fn batches_newest_beacon_per_machine() {
        let b = Beacons::default();
        assert!(b.request().is_none());
        assert!(b.observe(&beacon("m1", "provisioned since 2026-11-21T10:00:00Z")));
        assert!(b.observe(&beacon("m1", "provisioned since 2026-11-21T10:00:02Z")));
        assert!(b.observe(&beacon("m2", "provisioned since 2026-11-21T09:00:00Z")));
        // the hammer's own announcement and nameless frames are no beacons
        assert!(!b.observe(&beacon(
            "m3",
            "metal-hammer IP:10.0.0.5 waiting since x for installation"
        )));
        assert!(!b.observe(&beacon(" ", "provisioned since x")));
        let r = b.request().unwrap();
        assert_eq!(r.events.len(), 2);
        assert_eq!(r.events["m1"].event, "Phoned Home");
        assert_eq!(
            r.events["m1"].message,
            "provisioned since 2026-11-21T10:00:02Z"
        );
        assert!(r.events["m2"].time.is_some());
        // flushed: empty again
        assert!(b.request().is_none());
    }
}
