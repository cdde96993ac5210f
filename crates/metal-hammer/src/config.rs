//! The hammer's configuration (metal-stack's `MetalConfig`), fetched from the URL on the
//! kernel command line. pixie hands it out once, to the holder of the one-time token in that
//! URL, instead of to anyone who asks.

use std::time::Duration;

use anyhow::Context;
use serde::{Deserialize, Serialize};

#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MetalConfig {
    pub debug: bool,
    /// gRPC address of metal-api, `host:port` (or a URL with scheme)
    pub address: String,
    /// metal-api's REST base URL
    pub metal_api_url: String,
    pub pixie_api_url: String,
    /// PEM: the CA metal-api's gRPC certificate chains to, and the client certificate and key.
    /// All three empty: plaintext gRPC.
    pub ca_cert: String,
    pub cert: String,
    pub key: String,
    /// the view HMAC key for the REST API
    pub hmac: String,
    pub ntp_servers: Vec<String>,
    pub partition: String,
    pub logging: Option<serde_json::Value>,
}

impl std::fmt::Debug for MetalConfig {
    // keys and certificates never reach a log line
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetalConfig")
            .field("debug", &self.debug)
            .field("address", &self.address)
            .field("metal_api_url", &self.metal_api_url)
            .field("partition", &self.partition)
            .field("tls", &self.tls())
            .finish_non_exhaustive()
    }
}

impl MetalConfig {
    /// Whether gRPC goes over mutual TLS.
    pub fn tls(&self) -> bool {
        !self.ca_cert.is_empty() && !self.cert.is_empty() && !self.key.is_empty()
    }

    /// The gRPC endpoint URI.
    pub fn grpc_uri(&self) -> String {
        if self.address.contains("://") {
            self.address.clone()
        } else if self.tls() {
            format!("https://{}", self.address)
        } else {
            format!("http://{}", self.address)
        }
    }

    /// The host part of the gRPC address (the name metal-api's certificate must carry).
    pub fn grpc_host(&self) -> String {
        let a = self
            .address
            .split_once("://")
            .map_or(self.address.as_str(), |(_, r)| r);
        let a = a.split('/').next().unwrap_or(a);
        if let Some(rest) = a.strip_prefix('[') {
            return rest.split(']').next().unwrap_or(rest).to_string();
        }
        a.rsplit_once(':').map_or(a, |(h, _)| h).to_string()
    }

    pub fn validate(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            !self.address.is_empty(),
            "configuration has no gRPC address"
        );
        anyhow::ensure!(
            !self.metal_api_url.is_empty(),
            "configuration has no metal_api_url"
        );
        let tls_parts = [&self.ca_cert, &self.cert, &self.key]
            .iter()
            .filter(|s| !s.is_empty())
            .count();
        anyhow::ensure!(
            tls_parts == 0 || tls_parts == 3,
            "configuration has only part of the TLS material (ca_cert, cert and key go together)"
        );
        Ok(())
    }

    /// GETs the configuration (5 s per attempt). Connection failures are retried `attempts`
    /// times (the network may still be coming up); an HTTP error is final: a one-time token
    /// that was refused does not become valid by asking again.
    pub async fn fetch(url: &str, attempts: u32) -> anyhow::Result<Self> {
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_metal_stack_json_and_hides_keys() {
        let c: MetalConfig = serde_json::from_str(
            r#"{"debug":true,"address":"10.0.0.1:50051","metal_api_url":"http://10.0.0.1:8080",
                "pixie_api_url":"http://10.0.0.1:4242","ca_cert":"CA","cert":"CERT","key":"SECRETKEY",
                "hmac":"SECRETHMAC","ntp_servers":["ntp1"],"partition":"p1",
                "logging":{"endpoint":"","log_type":"loki"}}"#,
        )
        .unwrap();
        assert!(c.tls());
        assert_eq!(c.grpc_uri(), "https://10.0.0.1:50051");
        assert_eq!(c.grpc_host(), "10.0.0.1");
        c.validate().unwrap();
        let shown = format!("{c:?}");
        assert!(!shown.contains("SECRETKEY") && !shown.contains("SECRETHMAC"));
    }

    #[test]
    fn plaintext_and_partial_tls() {
        let mut c = MetalConfig {
            address: "[::1]:50051".into(),
            metal_api_url: "http://x".into(),
            ..Default::default()
        };
        assert_eq!(c.grpc_uri(), "http://[::1]:50051");
        assert_eq!(c.grpc_host(), "::1");
        c.validate().unwrap();
        c.cert = "C".into();
        assert!(c
            .validate()
            .unwrap_err()
            .to_string()
            .contains("go together"));
        c.address.clear();
        assert!(c.validate().is_err());
    }
}
