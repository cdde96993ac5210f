//! The agent configuration pixie hands to metal-hammer at `/certs/<token>` (metal-stack's
//! `MetalConfig`): where metal-api's gRPC and REST endpoints are, the TLS material for the gRPC
//! connection, the view HMAC, and the partition. pixie serialises it, metal-hammer
//! deserialises it; both use this one type, so the JSON cannot drift between them.
//!
//! The JSON field names are metal-stack's. Every field has a default when missing, so that a
//! configuration from a pixie that knows fewer fields still parses. `Debug` never shows keys,
//! certificates, the HMAC or the logging password.

use serde::{Deserialize, Serialize};

/// What metal-hammer gets from `/certs/<token>`.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MetalConfig {
    /// Boot metal-hammer with debug logging.
    pub debug: bool,
    /// gRPC address of metal-api, `host:port` (or a URL with scheme).
    pub address: String,
    /// metal-api's REST base URL.
    pub metal_api_url: String,
    /// The base URL the configuration was fetched from (without the token).
    pub pixie_api_url: String,
    /// PEM: the CA metal-api's gRPC certificate chains to, and the client certificate and key.
    /// All three empty: plaintext gRPC.
    pub ca_cert: String,
    pub cert: String,
    pub key: String,
    /// The view HMAC key for the REST API.
    pub hmac: String,
    pub ntp_servers: Vec<String>,
    pub partition: String,
    /// Where metal-hammer ships its logs; `None`: nowhere.
    pub logging: Option<Logging>,
}

/// Log shipping of metal-hammer.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Logging {
    pub endpoint: String,
    pub basic_auth: Option<BasicAuth>,
    /// e.g. `loki`
    pub log_type: String,
}

/// Credentials of the log endpoint.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct BasicAuth {
    pub user: String,
    pub password: String,
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

impl std::fmt::Debug for Logging {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Logging")
            .field("endpoint", &self.endpoint)
            .field("basic_auth", &self.basic_auth)
            .field("log_type", &self.log_type)
            .finish()
    }
}

impl std::fmt::Debug for BasicAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BasicAuth")
            .field("user", &self.user)
            .field("password", &"[redacted]")
            .finish()
    }
}

/// A configuration metal-hammer cannot work with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MetalConfigError {
    #[error("configuration has no gRPC address")]
    NoAddress,
    #[error("configuration has no metal_api_url")]
    NoMetalApiUrl,
    #[error("configuration has only part of the TLS material (ca_cert, cert and key go together)")]
    PartialTls,
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

    /// Whether metal-hammer can work with this configuration.
    pub fn validate(&self) -> Result<(), MetalConfigError> {
        if self.address.is_empty() {
            return Err(MetalConfigError::NoAddress);
        }
        if self.metal_api_url.is_empty() {
            return Err(MetalConfigError::NoMetalApiUrl);
        }
        let tls_parts = [&self.ca_cert, &self.cert, &self.key]
            .iter()
            .filter(|s| !s.is_empty())
            .count();
        if tls_parts != 0 && tls_parts != 3 {
            return Err(MetalConfigError::PartialTls);
        }
        Ok(())
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

    /// The JSON pixie sends: every field, `logging` and `basic_auth` as `null` when unset.
    #[test]
    fn wire_shape() {
        let mut c = MetalConfig {
            debug: true,
            address: "api:50051".into(),
            metal_api_url: "http://api:8080".into(),
            pixie_api_url: "http://pixie:4242/certs".into(),
            hmac: "h".into(),
            ntp_servers: vec!["ntp1".into()],
            partition: "fra".into(),
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_string(&c).unwrap(),
            r#"{"debug":true,"address":"api:50051","metal_api_url":"http://api:8080","pixie_api_url":"http://pixie:4242/certs","ca_cert":"","cert":"","key":"","hmac":"h","ntp_servers":["ntp1"],"partition":"fra","logging":null}"#
        );
        c.logging = Some(Logging {
            endpoint: "http://loki".into(),
            basic_auth: None,
            log_type: "loki".into(),
        });
        let json = serde_json::to_value(&c).unwrap();
        assert_eq!(
            json["logging"],
            serde_json::json!({"endpoint": "http://loki", "basic_auth": null, "log_type": "loki"})
        );
        let back: MetalConfig = serde_json::from_value(json).unwrap();
        assert_eq!(back, c);
        c.logging.as_mut().unwrap().basic_auth = Some(BasicAuth {
            user: "u".into(),
            password: "SECRETPW".into(),
        });
        let json = serde_json::to_value(&c).unwrap();
        assert_eq!(
            json["logging"]["basic_auth"],
            serde_json::json!({"user": "u", "password": "SECRETPW"})
        );
        assert!(!format!("{:?}", c.logging).contains("SECRETPW"));
    }

    #[test]
    fn missing_fields_default() {
        let c: MetalConfig = serde_json::from_str(r#"{"address":"a:1"}"#).unwrap();
        assert_eq!(c.address, "a:1");
        assert!(!c.debug && c.logging.is_none() && c.ntp_servers.is_empty());
    }
}
