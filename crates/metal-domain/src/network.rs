//! Networks: a partition's private super network (tenant networks are cut from it), the
//! underlay, external networks (internet, shared services) and the tenant networks themselves.
//! Rules of `spec/metal-api.md` §4.10 that need no I/O live here; the app layer adds the ones
//! that look at other networks (overlap, one privatesuper per partition) inside its transaction.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use ipnet::IpNet;
use serde::{Deserialize, Serialize};

mod tenant;
mod usage;

pub use tenant::{
    check_allocate_request, child_lengths, no_room, set_child_lengths, tenant_network,
    AllocateRequestChecked, PlannedAllocation, DEFAULT_IPV6_CHILD_LENGTH,
};
pub use usage::{usage, with_usage, PrefixCounters};

use crate::error::{DomainError, DomainResult};
use crate::prefix::{self, AddressFamily};

/// Address usage of a network (`v1.NetworkUsage`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NetworkUsage {
    pub available_ips: u64,
    pub used_ips: u64,
    pub available_prefixes: u64,
    pub used_prefixes: u64,
}

impl NetworkUsage {
    pub fn add(&mut self, o: &NetworkUsage) {
        self.available_ips = self.available_ips.saturating_add(o.available_ips);
        self.used_ips = self.used_ips.saturating_add(o.used_ips);
        self.available_prefixes = self.available_prefixes.saturating_add(o.available_prefixes);
        self.used_prefixes = self.used_prefixes.saturating_add(o.used_prefixes);
    }
}

/// Usage per address family (`v1.NetworkConsumption`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NetworkConsumption {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ipv4: Option<NetworkUsage>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ipv6: Option<NetworkUsage>,
}

/// A network as stored and answered (`v1.NetworkResponse`); `usage` and `consumption` are
/// computed on every read from the IPAM counters.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct Network {
    pub id: String,
    pub name: String,
    pub description: String,
    pub labels: BTreeMap<String, String>,
    pub partitionid: String,
    pub projectid: String,
    pub parentnetworkid: String,
    pub prefixes: Vec<String>,
    pub destinationprefixes: Vec<String>,
    #[serde(rename = "additionalAnnouncableCIDRs")]
    pub additional_announcable_cidrs: Vec<String>,
    /// Child prefix length per address family ("IPv4" → 22), for private super networks.
    pub defaultchildprefixlength: BTreeMap<AddressFamily, u8>,
    pub vrf: u32,
    pub vrfshared: bool,
    pub privatesuper: bool,
    pub underlay: bool,
    pub nat: bool,
    pub shared: bool,
    pub nattype: String,
    pub networktype: String,
    pub usage: NetworkUsage,
    pub consumption: NetworkConsumption,
    pub created: Option<DateTime<Utc>>,
    pub changed: Option<DateTime<Utc>>,
}

/// Body of `PUT /v1/network` (admin).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct NetworkCreateRequest {
    pub id: String,
    pub name: String,
    pub description: String,
    pub labels: BTreeMap<String, String>,
    pub partitionid: String,
    pub projectid: String,
    pub parentnetworkid: String,
    pub prefixes: Vec<String>,
    pub destinationprefixes: Vec<String>,
    #[serde(rename = "additionalAnnouncableCIDRs")]
    pub additional_announcable_cidrs: Vec<String>,
    pub defaultchildprefixlength: BTreeMap<String, u8>,
    pub vrf: u32,
    pub vrfshared: bool,
    pub privatesuper: bool,
    pub underlay: bool,
    pub nat: bool,
    pub shared: bool,
    pub nattype: String,
    pub networktype: String,
}

/// Body of `POST /v1/network` (admin): absent fields keep their value.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct NetworkUpdateRequest {
    pub id: String,
    pub name: Option<String>,
    pub description: Option<String>,
    pub labels: Option<BTreeMap<String, String>>,
    pub prefixes: Option<Vec<String>>,
    pub destinationprefixes: Option<Vec<String>>,
    #[serde(rename = "additionalAnnouncableCIDRs")]
    pub additional_announcable_cidrs: Option<Vec<String>>,
    pub defaultchildprefixlength: Option<BTreeMap<String, u8>>,
    pub shared: Option<bool>,
}

/// Body of `POST /v1/network/allocate` (edit): a tenant network cut from the partition's
/// private super network.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct NetworkAllocateRequest {
    pub name: String,
    pub description: String,
    pub partitionid: String,
    pub projectid: String,
    pub labels: BTreeMap<String, String>,
    pub destinationprefixes: Vec<String>,
    pub nat: bool,
    pub shared: bool,
    /// Only this family (default: every family of the super network).
    pub addressfamily: Option<String>,
    /// Child prefix length per family ("IPv4" → 24); default: the super network's.
    pub length: BTreeMap<String, u8>,
}

/// Body of `POST /v1/network/find`: every given field must match; lists mean "contains all".
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct NetworkFindRequest {
    pub id: Option<String>,
    pub name: Option<String>,
    pub partitionid: Option<String>,
    pub projectid: Option<String>,
    pub parentnetworkid: Option<String>,
    pub prefixes: Vec<String>,
    pub destinationprefixes: Vec<String>,
    pub nat: Option<bool>,
    pub privatesuper: Option<bool>,
    pub underlay: Option<bool>,
    pub vrf: Option<u32>,
    pub labels: BTreeMap<String, String>,
    pub addressfamily: Option<String>,
}

fn parse_prefixes(field: &str, list: &[String]) -> DomainResult<Vec<IpNet>> {
    let mut out: Vec<IpNet> = Vec::with_capacity(list.len());
    for s in list {
        let net = prefix::parse_cidr(field, s)?;
        if let Some(o) = out.iter().find(|o| prefix::overlaps(o, &net)) {
            return Err(DomainError::invalid(format!(
                "{field}: {net} overlaps {o} of the same network"
            )));
        }
        out.push(net);
    }
    Ok(out)
}

/// Parses and checks the prefixes of a network; at least one is required.
pub fn validate_prefixes(list: &[String]) -> DomainResult<Vec<IpNet>> {
    if list.is_empty() {
        return Err(DomainError::invalid(
            "prefixes: a network needs at least one prefix",
        ));
    }
    parse_prefixes("prefixes", list)
}

/// Parses destination prefixes (may be empty; `0.0.0.0/0` is common).
pub fn validate_destination_prefixes(list: &[String]) -> DomainResult<Vec<IpNet>> {
    list.iter()
        .map(|s| prefix::parse_cidr("destinationprefixes", s))
        .collect()
}

/// Parses a per-family length map; each length must fit its family.
pub fn parse_lengths(
    field: &str,
    m: &BTreeMap<String, u8>,
) -> DomainResult<BTreeMap<AddressFamily, u8>> {
    let mut out = BTreeMap::new();
    for (k, v) in m {
        let af = AddressFamily::parse(k)?;
        if *v == 0 || *v > af.bits() {
            return Err(DomainError::invalid(format!(
                "{field}: {v} is not a prefix length of {}",
                af.as_str()
            )));
        }
        out.insert(af, *v);
    }
    Ok(out)
}

/// The families of a list of prefixes, sorted and deduplicated.
pub fn families(nets: &[IpNet]) -> Vec<AddressFamily> {
    let mut f: Vec<_> = nets.iter().map(AddressFamily::of_net).collect();
    f.sort();
    f.dedup();
    f
}

impl NetworkCreateRequest {
    /// Checks what needs no other network and builds the network (id generated by the caller
    /// when empty). Returns the parsed prefixes beside it.
    pub fn into_network(self) -> DomainResult<(Network, Vec<IpNet>)> {
        if !self.id.is_empty() {
            crate::misc::validate_id("network", &self.id)?;
        }
        let nets = validate_prefixes(&self.prefixes)?;
        validate_destination_prefixes(&self.destinationprefixes)?;
        for c in &self.additional_announcable_cidrs {
            prefix::parse_cidr("additionalAnnouncableCIDRs", c)?;
        }
        if !self.additional_announcable_cidrs.is_empty() && !self.privatesuper {
            return Err(DomainError::invalid(
                "additionalAnnouncableCIDRs can only be set for a private super network",
            ));
        }
        if (self.privatesuper || self.underlay) && self.nat {
            return Err(DomainError::invalid(
                "nat is not allowed on a private super network or an underlay",
            ));
        }
        if self.privatesuper && self.underlay {
            return Err(DomainError::invalid(
                "a network cannot be both private super network and underlay",
            ));
        }
        if (self.privatesuper || self.underlay) && self.partitionid.is_empty() {
            return Err(DomainError::invalid(
                "partitionid: a private super network or an underlay needs a partition",
            ));
        }
        let lengths = parse_lengths("defaultchildprefixlength", &self.defaultchildprefixlength)?;
        for (af, len) in &lengths {
            for n in nets.iter().filter(|n| AddressFamily::of_net(n) == *af) {
                if *len <= n.prefix_len() {
                    return Err(DomainError::invalid(format!(
                        "defaultchildprefixlength: {len} for {} must be longer than the prefix {n}",
                        af.as_str()
                    )));
                }
            }
        }
        if !lengths.is_empty() && !self.privatesuper {
            return Err(DomainError::invalid(
                "defaultchildprefixlength can only be set for a private super network",
            ));
        }
        let canonical: Vec<String> = nets.iter().map(ToString::to_string).collect();
        Ok((
            Network {
                id: self.id,
                name: self.name,
                description: self.description,
                labels: self.labels,
                partitionid: self.partitionid,
                projectid: self.projectid,
                parentnetworkid: self.parentnetworkid,
                prefixes: canonical,
                destinationprefixes: self.destinationprefixes,
                additional_announcable_cidrs: self.additional_announcable_cidrs,
                defaultchildprefixlength: lengths,
                vrf: self.vrf,
                vrfshared: self.vrfshared,
                privatesuper: self.privatesuper,
                underlay: self.underlay,
                nat: self.nat,
                shared: self.shared,
                nattype: self.nattype,
                networktype: self.networktype,
                ..Default::default()
            },
            nets,
        ))
    }
}

impl NetworkUpdateRequest {
    /// Applies the fields that need no IPAM (prefix changes are the app layer's work).
    pub fn apply_simple(&self, n: &mut Network) -> DomainResult<()> {
        if let Some(shared) = self.shared {
            if n.shared && !shared {
                return Err(DomainError::invalid(
                    "shared: a shared network cannot be made unshared",
                ));
            }
            n.shared = shared;
        }
        if let Some(d) = &self.destinationprefixes {
            validate_destination_prefixes(d)?;
            n.destinationprefixes = d.clone();
        }
        if let Some(c) = &self.additional_announcable_cidrs {
            for x in c {
                prefix::parse_cidr("additionalAnnouncableCIDRs", x)?;
            }
            if !c.is_empty() && !n.privatesuper {
                return Err(DomainError::invalid(
                    "additionalAnnouncableCIDRs can only be set for a private super network",
                ));
            }
            n.additional_announcable_cidrs = c.clone();
        }
        if let Some(l) = &self.defaultchildprefixlength {
            if !n.privatesuper && !l.is_empty() {
                return Err(DomainError::invalid(
                    "defaultchildprefixlength can only be set for a private super network",
                ));
            }
            n.defaultchildprefixlength = parse_lengths("defaultchildprefixlength", l)?;
        }
        if let Some(v) = &self.name {
            n.name = v.clone();
        }
        if let Some(v) = &self.description {
            n.description = v.clone();
        }
        if let Some(v) = &self.labels {
            n.labels = v.clone();
        }
        Ok(())
    }
}

impl NetworkFindRequest {
    /// Checks the request's own fields (CIDRs, family).
    pub fn validate(&self) -> DomainResult<()> {
        for p in self.prefixes.iter().chain(&self.destinationprefixes) {
            prefix::parse_cidr("prefixes", p)?;
        }
        if let Some(af) = &self.addressfamily {
            AddressFamily::parse(af)?;
        }
        Ok(())
    }

    pub fn matches(&self, n: &Network) -> bool {
        let eq = |want: &Option<String>, have: &str| {
            want.as_deref().is_none_or(|w| w.is_empty() || w == have)
        };
        let flag = |want: Option<bool>, have: bool| want.is_none_or(|w| w == have);
        let canon = |s: &String| {
            s.parse::<IpNet>()
                .map(|n| n.to_string())
                .unwrap_or_else(|_| s.clone())
        };
        let contains_all = |want: &[String], have: &[String]| {
            let have: Vec<String> = have.iter().map(canon).collect();
            want.iter().all(|w| have.contains(&canon(w)))
        };
        let family_ok = match self.addressfamily.as_deref().map(AddressFamily::parse) {
            Some(Ok(af)) => n
                .prefixes
                .iter()
                .filter_map(|p| p.parse::<IpNet>().ok())
                .any(|p| AddressFamily::of_net(&p) == af),
            _ => true,
        };
        eq(&self.id, &n.id)
            && eq(&self.name, &n.name)
            && eq(&self.partitionid, &n.partitionid)
            && eq(&self.projectid, &n.projectid)
            && eq(&self.parentnetworkid, &n.parentnetworkid)
            && flag(self.nat, n.nat)
            && flag(self.privatesuper, n.privatesuper)
            && flag(self.underlay, n.underlay)
            && self.vrf.is_none_or(|v| v == n.vrf)
            && contains_all(&self.prefixes, &n.prefixes)
            && contains_all(&self.destinationprefixes, &n.destinationprefixes)
            && self.labels.iter().all(|(k, v)| n.labels.get(k) == Some(v))
            && family_ok
    }
}

/// How a machine's allocation would see the network: private when cut from a private super
/// network, external otherwise (§2.6).
pub fn is_private_child(n: &Network, parent: Option<&Network>) -> bool {
    !n.parentnetworkid.is_empty() && parent.is_some_and(|p| p.privatesuper)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn create(prefixes: &[&str]) -> NetworkCreateRequest {
        NetworkCreateRequest {
            id: "n1".into(),
            prefixes: prefixes.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn create_rules() {
        assert!(create(&["10.0.0.0/16", "2001:db8::/48"])
            .into_network()
            .is_ok());
        let cases: Vec<(NetworkCreateRequest, &str)> = vec![
            (create(&[]), "at least one prefix"),
            (create(&["10.0.0.0/33"]), "not a valid CIDR"),
            (create(&["10.0.0.0/16", "10.0.1.0/24"]), "overlaps"),
            (
                NetworkCreateRequest {
                    privatesuper: true,
                    nat: true,
                    partitionid: "p".into(),
                    ..create(&["10.0.0.0/16"])
                },
                "nat is not allowed",
            ),
            (
                NetworkCreateRequest {
                    underlay: true,
                    nat: true,
                    partitionid: "p".into(),
                    ..create(&["10.0.0.0/16"])
                },
                "nat is not allowed",
            ),
            (
                NetworkCreateRequest {
                    privatesuper: true,
                    ..create(&["10.0.0.0/16"])
                },
                "needs a partition",
            ),
            (
                NetworkCreateRequest {
                    destinationprefixes: vec!["0.0.0.0/x".into()],
                    ..create(&["10.0.0.0/16"])
                },
                "destinationprefixes",
            ),
            (
                NetworkCreateRequest {
                    privatesuper: true,
                    partitionid: "p".into(),
                    defaultchildprefixlength: [("IPv4".to_string(), 8)].into_iter().collect(),
                    ..create(&["10.0.0.0/16"])
                },
                "must be longer",
            ),
            (
                NetworkCreateRequest {
                    defaultchildprefixlength: [("IPv4".to_string(), 24)].into_iter().collect(),
                    ..create(&["10.0.0.0/16"])
                },
                "only be set for a private super",
            ),
        ];
        for (req, want) in cases {
            let err = req.into_network().unwrap_err();
            assert!(
                err.to_string().contains(want),
                "{err} does not contain {want}"
            );
            assert!(matches!(err, DomainError::InvalidArgument(_)));
        }
    }

    #[test]
    fn shared_cannot_be_unset() {
        let mut n = Network {
            shared: true,
            ..Default::default()
        };
        let upd = NetworkUpdateRequest {
            shared: Some(false),
            ..Default::default()
        };
        assert!(upd.apply_simple(&mut n).is_err());
        assert!(n.shared);
        let mut n = Network::default();
        let upd = NetworkUpdateRequest {
            shared: Some(true),
            name: Some("x".into()),
            ..Default::default()
        };
        upd.apply_simple(&mut n).unwrap();
        assert!(n.shared);
        assert_eq!(n.name, "x");
    }

    #[test]
    fn find_matches() {
        let n = Network {
            id: "n1".into(),
            partitionid: "p".into(),
            prefixes: vec!["10.0.0.0/24".into(), "2001:db8::/64".into()],
            destinationprefixes: vec!["0.0.0.0/0".into()],
            labels: [("a".to_string(), "1".to_string())].into_iter().collect(),
            nat: true,
            ..Default::default()
        };
        let q = |f: fn(&mut NetworkFindRequest)| {
            let mut r = NetworkFindRequest::default();
            f(&mut r);
            r.matches(&n)
        };
        assert!(q(|_| {}));
        assert!(q(|r| r.prefixes = vec!["10.0.0.0/24".into()]));
        assert!(!q(|r| r.prefixes = vec!["10.0.1.0/24".into()]));
        assert!(q(|r| r.nat = Some(true)));
        assert!(!q(|r| r.privatesuper = Some(true)));
        assert!(q(|r| r.addressfamily = Some("IPv6".into())));
        assert!(q(
            |r| r.labels = [("a".to_string(), "1".to_string())].into_iter().collect()
        ));
        assert!(!q(
            |r| r.labels = [("a".to_string(), "2".to_string())].into_iter().collect()
        ));
        assert!(q(|r| r.destinationprefixes = vec!["0.0.0.0/0".into()]));
    }
}
