//! Calls to metal-api that survive its restarts: unary gRPC and REST calls with a timeout,
//! retried with exponential backoff (and jitter, so a thousand machines do not reconnect in
//! lockstep) while the failure is transient; provisioning events.

use std::future::Future;
use std::time::{Duration, SystemTime};

use metal_proto::api::v1 as pb;
use metal_proto::api::v1::event_service_client::EventServiceClient;
use rand::Rng;
use tonic::{Code, Status};

use super::state::Shared;

/// Exponential backoff between `min` and `max`, with up to 25 % jitter.
#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    next: Duration,
    min: Duration,
    max: Duration,
}

impl Backoff {
    pub fn new(min: Duration, max: Duration) -> Self {
        Self {
            next: min,
            min,
            max,
        }
    }

    /// The next pause.
    pub fn pause(&mut self) -> Duration {
        let base = self.next;
        self.next = (self.next * 2).min(self.max);
        let jitter = rand::thread_rng().gen_range(0.0..0.25);
        base.mul_f64(1.0 + jitter).min(self.max).max(self.min)
    }
}

/// Failures that go away by themselves: metal-api unreachable or restarting, a timeout, a
/// conflict between concurrent writers.
pub(crate) fn transient(s: &Status) -> bool {
    matches!(
        s.code(),
        Code::Unavailable
            | Code::Unknown
            | Code::DeadlineExceeded
            | Code::Cancelled
            | Code::Aborted
            | Code::ResourceExhausted
    )
}

/// A REST error that goes away by itself: no connection, a timeout, a 5xx or a 409.
pub(crate) fn transient_rest(e: &metal_client::Error) -> bool {
    match e {
        metal_client::Error::Connect { .. } => true,
        metal_client::Error::Api { status, .. } => {
            *status >= 500 || *status == 409 || *status == 429
        }
        _ => false,
    }
}

impl Shared {
    /// Runs a unary call with the call timeout, retrying transient failures.
    pub async fn retry<T, F, Fut>(&self, what: &str, mut call: F) -> Result<T, Status>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, Status>>,
    {
        let mut backoff = Backoff::new(self.config.min_backoff, self.config.max_backoff);
        loop {
            let r = match tokio::time::timeout(self.config.call_timeout, call()).await {
                Ok(r) => r,
                Err(_) => Err(Status::deadline_exceeded(format!(
                    "{what} took longer than {:?}",
                    self.config.call_timeout
                ))),
            };
            match r {
                Ok(v) => return Ok(v),
                Err(s) if transient(&s) => {
                    let pause = backoff.pause();
                    tracing::debug!(what, error = %s, ?pause, "retrying");
                    tokio::time::sleep(pause).await;
                }
                Err(s) => return Err(s),
            }
        }
    }

    /// Runs a REST call, retrying transient failures.
    pub async fn retry_rest<T, F, Fut>(&self, what: &str, mut call: F) -> metal_client::Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = metal_client::Result<T>>,
    {
        let mut backoff = Backoff::new(self.config.min_backoff, self.config.max_backoff);
        loop {
            match call().await {
                Ok(v) => return Ok(v),
                Err(e) if transient_rest(&e) => {
                    let pause = backoff.pause();
                    tracing::debug!(what, error = %e, ?pause, "retrying");
                    tokio::time::sleep(pause).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Sends one provisioning event as metal-hammer does (one machine per call). Transient
    /// failures are retried, others only logged, as metal-hammer only logs them.
    pub async fn event(&self, idx: usize, event: &str, message: impl Into<String>) {
        let id = self.machine(idx).id.clone();
        let req = events_request([(id.clone(), event, message.into())]);
        let client = EventServiceClient::new(self.channel(idx));
        let r = self
            .retry(event, || {
                let req = req.clone();
                let mut client = client.clone();
                async move { client.send(req).await }
            })
            .await;
        if let Err(e) = r {
            tracing::warn!(machine = id, event, error = %e, "event not stored");
        }
    }
}

/// An `EventService.Send` request.
pub(crate) fn events_request<'a>(
    events: impl IntoIterator<Item = (String, &'a str, String)>,
) -> pb::EventServiceSendRequest {
    let time = prost_time(SystemTime::now());
    pb::EventServiceSendRequest {
        events: events
            .into_iter()
            .map(|(id, event, message)| {
                (
                    id,
                    pb::MachineProvisioningEvent {
                        time: Some(time),
                        event: event.to_string(),
                        message,
                    },
                )
            })
            .collect(),
    }
}

fn prost_time(t: SystemTime) -> metal_proto::prost_types::Timestamp {
    let d = t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    metal_proto::prost_types::Timestamp {
        seconds: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        nanos: i32::try_from(d.subsec_nanos()).unwrap_or(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_to_the_cap() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
        let first = b.pause();
        assert!(first >= Duration::from_millis(100) && first <= Duration::from_millis(125));
        for _ in 0..10 {
            assert!(b.pause() <= Duration::from_secs(1));
        }
        assert_eq!(b.pause(), Duration::from_secs(1));
    }

    #[test]
    fn transient_codes() {
        assert!(transient(&Status::unavailable("down")));
        assert!(!transient(&Status::invalid_argument("bad")));
        assert!(!transient(&Status::failed_precondition("cabling")));
    }

    #[test]
    fn events_carry_a_time() {
        let r = events_request([("m".to_string(), "Alive", "x".to_string())]);
        let e = &r.events["m"];
        assert_eq!(e.event, "Alive");
        assert!(e.time.unwrap().seconds > 1_600_000_000);
    }
}
