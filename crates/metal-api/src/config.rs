//! Command line flags of metal-api. Each flag can also be given as `METAL_API_<FLAG>` with
//! dashes as underscores (`--hmac-admin-key` = `METAL_API_HMAC_ADMIN_KEY`), as in metal-stack.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

#[derive(Debug, Clone, Parser)]
#[command(
    name = "metal-api",
    version,
    about = "metal-stack's API server: the bare-metal cloud control plane"
)]
pub struct Config {
    /// Address to bind the REST and metrics listeners to.
    #[arg(long, env = "METAL_API_BIND_ADDR", default_value = "127.0.0.1")]
    pub bind_addr: IpAddr,
    /// REST port (0 = any free port).
    #[arg(long, env = "METAL_API_PORT", default_value_t = 8080)]
    pub port: u16,
    /// gRPC port for pixie, metal-hammer and the other agents (0 = any free port).
    #[arg(long, env = "METAL_API_GRPC_PORT", default_value_t = 50051)]
    pub grpc_port: u16,
    /// Prometheus metrics port (`/metrics`); 0 = any free port.
    #[arg(long, env = "METAL_API_METRICS_PORT", default_value_t = 2112)]
    pub metrics_port: u16,
    /// Base path of every route; must start and end with `/` (e.g. `/metal/`).
    #[arg(long, env = "METAL_API_BASE_PATH", default_value = "/")]
    pub base_path: String,
    /// HMAC key of the Metal-View user. Unset: generated on first start (see --data-dir).
    #[arg(long, env = "METAL_API_HMAC_VIEW_KEY", hide_env_values = true)]
    pub hmac_view_key: Option<Secret>,
    /// HMAC key of the Metal-Edit user.
    #[arg(long, env = "METAL_API_HMAC_EDIT_KEY", hide_env_values = true)]
    pub hmac_edit_key: Option<Secret>,
    /// HMAC key of the Metal-Admin user.
    #[arg(long, env = "METAL_API_HMAC_ADMIN_KEY", hide_env_values = true)]
    pub hmac_admin_key: Option<Secret>,
    /// How old an HMAC request date may be, in seconds (0 = no limit). metal-stack allows
    /// 30 s for view and edit and 90 s for admin; one window serves all three here.
    #[arg(long, env = "METAL_API_HMAC_LIFETIME", default_value_t = 90)]
    pub hmac_lifetime: u64,
    /// Database URL: `sqlite://FILE` or `postgres://USER@HOST/DB`. Default: `metal-api.db` in
    /// the data directory.
    #[arg(long, env = "METAL_API_DB")]
    pub db: Option<String>,
    /// Connections in the database pool.
    #[arg(long, env = "METAL_API_DB_MAX_CONNECTIONS", default_value_t = 16)]
    pub db_max_connections: u32,
    /// Directory for the SQLite database and generated keys. Default: `$XDG_DATA_HOME/metal-api`
    /// (`~/.local/share/metal-api`).
    #[arg(long, env = "METAL_API_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Directory of the firmware files served by `/v1/firmware`. Default: `firmware` in the
    /// data directory.
    #[arg(long, env = "METAL_API_FIRMWARE_DIR")]
    pub firmware_dir: Option<PathBuf>,
    /// The URL under which the BMCs reach this metal-api, for the download URLs of firmware
    /// files in --firmware-dir (`http://10.1.0.1:8080/metal/`). Default: the REST listener's
    /// address and port with the base path; with --bind-addr 0.0.0.0 this machine's hostname.
    #[arg(long, env = "METAL_API_FIRMWARE_DOWNLOAD_URL")]
    pub firmware_download_url: Option<String>,
    /// Key of the HMAC that signs those download URLs. Default: a random key on each start, so
    /// a URL is valid only at the replica that made it: give several replicas the same key.
    #[arg(long, env = "METAL_API_FIRMWARE_URL_KEY", hide_env_values = true)]
    pub firmware_url_key: Option<Secret>,
    /// Endpoint of an S3-compatible store (`http://127.0.0.1:9000`) for the firmware files,
    /// addressed path-style; given, the files live in --s3-firmware-bucket instead of
    /// --firmware-dir.
    #[arg(long, env = "METAL_API_S3_ADDRESS")]
    pub s3_address: Option<String>,
    /// Access key id for the S3 store.
    #[arg(long, env = "METAL_API_S3_KEY")]
    pub s3_key: Option<String>,
    /// Secret access key for the S3 store.
    #[arg(long, env = "METAL_API_S3_SECRET", hide_env_values = true)]
    pub s3_secret: Option<Secret>,
    /// Bucket of the firmware files, created at start unless it exists.
    #[arg(long, env = "METAL_API_S3_FIRMWARE_BUCKET", default_value = "firmware")]
    pub s3_firmware_bucket: String,
    /// Region the S3 requests are signed for.
    #[arg(long, env = "METAL_API_S3_REGION", default_value = "us-east-1")]
    pub s3_region: String,
    /// Do not write a `local` context into `~/.metalctl/config.yaml` on start.
    #[arg(long, env = "METAL_API_NO_METALCTL_CONTEXT")]
    pub no_metalctl_context: bool,
    /// Check with an HTTP HEAD that image and boot URLs answer (< 400) on create and update.
    /// Off by default: air-gapped sites cannot reach them at creation time.
    #[arg(long, env = "METAL_API_CHECK_URLS")]
    pub check_urls: bool,
    /// OIDC issuer URL whose bearer tokens are accepted (the `iss` claim must equal it).
    #[arg(long, env = "METAL_API_OIDC_ISSUER")]
    pub oidc_issuer: Option<String>,
    /// Expected `aud` claim (the OIDC client id). Unset: the audience is not checked.
    #[arg(long, env = "METAL_API_OIDC_CLIENT_ID")]
    pub oidc_client_id: Option<String>,
    /// JWKS with the issuer's signing keys: a file path, or an http(s) URL fetched at start and
    /// every --oidc-jwks-refresh seconds.
    #[arg(long, env = "METAL_API_OIDC_JWKS")]
    pub oidc_jwks: Option<String>,
    #[arg(long, env = "METAL_API_OIDC_JWKS_REFRESH", default_value_t = 1800)]
    pub oidc_jwks_refresh: u64,
    /// Claim holding the user's groups.
    #[arg(long, env = "METAL_API_OIDC_GROUPS_CLAIM", default_value = "groups")]
    pub oidc_groups_claim: String,
    /// Groups that grant the view role (comma separated).
    #[arg(
        long,
        env = "METAL_API_OIDC_VIEW_GROUPS",
        value_delimiter = ',',
        default_value = "maas-all-all-view,k8s_kaas-view"
    )]
    pub oidc_view_groups: Vec<String>,
    /// Groups that grant the edit role.
    #[arg(
        long,
        env = "METAL_API_OIDC_EDIT_GROUPS",
        value_delimiter = ',',
        default_value = "maas-all-all-edit,k8s_kaas-edit"
    )]
    pub oidc_edit_groups: Vec<String>,
    /// Groups that grant the admin role.
    #[arg(
        long,
        env = "METAL_API_OIDC_ADMIN_GROUPS",
        value_delimiter = ',',
        default_value = "maas-all-all-admin,k8s_kaas-admin"
    )]
    pub oidc_admin_groups: Vec<String>,
    /// The provider tenant: the tenant of the built-in HMAC users.
    #[arg(long, env = "METAL_API_PROVIDER_TENANT", default_value = "metal-stack")]
    pub provider_tenant: String,
    /// Password metal-hammer sets for the BMC superuser (empty: the feature is off).
    #[arg(long, env = "METAL_API_BMC_SUPERUSER_PWD", hide_env_values = true)]
    pub bmc_superuser_pwd: Option<String>,
    /// gRPC server certificate (PEM). With --grpc-server-key and --grpc-client-ca, the gRPC
    /// port speaks TLS and requires client certificates signed by that CA.
    #[arg(long, env = "METAL_API_GRPC_SERVER_CERT")]
    pub grpc_server_cert: Option<PathBuf>,
    #[arg(long, env = "METAL_API_GRPC_SERVER_KEY")]
    pub grpc_server_key: Option<PathBuf>,
    #[arg(long, env = "METAL_API_GRPC_CLIENT_CA")]
    pub grpc_client_ca: Option<PathBuf>,
    /// Characters the reason of a console password request must have at least.
    #[arg(long, env = "METAL_API_PASSWORD_REASON_MINLENGTH", default_value_t = 0)]
    pub password_reason_minlength: usize,
    /// Seconds between liveliness runs (0 = never).
    #[arg(long, env = "METAL_API_LIVELINESS_INTERVAL", default_value_t = 60)]
    pub liveliness_interval: u64,
    /// Seconds between resurrection runs (0 = never).
    #[arg(long, env = "METAL_API_RESURRECTION_INTERVAL", default_value_t = 3600)]
    pub resurrection_interval: u64,
    /// Seconds between recomputations of the fleet metrics on `/metrics` (the gauges of
    /// metal-metrics-exporter: capacity, machines, switches, networks...); 0 = not served.
    #[arg(long, env = "METAL_API_FLEET_METRICS_INTERVAL", default_value_t = 60)]
    pub fleet_metrics_interval: u64,
    /// Splunk HTTP Event Collector to forward every audit entry to, beside the database
    /// record: `https://splunk:8088` (the event endpoint `/services/collector/event` is
    /// appended unless the URL ends with it or with `/services/collector`). Unset: no
    /// forwarding.
    #[arg(long, env = "METAL_API_AUDITING_SPLUNK_ENDPOINT")]
    pub auditing_splunk_endpoint: Option<String>,
    /// HEC token (sent as `Authorization: Splunk <token>`); required with the endpoint.
    #[arg(
        long,
        env = "METAL_API_AUDITING_SPLUNK_TOKEN",
        alias = "auditing-splunk-hec-token",
        hide_env_values = true
    )]
    pub auditing_splunk_token: Option<Secret>,
    /// Splunk index of the events. Unset: the token's default index.
    #[arg(long, env = "METAL_API_AUDITING_SPLUNK_INDEX")]
    pub auditing_splunk_index: Option<String>,
    /// `host` of the events. Default: this machine's hostname.
    #[arg(long, env = "METAL_API_AUDITING_SPLUNK_HOST")]
    pub auditing_splunk_host: Option<String>,
    /// `source` of the events.
    #[arg(
        long,
        env = "METAL_API_AUDITING_SPLUNK_SOURCE",
        default_value = "metal-api"
    )]
    pub auditing_splunk_source: String,
    /// `sourcetype` of the events.
    #[arg(
        long,
        env = "METAL_API_AUDITING_SPLUNK_SOURCE_TYPE",
        default_value = "_json"
    )]
    pub auditing_splunk_source_type: String,
    /// CA certificates (PEM) trusted for an https endpoint, besides the public roots built in
    /// (Mozilla's, as webpki-roots has them; the system's store is not read).
    #[arg(long, env = "METAL_API_AUDITING_SPLUNK_CA")]
    pub auditing_splunk_ca: Option<PathBuf>,
    /// Audit entries waiting for Splunk at most (also at most 64 MiB); when full, new entries
    /// are dropped and counted (the database keeps them).
    #[arg(
        long,
        env = "METAL_API_AUDITING_SPLUNK_QUEUE_SIZE",
        default_value_t = 10_000
    )]
    pub auditing_splunk_queue_size: usize,
    /// Entries per request to Splunk at most.
    #[arg(
        long,
        env = "METAL_API_AUDITING_SPLUNK_BATCH_SIZE",
        default_value_t = 100
    )]
    pub auditing_splunk_batch_size: usize,
    /// A batch is sent at the latest this long after its first entry.
    #[arg(
        long,
        env = "METAL_API_AUDITING_SPLUNK_FLUSH_INTERVAL",
        default_value = "1s",
        value_parser = metal_util::duration::parse_duration
    )]
    pub auditing_splunk_flush_interval: Duration,
    /// Repeated attempts of a batch after a connection error, timeout, 429 or 5xx (other 4xx
    /// are not retried); then the batch is dropped and counted.
    #[arg(long, env = "METAL_API_AUDITING_SPLUNK_RETRIES", default_value_t = 4)]
    pub auditing_splunk_retries: u32,
    /// Wait before the first repeated attempt, doubled for each further one (up to 30 s), with
    /// jitter.
    #[arg(
        long,
        env = "METAL_API_AUDITING_SPLUNK_BACKOFF",
        default_value = "500ms",
        value_parser = metal_util::duration::parse_duration
    )]
    pub auditing_splunk_backoff: Duration,
    /// Timeout of one request to Splunk.
    #[arg(
        long,
        env = "METAL_API_AUDITING_SPLUNK_TIMEOUT",
        default_value = "10s",
        value_parser = metal_util::duration::parse_duration
    )]
    pub auditing_splunk_timeout: Duration,
    /// Log as JSON lines instead of human-readable text.
    /// Base URL of headscale's REST API (`http://headscale:8080`), for the VPN of projects;
    /// with `--headscale-api-key` it enables `POST /v1/vpn/authkey`.
    #[arg(long, env = "METAL_API_HEADSCALE_ADDR")]
    pub headscale_addr: Option<String>,
    /// The address of headscale's control plane that nodes join, answered to VPN clients;
    /// `--headscale-addr` when not given.
    #[arg(long, env = "METAL_API_HEADSCALE_CP_ADDR")]
    pub headscale_cp_addr: Option<String>,
    /// API key for headscale (`headscale apikeys create`). A secret: never logged or printed.
    #[arg(long, env = "METAL_API_HEADSCALE_API_KEY", hide_env_values = true)]
    pub headscale_api_key: Option<Secret>,

    #[arg(long, env = "METAL_API_LOG_JSON")]
    pub log_json: bool,
    /// Log filter (tracing's EnvFilter syntax).
    #[arg(long, env = "METAL_API_LOG_LEVEL", default_value = "info")]
    pub log_level: String,
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// A secret flag value (an API key): shown as `[redacted]` by `Debug`, so that printing the
/// configuration or an error never reveals it. [`Secret::expose`] gives the value to the one
/// place that sends it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(s.to_string()))
    }
}

#[derive(Debug, Clone, clap::Subcommand)]
pub enum Command {
    /// Print the OpenAPI document of the REST API and exit.
    DumpOpenapi,
}

impl Config {
    /// A configuration with every default, as the tests start it.
    pub fn for_tests(db: String, data_dir: PathBuf) -> Self {
        let mut c = Self::parse_from(["metal-api"]);
        c.port = 0;
        c.metrics_port = 0;
        c.grpc_port = 0;
        // tests run the jobs themselves, at the times they choose
        c.liveliness_interval = 0;
        c.resurrection_interval = 0;
        c.fleet_metrics_interval = 0;
        c.db = Some(db);
        c.data_dir = Some(data_dir);
        c.no_metalctl_context = true;
        c
    }

    /// Checks what clap cannot.
    pub fn validate(&self) -> Result<(), String> {
        if !self.base_path.starts_with('/') || !self.base_path.ends_with('/') {
            return Err(format!(
                "--base-path must start and end with '/', got {:?}",
                self.base_path
            ));
        }
        if self.grpc_port != 0
            && (self.grpc_port == self.port || self.grpc_port == self.metrics_port)
        {
            return Err("--grpc-port must differ from --port and --metrics-port".into());
        }
        if self.port != 0 && self.port == self.metrics_port {
            return Err("--metrics-port must differ from --port".into());
        }
        match (&self.auditing_splunk_endpoint, &self.auditing_splunk_token) {
            (Some(endpoint), Some(_)) => {
                crate::runtime::auditforward::hec::collector_url(endpoint)?;
            }
            (Some(_), None) => {
                return Err("--auditing-splunk-endpoint needs --auditing-splunk-token".into())
            }
            (None, Some(_)) => {
                return Err("--auditing-splunk-token needs --auditing-splunk-endpoint".into())
            }
            (None, None) => {}
        }
        if self.auditing_splunk_queue_size == 0 || self.auditing_splunk_batch_size == 0 {
            return Err(
                "--auditing-splunk-queue-size and --auditing-splunk-batch-size must be at least 1"
                    .into(),
            );
        }
        self.validate_firmware()?;
        if let Some(a) = &self.headscale_addr {
            if !(a.starts_with("http://") || a.starts_with("https://")) {
                return Err(format!(
                    "--headscale-addr must be the http:// or https:// URL of headscale's REST API, got {a:?}"
                ));
            }
        }
        Ok(())
    }

    fn validate_firmware(&self) -> Result<(), String> {
        use crate::firmware_store::s3;
        match (&self.s3_address, &self.s3_key, &self.s3_secret) {
            (Some(a), Some(_), Some(_)) => {
                s3::parse_endpoint(a).map_err(|e| format!("--s3-address: {e}"))?;
                s3::check_bucket(&self.s3_firmware_bucket)
                    .map_err(|e| format!("--s3-firmware-bucket: {e}"))?;
                if self.firmware_dir.is_some() {
                    return Err("--firmware-dir and --s3-address exclude each other".into());
                }
            }
            (Some(_), _, _) => return Err("--s3-address needs --s3-key and --s3-secret".into()),
            (None, None, None) => {}
            (None, _, _) => return Err("--s3-key and --s3-secret need --s3-address".into()),
        }
        if let Some(u) = &self.firmware_download_url {
            let ok = reqwest::Url::parse(u)
                .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
            if !ok {
                return Err(format!(
                    "--firmware-download-url must be an http:// or https:// URL, got {u:?}"
                ));
            }
        }
        Ok(())
    }

    /// The data directory, defaulted.
    pub fn data_dir(&self) -> PathBuf {
        self.data_dir.clone().unwrap_or_else(|| {
            dirs::data_dir()
                .unwrap_or_else(|| PathBuf::from("."))
                .join("metal-api")
        })
    }

    /// The firmware directory, defaulted.
    pub fn firmware_dir(&self) -> PathBuf {
        self.firmware_dir
            .clone()
            .unwrap_or_else(|| self.data_dir().join("firmware"))
    }

    /// The database URL, defaulted to a SQLite file in the data directory.
    pub fn db_url(&self) -> String {
        self.db.clone().unwrap_or_else(|| {
            format!(
                "sqlite://{}",
                self.data_dir().join("metal-api.db").display()
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splunk_flags_and_env() {
        let c = Config::parse_from([
            "metal-api",
            "--auditing-splunk-endpoint",
            "https://splunk:8088",
            "--auditing-splunk-hec-token",
            "tok-3f9a",
            "--auditing-splunk-index",
            "metal",
            "--auditing-splunk-flush-interval",
            "250ms",
        ]);
        assert_eq!(
            c.auditing_splunk_token.as_ref().unwrap().expose(),
            "tok-3f9a"
        );
        assert_eq!(c.auditing_splunk_flush_interval, Duration::from_millis(250));
        assert_eq!(c.auditing_splunk_queue_size, 10_000);
        assert!(c.validate().is_ok());
        let dump = format!("{c:?}");
        assert!(!dump.contains("tok-3f9a"), "{dump}");
        assert!(dump.contains("[redacted]"));

        let mut c = Config::parse_from(["metal-api"]);
        assert!(c.auditing_splunk_endpoint.is_none());
        c.auditing_splunk_endpoint = Some("https://splunk:8088".into());
        assert!(c
            .validate()
            .unwrap_err()
            .contains("--auditing-splunk-token"));
        c.auditing_splunk_token = Some(Secret::new("t"));
        c.auditing_splunk_endpoint = Some("splunk:8088".into());
        assert!(c.validate().is_err());
        c.auditing_splunk_endpoint = None;
        assert!(c
            .validate()
            .unwrap_err()
            .contains("--auditing-splunk-endpoint"));
    }

    #[test]
    fn every_flag_is_also_an_env_variable() {
        use clap::CommandFactory;
        for arg in Config::command().get_arguments() {
            let Some(long) = arg.get_long() else { continue };
            if matches!(long, "help" | "version") {
                continue;
            }
            let want = format!("METAL_API_{}", long.to_uppercase().replace('-', "_"));
            assert_eq!(
                arg.get_env().and_then(|e| e.to_str()),
                Some(want.as_str()),
                "--{long}"
            );
        }
    }

    #[test]
    fn hmac_keys_are_redacted() {
        let c = Config::parse_from([
            "metal-api",
            "--hmac-view-key",
            "view-very-secret",
            "--hmac-admin-key",
            "admin-very-secret",
        ]);
        assert_eq!(
            c.hmac_admin_key.as_ref().map(Secret::expose),
            Some("admin-very-secret")
        );
        let printed = format!("{c:?}");
        assert!(!printed.contains("very-secret"), "{printed}");
    }

    #[test]
    fn the_headscale_api_key_is_redacted() {
        let c = Config::parse_from([
            "metal-api",
            "--headscale-addr",
            "http://headscale:8080",
            "--headscale-api-key",
            "hskey-api-very-secret",
        ]);
        assert_eq!(
            c.headscale_api_key.as_ref().map(Secret::expose),
            Some("hskey-api-very-secret")
        );
        let printed = format!("{c:?}");
        assert!(!printed.contains("very-secret"), "{printed}");
        assert!(printed.contains("[redacted]"));
        assert_eq!(c.validate(), Ok(()));
        let bad = Config::parse_from(["metal-api", "--headscale-addr", "headscale:50443"]);
        assert!(bad.validate().unwrap_err().contains("--headscale-addr"));
    }

    #[test]
    fn s3_and_firmware_url_flags() {
        let c = Config::parse_from([
            "metal-api",
            "--s3-address",
            "http://127.0.0.1:9000",
            "--s3-key",
            "AKIA-minio",
            "--s3-secret",
            "s3-very-secret",
            "--firmware-url-key",
            "url-very-secret",
        ]);
        assert_eq!(c.s3_firmware_bucket, "firmware");
        assert_eq!(c.s3_region, "us-east-1");
        assert_eq!(
            c.s3_secret.as_ref().map(Secret::expose),
            Some("s3-very-secret")
        );
        assert_eq!(c.validate(), Ok(()));
        let printed = format!("{c:?}");
        assert!(!printed.contains("very-secret"), "{printed}");
        assert!(printed.contains("AKIA-minio"));

        let base = ["metal-api", "--s3-address", "http://127.0.0.1:9000"];
        let err = |extra: &[&str]| {
            let args: Vec<&str> = base.iter().chain(extra).copied().collect();
            Config::parse_from(args).validate().unwrap_err()
        };
        assert!(err(&[]).contains("--s3-key and --s3-secret"));
        let creds = ["--s3-key", "k", "--s3-secret", "s"];
        let with = |extra: &[&str]| {
            let mut v: Vec<&str> = creds.to_vec();
            v.extend_from_slice(extra);
            err(&v)
        };
        assert!(with(&["--s3-firmware-bucket", "Firmware"]).contains("--s3-firmware-bucket"));
        assert!(with(&["--firmware-dir", "/srv/fw"]).contains("exclude each other"));
        let bad_address = Config::parse_from([
            "metal-api",
            "--s3-address",
            "minio:9000",
            "--s3-key",
            "k",
            "--s3-secret",
            "s",
        ]);
        assert!(bad_address.validate().unwrap_err().contains("--s3-address"));
        let no_address = Config::parse_from(["metal-api", "--s3-secret", "s"]);
        assert!(no_address
            .validate()
            .unwrap_err()
            .contains("need --s3-address"));
        let bad_url = Config::parse_from(["metal-api", "--firmware-download-url", "10.0.0.1:8080"]);
        assert!(bad_url
            .validate()
            .unwrap_err()
            .contains("--firmware-download-url"));
    }
}
