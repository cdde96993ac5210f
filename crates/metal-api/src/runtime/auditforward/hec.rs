//! Splunk's HTTP Event Collector on the wire: the collector URL an operator's endpoint names,
//! one audit entry as an HEC event, what an answer means for the batch, and how long to wait
//! before the next attempt. Pure functions; the worker does the I/O.

use std::time::Duration;

use metal_domain::audit::AuditEntry;
use reqwest::StatusCode;
use serde::Serialize;

/// The path of HEC's JSON event endpoint.
pub const EVENT_PATH: &str = "/services/collector/event";

/// The collector URL for `--auditing-splunk-endpoint`: the endpoint may name the server
/// (`https://splunk:8088`, with or without a trailing `/` or a path prefix of a proxy in
/// front of it), `.../services/collector` or the event endpoint itself; each ends up at
/// `.../services/collector/event`. Query strings are kept (`?channel=...`); credentials in the
/// URL are refused (the URL is logged, the token is not).
pub fn collector_url(endpoint: &str) -> Result<reqwest::Url, String> {
    let mut url = reqwest::Url::parse(endpoint.trim())
        .map_err(|e| format!("--auditing-splunk-endpoint {endpoint:?} is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(format!(
            "--auditing-splunk-endpoint {endpoint:?} must be an http:// or https:// URL with a host"
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        // the URL is logged; the token has its own flag, kept out of logs
        return Err(
            "--auditing-splunk-endpoint must not hold credentials; give the token with --auditing-splunk-token"
                .into(),
        );
    }
    let path = url.path().trim_end_matches('/').to_string();
    let path = if path.ends_with(EVENT_PATH) {
        path
    } else if path.ends_with("/services/collector") {
        format!("{path}/event")
    } else {
        format!("{path}{EVENT_PATH}")
    };
    url.set_path(&path);
    Ok(url)
}

/// The fields every event of this server carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventMeta {
    pub host: String,
    pub source: String,
    pub sourcetype: String,
    /// Unset: the token's default index.
    pub index: Option<String>,
}

#[derive(Serialize)]
struct Event<'a> {
    time: f64,
    host: &'a str,
    source: &'a str,
    sourcetype: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    index: Option<&'a str>,
    event: &'a AuditEntry,
}

/// One entry as an HEC event: `{"time": <epoch seconds, milliseconds as fraction>, "host",
/// "source", "sourcetype", "index" (if set), "event": <the entry as stored and answered by
/// /v1/audit/find>}`. Its body is the stored one, secrets already redacted. HEC takes a batch
/// as these objects one after the other.
pub fn event_json(meta: &EventMeta, entry: &AuditEntry) -> String {
    let time = entry
        .timestamp
        .unwrap_or_else(chrono::Utc::now)
        .timestamp_millis() as f64
        / 1000.0;
    let event = Event {
        time,
        host: &meta.host,
        source: &meta.source,
        sourcetype: &meta.sourcetype,
        index: meta.index.as_deref(),
        event: entry,
    };
    // serializing plain strings and numbers cannot fail
    serde_json::to_string(&event).unwrap_or_default()
}

/// What an answer of the collector means for the batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Accepted (2xx).
    Sent,
    /// Worth another attempt: busy or overloaded (429, 5xx, 408), or no answer at all.
    Retry,
    /// Another attempt would fail the same way: a bad token (401/403), an unknown index or a
    /// malformed event (400), a wrong path (404), a redirect (not followed, so the token goes
    /// nowhere else).
    Reject,
}

/// The outcome of an HTTP status.
pub fn outcome(status: StatusCode) -> Outcome {
    if status.is_success() {
        Outcome::Sent
    } else if status == StatusCode::TOO_MANY_REQUESTS
        || status == StatusCode::REQUEST_TIMEOUT
        || status.is_server_error()
    {
        Outcome::Retry
    } else {
        Outcome::Reject
    }
}

/// Exponential backoff with jitter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Wait before the second attempt, doubled for each further one.
    pub initial: Duration,
    /// No wait is longer.
    pub max: Duration,
}

impl Backoff {
    /// The wait after failed attempt `attempt` (1 = the first): `initial * 2^(attempt-1)`
    /// capped at `max`, then scaled by `jitter` in `[0.5, 1.0]` so that replicas that failed
    /// together do not retry together. A `Retry-After` of the collector, if longer, wins (also
    /// capped at `max`).
    pub fn delay(&self, attempt: u32, jitter: f64, retry_after: Option<Duration>) -> Duration {
        let exp = attempt.saturating_sub(1).min(30);
        let base = self.initial.saturating_mul(1u32 << exp).min(self.max);
        let jittered = base.mul_f64(jitter.clamp(0.5, 1.0));
        match retry_after {
            Some(r) => jittered.max(r).min(self.max),
            None => jittered,
        }
    }
}

/// A `Retry-After` given in seconds (the HTTP-date form is ignored).
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_end_at_the_event_path() {
        let cases = [
            (
                "https://splunk:8088",
                "https://splunk:8088/services/collector/event",
            ),
            (
                "https://splunk:8088/",
                "https://splunk:8088/services/collector/event",
            ),
            (
                "http://splunk:8088/services/collector",
                "http://splunk:8088/services/collector/event",
            ),
            (
                "http://splunk:8088/services/collector/",
                "http://splunk:8088/services/collector/event",
            ),
            (
                "http://splunk:8088/services/collector/event",
                "http://splunk:8088/services/collector/event",
            ),
            (
                "https://proxy/splunk/",
                "https://proxy/splunk/services/collector/event",
            ),
            (
                " https://splunk:8088/services/collector/event?channel=abc ",
                "https://splunk:8088/services/collector/event?channel=abc",
            ),
        ];
        for (endpoint, want) in cases {
            assert_eq!(
                collector_url(endpoint).unwrap().as_str(),
                want,
                "{endpoint}"
            );
        }
        for bad in [
            "splunk:8088",
            "ftp://splunk/",
            "",
            "http://",
            "https://admin:pw@splunk:8088",
        ] {
            assert!(collector_url(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn an_event_carries_the_entry_and_the_meta() {
        let entry = AuditEntry {
            rqid: "r1".into(),
            timestamp: Some("2026-01-02T03:04:05.678Z".parse().unwrap()),
            kind: "http".into(),
            body: r#"{"password":"[redacted]"}"#.into(),
            status_code: 201,
            ..Default::default()
        };
        let mut meta = EventMeta {
            host: "api-0".into(),
            source: "metal-api".into(),
            sourcetype: "_json".into(),
            index: Some("metal".into()),
        };
        let v: serde_json::Value = serde_json::from_str(&event_json(&meta, &entry)).unwrap();
        assert_eq!(v["time"].as_f64().unwrap(), 1_767_323_045.678);
        assert_eq!(v["host"], "api-0");
        assert_eq!(v["source"], "metal-api");
        assert_eq!(v["sourcetype"], "_json");
        assert_eq!(v["index"], "metal");
        assert_eq!(v["event"]["rqid"], "r1");
        assert_eq!(v["event"]["type"], "http");
        assert_eq!(v["event"]["status_code"], 201);
        assert_eq!(v["event"]["body"], r#"{"password":"[redacted]"}"#);
        meta.index = None;
        let v: serde_json::Value = serde_json::from_str(&event_json(&meta, &entry)).unwrap();
        assert!(v.get("index").is_none(), "{v}");
    }

    #[test]
    fn statuses_decide_retries() {
        let cases = [
            (200, Outcome::Sent),
            (204, Outcome::Sent),
            (301, Outcome::Reject),
            (400, Outcome::Reject),
            (401, Outcome::Reject),
            (403, Outcome::Reject),
            (404, Outcome::Reject),
            (408, Outcome::Retry),
            (413, Outcome::Reject),
            (429, Outcome::Retry),
            (500, Outcome::Retry),
            (503, Outcome::Retry),
        ];
        for (code, want) in cases {
            assert_eq!(outcome(StatusCode::from_u16(code).unwrap()), want, "{code}");
        }
    }

    #[test]
    fn backoff_doubles_with_jitter_and_caps() {
        let b = Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(1),
        };
        let ms = |d: Duration| d.as_millis();
        assert_eq!(ms(b.delay(1, 1.0, None)), 100);
        assert_eq!(ms(b.delay(2, 1.0, None)), 200);
        assert_eq!(ms(b.delay(3, 0.5, None)), 200);
        assert_eq!(ms(b.delay(5, 1.0, None)), 1000);
        assert_eq!(ms(b.delay(64, 1.0, None)), 1000);
        assert_eq!(ms(b.delay(1, 7.0, None)), 100, "jitter clamped");
        assert_eq!(
            ms(b.delay(1, 1.0, Some(Duration::from_millis(700)))),
            700,
            "Retry-After wins when longer"
        );
        assert_eq!(
            ms(b.delay(1, 1.0, Some(Duration::from_secs(60)))),
            1000,
            "and is capped"
        );
    }

    #[test]
    fn retry_after_in_seconds() {
        let mut h = reqwest::header::HeaderMap::new();
        assert_eq!(retry_after(&h), None);
        h.insert(reqwest::header::RETRY_AFTER, "3".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(3)));
        h.insert(
            reqwest::header::RETRY_AFTER,
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&h), None);
    }
}
