//! The wire types of an installation: what to install ([`InstallRequest`], built from metal-api's
//! machine or read as JSON by `metal-hammer install`) and what it leads to ([`BootInfo`],
//! reported to metal-api and printed by `metal-hammer install`).

use std::path::{Path, PathBuf};

use metal_domain::fsl::FilesystemLayout;
use metal_domain::partition::{DnsServer, NtpServer};
use serde::{Deserialize, Serialize};

/// A network of the allocation as the installer reads it (`v1.MachineNetwork`).
pub use os_installer::config::InstallNetwork;

/// A NIC with its LLDP neighbours (`v1.MachineNic`).
pub type InstallNic = metal_domain::machine::MachineNic;

/// What to install. `console_password` and `user_data` are secrets: [`std::fmt::Debug`] omits
/// them and nothing logs them.
#[derive(Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct InstallRequest {
    pub layout: FilesystemLayout,
    pub image_url: String,
    pub machine_uuid: String,
    pub hostname: String,
    pub networks: Vec<InstallNetwork>,
    pub ssh_pub_keys: Vec<String>,
    /// As in the allocation: base64, or raw if it does not decode.
    pub user_data: String,
    /// `machine` or `firewall`.
    pub role: String,
    /// The kernel console, e.g. `ttyS0,115200n8`.
    pub console: String,
    pub console_password: String,
    pub nics: Vec<InstallNic>,
    pub dns_servers: Vec<DnsServer>,
    pub ntp_servers: Vec<NtpServer>,
    pub firewall_rules: Option<metal_domain::machine::FirewallRules>,
    pub vpn: Option<serde_json::Value>,
    /// firewalls: log accepted connections (the machine carries
    /// [`os_installer::config::LOG_ACCEPTED_CONNECTIONS_TAG`])
    pub log_accepted_connections: bool,
    pub reinstall: bool,
    /// Where the image root is mounted.
    pub target: PathBuf,
    /// Where kernel and initrd are copied before the target is unmounted.
    pub workdir: PathBuf,
}

impl Default for InstallRequest {
    fn default() -> Self {
        Self {
            layout: FilesystemLayout::default(),
            image_url: String::new(),
            machine_uuid: String::new(),
            hostname: String::new(),
            networks: Vec::new(),
            ssh_pub_keys: Vec::new(),
            user_data: String::new(),
            role: "machine".into(),
            console: "ttyS0".into(),
            console_password: String::new(),
            nics: Vec::new(),
            dns_servers: Vec::new(),
            ntp_servers: Vec::new(),
            firewall_rules: None,
            vpn: None,
            log_accepted_connections: false,
            reinstall: false,
            target: PathBuf::from("/rootfs"),
            workdir: PathBuf::from("/tmp"),
        }
    }
}

impl std::fmt::Debug for InstallRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InstallRequest")
            .field("layout", &self.layout.id)
            .field("image_url", &self.image_url)
            .field("machine_uuid", &self.machine_uuid)
            .field("hostname", &self.hostname)
            .field("networks", &self.networks.len())
            .field("role", &self.role)
            .field("reinstall", &self.reinstall)
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}

/// What to kexec into and what to report: kernel and initrd copied out of the image into the
/// workdir, and their paths inside the image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BootInfo {
    /// The copy in the workdir (for kexec).
    pub kernel: PathBuf,
    /// The copy in the workdir; `None` when the image has no initrd.
    pub initrd: Option<PathBuf>,
    pub cmdline: String,
    pub bootloader_id: String,
    /// The kernel's path inside the image, as `boot-info.yaml` has it (for the report).
    pub kernel_in_image: String,
    /// The initrd's path inside the image, `""` without one.
    pub initrd_in_image: String,
    /// The layout's first disk.
    pub primary_disk: String,
    /// The device of the root filesystem.
    pub os_partition: String,
}

/// A machine that cannot be installed: nothing was touched.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    #[error("machine {0} has no allocation")]
    NoAllocation(String),
    #[error("the allocation of machine {0} has no image url")]
    NoImage(String),
    #[error("the allocation of machine {0} has no filesystem layout")]
    NoLayout(String),
}

impl InstallRequest {
    /// The request for an allocated machine as metal-api answers it.
    pub fn from_machine(
        m: &metal_domain::machine::MachineResponse,
        console_password: &str,
        console: &str,
        target: &Path,
        workdir: &Path,
    ) -> Result<Self, RequestError> {
        let a = m
            .allocation
            .as_ref()
            .ok_or_else(|| RequestError::NoAllocation(m.id.clone()))?;
        let image_url = a
            .image
            .as_ref()
            .map(|i| i.url.clone())
            .filter(|u| !u.is_empty())
            .ok_or_else(|| RequestError::NoImage(m.id.clone()))?;
        let layout = a
            .filesystemlayout
            .clone()
            .ok_or_else(|| RequestError::NoLayout(m.id.clone()))?;
        Ok(Self {
            layout,
            image_url,
            machine_uuid: m.id.clone(),
            hostname: a.hostname.clone(),
            networks: a
                .networks
                .iter()
                .map(|n| InstallNetwork {
                    asn: n.asn,
                    destinationprefixes: n.destinationprefixes.clone(),
                    ips: n.ips.clone(),
                    nat: n.nat,
                    networkid: n.networkid.clone(),
                    networktype: n.networktype.as_str().to_string(),
                    prefixes: n.prefixes.clone(),
                    private: n.private,
                    underlay: n.underlay,
                    vrf: u64::from(n.vrf),
                })
                .collect(),
            ssh_pub_keys: a.ssh_pub_keys.clone(),
            user_data: a.user_data.clone(),
            role: a.role.as_str().to_string(),
            console: console.to_string(),
            console_password: console_password.to_string(),
            nics: m.hardware.nics.clone(),
            dns_servers: a.dns_servers.clone(),
            ntp_servers: a.ntp_servers.clone(),
            firewall_rules: a.firewall_rules.clone(),
            vpn: None,
            log_accepted_connections: m
                .tags
                .iter()
                .any(|t| t == os_installer::config::LOG_ACCEPTED_CONNECTIONS_TAG),
            reinstall: a.reinstall,
            target: target.to_path_buf(),
            workdir: workdir.to_path_buf(),
        })
    }
}
