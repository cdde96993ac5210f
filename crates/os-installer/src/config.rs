//! `/etc/metal/install.yaml`: what metal-hammer hands the image's installer (agents.md §2.12.3),
//! the contract between metal-hammer, which writes it, and os-installer, which reads it.

use metal_domain::machine::{FirewallRules, MachineNic};
use metal_domain::partition::{DnsServer, NtpServer};
use serde::{Deserialize, Serialize};

/// A network of the allocation as the installer reads it (`v1.MachineNetwork`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct InstallNetwork {
    pub asn: u64,
    pub destinationprefixes: Vec<String>,
    pub ips: Vec<String>,
    pub nat: bool,
    pub networkid: String,
    /// `privateprimaryunshared`, `privateprimaryshared`, `privatesecondaryshared`, `external`
    /// or `underlay`
    pub networktype: String,
    pub prefixes: Vec<String>,
    pub private: bool,
    pub underlay: bool,
    pub vrf: u64,
}

/// `/etc/metal/install.yaml`. `password` is the console password: [`std::fmt::Debug`] leaves
/// it out.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct InstallConfig {
    pub hostname: String,
    pub networks: Vec<InstallNetwork>,
    pub machineuuid: String,
    /// the allocation's SSH public keys, one per line
    pub sshpublickey: String,
    pub password: String,
    /// the kernel console, e.g. `ttyS0,115200n8`
    pub console: String,
    pub timestamp: String,
    pub nics: Vec<MachineNic>,
    pub vpn: Option<serde_json::Value>,
    /// `machine` or `firewall`
    pub role: String,
    pub raidenabled: bool,
    pub root_uuid: String,
    pub firewall_rules: Option<FirewallRules>,
    pub dns_servers: Vec<DnsServer>,
    pub ntp_servers: Vec<NtpServer>,
    /// firewalls: log the connections the allocation's rules accept (metal-stack's
    /// `logAcceptedConnections`); metal-hammer sets it from the machine's tag
    /// [`LOG_ACCEPTED_CONNECTIONS_TAG`]
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub log_accepted_connections: bool,
}

/// The machine tag that turns on the logging of accepted connections on a firewall.
pub const LOG_ACCEPTED_CONNECTIONS_TAG: &str =
    "firewall.metal-stack.io/log-accepted-connections=true";

impl std::fmt::Debug for InstallConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InstallConfig")
            .field("hostname", &self.hostname)
            .field("machineuuid", &self.machineuuid)
            .field("role", &self.role)
            .field("networks", &self.networks)
            .field("nics", &self.nics.len())
            .finish_non_exhaustive()
    }
}

impl InstallConfig {
    pub fn is_firewall(&self) -> bool {
        self.role == "firewall"
    }

    /// Drops the NICs a `.link` file cannot name (no MAC, or the zero MAC of `lo`, which
    /// metal-hammer reports among the machine's NICs): a `.link` matching the zero permanent
    /// MAC renames every virtual device, a firewall's bridge among them. The names dropped.
    pub fn drop_unnamable_nics(&mut self) -> Vec<String> {
        let unnamable = |mac: &str| mac.is_empty() || mac.split(':').all(|b| b == "00");
        let dropped = self
            .nics
            .iter()
            .filter(|n| unnamable(&n.mac))
            .map(|n| n.name.clone())
            .collect();
        self.nics.retain(|n| !unnamable(&n.mac));
        dropped
    }
}

/// `/etc/metal/boot-info.yaml` as the installer writes it (paths inside the image).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct BootInfoFile {
    pub kernel: String,
    pub initrd: String,
    pub cmdline: String,
    pub bootloader_id: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nics_without_a_mac_are_dropped() {
        let nic = |name: &str, mac: &str| MachineNic {
            name: name.into(),
            mac: mac.into(),
            ..Default::default()
        };
        let mut cfg = InstallConfig {
            nics: vec![
                nic("eth0", "52:54:00:6c:01:00"),
                nic("lo", "00:00:00:00:00:00"),
                nic("eth1", "52:54:00:6c:01:01"),
                nic("x", ""),
            ],
            ..Default::default()
        };
        assert_eq!(cfg.drop_unnamable_nics(), vec!["lo", "x"]);
        let names: Vec<&str> = cfg.nics.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(names, ["eth0", "eth1"]);
    }
}
