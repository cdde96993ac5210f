//! The flags of `machine create` and `firewall create` (agents.md §1.4) and the allocation
//! request they make:
//!
//! - `--networks NET[:auto|noauto],...`: `noauto` networks get no address of their own, only
//!   the ones given with `--ips`;
//! - `-p/--sshpublickey` and `--userdata` take the text itself or `@<file>` (`@~/` is the home
//!   directory); without `-p` the first of `~/.ssh/id_ed25519.pub`, `id_rsa.pub` and
//!   `id_dsa.pub` is used; a key file may hold several keys, one per line;
//! - the user data is sent base64-encoded, as metal-api stores it;
//! - the allocation name defaults to the hostname.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use clap::Args;
use metal_domain::machine::{MachineAllocateRequest, MachineAllocationNetwork};
use metal_domain::partition::{DnsServer, NtpServer};

use crate::crud::BulkArgs;

/// The public keys tried, in this order, when `--sshpublickey` is not given.
const DEFAULT_KEYS: [&str; 3] = ["id_ed25519.pub", "id_rsa.pub", "id_dsa.pub"];

/// Flags of an allocation, or `-f` with allocation requests.
#[derive(Args, Debug, Clone, Default)]
pub struct AllocateArgs {
    /// YAML or JSON file with one or more allocation requests (`---` separated); `-` reads
    /// stdin.
    #[arg(
        short = 'f',
        long = "file",
        conflicts_with_all = ["hostname", "name", "description", "image", "size", "partition", "project", "id", "sshpublickey", "userdata", "networks", "ips", "tags", "dnsservers", "ntpservers", "filesystemlayout"]
    )]
    pub file: Option<String>,
    /// hostname of the machine
    #[arg(short = 'H', long, required_unless_present = "file")]
    pub hostname: Option<String>,
    /// name of the allocation (default: the hostname)
    #[arg(short = 'n', long)]
    pub name: Option<String>,
    /// description of the allocation
    #[arg(short = 'd', long)]
    pub description: Option<String>,
    /// image to install: an id, or an os and version prefix such as ubuntu-22.04 for the newest
    /// matching image
    #[arg(short = 'i', long, required_unless_present = "file")]
    pub image: Option<String>,
    /// size of the machine (ignored with --id)
    #[arg(short = 's', long)]
    pub size: Option<String>,
    /// partition to allocate in (ignored with --id)
    #[arg(short = 'S', long, required_unless_present_any = ["file", "id"])]
    pub partition: Option<String>,
    /// project the machine belongs to
    #[arg(short = 'P', long, required_unless_present = "file")]
    pub project: Option<String>,
    /// allocate this machine (a reserved one, typically) instead of a random waiting one
    #[arg(short = 'I', long)]
    pub id: Option<String>,
    /// public ssh key(s) for the machine: the key itself, or @<file> with one key per line
    /// (default: ~/.ssh/id_ed25519.pub, id_rsa.pub or id_dsa.pub, the first that exists)
    #[arg(short = 'p', long)]
    pub sshpublickey: Option<String>,
    /// cloud-init or ignition user data: the text itself, or @<file>
    #[arg(long)]
    pub userdata: Option<String>,
    /// networks as NET[:auto|noauto] (comma separated); noauto networks take their address
    /// from --ips
    #[arg(long, value_delimiter = ',', value_parser = parse_network)]
    pub networks: Vec<MachineAllocationNetwork>,
    /// addresses to use, allocated before in one of the networks (comma separated)
    #[arg(long, value_delimiter = ',')]
    pub ips: Vec<String>,
    /// tags of the machine (comma separated)
    #[arg(long, value_delimiter = ',')]
    pub tags: Vec<String>,
    /// DNS servers of the machine (comma separated; default: the partition's)
    #[arg(long, value_delimiter = ',')]
    pub dnsservers: Vec<String>,
    /// NTP servers of the machine (comma separated; default: the partition's)
    #[arg(long, value_delimiter = ',')]
    pub ntpservers: Vec<String>,
    /// filesystem layout to use (default: the one matching size and image)
    #[arg(long)]
    pub filesystemlayout: Option<String>,
    #[command(flatten)]
    pub bulk: BulkArgs,
}

/// Parses `NET[:auto|noauto]` (the flag is case-insensitive, `auto` when left out).
pub fn parse_network(s: &str) -> std::result::Result<MachineAllocationNetwork, String> {
    let (id, flag) = match s.split_once(':') {
        Some((id, flag)) => (id, Some(flag)),
        None => (s, None),
    };
    let id = id.trim();
    if id.is_empty() {
        return Err(format!("{s:?} names no network"));
    }
    let autoacquire = match flag.map(|f| f.trim().to_ascii_lowercase()).as_deref() {
        None | Some("auto") => true,
        Some("noauto") => false,
        Some(_) => {
            return Err(format!(
                "illegal auto-acquire flag in {s:?}, must be auto or noauto"
            ))
        }
    };
    Ok(MachineAllocationNetwork {
        networkid: id.to_string(),
        autoacquire,
    })
}

/// `~/rest` in the home directory; other paths as they are.
fn expand_home(path: &str, home: Option<&Path>) -> PathBuf {
    match (path.strip_prefix("~/"), home) {
        (Some(rest), Some(home)) => home.join(rest),
        _ => PathBuf::from(path),
    }
}

/// A flag value that is the text itself or, prefixed with `@`, the path of a file holding it.
pub fn read_arg(value: &str, home: Option<&Path>) -> Result<String> {
    match value.strip_prefix('@') {
        None => Ok(value.to_string()),
        Some(path) => {
            let path = expand_home(path, home);
            std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))
        }
    }
}

/// The ssh keys of `--sshpublickey` (one per non-empty, non-comment line), or of the first
/// default key file in `home`; none if there is none.
pub fn ssh_keys(arg: Option<&str>, home: Option<&Path>) -> Result<Vec<String>> {
    let text = match arg {
        Some(a) => read_arg(a, home)?,
        None => {
            let found = home.and_then(|h| {
                DEFAULT_KEYS
                    .iter()
                    .find_map(|k| std::fs::read_to_string(h.join(".ssh").join(k)).ok())
            });
            match found {
                Some(text) => text,
                None => return Ok(Vec::new()),
            }
        }
    };
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect())
}

/// Standard base64 with padding.
pub fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

impl AllocateArgs {
    /// The allocation the flags describe; `@` files are read relative to `home` for `~/`.
    pub fn to_request(&self, home: Option<&Path>) -> Result<MachineAllocateRequest> {
        let hostname = self.hostname.clone().unwrap_or_default();
        let user_data = match &self.userdata {
            Some(u) => base64(read_arg(u, home).context("--userdata")?.as_bytes()),
            None => String::new(),
        };
        Ok(MachineAllocateRequest {
            uuid: self.id.clone().unwrap_or_default(),
            name: self.name.clone().unwrap_or_else(|| hostname.clone()),
            description: self.description.clone().unwrap_or_default(),
            hostname,
            projectid: self.project.clone().unwrap_or_default(),
            partitionid: self.partition.clone().unwrap_or_default(),
            sizeid: self.size.clone().unwrap_or_default(),
            imageid: self.image.clone().unwrap_or_default(),
            filesystemlayoutid: self.filesystemlayout.clone().unwrap_or_default(),
            ssh_pub_keys: ssh_keys(self.sshpublickey.as_deref(), home).context("--sshpublickey")?,
            user_data,
            tags: self.tags.clone(),
            networks: self.networks.clone(),
            ips: self.ips.clone(),
            placement_tags: Vec::new(),
            dns_servers: self
                .dnsservers
                .iter()
                .map(|ip| DnsServer { ip: ip.clone() })
                .collect(),
            ntp_servers: self
                .ntpservers
                .iter()
                .map(|address| NtpServer {
                    address: address.clone(),
                })
                .collect(),
            firewall_rules: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl u@h";

    #[test]
    fn networks() {
        let n = |s: &str| parse_network(s).map(|n| (n.networkid, n.autoacquire));
        assert_eq!(n("internet"), Ok(("internet".into(), true)));
        assert_eq!(n("internet:auto"), Ok(("internet".into(), true)));
        assert_eq!(n("internet:NoAuto"), Ok(("internet".into(), false)));
        assert!(n("internet:sometimes")
            .unwrap_err()
            .contains("auto or noauto"));
        assert!(n(":auto").is_err());
        assert!(n("").is_err());
    }

    #[test]
    fn at_file_arguments() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path();
        std::fs::write(home.join("ud.yaml"), "#cloud-config\nruncmd: []\n").unwrap();
        assert_eq!(read_arg("plain text", Some(home)).unwrap(), "plain text");
        assert_eq!(
            read_arg("@~/ud.yaml", Some(home)).unwrap(),
            "#cloud-config\nruncmd: []\n"
        );
        let abs = format!("@{}", home.join("ud.yaml").display());
        assert_eq!(read_arg(&abs, None).unwrap(), "#cloud-config\nruncmd: []\n");
        let err = read_arg("@~/missing", Some(home)).unwrap_err();
        assert!(format!("{err:#}").contains("missing"), "{err:#}");

        // keys: given, from a file with several, or the default file
        assert_eq!(ssh_keys(Some(KEY), Some(home)).unwrap(), [KEY]);
        std::fs::write(home.join("keys"), format!("# mine\n{KEY}\n\n{KEY}2\n")).unwrap();
        assert_eq!(
            ssh_keys(Some("@~/keys"), Some(home)).unwrap(),
            [KEY.to_string(), format!("{KEY}2")]
        );
        assert!(ssh_keys(None, Some(home)).unwrap().is_empty());
        std::fs::create_dir(home.join(".ssh")).unwrap();
        std::fs::write(home.join(".ssh/id_rsa.pub"), "ssh-rsa AAAA rsa\n").unwrap();
        assert_eq!(ssh_keys(None, Some(home)).unwrap(), ["ssh-rsa AAAA rsa"]);
        std::fs::write(home.join(".ssh/id_ed25519.pub"), format!("{KEY}\n")).unwrap();
        assert_eq!(ssh_keys(None, Some(home)).unwrap(), [KEY], "ed25519 first");
        assert!(ssh_keys(None, None).unwrap().is_empty());
    }

    #[test]
    fn base64_encoding() {
        for (plain, encoded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("#cloud-config\n", "I2Nsb3VkLWNvbmZpZwo="),
        ] {
            assert_eq!(base64(plain.as_bytes()), encoded, "{plain:?}");
        }
        assert_eq!(base64(&[0xff, 0xfe]), "//4=");
    }

    #[test]
    fn request_from_flags() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ud"), "#cloud-config\n").unwrap();
        let args = AllocateArgs {
            hostname: Some("web-1".into()),
            image: Some("ubuntu-22.04".into()),
            project: Some("p1".into()),
            partition: Some("fra".into()),
            size: Some("c1".into()),
            sshpublickey: Some(KEY.into()),
            userdata: Some("@~/ud".into()),
            networks: vec![
                parse_network("tenant").unwrap(),
                parse_network("internet:noauto").unwrap(),
            ],
            ips: vec!["185.1.2.3".into()],
            tags: vec!["a=b".into()],
            dnsservers: vec!["1.1.1.1".into()],
            ntpservers: vec!["pool.ntp.org".into()],
            ..Default::default()
        };
        let r = args.to_request(Some(dir.path())).unwrap();
        assert_eq!((r.name.as_str(), r.hostname.as_str()), ("web-1", "web-1"));
        assert_eq!(r.user_data, "I2Nsb3VkLWNvbmZpZwo=");
        assert_eq!(r.ssh_pub_keys, [KEY]);
        assert_eq!(r.uuid, "");
        let body = serde_json::to_value(&r).unwrap();
        assert_eq!(
            body["networks"],
            serde_json::json!([{"networkid": "tenant", "autoacquire": true}, {"networkid": "internet", "autoacquire": false}])
        );
        assert_eq!(body["dns_servers"], serde_json::json!([{"ip": "1.1.1.1"}]));
        assert_eq!(
            body["ntp_servers"],
            serde_json::json!([{"address": "pool.ntp.org"}])
        );
        let named = AllocateArgs {
            name: Some("n".into()),
            ..args
        };
        assert_eq!(named.to_request(Some(dir.path())).unwrap().name, "n");
    }
}
