//! Command line (`pixie grpc ...`, environment variables `PIXIE_*`) and the MetalConfig handed
//! to metal-hammer (built from the flags; the type is metal-proto's, shared with metal-hammer).

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use metal_proto::metal_config::{BasicAuth, Logging, MetalConfig};

use crate::leases::Range;

#[derive(Debug, Parser)]
#[command(
    name = "pixie",
    version,
    about = "PXE boot server of a metal-stack partition"
)]
pub struct Cli {
    /// Debug logging.
    #[arg(short, long, global = true, env = "PIXIE_DEBUG")]
    pub debug: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Boot machines as metal-api's BootService decides (metal-stack production mode).
    Grpc(GrpcArgs),
}

/// How DHCP is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DhcpMode {
    /// proxyDHCP: boot instructions only, another server hands out addresses.
    Proxy,
    /// A full DHCP server for the `--dhcp-range`s, with boot instructions for PXE clients.
    Full,
}

#[derive(Debug, Clone, clap::Args)]
pub struct GrpcArgs {
    /// Partition whose boot configuration machines get.
    #[arg(long, env = "PIXIE_PARTITION")]
    pub partition: String,
    /// MetalConfig base URL handed to metal-hammer (a one-time token is appended);
    /// default `http://<Host header>/certs`.
    #[arg(long, env = "PIXIE_PIXIE_API_URL")]
    pub pixie_api_url: Option<String>,
    /// metal-api gRPC address (host:port).
    #[arg(long, env = "PIXIE_GRPC_ADDRESS")]
    pub grpc_address: String,
    /// CA certificate of metal-api's gRPC server (PEM file); with cert and key → mTLS.
    #[arg(long, env = "PIXIE_GRPC_CA_CERT", requires_all = ["grpc_cert", "grpc_key"])]
    pub grpc_ca_cert: Option<PathBuf>,
    /// Client certificate (PEM file), also handed to metal-hammer.
    #[arg(long, env = "PIXIE_GRPC_CERT", requires = "grpc_ca_cert")]
    pub grpc_cert: Option<PathBuf>,
    /// Client key (PEM file), also handed to metal-hammer.
    #[arg(long, env = "PIXIE_GRPC_KEY", requires = "grpc_ca_cert")]
    pub grpc_key: Option<PathBuf>,
    /// metal-api REST URL handed to metal-hammer.
    #[arg(long, env = "PIXIE_METAL_API_URL", default_value = "")]
    pub metal_api_url: String,
    /// metal-api view HMAC handed to metal-hammer.
    #[arg(
        long,
        env = "PIXIE_METAL_API_VIEW_HMAC",
        default_value = "",
        hide_env_values = true
    )]
    pub metal_api_view_hmac: String,
    /// NTP servers handed to metal-hammer.
    #[arg(long, env = "PIXIE_NTP_SERVERS", value_delimiter = ',')]
    pub ntp_servers: Vec<String>,
    /// Boot metal-hammer with DEBUG=1.
    #[arg(long, env = "PIXIE_METAL_HAMMER_DEBUG", default_value_t = true, action = clap::ArgAction::Set)]
    pub metal_hammer_debug: bool,
    /// metal-hammer log shipping endpoint (loki).
    #[arg(long, env = "PIXIE_METAL_HAMMER_LOGGING_ENDPOINT")]
    pub metal_hammer_logging_endpoint: Option<String>,
    #[arg(long, env = "PIXIE_METAL_HAMMER_LOGGING_USER")]
    pub metal_hammer_logging_user: Option<String>,
    #[arg(
        long,
        env = "PIXIE_METAL_HAMMER_LOGGING_PASSWORD",
        hide_env_values = true
    )]
    pub metal_hammer_logging_password: Option<String>,
    #[arg(long, env = "PIXIE_METAL_HAMMER_LOGGING_TYPE", default_value = "loki")]
    pub metal_hammer_logging_type: String,
    /// Address for HTTP and TFTP.
    #[arg(short, long, env = "PIXIE_LISTEN_ADDR", default_value = "0.0.0.0")]
    pub listen_addr: IpAddr,
    /// HTTP port.
    #[arg(short, long, env = "PIXIE_PORT", default_value_t = 4242)]
    pub port: u16,
    /// Prometheus metrics port (`/metrics`); 0 = off.
    #[arg(long, env = "PIXIE_METRICS_PORT", default_value_t = 2113)]
    pub metrics_port: u16,
    /// Snoop DHCP on raw sockets instead of binding port 67 (coexists with any DHCP server).
    #[arg(long, env = "PIXIE_DHCP_NO_BIND")]
    pub dhcp_no_bind: bool,
    /// Interfaces to serve DHCP on (repeatable or comma list); default all with IPv4.
    #[arg(long, env = "PIXIE_INTERFACE", value_delimiter = ',')]
    pub interface: Vec<String>,
    #[arg(long, env = "PIXIE_DHCP_MODE", value_enum, default_value_t = DhcpMode::Proxy)]
    pub dhcp_mode: DhcpMode,
    /// Full mode: `<first>-<last>/<prefixlen>[,router=<ip>][,dns=<ip>[:<ip>]]`, repeatable.
    #[arg(long = "dhcp-range", env = "PIXIE_DHCP_RANGE", value_delimiter = ' ')]
    pub dhcp_ranges: Vec<Range>,
    /// Full mode lease time in seconds.
    #[arg(long, env = "PIXIE_LEASE_TIME", default_value_t = 3600)]
    pub lease_time: u32,
    /// Full mode lease file (JSON; written atomically, reloaded at start).
    #[arg(long, env = "PIXIE_LEASE_FILE")]
    pub lease_file: Option<PathBuf>,
    /// Directory with the iPXE binaries.
    #[arg(long, env = "PIXIE_IPXE_DIR", default_value = "/usr/lib/ipxe")]
    pub ipxe_dir: PathBuf,
    #[arg(long, env = "PIXIE_IPXE_BIOS")]
    pub ipxe_bios: Option<PathBuf>,
    #[arg(long, env = "PIXIE_IPXE_IPXE")]
    pub ipxe_ipxe: Option<PathBuf>,
    #[arg(long, env = "PIXIE_IPXE_EFI32")]
    pub ipxe_efi32: Option<PathBuf>,
    #[arg(long, env = "PIXIE_IPXE_EFI64")]
    pub ipxe_efi64: Option<PathBuf>,
    /// Where downloaded kernels and initrds are cached.
    #[arg(long, env = "PIXIE_CACHE_DIR", default_value_os_t = std::env::temp_dir().join("pixie-cache"))]
    pub cache_dir: PathBuf,
    /// Validity of the one-time MetalConfig tokens (e.g. 1h, 90s, 30m).
    #[arg(long, env = "PIXIE_TOKEN_TTL", default_value = "1h", value_parser = parse_duration)]
    pub token_ttl: Duration,
    /// Send IPv6 router advertisements (lifetime 0) so that iPXE does not wait for IPv6;
    /// default on in full mode.
    #[arg(long, env = "PIXIE_ROUTER_ADVERTISEMENTS", action = clap::ArgAction::Set)]
    pub router_advertisements: Option<bool>,
}

/// The workspace's one duration grammar (`90`, `90s`, `30m`, `1h`, `1h30m`, `2d`).
pub use metal_util::duration::parse_duration;

impl GrpcArgs {
    /// The MetalConfig, reading the PEM files; `pixie_api_url` is filled per request.
    pub fn metal_config(&self) -> anyhow::Result<MetalConfig> {
        let read = |p: &Option<PathBuf>| -> anyhow::Result<String> {
            match p {
                Some(p) => std::fs::read_to_string(p)
                    .map_err(|e| anyhow::anyhow!("reading {}: {e}", p.display())),
                None => Ok(String::new()),
            }
        };
        Ok(MetalConfig {
            debug: self.metal_hammer_debug,
            address: self.grpc_address.clone(),
            metal_api_url: self.metal_api_url.clone(),
            pixie_api_url: String::new(),
            ca_cert: read(&self.grpc_ca_cert)?,
            cert: read(&self.grpc_cert)?,
            key: read(&self.grpc_key)?,
            hmac: self.metal_api_view_hmac.clone(),
            ntp_servers: self.ntp_servers.clone(),
            partition: self.partition.clone(),
            logging: self
                .metal_hammer_logging_endpoint
                .as_ref()
                .map(|e| Logging {
                    endpoint: e.clone(),
                    basic_auth: self.metal_hammer_logging_user.as_ref().map(|u| BasicAuth {
                        user: u.clone(),
                        password: self
                            .metal_hammer_logging_password
                            .clone()
                            .unwrap_or_default(),
                    }),
                    log_type: self.metal_hammer_logging_type.clone(),
                }),
        })
    }

    pub fn router_advertisements(&self) -> bool {
        self.router_advertisements
            .unwrap_or(self.dhcp_mode == DhcpMode::Full)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_flags_with_defaults() {
        let cli = Cli::try_parse_from([
            "pixie",
            "grpc",
            "--partition",
            "fra",
            "--grpc-address",
            "api:50051",
            "--interface",
            "eth0,eth1",
            "--interface",
            "eth2",
            "--dhcp-mode",
            "full",
            "--dhcp-range",
            "10.0.0.10-10.0.0.20/24,router=10.0.0.1",
            "--metal-hammer-debug",
            "false",
            "--token-ttl",
            "30m",
        ])
        .unwrap();
        let Command::Grpc(a) = cli.command;
        assert_eq!(a.port, 4242);
        assert_eq!(a.interface, ["eth0", "eth1", "eth2"]);
        assert_eq!(a.dhcp_mode, DhcpMode::Full);
        assert_eq!(a.dhcp_ranges.len(), 1);
        assert!(!a.metal_hammer_debug);
        assert_eq!(a.token_ttl, Duration::from_secs(1800));
        assert!(a.router_advertisements());
        let m = a.metal_config().unwrap();
        assert_eq!(m.address, "api:50051");
        assert!(m.logging.is_none());
    }

    #[test]
    fn refuses_partial_tls_and_bad_ranges() {
        let base = ["pixie", "grpc", "--partition", "p", "--grpc-address", "a:1"];
        let with = |extra: &[&str]| {
            let mut v: Vec<&str> = base.to_vec();
            v.extend_from_slice(extra);
            Cli::try_parse_from(v)
        };
        assert!(with(&["--grpc-ca-cert", "/ca"]).is_err());
        assert!(with(&["--dhcp-range", "10.0.0.1"]).is_err());
        let Command::Grpc(a) = with(&[]).unwrap().command;
        assert!(a.metal_hammer_debug, "hammer debug defaults to true");
        assert!(!a.router_advertisements(), "RAs default off in proxy mode");
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("1h").unwrap(), Duration::from_secs(3600));
        // days are a unit of the workspace's one duration grammar (metalctl's `2d`); an
        // unknown unit is still refused
        assert_eq!(parse_duration("1d").unwrap(), Duration::from_secs(86_400));
        assert!(parse_duration("1w").is_err());
        assert!(parse_duration("h").is_err());
    }
}
