//! Forwarding the audit trail to Splunk's HTTP Event Collector, beside the database record
//! (`--auditing-splunk-endpoint`, `--auditing-splunk-token`, `--auditing-splunk-index`).
//!
//! The request path only renders the stored entry as an HEC event ([`hec::event_json`]: the
//! same redacted body as in the database) and offers it to a bounded queue with `try_send`:
//! it never waits and never fails a request. A full queue (entries or bytes) drops the *newest*
//! entry, counts it (`metal_api_audit_forward_dropped_total{reason="queue_full"}`) and warns at
//! most every [`WARN_EVERY`]. One [`worker`] task takes batches off the queue (up to
//! `--auditing-splunk-batch-size` entries, [`BATCH_BYTES`], or what arrived within
//! `--auditing-splunk-flush-interval` of the first), posts each to the collector and retries
//! with exponential backoff and jitter on connection errors, timeouts, 429 and 5xx; a batch
//! that fails every attempt or is rejected (other 4xx) is dropped and counted. On shutdown the
//! worker sends what is queued, for at most [`SHUTDOWN_DEADLINE`], after the REST server has
//! finished its requests.
//!
//! Why a queue in memory and not a table: the database already holds the trail (searchable
//! with `/v1/audit/find`); the forwarder is a copy for Splunk, and losing some of it when
//! Splunk is down for long is counted and logged, not worth a second durable store.

pub mod hec;
mod worker;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use metal_domain::audit::AuditEntry;
use prometheus::{IntCounter, IntCounterVec, IntGauge, Opts, Registry};
use tokio::sync::mpsc;

use crate::config::Config;

pub use worker::Worker;

/// Queued events take at most this many bytes; beyond, entries are dropped as when the queue
/// is full (a request body may be 4 MiB, so a count alone would not bound the memory).
pub const QUEUE_BYTES: usize = 64 << 20;
/// A batch is sent once it holds this many bytes (a larger single event goes alone).
pub const BATCH_BYTES: usize = 1 << 20;
/// How long a shutdown waits for the queue to be sent.
pub const SHUTDOWN_DEADLINE: Duration = Duration::from_secs(5);
/// At most one warning about dropped entries per this interval.
pub const WARN_EVERY: Duration = Duration::from_secs(10);

/// Everything the forwarder needs, from the flags.
#[derive(Clone)]
pub struct Settings {
    pub url: reqwest::Url,
    pub token: String,
    pub meta: hec::EventMeta,
    pub ca: Option<PathBuf>,
    pub queue_size: usize,
    pub queue_bytes: usize,
    pub batch_size: usize,
    pub batch_bytes: usize,
    pub flush_interval: Duration,
    pub request_timeout: Duration,
    pub max_attempts: u32,
    pub backoff: hec::Backoff,
    pub shutdown_deadline: Duration,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("url", &self.url.as_str())
            .field("token", &"[redacted]")
            .field("meta", &self.meta)
            .field("queue_size", &self.queue_size)
            .field("batch_size", &self.batch_size)
            .field("flush_interval", &self.flush_interval)
            .field("max_attempts", &self.max_attempts)
            .finish_non_exhaustive()
    }
}

impl Settings {
    /// The forwarder's settings, or `None` without `--auditing-splunk-endpoint` (forwarding
    /// off). [`Config::validate`] has checked the flags.
    pub fn from_config(c: &Config) -> Result<Option<Self>, String> {
        let Some(endpoint) = &c.auditing_splunk_endpoint else {
            return Ok(None);
        };
        let token = c
            .auditing_splunk_token
            .as_ref()
            .ok_or("--auditing-splunk-endpoint needs --auditing-splunk-token")?;
        Ok(Some(Self {
            url: hec::collector_url(endpoint)?,
            token: token.expose().to_string(),
            meta: hec::EventMeta {
                host: c.auditing_splunk_host.clone().unwrap_or_else(hostname),
                source: c.auditing_splunk_source.clone(),
                sourcetype: c.auditing_splunk_source_type.clone(),
                index: c
                    .auditing_splunk_index
                    .clone()
                    .filter(|i| !i.trim().is_empty()),
            },
            ca: c.auditing_splunk_ca.clone(),
            queue_size: c.auditing_splunk_queue_size.max(1),
            queue_bytes: QUEUE_BYTES,
            batch_size: c.auditing_splunk_batch_size.max(1),
            batch_bytes: BATCH_BYTES,
            flush_interval: c.auditing_splunk_flush_interval,
            request_timeout: c.auditing_splunk_timeout,
            max_attempts: c.auditing_splunk_retries.saturating_add(1),
            backoff: hec::Backoff {
                initial: c.auditing_splunk_backoff,
                max: Duration::from_secs(30).max(c.auditing_splunk_backoff),
            },
            shutdown_deadline: SHUTDOWN_DEADLINE,
        }))
    }
}

/// This machine's name, the `host` of the events unless `--auditing-splunk-host` names one.
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "metal-api".into())
}

/// The forwarder's metrics (metal-stack has none for this; ours are `metal_api_audit_forward_*`),
/// registered only when forwarding is on.
pub struct ForwardMetrics {
    /// Entries the collector accepted.
    pub sent: IntCounter,
    /// Entries given up, by reason: `queue_full`, `rejected` (a 4xx other than 408/429),
    /// `retries_exhausted`, `shutdown` (still queued at the shutdown deadline).
    pub dropped: IntCounterVec,
    /// Batches given up (rejected or out of attempts).
    pub failed_batches: IntCounter,
    /// Attempts repeated after a connection error, timeout, 429 or 5xx.
    pub retries: IntCounter,
    /// Entries waiting in the queue.
    pub queued: IntGauge,
}

impl ForwardMetrics {
    fn register(registry: &Registry) -> prometheus::Result<Self> {
        let m = Self {
            sent: IntCounter::new(
                "metal_api_audit_forward_sent_total",
                "Audit entries accepted by the Splunk HTTP Event Collector",
            )?,
            dropped: IntCounterVec::new(
                Opts::new(
                    "metal_api_audit_forward_dropped_total",
                    "Audit entries not forwarded to Splunk, by reason",
                ),
                &["reason"],
            )?,
            failed_batches: IntCounter::new(
                "metal_api_audit_forward_failed_batches_total",
                "Batches of audit entries given up (rejected, or out of attempts)",
            )?,
            retries: IntCounter::new(
                "metal_api_audit_forward_retries_total",
                "Repeated attempts to send a batch of audit entries to Splunk",
            )?,
            queued: IntGauge::new(
                "metal_api_audit_forward_queued",
                "Audit entries waiting to be forwarded to Splunk",
            )?,
        };
        registry.register(Box::new(m.sent.clone()))?;
        registry.register(Box::new(m.dropped.clone()))?;
        registry.register(Box::new(m.failed_batches.clone()))?;
        registry.register(Box::new(m.retries.clone()))?;
        registry.register(Box::new(m.queued.clone()))?;
        Ok(m)
    }
}

/// Counts dropped entries and warns about them, at most once per [`WARN_EVERY`] (with the
/// number dropped since the last warning), so a Splunk outage does not flood the log.
struct Drops {
    metrics: Arc<ForwardMetrics>,
    epoch: Instant,
    /// Milliseconds after `epoch` of the last warning; `u64::MAX`: none yet.
    last_warn_ms: AtomicU64,
    unwarned: AtomicU64,
}

impl Drops {
    fn new(metrics: Arc<ForwardMetrics>) -> Self {
        Self {
            metrics,
            epoch: Instant::now(),
            last_warn_ms: AtomicU64::new(u64::MAX),
            unwarned: AtomicU64::new(0),
        }
    }

    fn count(&self, reason: &'static str, n: u64) {
        if n == 0 {
            return;
        }
        self.metrics.dropped.with_label_values(&[reason]).inc_by(n);
        self.unwarned.fetch_add(n, Ordering::Relaxed);
        let now = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX - 1);
        let last = self.last_warn_ms.load(Ordering::Relaxed);
        let due = last == u64::MAX || now >= last.saturating_add(WARN_EVERY.as_millis() as u64);
        if due
            && self
                .last_warn_ms
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            let dropped = self.unwarned.swap(0, Ordering::Relaxed);
            tracing::warn!(
                dropped,
                reason,
                "audit entries not forwarded to Splunk (counted in metal_api_audit_forward_dropped_total; the database keeps them)"
            );
        }
    }
}

/// The request path's side of the forwarder: renders an entry and queues it without waiting.
pub struct AuditForwarder {
    tx: mpsc::Sender<String>,
    bytes: Arc<AtomicUsize>,
    max_bytes: usize,
    meta: hec::EventMeta,
    metrics: Arc<ForwardMetrics>,
    drops: Arc<Drops>,
}

impl AuditForwarder {
    /// The forwarder and its [`Worker`] (which the server spawns), with the metrics
    /// registered in `registry`.
    pub fn new(settings: Settings, registry: &Registry) -> anyhow::Result<(Self, Worker)> {
        let metrics =
            Arc::new(ForwardMetrics::register(registry).context("registering the metrics")?);
        let drops = Arc::new(Drops::new(metrics.clone()));
        let (tx, rx) = mpsc::channel(settings.queue_size);
        let bytes = Arc::new(AtomicUsize::new(0));
        let forwarder = Self {
            tx,
            bytes: bytes.clone(),
            max_bytes: settings.queue_bytes,
            meta: settings.meta.clone(),
            metrics: metrics.clone(),
            drops: drops.clone(),
        };
        let worker = Worker::new(settings, rx, bytes, metrics, drops)?;
        Ok((forwarder, worker))
    }

    /// Queues `entry` (as stored, secrets redacted) for Splunk, or drops and counts it when the
    /// queue is full. Never waits.
    pub fn forward(&self, entry: &AuditEntry) {
        let event = hec::event_json(&self.meta, entry);
        let len = event.len();
        if self.bytes.fetch_add(len, Ordering::AcqRel) + len > self.max_bytes {
            self.bytes.fetch_sub(len, Ordering::AcqRel);
            self.drops.count("queue_full", 1);
            return;
        }
        self.metrics.queued.inc();
        if let Err(e) = self.tx.try_send(event) {
            self.bytes.fetch_sub(len, Ordering::AcqRel);
            self.metrics.queued.dec();
            let reason = match e {
                mpsc::error::TrySendError::Full(_) => "queue_full",
                mpsc::error::TrySendError::Closed(_) => "shutdown",
            };
            self.drops.count(reason, 1);
        }
    }

    /// The forwarder's metrics.
    pub fn metrics(&self) -> &ForwardMetrics {
        &self.metrics
    }
}
