//! Partitions: a failure domain (a data-centre room or site) with its PXE boot configuration.
//!
//! Wire shape: `v1.PartitionResponse`. `privatenetworkprefixlength` is kept from metal-api v0.30
//! (the length of child networks cut from the partition's private super network); the newer
//! reference moved it to the network, and clients that do not send it get the default 22.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{DomainError, DomainResult};

/// Default length of private child networks cut from the private super network.
pub const DEFAULT_PRIVATE_NETWORK_PREFIX_LENGTH: u8 = 22;
/// Allowed range of `privatenetworkprefixlength`.
pub const PRIVATE_NETWORK_PREFIX_LENGTH_RANGE: std::ops::RangeInclusive<u8> = 16..=30;

/// What a machine of this partition PXE-boots into (the metal-hammer ramdisk).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct BootConfiguration {
    /// URL of the initrd (metal-hammer)
    pub imageurl: String,
    /// URL of the kernel
    pub kernelurl: String,
    /// kernel command line
    pub commandline: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DnsServer {
    pub ip: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NtpServer {
    pub address: String,
}

/// A partition as stored and as answered on the wire.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct Partition {
    pub id: String,
    pub name: String,
    pub description: String,
    pub bootconfig: BootConfiguration,
    pub mgmtserviceaddress: String,
    pub privatenetworkprefixlength: u8,
    pub labels: BTreeMap<String, String>,
    pub dns_servers: Vec<DnsServer>,
    pub ntp_servers: Vec<NtpServer>,
    pub created: Option<DateTime<Utc>>,
    pub changed: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct PartitionCreateRequest {
    pub id: String,
    pub name: String,
    pub description: String,
    pub bootconfig: BootConfiguration,
    pub mgmtserviceaddress: String,
    pub privatenetworkprefixlength: Option<u8>,
    pub labels: BTreeMap<String, String>,
    pub dns_servers: Vec<DnsServer>,
    pub ntp_servers: Vec<NtpServer>,
}

/// Update: absent fields keep their value.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct PartitionUpdateRequest {
    pub id: String,
    pub name: Option<String>,
    pub description: Option<String>,
    pub bootconfig: Option<BootConfiguration>,
    pub mgmtserviceaddress: Option<String>,
    pub privatenetworkprefixlength: Option<u8>,
    pub labels: Option<BTreeMap<String, String>>,
    pub dns_servers: Option<Vec<DnsServer>>,
    pub ntp_servers: Option<Vec<NtpServer>>,
}

fn validate_prefix_length(len: u8) -> DomainResult<()> {
    if PRIVATE_NETWORK_PREFIX_LENGTH_RANGE.contains(&len) {
        Ok(())
    } else {
        Err(DomainError::invalid(format!(
            "privatenetworkprefixlength must be between {} and {}, got {len}",
            PRIVATE_NETWORK_PREFIX_LENGTH_RANGE.start(),
            PRIVATE_NETWORK_PREFIX_LENGTH_RANGE.end()
        )))
    }
}

fn validate_servers(dns: &[DnsServer], ntp: &[NtpServer]) -> DomainResult<()> {
    for d in dns {
        if d.ip.parse::<std::net::IpAddr>().is_err() {
            return Err(DomainError::invalid(format!(
                "dns_servers: {:?} is not an ip address",
                d.ip
            )));
        }
    }
    for n in ntp {
        if n.address.trim().is_empty() || n.address.contains(char::is_whitespace) {
            return Err(DomainError::invalid(format!(
                "ntp_servers: {:?} is not an address or hostname",
                n.address
            )));
        }
    }
    Ok(())
}

/// A URL in the boot configuration must be empty or an absolute http(s) URL.
fn validate_url(field: &str, url: &str) -> DomainResult<()> {
    if url.is_empty() || url.starts_with("http://") || url.starts_with("https://") {
        Ok(())
    } else {
        Err(DomainError::invalid(format!(
            "bootconfig.{field} must be an http or https url, got {url:?}"
        )))
    }
}

fn validate_boot(boot: &BootConfiguration) -> DomainResult<()> {
    validate_url("imageurl", &boot.imageurl)?;
    validate_url("kernelurl", &boot.kernelurl)
}

impl PartitionCreateRequest {
    /// Validates the request and builds the partition (timestamps are set by the store).
    pub fn into_partition(self) -> DomainResult<Partition> {
        if self.id.trim().is_empty() {
            return Err(DomainError::invalid("id should not be empty"));
        }
        crate::misc::validate_id("partition", &self.id)?;
        let len = self
            .privatenetworkprefixlength
            .unwrap_or(DEFAULT_PRIVATE_NETWORK_PREFIX_LENGTH);
        validate_prefix_length(len)?;
        validate_boot(&self.bootconfig)?;
        validate_servers(&self.dns_servers, &self.ntp_servers)?;
        Ok(Partition {
            id: self.id,
            name: self.name,
            description: self.description,
            bootconfig: self.bootconfig,
            mgmtserviceaddress: self.mgmtserviceaddress,
            privatenetworkprefixlength: len,
            labels: self.labels,
            dns_servers: self.dns_servers,
            ntp_servers: self.ntp_servers,
            created: None,
            changed: None,
        })
    }
}

impl PartitionUpdateRequest {
    /// Applies the given fields to `p`, validating them.
    pub fn apply(self, p: &mut Partition) -> DomainResult<()> {
        if let Some(len) = self.privatenetworkprefixlength {
            validate_prefix_length(len)?;
            p.privatenetworkprefixlength = len;
        }
        if let Some(boot) = self.bootconfig {
            validate_boot(&boot)?;
            p.bootconfig = boot;
        }
        if let Some(dns) = self.dns_servers {
            validate_servers(&dns, &[])?;
            p.dns_servers = dns;
        }
        if let Some(ntp) = self.ntp_servers {
            validate_servers(&[], &ntp)?;
            p.ntp_servers = ntp;
        }
        if let Some(v) = self.name {
            p.name = v;
        }
        if let Some(v) = self.description {
            p.description = v;
        }
        if let Some(v) = self.mgmtserviceaddress {
            p.mgmtserviceaddress = v;
        }
        if let Some(v) = self.labels {
            p.labels = v;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(id: &str) -> PartitionCreateRequest {
        PartitionCreateRequest {
            id: id.into(),
            bootconfig: BootConfiguration {
                imageurl: "http://images/metal-hammer.img".into(),
                kernelurl: "http://images/vmlinuz".into(),
                commandline: "console=ttyS0".into(),
            },
            ..Default::default()
        }
    }

    #[test]
    fn create_defaults_prefix_length() {
        let p = req("fra-equ01").into_partition().unwrap();
        assert_eq!(p.privatenetworkprefixlength, 22);
    }

    #[test]
    fn create_rejects_bad_input() {
        let cases: Vec<(PartitionCreateRequest, &str)> = vec![
            (req(""), "id should not be empty"),
            (
                PartitionCreateRequest {
                    privatenetworkprefixlength: Some(31),
                    ..req("p")
                },
                "privatenetworkprefixlength must be between 16 and 30, got 31",
            ),
            (
                PartitionCreateRequest {
                    privatenetworkprefixlength: Some(15),
                    ..req("p")
                },
                "privatenetworkprefixlength must be between 16 and 30, got 15",
            ),
            (
                PartitionCreateRequest {
                    bootconfig: BootConfiguration {
                        kernelurl: "ftp://x".into(),
                        ..Default::default()
                    },
                    ..req("p")
                },
                "bootconfig.kernelurl must be an http or https url, got \"ftp://x\"",
            ),
            (
                PartitionCreateRequest {
                    dns_servers: vec![DnsServer { ip: "1.2.3".into() }],
                    ..req("p")
                },
                "dns_servers: \"1.2.3\" is not an ip address",
            ),
        ];
        for (r, msg) in cases {
            assert_eq!(r.into_partition(), Err(DomainError::invalid(msg)));
        }
    }

    #[test]
    fn update_keeps_absent_fields() {
        let mut p = req("p").into_partition().unwrap();
        p.name = "old".into();
        PartitionUpdateRequest {
            id: "p".into(),
            description: Some("new".into()),
            ..Default::default()
        }
        .apply(&mut p)
        .unwrap();
        assert_eq!(p.name, "old");
        assert_eq!(p.description, "new");
        let err = PartitionUpdateRequest {
            id: "p".into(),
            privatenetworkprefixlength: Some(40),
            ..Default::default()
        }
        .apply(&mut p);
        assert!(err.is_err());
        assert_eq!(p.privatenetworkprefixlength, 22);
    }
}
