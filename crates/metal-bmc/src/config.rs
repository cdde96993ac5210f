//! Command line and environment (`METAL_BMC_*`, as metal-stack's metal-bmc).

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use ipnet::IpNet;

use crate::bmc::Protocol;

/// The workspace's one duration grammar (`300`, `300s`, `5m`, `250ms`, `1h30m`, `2d`).
pub use metal_util::duration::parse_duration;

fn comma_list(v: &str) -> Vec<String> {
    v.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

#[derive(Debug, Clone, Parser)]
#[command(
    name = "metal-bmc",
    version,
    about = "BMC agent of a metal-stack partition"
)]
pub struct Config {
    /// the partition whose BMCs this agent serves
    #[arg(long, env = "METAL_BMC_PARTITION_ID")]
    pub partition_id: String,
    /// log level (error, warn, info, debug)
    #[arg(long, env = "METAL_BMC_LOG_LEVEL", default_value = "info")]
    pub log_level: String,
    /// ISC dhcpd lease file of the BMC network
    #[arg(
        long,
        env = "METAL_BMC_LEASE_FILE",
        default_value = "/var/lib/dhcp/dhcpd.leases"
    )]
    pub lease_file: PathBuf,
    /// how often the BMCs are read and reported (also once at start)
    #[arg(long, env = "METAL_BMC_REPORT_INTERVAL", default_value = "5m", value_parser = parse_duration)]
    pub report_interval: Duration,
    /// metal-api's REST address, e.g. http://metal-api:8080/metal
    #[arg(long, env = "METAL_BMC_METAL_API_URL")]
    pub metal_api_url: String,
    /// HMAC key of type Metal-Edit
    #[arg(long, env = "METAL_BMC_METAL_API_HMAC_KEY", hide_env_values = true)]
    pub metal_api_hmac_key: String,
    /// metal-api's gRPC address for the command stream, e.g. https://metal-api:50051
    #[arg(long, env = "METAL_BMC_METAL_API_GRPC_ADDRESS")]
    pub metal_api_grpc_address: String,
    /// CA certificate of metal-api's gRPC server (enables mTLS together with the client pair)
    #[arg(long, env = "METAL_BMC_GRPC_CA_CERT_FILE")]
    pub grpc_ca_cert_file: Option<PathBuf>,
    #[arg(long, env = "METAL_BMC_GRPC_CLIENT_CERT_FILE")]
    pub grpc_client_cert_file: Option<PathBuf>,
    #[arg(long, env = "METAL_BMC_GRPC_CLIENT_KEY_FILE")]
    pub grpc_client_key_file: Option<PathBuf>,
    /// server name to verify in metal-api's certificate
    #[arg(long, env = "METAL_BMC_GRPC_SERVER_NAME", default_value = "metal-api")]
    pub grpc_server_name: String,
    /// IPMI over LAN port of the BMCs
    #[arg(long, env = "METAL_BMC_IPMI_PORT", default_value_t = 623)]
    pub ipmi_port: u16,
    /// Redfish (HTTPS) port of the BMCs
    #[arg(long, env = "METAL_BMC_REDFISH_PORT", default_value_t = 443)]
    pub redfish_port: u16,
    /// BMC factory (superuser) account used for reports
    #[arg(long, env = "METAL_BMC_IPMI_USER", default_value = "ADMIN")]
    pub ipmi_user: String,
    #[arg(
        long,
        env = "METAL_BMC_IPMI_PASSWORD",
        default_value = "ADMIN",
        hide_env_values = true,
        hide_default_value = true
    )]
    pub ipmi_password: String,
    /// protocol to the BMCs: auto (Redfish where it answers, else IPMI), ipmi or redfish
    #[arg(long, env = "METAL_BMC_PROTOCOL", value_enum, default_value = "auto")]
    pub protocol: Protocol,
    /// bound of every single BMC call
    #[arg(long, env = "METAL_BMC_BMC_TIMEOUT", default_value = "20s", value_parser = parse_duration)]
    pub bmc_timeout: Duration,
    /// MACs of BMCs to leave alone, comma separated
    #[arg(long, env = "METAL_BMC_IGNORE_MACS", default_value = "")]
    pub ignore_macs: String,
    /// networks the BMC addresses must lie in, comma separated
    #[arg(
        long,
        env = "METAL_BMC_ALLOWED_CIDRS",
        default_value = "0.0.0.0/0,::/0"
    )]
    pub allowed_cidrs: String,
    /// BMCs read at the same time
    #[arg(long, env = "METAL_BMC_CONCURRENCY", default_value_t = 20)]
    pub concurrency: usize,
    /// commands executed at the same time
    #[arg(long, env = "METAL_BMC_MAX_IN_FLIGHT", default_value_t = 10)]
    pub max_in_flight: usize,
    /// this agent's name in metal-api's delivery records (default: host name)
    #[arg(long, env = "METAL_BMC_AGENT_NAME")]
    pub agent_name: Option<String>,
}

impl Config {
    pub fn allowed_cidrs(&self) -> anyhow::Result<Vec<IpNet>> {
        comma_list(&self.allowed_cidrs)
            .iter()
            .map(|c| {
                c.parse::<IpNet>()
                    .map_err(|e| anyhow::anyhow!("invalid allowed CIDR {c:?}: {e}"))
            })
            .collect()
    }

    pub fn ignore_macs(&self) -> Vec<String> {
        comma_list(&self.ignore_macs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("5m").unwrap(), Duration::from_secs(300));
        assert_eq!(parse_duration("30").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert!(parse_duration("5x").is_err());
    }

    #[test]
    fn bad_lists_are_named_in_the_error() {
        let c = Config::try_parse_from([
            "metal-bmc",
            "--partition-id",
            "fra",
            "--metal-api-url",
            "http://api",
            "--metal-api-hmac-key",
            "k",
            "--metal-api-grpc-address",
            "http://api:50051",
            "--allowed-cidrs",
            "10.0.0.0/8, 10.1.0.0/33",
            "--ignore-macs",
            "aa:bb:cc:00:00:01,,AA:BB:CC:00:00:02",
        ])
        .unwrap();
        let e = c.allowed_cidrs().unwrap_err().to_string();
        assert!(e.contains("invalid allowed CIDR \"10.1.0.0/33\""), "{e}");
        assert_eq!(c.ignore_macs(), ["aa:bb:cc:00:00:01", "AA:BB:CC:00:00:02"]);
        let e = Config::try_parse_from([
            "metal-bmc",
            "--partition-id",
            "fra",
            "--metal-api-url",
            "http://api",
            "--metal-api-hmac-key",
            "k",
            "--metal-api-grpc-address",
            "http://api:50051",
            "--report-interval",
            "5x",
        ])
        .unwrap_err()
        .to_string();
        assert!(e.contains("invalid duration unit in \"5x\""), "{e}");
    }

    #[test]
    fn password_is_hidden_from_help() {
        use clap::CommandFactory;
        let help = Config::command().render_long_help().to_string();
        assert!(help.contains("--ipmi-password"));
        assert!(
            !help.contains("[default: ADMIN]\n") || help.matches("[default: ADMIN]").count() == 1
        );
    }
}
