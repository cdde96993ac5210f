//! The checks of an allocation request (§4.1 steps A and B) that need nothing but values, and
//! the [`Allocation`] an allocated machine gets. Every error here is a 400, as in metal-stack.

use chrono::{DateTime, Utc};

use crate::error::{DomainError, DomainResult};
use crate::fsl::FilesystemLayout;
use crate::image::{Image, ImageFeature};
use crate::machine::{
    self, Allocation, FirewallRules, Machine, MachineAllocateRequest, MachineNetwork, Role,
};

/// What can be checked before anything is looked up: a network and an image are required.
pub fn check_request(req: &MachineAllocateRequest) -> DomainResult<()> {
    if req.networks.is_empty() {
        return Err(DomainError::invalid(
            "networks: at least one network is required",
        ));
    }
    if req.imageid.is_empty() {
        return Err(DomainError::invalid("imageid should not be empty"));
    }
    Ok(())
}

/// The firewall rules of the request, checked and normalized (firewalls only; a machine's
/// rules are ignored), and the image must be made for the role.
pub fn check_role(
    req: &MachineAllocateRequest,
    role: Role,
    image: &Image,
) -> DomainResult<Option<FirewallRules>> {
    let firewall_rules = match (role, &req.firewall_rules) {
        (Role::Firewall, Some(r)) => Some(r.validated()?),
        _ => None,
    };
    let feature = match role {
        Role::Firewall => ImageFeature::Firewall,
        Role::Machine => ImageFeature::Machine,
    };
    if !image.has_feature(feature) {
        return Err(DomainError::invalid(format!(
            "image {} does not have the feature {}",
            image.id,
            feature.as_str()
        )));
    }
    Ok(firewall_rules)
}

/// Without a machine uuid, the partition and size to choose from are required.
pub fn check_partition_and_size(req: &MachineAllocateRequest) -> DomainResult<()> {
    if req.partitionid.is_empty() || req.sizeid.is_empty() {
        return Err(DomainError::invalid(
            "partitionid and sizeid are required when no uuid is given",
        ));
    }
    Ok(())
}

/// With a machine uuid, a partition or size given must be the machine's; the request then
/// takes the machine's.
pub fn place_on(req: &mut MachineAllocateRequest, m: &Machine) -> DomainResult<()> {
    for (given, have, field) in [
        (&req.partitionid, &m.partitionid, "partitionid"),
        (&req.sizeid, &m.sizeid, "sizeid"),
    ] {
        if !given.is_empty() && given != have {
            return Err(DomainError::invalid(format!(
                "{field}: machine {} is in {have}, not {given}",
                m.id
            )));
        }
    }
    req.partitionid = m.partitionid.clone();
    req.sizeid = m.sizeid.clone();
    Ok(())
}

/// The rest of the request: a project, IPs that parse, SSH keys, an IP for every network
/// without autoacquire, and a firewall needs an address.
pub fn check_details(req: &MachineAllocateRequest, role: Role) -> DomainResult<()> {
    if req.projectid.is_empty() {
        return Err(DomainError::invalid("projectid should not be empty"));
    }
    for ip in &req.ips {
        crate::prefix::parse_ip("ips", ip)?;
    }
    for key in &req.ssh_pub_keys {
        machine::validate_ssh_key(key)?;
    }
    let given_ips = req.ips.len();
    let noauto = req.networks.iter().filter(|n| !n.autoacquire).count();
    if noauto > given_ips {
        return Err(DomainError::invalid(format!(
            "networks: {noauto} network(s) without autoacquire but only {given_ips} ip(s) given"
        )));
    }
    if role == Role::Firewall && given_ips == 0 && !req.networks.iter().any(|n| n.autoacquire) {
        return Err(DomainError::invalid(
            "a firewall needs an ip or a network with autoacquire",
        ));
    }
    Ok(())
}

/// The name of the allocation: the requested one, else the machine id.
pub fn allocation_name(req: &MachineAllocateRequest, machine_id: &str) -> String {
    if req.name.is_empty() {
        machine_id.to_string()
    } else {
        req.name.clone()
    }
}

/// Everything an allocation is made of besides the request.
#[derive(Debug, Clone)]
pub struct AllocationParts {
    pub allocationuuid: String,
    pub creator: String,
    pub created: DateTime<Utc>,
    pub name: String,
    pub role: Role,
    pub image_id: String,
    pub layout: FilesystemLayout,
    pub networks: Vec<MachineNetwork>,
    pub firewall_rules: Option<FirewallRules>,
}

/// The allocation a machine gets: hostname `metal` unless one is asked for.
pub fn new_allocation(req: &MachineAllocateRequest, parts: AllocationParts) -> Allocation {
    Allocation {
        allocationuuid: parts.allocationuuid,
        creator: parts.creator,
        created: Some(parts.created),
        name: parts.name,
        description: req.description.clone(),
        hostname: if req.hostname.is_empty() {
            "metal".into()
        } else {
            req.hostname.clone()
        },
        project: req.projectid.clone(),
        imageid: parts.image_id,
        filesystemlayout: Some(parts.layout),
        networks: parts.networks,
        ssh_pub_keys: req.ssh_pub_keys.clone(),
        user_data: req.user_data.clone(),
        role: parts.role,
        firewall_rules: parts.firewall_rules,
        dns_servers: req.dns_servers.clone(),
        ntp_servers: req.ntp_servers.clone(),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::machine::MachineAllocationNetwork;

    fn network(id: &str, autoacquire: bool) -> MachineAllocationNetwork {
        MachineAllocationNetwork {
            networkid: id.into(),
            autoacquire,
        }
    }

    fn request() -> MachineAllocateRequest {
        MachineAllocateRequest {
            projectid: "p".into(),
            partitionid: "fra".into(),
            sizeid: "s1".into(),
            imageid: "debian-12".into(),
            networks: vec![network("n", true)],
            ..Default::default()
        }
    }

    fn invalid(r: DomainResult<impl std::fmt::Debug>) -> String {
        match r {
            Err(DomainError::InvalidArgument(m)) => m,
            other => panic!("expected a 400, got {other:?}"),
        }
    }

    #[test]
    fn requests_need_networks_and_an_image() {
        assert!(check_request(&request()).is_ok());
        let mut no_nets = request();
        no_nets.networks.clear();
        assert_eq!(
            invalid(check_request(&no_nets)),
            "networks: at least one network is required"
        );
        let mut no_image = request();
        no_image.imageid.clear();
        assert_eq!(
            invalid(check_request(&no_image)),
            "imageid should not be empty"
        );
    }

    #[test]
    fn the_image_must_be_made_for_the_role() {
        let image = |features: &[ImageFeature]| Image {
            id: "img-1.0".into(),
            name: String::new(),
            description: String::new(),
            url: String::new(),
            features: features.to_vec(),
            expiration_date: DateTime::UNIX_EPOCH,
            classification: Default::default(),
            created: None,
            changed: None,
            usedby: None,
        };
        // (role, image features, ok)
        for (role, features, ok) in [
            (Role::Machine, &[ImageFeature::Machine][..], true),
            (Role::Firewall, &[ImageFeature::Firewall][..], true),
            (Role::Firewall, &[ImageFeature::Machine][..], false),
            (Role::Machine, &[ImageFeature::Firewall][..], false),
            (Role::Machine, &[][..], false),
        ] {
            let r = check_role(&request(), role, &image(features));
            assert_eq!(r.is_ok(), ok, "{role:?} {features:?}");
            if !ok {
                assert!(invalid(r).starts_with("image img-1.0 does not have the feature"));
            }
        }
    }

    #[test]
    fn a_machine_fixes_partition_and_size() {
        let m = Machine {
            id: "m1".into(),
            partitionid: "fra".into(),
            sizeid: "s1".into(),
            ..Default::default()
        };
        let mut open = MachineAllocateRequest::default();
        place_on(&mut open, &m).unwrap();
        assert_eq!(
            (open.partitionid.as_str(), open.sizeid.as_str()),
            ("fra", "s1")
        );
        let mut elsewhere = request();
        elsewhere.partitionid = "ber".into();
        assert_eq!(
            invalid(place_on(&mut elsewhere, &m)),
            "partitionid: machine m1 is in fra, not ber"
        );
        let mut other_size = request();
        other_size.sizeid = "s2".into();
        assert_eq!(
            invalid(place_on(&mut other_size, &m)),
            "sizeid: machine m1 is in s1, not s2"
        );
        let mut unplaced = request();
        unplaced.sizeid.clear();
        assert_eq!(
            invalid(check_partition_and_size(&unplaced)),
            "partitionid and sizeid are required when no uuid is given"
        );
    }

    #[test]
    fn details_are_checked() {
        let with = |f: &dyn Fn(&mut MachineAllocateRequest)| {
            let mut r = request();
            f(&mut r);
            r
        };
        // (what, request, role, expected message or None for ok)
        let cases: Vec<(&str, MachineAllocateRequest, Role, Option<&str>)> = vec![
            ("fine", request(), Role::Machine, None),
            (
                "no project",
                with(&|r| r.projectid.clear()),
                Role::Machine,
                Some("projectid should not be empty"),
            ),
            (
                "bad ip",
                with(&|r| r.ips = vec!["10.0.0".into()]),
                Role::Machine,
                Some("ips"),
            ),
            (
                "bad key",
                with(&|r| r.ssh_pub_keys = vec!["nope".into()]),
                Role::Machine,
                Some(""),
            ),
            (
                "static network without ip",
                with(&|r| r.networks = vec![network("a", false)]),
                Role::Machine,
                Some("networks: 1 network(s) without autoacquire but only 0 ip(s) given"),
            ),
            (
                "static network with ip",
                with(&|r| {
                    r.networks = vec![network("a", false)];
                    r.ips = vec!["10.0.0.1".into()];
                }),
                Role::Firewall,
                None,
            ),
            ("firewall with autoacquire", request(), Role::Firewall, None),
        ];
        for (what, r, role, want) in cases {
            match (check_details(&r, role), want) {
                (Ok(()), None) => {}
                (Err(DomainError::InvalidArgument(m)), Some(w)) => {
                    assert!(m.contains(w), "{what}: {m}")
                }
                (got, _) => panic!("{what}: {got:?}"),
            }
        }
    }

    #[test]
    fn the_allocation_takes_request_and_parts() {
        let mut r = request();
        r.description = "d".into();
        r.ssh_pub_keys = vec!["ssh-ed25519 AAAA".into()];
        assert_eq!(allocation_name(&r, "m1"), "m1");
        r.name = "web".into();
        assert_eq!(allocation_name(&r, "m1"), "web");
        let parts = AllocationParts {
            allocationuuid: "u".into(),
            creator: "admin".into(),
            created: DateTime::UNIX_EPOCH,
            name: allocation_name(&r, "m1"),
            role: Role::Firewall,
            image_id: "img-1.0".into(),
            layout: FilesystemLayout {
                id: "default".into(),
                ..Default::default()
            },
            networks: vec![],
            firewall_rules: None,
        };
        let a = new_allocation(&r, parts.clone());
        assert_eq!(
            (
                a.name.as_str(),
                a.hostname.as_str(),
                a.project.as_str(),
                a.imageid.as_str()
            ),
            ("web", "metal", "p", "img-1.0")
        );
        assert_eq!(
            (a.role, a.creator.as_str(), a.created),
            (Role::Firewall, "admin", Some(DateTime::UNIX_EPOCH))
        );
        assert_eq!(
            a.filesystemlayout.map(|l| l.id),
            Some("default".to_string())
        );
        assert_eq!((a.description.as_str(), a.ssh_pub_keys.len()), ("d", 1));
        r.hostname = "fw".into();
        assert_eq!(new_allocation(&r, parts).hostname, "fw");
    }
}
