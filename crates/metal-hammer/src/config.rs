//! The hammer's configuration (metal-stack's `MetalConfig`, metal-proto's
//! [`MetalConfig`]), fetched from the URL on the kernel command line. pixie hands it out once,
//! to the holder of the one-time token in that URL, instead of to anyone who asks.

use std::time::Duration;

use anyhow::Context;
use metal_proto::metal_config::MetalConfig;

/// GETs the configuration (5 s per attempt) and validates it. Connection failures are retried
/// `attempts` times (the network may still be coming up); an HTTP error is final: a one-time
/// token that was refused does not become valid by asking again.
pub async fn fetch(url: &str, attempts: u32) -> anyhow::Result<MetalConfig> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()?;
    // the token in the URL is a secret: log the URL without its last path segment
    let shown = url.rsplit_once('/').map_or(url, |(base, _)| base);
    let mut last = None;
    for attempt in 1..=attempts.max(1) {
        match client.get(url).send().await {
            Ok(r) => {
                let status = r.status();
                if !status.is_success() {
                    let body = r.text().await.unwrap_or_default();
                    anyhow::bail!(
                        "fetching the configuration from {shown}/…: HTTP {status}: {}",
                        body.trim()
                    );
                }
                let c: MetalConfig = r
                    .json()
                    .await
                    .with_context(|| format!("configuration from {shown}/… is not valid"))?;
                c.validate()?;
                return Ok(c);
            }
            Err(e) => {
                tracing::warn!(attempt, error = %e, "configuration not reachable yet");
                last = Some(e);
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
        }
    }
    Err(anyhow::anyhow!(
        "fetching the configuration from {shown}/…: {}",
        last.map(|e| e.to_string()).unwrap_or_default()
    ))
}
