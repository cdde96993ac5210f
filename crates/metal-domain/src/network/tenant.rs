//! Tenant networks (`POST /v1/network/allocate`) and the child prefix lengths of private super
//! networks: the request checks, the child length per address family, and the network document
//! of an allocation. Which prefixes and VRF it gets is the IPAM's.

use std::collections::BTreeMap;

use ipnet::IpNet;

use super::{
    families, parse_lengths, validate_destination_prefixes, Network, NetworkAllocateRequest,
};
use crate::error::{DomainError, DomainResult};
use crate::partition::DEFAULT_PRIVATE_NETWORK_PREFIX_LENGTH;
use crate::prefix::AddressFamily;

/// A checked `POST /v1/network/allocate`: the request, its super network with that network's
/// prefixes, and the child prefix length per address family.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedAllocation {
    pub req: NetworkAllocateRequest,
    pub sup: Network,
    /// The super network's prefixes, to cut the children from.
    pub parents: Vec<IpNet>,
    pub lengths: Vec<(AddressFamily, u8)>,
}

impl PlannedAllocation {
    /// The network document of this allocation with its children and VRF.
    pub fn network(&self, id: String, children: &[IpNet], vrf: u32) -> Network {
        tenant_network(&self.req, &self.sup.id, id, children, vrf)
    }
}

/// Default child length of IPv6 private super networks.
pub const DEFAULT_IPV6_CHILD_LENGTH: u8 = 64;

/// The checked fields of an allocation request: the child lengths asked for and the one
/// address family asked for, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllocateRequestChecked {
    pub lengths: BTreeMap<AddressFamily, u8>,
    pub only: Option<AddressFamily>,
}

/// Checks what an allocation request can be checked for without looking anything up.
pub fn check_allocate_request(
    req: &NetworkAllocateRequest,
) -> DomainResult<AllocateRequestChecked> {
    if req.projectid.is_empty() {
        return Err(DomainError::invalid("projectid should not be empty"));
    }
    if req.partitionid.is_empty() {
        return Err(DomainError::invalid("partitionid should not be empty"));
    }
    validate_destination_prefixes(&req.destinationprefixes)?;
    let lengths = parse_lengths("length", &req.length)?;
    let only = req
        .addressfamily
        .as_deref()
        .filter(|s| !s.is_empty())
        .map(AddressFamily::parse)
        .transpose()?;
    Ok(AllocateRequestChecked { lengths, only })
}

/// The child prefix length per address family of an allocation from the super network `sup`,
/// whose prefixes are of `available` families (in prefix order): the requested length, else
/// the super network's default, else the built-in default. With `only`, just that family, which
/// the super network must have.
pub fn child_lengths(
    checked: &AllocateRequestChecked,
    sup: &Network,
    available: &[AddressFamily],
) -> DomainResult<Vec<(AddressFamily, u8)>> {
    let mut families = available.to_vec();
    families.dedup();
    if let Some(af) = checked.only {
        if !families.contains(&af) {
            return Err(DomainError::unprocessable(format!(
                "the private super network {} has no {} prefix",
                sup.id,
                af.as_str()
            )));
        }
        families = vec![af];
    }
    Ok(families
        .into_iter()
        .map(|af| {
            let len = checked
                .lengths
                .get(&af)
                .or_else(|| sup.defaultchildprefixlength.get(&af))
                .copied()
                .unwrap_or(match af {
                    AddressFamily::IPv4 => DEFAULT_PRIVATE_NETWORK_PREFIX_LENGTH,
                    AddressFamily::IPv6 => DEFAULT_IPV6_CHILD_LENGTH,
                });
            (af, len)
        })
        .collect())
}

/// The error of a super network without room.
pub fn no_room(af: AddressFamily, len: u8, sup: &str) -> DomainError {
    DomainError::unprocessable(format!(
        "no free /{len} {} prefix left in private super network {sup}",
        af.as_str()
    ))
}

/// The network document of an allocation: `id`, cut from `sup_id` with these children and VRF.
pub fn tenant_network(
    req: &NetworkAllocateRequest,
    sup_id: &str,
    id: String,
    children: &[IpNet],
    vrf: u32,
) -> Network {
    Network {
        id,
        name: req.name.clone(),
        description: req.description.clone(),
        labels: req.labels.clone(),
        partitionid: req.partitionid.clone(),
        projectid: req.projectid.clone(),
        parentnetworkid: sup_id.to_string(),
        prefixes: children.iter().map(ToString::to_string).collect(),
        destinationprefixes: req.destinationprefixes.clone(),
        vrf,
        nat: req.nat,
        shared: req.shared,
        ..Default::default()
    }
}

/// Fills in the child prefix length of every address family of a new private super network
/// (`partition_length` for IPv4, /64 for IPv6, unless given) and checks that each is longer
/// than the network's prefixes of that family.
pub fn set_child_lengths(
    n: &mut Network,
    nets: &[IpNet],
    partition_length: u8,
) -> DomainResult<()> {
    for af in families(nets) {
        n.defaultchildprefixlength.entry(af).or_insert(match af {
            AddressFamily::IPv4 => partition_length,
            AddressFamily::IPv6 => DEFAULT_IPV6_CHILD_LENGTH,
        });
    }
    for (af, len) in &n.defaultchildprefixlength {
        if let Some(p) = nets
            .iter()
            .find(|p| AddressFamily::of_net(p) == *af && *len <= p.prefix_len())
        {
            return Err(DomainError::invalid(format!(
                "child prefix length {len} must be longer than the prefix {p}"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use AddressFamily::{IPv4, IPv6};

    fn req(project: &str, partition: &str) -> NetworkAllocateRequest {
        NetworkAllocateRequest {
            projectid: project.into(),
            partitionid: partition.into(),
            ..Default::default()
        }
    }

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    #[test]
    fn allocate_requests_are_checked() {
        let mut bad_family = req("p", "fra");
        bad_family.addressfamily = Some("IPv5".into());
        let mut bad_prefix = req("p", "fra");
        bad_prefix.destinationprefixes = vec!["banana".into()];
        let mut bad_length = req("p", "fra");
        bad_length.length = [("IPv7".to_string(), 24)].into_iter().collect();
        for (what, r, message) in [
            (
                "no project",
                req("", "fra"),
                "projectid should not be empty",
            ),
            (
                "no partition",
                req("p", ""),
                "partitionid should not be empty",
            ),
            ("unknown family", bad_family, "IPv5"),
            ("bad destination", bad_prefix, "banana"),
            ("bad length key", bad_length, "IPv7"),
        ] {
            let e = check_allocate_request(&r).unwrap_err();
            assert!(
                matches!(e, DomainError::InvalidArgument(_)),
                "{what}: {e:?}"
            );
            assert!(e.to_string().contains(message), "{what}: {e}");
        }
        let mut ok = req("p", "fra");
        ok.addressfamily = Some("IPv6".into());
        ok.length = [("IPv6".to_string(), 56)].into_iter().collect();
        assert_eq!(
            check_allocate_request(&ok).unwrap(),
            AllocateRequestChecked {
                lengths: [(IPv6, 56)].into_iter().collect(),
                only: Some(IPv6),
            }
        );
        assert_eq!(check_allocate_request(&req("p", "fra")).unwrap().only, None);
    }

    #[test]
    fn child_lengths_come_from_request_super_network_or_default() {
        let sup = Network {
            id: "super".into(),
            defaultchildprefixlength: [(IPv4, 26)].into_iter().collect(),
            ..Default::default()
        };
        let checked = |lengths: &[(AddressFamily, u8)], only| AllocateRequestChecked {
            lengths: lengths.iter().copied().collect(),
            only,
        };
        // (what, checked request, families of the super network's prefixes, expected)
        let cases = [
            (
                "super's default",
                checked(&[], None),
                vec![IPv4],
                vec![(IPv4, 26)],
            ),
            (
                "requested",
                checked(&[(IPv4, 28)], None),
                vec![IPv4],
                vec![(IPv4, 28)],
            ),
            (
                "built-in IPv6 default, duplicates once",
                checked(&[], None),
                vec![IPv4, IPv4, IPv6],
                vec![(IPv4, 26), (IPv6, DEFAULT_IPV6_CHILD_LENGTH)],
            ),
            (
                "only one family",
                checked(&[], Some(IPv6)),
                vec![IPv4, IPv6],
                vec![(IPv6, 64)],
            ),
        ];
        for (what, c, available, want) in cases {
            assert_eq!(child_lengths(&c, &sup, &available).unwrap(), want, "{what}");
        }
        let plain = Network::default();
        assert_eq!(
            child_lengths(&checked(&[], None), &plain, &[IPv4]).unwrap(),
            [(IPv4, DEFAULT_PRIVATE_NETWORK_PREFIX_LENGTH)]
        );
        let e = child_lengths(&checked(&[], Some(IPv6)), &sup, &[IPv4]).unwrap_err();
        assert_eq!(
            e,
            DomainError::unprocessable("the private super network super has no IPv6 prefix")
        );
    }

    #[test]
    fn tenant_network_takes_the_request_and_the_cut() {
        let mut r = req("p", "fra");
        r.name = "n".into();
        r.nat = true;
        r.destinationprefixes = vec!["0.0.0.0/0".into()];
        let n = tenant_network(&r, "super", "id1".into(), &[net("10.0.4.0/24")], 30);
        assert_eq!(
            (
                n.id.as_str(),
                n.name.as_str(),
                n.parentnetworkid.as_str(),
                n.vrf,
                n.nat
            ),
            ("id1", "n", "super", 30, true)
        );
        assert_eq!((n.projectid.as_str(), n.partitionid.as_str()), ("p", "fra"));
        assert_eq!(n.prefixes, ["10.0.4.0/24"]);
        assert_eq!(n.destinationprefixes, ["0.0.0.0/0"]);
        assert!(!n.privatesuper);
        assert_eq!(
            no_room(IPv4, 24, "super").to_string(),
            "no free /24 IPv4 prefix left in private super network super"
        );
    }

    #[test]
    fn super_network_child_lengths() {
        let mut n = Network::default();
        set_child_lengths(&mut n, &[net("10.0.0.0/16"), net("2001:db8::/48")], 22).unwrap();
        assert_eq!(
            n.defaultchildprefixlength,
            [(IPv4, 22), (IPv6, 64)].into_iter().collect()
        );
        let mut given = Network {
            defaultchildprefixlength: [(IPv4, 20)].into_iter().collect(),
            ..Default::default()
        };
        set_child_lengths(&mut given, &[net("10.0.0.0/16")], 22).unwrap();
        assert_eq!(given.defaultchildprefixlength[&IPv4], 20);
        let mut too_short = Network::default();
        let e = set_child_lengths(&mut too_short, &[net("10.0.0.0/24")], 22).unwrap_err();
        assert_eq!(
            e,
            DomainError::invalid(
                "child prefix length 22 must be longer than the prefix 10.0.0.0/24"
            )
        );
    }
}
