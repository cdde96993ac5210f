//! Allocation decisions (§4.1) as pure functions: which waiting machine a project gets (size
//! reservations, rack spreading with placement tags), and which networks an allocation attaches
//! with which roles. The app layer loads the inputs and writes the result in one transaction.

mod request;

pub use request::{
    allocation_name, check_details, check_partition_and_size, check_request, check_role,
    new_allocation, place_on, AllocationParts,
};

use std::collections::{BTreeMap, BTreeSet};

use crate::error::{DomainError, DomainResult};
use crate::machine::{MachineAllocationNetwork, NetworkKind, Role};
use crate::network::Network;

/// An allocated machine in the same partition, for spreading and reservations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placed {
    pub project: String,
    pub rack: String,
    pub size: String,
    pub tags: Vec<String>,
}

/// A size reservation that applies to the partition: `amount` machines of the size kept for
/// `project`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reservation {
    pub project: String,
    pub amount: u64,
}

/// Whether `project` may take one of `candidates` given the reservations of the size in the
/// partition (§4.1 5d): reserved machines that their projects have not used yet are kept back.
pub fn reservations_allow(
    project: &str,
    size: &str,
    candidates: usize,
    reservations: &[Reservation],
    placed: &[Placed],
) -> bool {
    let mut kept_back: u64 = 0;
    for r in reservations {
        let used = placed
            .iter()
            .filter(|p| p.project == r.project && p.size == size)
            .count() as u64;
        if r.project == project && used < r.amount {
            return true;
        }
        kept_back += r.amount.saturating_sub(used);
    }
    kept_back < candidates as u64
}

/// Racks with the fewest of `count` among the racks that have candidates.
fn least_loaded_racks<'r>(
    racks: impl Iterator<Item = &'r str>,
    count: impl Fn(&str) -> usize,
) -> BTreeSet<String> {
    let racks: BTreeSet<&str> = racks.collect();
    let loads: BTreeMap<&str, usize> = racks.iter().map(|r| (*r, count(r))).collect();
    let min = loads.values().copied().min().unwrap_or(0);
    loads
        .into_iter()
        .filter(|(_, n)| *n == min)
        .map(|(r, _)| r.to_string())
        .collect()
}

/// The candidates of one rack, counted (what the store answers for a fleet: a row per rack,
/// not per machine).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RackCount {
    pub rack: String,
    pub count: usize,
}

/// Picks the machine (§4.1 5d, 5e) from the candidates counted per rack: reservations first
/// (reserved machines their projects have not used yet are kept back), then rack spreading
/// (counting machines of the same size, as metal-stack does from v0.41.3): racks where the
/// project has the fewest machines, and among those the fewest carrying any of the placement
/// tags — when the two elections do not meet, tags win — then `pick` (a random number from the
/// caller). Answers the rack and the position (among that rack's candidates in id order) of
/// the machine to take; every preferred candidate is equally likely. `None` = "no machine
/// available".
pub fn choose_slot(
    project: &str,
    size: &str,
    placement_tags: &[String],
    racks: &[RackCount],
    placed: &[Placed],
    reservations: &[Reservation],
    pick: usize,
) -> Option<(String, usize)> {
    let racks: Vec<&RackCount> = racks.iter().filter(|r| r.count > 0).collect();
    let total: usize = racks.iter().map(|r| r.count).sum();
    if total == 0 || !reservations_allow(project, size, total, reservations, placed) {
        return None;
    }
    let mine: Vec<&Placed> = placed
        .iter()
        .filter(|p| p.project == project && p.size == size)
        .collect();
    let names = || racks.iter().map(|r| r.rack.as_str());
    let project_racks =
        least_loaded_racks(names(), |r| mine.iter().filter(|p| p.rack == r).count());
    let tagged = |p: &Placed| p.tags.iter().any(|t| placement_tags.contains(t));
    let tag_racks = least_loaded_racks(names(), |r| {
        mine.iter().filter(|p| p.rack == r && tagged(p)).count()
    });
    let both: Vec<&&RackCount> = racks
        .iter()
        .filter(|r| project_racks.contains(&r.rack) && tag_racks.contains(&r.rack))
        .collect();
    let preferred: Vec<&&RackCount> = if both.is_empty() {
        racks
            .iter()
            .filter(|r| tag_racks.contains(&r.rack))
            .collect()
    } else {
        both
    };
    let mut k = pick % preferred.iter().map(|r| r.count).sum::<usize>().max(1);
    for r in preferred {
        if k < r.count {
            return Some((r.rack.clone(), k));
        }
        k -= r.count;
    }
    None
}

/// A network the allocation attaches, with its role and the IPs it brings.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedNetwork {
    pub network: Network,
    pub kind: NetworkKind,
    /// acquire an ephemeral IP in it
    pub auto: bool,
    /// given IPs (addresses) in this network
    pub ips: Vec<String>,
}

/// An IP given in the request, as loaded: its network and project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GivenIp {
    pub address: String,
    pub network: String,
    pub project: String,
}

/// What network gathering needs to know besides the requested networks.
#[derive(Debug, Clone, Copy)]
pub struct NetworkContext<'a> {
    pub role: Role,
    pub project: &'a str,
    pub partition: &'a str,
    /// ids of the private super networks (tenant networks hang under them)
    pub privatesupers: &'a [String],
    /// the partition's underlay network (required for firewalls)
    pub underlay: Option<&'a Network>,
}

/// Gathers the networks of an allocation (§4.1 step 8) from the requested networks, each with
/// its loaded network, and the IPs given in the request.
pub fn gather_networks(
    ctx: &NetworkContext<'_>,
    requested: &[(MachineAllocationNetwork, Network)],
    ips: &[GivenIp],
) -> DomainResult<Vec<PlannedNetwork>> {
    let NetworkContext {
        role,
        project,
        partition,
        privatesupers,
        underlay,
    } = *ctx;
    let mut seen = BTreeSet::new();
    let mut planned: Vec<PlannedNetwork> = Vec::new();
    for (req, n) in requested {
        if !seen.insert(n.id.as_str()) {
            return Err(DomainError::invalid(format!(
                "networks: network {} is given twice",
                n.id
            )));
        }
        if n.underlay {
            return Err(DomainError::invalid(format!(
                "networks: the underlay network {} is not allowed to be set explicitly",
                n.id
            )));
        }
        if n.privatesuper {
            return Err(DomainError::invalid(format!(
                "networks: the private super network {} is not allowed to be set explicitly",
                n.id
            )));
        }
        let private = !n.parentnetworkid.is_empty() && privatesupers.contains(&n.parentnetworkid);
        let kind = match (private, n.shared) {
            (true, true) => NetworkKind::PrivateSecondaryShared,
            (true, false) => NetworkKind::PrivatePrimaryUnshared,
            (false, _) => NetworkKind::External,
        };
        planned.push(PlannedNetwork {
            network: n.clone(),
            kind,
            auto: req.autoacquire,
            ips: Vec::new(),
        });
    }
    let unshared = planned
        .iter()
        .filter(|p| p.kind == NetworkKind::PrivatePrimaryUnshared)
        .count();
    if unshared > 1 {
        return Err(DomainError::invalid(
            "networks: only one unshared private network may be given",
        ));
    }
    let private = planned.iter().filter(|p| p.kind.is_private()).count();
    if private == 0 {
        return Err(DomainError::invalid("networks: no private network given"));
    }
    if unshared == 0 {
        let shared: Vec<usize> = (0..planned.len())
            .filter(|i| planned[*i].kind == NetworkKind::PrivateSecondaryShared)
            .collect();
        if shared.len() > 1 {
            return Err(DomainError::invalid(
                "networks: without an unshared private network exactly one shared private network may be given",
            ));
        }
        planned[shared[0]].kind = NetworkKind::PrivatePrimaryShared;
    }
    if role == Role::Machine && private > 1 {
        return Err(DomainError::invalid(
            "networks: a machine may have only one private network",
        ));
    }
    for p in planned.iter().filter(|p| {
        matches!(
            p.kind,
            NetworkKind::PrivatePrimaryUnshared | NetworkKind::PrivatePrimaryShared
        )
    }) {
        if p.network.projectid != project && p.kind == NetworkKind::PrivatePrimaryUnshared {
            return Err(DomainError::unprocessable(format!(
                "networks: the private network {} belongs to project {}, not to {project}",
                p.network.id, p.network.projectid
            )));
        }
    }
    for ip in ips {
        if ip.project != project {
            return Err(DomainError::unprocessable(format!(
                "ips: {} belongs to project {:?}, not to {project}",
                ip.address, ip.project
            )));
        }
        let Some(p) = planned.iter_mut().find(|p| p.network.id == ip.network) else {
            return Err(DomainError::unprocessable(format!(
                "ips: {} lies in network {}, which the allocation does not attach",
                ip.address, ip.network
            )));
        };
        p.auto = false;
        p.ips.push(ip.address.clone());
    }
    for p in planned.iter().filter(|p| p.kind.is_private()) {
        if p.network.partitionid != partition {
            return Err(DomainError::unprocessable(format!(
                "networks: the private network {} is in partition {:?}, not in {partition}",
                p.network.id, p.network.partitionid
            )));
        }
        if !p.auto && p.ips.is_empty() {
            return Err(DomainError::invalid(format!(
                "networks: the private network {} neither acquires an ip nor is given one",
                p.network.id
            )));
        }
    }
    if role == Role::Firewall {
        let Some(u) = underlay else {
            return Err(DomainError::unprocessable(format!(
                "partition {partition} has no underlay network"
            )));
        };
        planned.push(PlannedNetwork {
            network: u.clone(),
            kind: NetworkKind::Underlay,
            auto: true,
            ips: Vec::new(),
        });
    }
    Ok(planned)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn placed(project: &str, rack: &str, tags: &[&str]) -> Placed {
        Placed {
            project: project.into(),
            rack: rack.into(),
            size: "s".into(),
            tags: tags.iter().map(|t| t.to_string()).collect(),
        }
    }

    #[test]
    fn reservations() {
        let r = vec![Reservation {
            project: "p1".into(),
            amount: 2,
        }];
        // two reserved for p1, three candidates: p2 may take one, not two
        assert!(reservations_allow("p2", "s", 3, &r, &[]));
        assert!(!reservations_allow("p2", "s", 2, &r, &[]));
        // p1 may always use its reservation
        assert!(reservations_allow("p1", "s", 1, &r, &[]));
        // once p1 used both, nothing is kept back
        let used = vec![placed("p1", "r1", &[]), placed("p1", "r1", &[])];
        assert!(reservations_allow("p2", "s", 1, &r, &used));
        assert!(
            reservations_allow("p1", "s", 1, &r, &used),
            "p1 beyond its reservation competes like others"
        );
    }

    #[test]
    fn spreading_prefers_empty_racks_and_tags_win() {
        let racks: Vec<RackCount> = ["r1", "r2", "r3"]
            .iter()
            .map(|r| RackCount {
                rack: r.to_string(),
                count: 1,
            })
            .collect();
        let slot = |tags: &[&str], placed: &[Placed]| {
            let tags: Vec<String> = tags.iter().map(|t| t.to_string()).collect();
            let mut racks_chosen: Vec<String> = (0..3)
                .map(|k| {
                    choose_slot("p", "s", &tags, &racks, placed, &[], k)
                        .unwrap()
                        .0
                })
                .collect();
            racks_chosen.sort();
            racks_chosen.dedup();
            racks_chosen
        };
        let mine = vec![
            placed("p", "r1", &["db"]),
            placed("p", "r2", &[]),
            placed("other", "r3", &[]),
        ];
        assert_eq!(slot(&[], &mine), vec!["r3"]);
        // project racks: r2 (0); tag racks (db): r2, r3 (0) → both: r2
        let mine2 = vec![
            placed("p", "r1", &["db"]),
            placed("p", "r3", &[]),
            placed("p", "r3", &[]),
        ];
        assert_eq!(slot(&["db"], &mine2), vec!["r2"]);
        // project racks r2, r3 (1 each), tag racks r1 (0 tagged): they do not meet, tags win
        let mine3 = vec![
            placed("p", "r1", &[]),
            placed("p", "r1", &[]),
            placed("p", "r3", &["db"]),
            placed("p", "r2", &["db"]),
        ];
        assert_eq!(slot(&["db"], &mine3), vec!["r1"]);
        // other sizes do not count
        let other_size = vec![Placed {
            size: "big".into(),
            ..placed("p", "r3", &[])
        }];
        assert_eq!(slot(&[], &other_size).len(), 3);
    }

    #[test]
    fn slots_follow_spreading_and_are_uniform() {
        let racks = vec![
            RackCount {
                rack: "r1".into(),
                count: 2,
            },
            RackCount {
                rack: "r2".into(),
                count: 3,
            },
            RackCount {
                rack: "r3".into(),
                count: 0,
            },
        ];
        // the project has a machine in r1: only r2 is preferred, each of its 3 slots in turn
        let mine = vec![placed("p", "r1", &[])];
        let slots: Vec<_> = (0..6)
            .map(|k| choose_slot("p", "s", &[], &racks, &mine, &[], k).unwrap())
            .collect();
        assert_eq!(
            slots[..3],
            [
                ("r2".to_string(), 0),
                ("r2".to_string(), 1),
                ("r2".to_string(), 2)
            ]
        );
        assert_eq!(slots[3], ("r2".to_string(), 0));
        // nothing placed: all 5 slots of r1 and r2
        let all: std::collections::BTreeSet<_> = (0..5)
            .map(|k| choose_slot("p", "s", &[], &racks, &[], &[], k).unwrap())
            .collect();
        assert_eq!(all.len(), 5);
        // reservations of another project keep machines back
        let r = vec![Reservation {
            project: "q".into(),
            amount: 5,
        }];
        assert_eq!(choose_slot("p", "s", &[], &racks, &[], &r, 0), None);
        assert_eq!(choose_slot("p", "s", &[], &[], &[], &[], 0), None);
    }

    fn net(id: &str, parent: &str, project: &str, shared: bool) -> Network {
        Network {
            id: id.into(),
            parentnetworkid: parent.into(),
            projectid: project.into(),
            shared,
            partitionid: "fra".into(),
            ..Default::default()
        }
    }

    fn gather(
        role: Role,
        nets: &[&Network],
        ips: &[GivenIp],
        underlay: Option<&Network>,
    ) -> DomainResult<Vec<PlannedNetwork>> {
        let supers = vec!["super".to_string()];
        let ctx = NetworkContext {
            role,
            project: "p",
            partition: "fra",
            privatesupers: &supers,
            underlay,
        };
        let requested: Vec<_> = nets
            .iter()
            .map(|n| {
                (
                    MachineAllocationNetwork {
                        networkid: n.id.clone(),
                        autoacquire: true,
                    },
                    (*n).clone(),
                )
            })
            .collect();
        gather_networks(&ctx, &requested, ips)
    }

    #[test]
    fn network_gathering() {
        let private = net("priv", "super", "p", false);
        let shared = net("shared", "super", "q", true);
        let internet = Network {
            id: "internet".into(),
            shared: true,
            ..Default::default()
        };
        let underlay = Network {
            id: "underlay".into(),
            underlay: true,
            partitionid: "fra".into(),
            ..Default::default()
        };
        let other = net("other", "super", "q", false);
        let far = Network {
            partitionid: "ams".into(),
            ..net("far", "super", "p", false)
        };
        let plan = gather(Role::Machine, &[&private, &internet], &[], None).unwrap();
        assert_eq!(
            plan.iter().map(|p| p.kind).collect::<Vec<_>>(),
            vec![NetworkKind::PrivatePrimaryUnshared, NetworkKind::External]
        );
        // a lone shared private network becomes the primary
        let plan = gather(Role::Machine, &[&shared], &[], None).unwrap();
        assert_eq!(plan[0].kind, NetworkKind::PrivatePrimaryShared);
        // firewalls get the underlay and may have several private networks
        let plan = gather(Role::Firewall, &[&private, &shared], &[], Some(&underlay)).unwrap();
        assert_eq!(plan.last().unwrap().kind, NetworkKind::Underlay);
        assert_eq!(plan[1].kind, NetworkKind::PrivateSecondaryShared);
        // given ips switch auto-acquire off and must be the project's
        let ip = GivenIp {
            address: "185.1.2.3".into(),
            network: "internet".into(),
            project: "p".into(),
        };
        let plan = gather(
            Role::Machine,
            &[&private, &internet],
            std::slice::from_ref(&ip),
            None,
        )
        .unwrap();
        assert!(!plan[1].auto);
        assert_eq!(plan[1].ips, vec!["185.1.2.3"]);
        let foreign_ip = GivenIp {
            project: "q".into(),
            ..ip.clone()
        };
        let errors = [
            (
                gather(Role::Machine, &[&internet], &[], None),
                "no private network",
            ),
            (
                gather(Role::Machine, &[&private, &private], &[], None),
                "twice",
            ),
            (
                gather(Role::Machine, &[&private, &shared], &[], None),
                "only one private",
            ),
            (gather(Role::Machine, &[&underlay], &[], None), "underlay"),
            (
                gather(Role::Machine, &[&other], &[], None),
                "belongs to project q",
            ),
            (
                gather(Role::Firewall, &[&private], &[], None),
                "no underlay",
            ),
            (
                gather(
                    Role::Machine,
                    &[&private],
                    std::slice::from_ref(&foreign_ip),
                    None,
                ),
                "belongs to project",
            ),
            (
                gather(Role::Machine, &[&private], std::slice::from_ref(&ip), None),
                "does not attach",
            ),
            (gather(Role::Machine, &[&far], &[], None), "not in fra"),
        ];
        for (result, want) in errors {
            let e = result.unwrap_err().to_string();
            assert!(e.contains(want), "{e} lacks {want}");
        }
    }
}
