//! The forwarder's one task: takes batches off the queue, posts them to the collector with
//! retries, and on shutdown sends what is left until the deadline.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::body::Bytes;
use rand::Rng;
use reqwest::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::hec::{self, Outcome};
use super::{Drops, ForwardMetrics, Settings};

/// Sends the queued events; [`Worker::spawn`] runs it.
pub struct Worker {
    rx: mpsc::Receiver<String>,
    bytes: Arc<AtomicUsize>,
    client: reqwest::Client,
    url: reqwest::Url,
    auth: HeaderValue,
    settings: Settings,
    metrics: Arc<ForwardMetrics>,
    drops: Arc<Drops>,
    batch: Vec<String>,
    batch_bytes: usize,
    /// When the first event of the current batch arrived.
    batch_started: Option<Instant>,
}

impl Worker {
    pub(super) fn new(
        settings: Settings,
        rx: mpsc::Receiver<String>,
        bytes: Arc<AtomicUsize>,
        metrics: Arc<ForwardMetrics>,
        drops: Arc<Drops>,
    ) -> anyhow::Result<Self> {
        let mut auth = HeaderValue::from_str(&format!("Splunk {}", settings.token))
            .map_err(|_| anyhow::anyhow!("--auditing-splunk-token is not a valid header value"))?;
        auth.set_sensitive(true);
        let mut client = reqwest::Client::builder()
            .timeout(settings.request_timeout)
            .connect_timeout(settings.request_timeout.min(Duration::from_secs(5)))
            // a redirect is answered as a rejection: the token goes to the endpoint only
            .redirect(reqwest::redirect::Policy::none());
        if let Some(path) = &settings.ca {
            let pem = std::fs::read(path)
                .with_context(|| format!("reading --auditing-splunk-ca {}", path.display()))?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .with_context(|| format!("parsing --auditing-splunk-ca {}", path.display()))?;
            if certs.is_empty() {
                anyhow::bail!(
                    "--auditing-splunk-ca {} holds no PEM certificate",
                    path.display()
                );
            }
            for cert in certs {
                client = client.add_root_certificate(cert);
            }
        }
        Ok(Self {
            rx,
            bytes,
            client: client.build().context("building the Splunk HTTP client")?,
            url: settings.url.clone(),
            auth,
            settings,
            metrics,
            drops,
            batch: Vec::new(),
            batch_bytes: 0,
            batch_started: None,
        })
    }

    /// Runs until `stop` turns true (or its sender is gone), then sends what is queued for at
    /// most the shutdown deadline; what is left then is dropped and counted.
    pub fn spawn(mut self, stop: watch::Receiver<bool>) -> JoinHandle<()> {
        tokio::spawn(async move {
            let deadline = self.settings.shutdown_deadline;
            let mut work_stop = stop.clone();
            let mut deadline_stop = stop;
            tokio::select! {
                _ = self.work(&mut work_stop) => {}
                _ = async {
                    stopped(&mut deadline_stop).await;
                    tokio::time::sleep(deadline).await;
                } => {}
            }
            self.abandon();
        })
    }

    async fn work(&mut self, stop: &mut watch::Receiver<bool>) {
        loop {
            let flush_at = self.batch_started.map(|t| t + self.settings.flush_interval);
            tokio::select! {
                biased;
                _ = stopped(stop) => break,
                _ = sleep_until(flush_at) => self.flush().await,
                event = self.rx.recv() => match event {
                    Some(event) => self.take(event).await,
                    None => break,
                },
            }
        }
        // shutting down: nothing new is queued, everything queued is sent
        self.rx.close();
        while let Some(event) = self.rx.recv().await {
            self.take(event).await;
        }
        self.flush().await;
    }

    /// Adds an event to the batch, sending the batch once it is full.
    async fn take(&mut self, event: String) {
        self.bytes.fetch_sub(event.len(), Ordering::AcqRel);
        self.metrics.queued.dec();
        if self.batch.is_empty() {
            self.batch_started = Some(Instant::now());
        }
        self.batch_bytes += event.len();
        self.batch.push(event);
        if self.batch.len() >= self.settings.batch_size
            || self.batch_bytes >= self.settings.batch_bytes
        {
            self.flush().await;
        }
    }

    /// Sends the batch: retried on connection errors, timeouts, 429 and 5xx with backoff up to
    /// the attempts allowed; given up (dropped and counted) when rejected or out of attempts.
    /// The batch is cleared only when done, so a shutdown that cuts it short counts it.
    async fn flush(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        let body = Bytes::from(self.batch.concat());
        let n = self.batch.len() as u64;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let (outcome, detail, retry_after) = self.post(body.clone()).await;
            match outcome {
                Outcome::Sent => {
                    self.metrics.sent.inc_by(n);
                    break;
                }
                Outcome::Reject => {
                    tracing::warn!(
                        entries = n,
                        error = detail,
                        "Splunk rejected a batch of audit entries; not retried"
                    );
                    self.metrics.failed_batches.inc();
                    self.drops.count("rejected", n);
                    break;
                }
                Outcome::Retry if attempt >= self.settings.max_attempts => {
                    tracing::warn!(
                        entries = n,
                        attempts = attempt,
                        error = detail,
                        "sending audit entries to Splunk failed; batch given up"
                    );
                    self.metrics.failed_batches.inc();
                    self.drops.count("retries_exhausted", n);
                    break;
                }
                Outcome::Retry => {
                    let jitter = rand::thread_rng().gen_range(0.5..=1.0);
                    let wait = self.settings.backoff.delay(attempt, jitter, retry_after);
                    tracing::debug!(
                        entries = n,
                        attempt,
                        error = detail,
                        wait_ms = wait.as_millis() as u64,
                        "sending audit entries to Splunk failed; retrying"
                    );
                    self.metrics.retries.inc();
                    tokio::time::sleep(wait).await;
                }
            }
        }
        self.batch.clear();
        self.batch_bytes = 0;
        self.batch_started = None;
    }

    /// One attempt: its outcome, what went wrong (status and the collector's answer, or the
    /// connection error; never the token) and the collector's `Retry-After`.
    async fn post(&self, body: Bytes) -> (Outcome, String, Option<Duration>) {
        let sent = self
            .client
            .post(self.url.clone())
            .header(AUTHORIZATION, self.auth.clone())
            .header(CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await;
        match sent {
            Ok(resp) => {
                let status = resp.status();
                let outcome = hec::outcome(status);
                if outcome == Outcome::Sent {
                    return (outcome, String::new(), None);
                }
                let retry_after = hec::retry_after(resp.headers());
                let text = resp.text().await.unwrap_or_default();
                let text: String = text.trim().chars().take(200).collect();
                (outcome, format!("{status}: {text}"), retry_after)
            }
            Err(e) => (Outcome::Retry, error_chain(&e.without_url()), None),
        }
    }

    /// After the deadline: counts what was neither sent nor given up as dropped.
    fn abandon(&mut self) {
        self.rx.close();
        let mut left = self.batch.len() as u64;
        self.batch.clear();
        while let Ok(event) = self.rx.try_recv() {
            self.bytes.fetch_sub(event.len(), Ordering::AcqRel);
            self.metrics.queued.dec();
            left += 1;
        }
        if left > 0 {
            tracing::warn!(
                entries = left,
                "audit entries not sent to Splunk before the shutdown deadline"
            );
            self.drops.count("shutdown", left);
        }
    }
}

/// Resolves when the server is told to stop (or the sender is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// Sleeps until `at`, or forever without one.
async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// An error with its causes, `: `-separated.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}
