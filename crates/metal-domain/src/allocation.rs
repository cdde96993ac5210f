//! Allocation decisions (§4.1) as pure functions: which waiting machine a project gets (size
//! reservations, rack spreading with placement tags), and which networks an allocation attaches
//! with which roles. The app layer loads the inputs and writes the result in one transaction.

use std::collections::{BTreeMap, BTreeSet};

use crate::error::{DomainError, DomainResult};
use crate::machine::{MachineAllocationNetwork, NetworkKind, Role};
use crate::network::Network;

/// A machine that could be allocated: waiting, alive, available, not reserved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub id: String,
    pub rack: String,
}

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
fn least_loaded(candidates: &[Candidate], count: impl Fn(&str) -> usize) -> BTreeSet<String> {
    let racks: BTreeSet<&str> = candidates.iter().map(|c| c.rack.as_str()).collect();
    let loads: BTreeMap<&str, usize> = racks.iter().map(|r| (*r, count(r))).collect();
    let min = loads.values().copied().min().unwrap_or(0);
    loads
        .into_iter()
        .filter(|(_, n)| *n == min)
        .map(|(r, _)| r.to_string())
        .collect()
}

/// The candidates rack spreading prefers (§4.1 5e, counting machines of the same size, as
/// metal-stack does from v0.41.3): racks where the project has the fewest machines, and among
/// those the fewest carrying any of the placement tags; when the two elections do not meet,
/// tags win.
pub fn spread<'a>(
    project: &str,
    size: &str,
    placement_tags: &[String],
    candidates: &'a [Candidate],
    placed: &[Placed],
) -> Vec<&'a Candidate> {
    let mine: Vec<&Placed> = placed
        .iter()
        .filter(|p| p.project == project && p.size == size)
        .collect();
    let project_racks = least_loaded(candidates, |r| mine.iter().filter(|p| p.rack == r).count());
    let tagged = |p: &Placed| p.tags.iter().any(|t| placement_tags.contains(t));
    let tag_racks = least_loaded(candidates, |r| {
        mine.iter().filter(|p| p.rack == r && tagged(p)).count()
    });
    let both: Vec<&Candidate> = candidates
        .iter()
        .filter(|c| project_racks.contains(&c.rack) && tag_racks.contains(&c.rack))
        .collect();
    if !both.is_empty() {
        return both;
    }
    candidates
        .iter()
        .filter(|c| tag_racks.contains(&c.rack))
        .collect()
}

/// Picks the machine: reservations first, then spreading, then `pick` (a random number from
/// the caller) among the preferred. `None` = "no machine available".
pub fn choose<'a>(
    project: &str,
    size: &str,
    placement_tags: &[String],
    candidates: &'a [Candidate],
    placed: &[Placed],
    reservations: &[Reservation],
    pick: usize,
) -> Option<&'a Candidate> {
    if candidates.is_empty()
        || !reservations_allow(project, size, candidates.len(), reservations, placed)
    {
        return None;
    }
    let preferred = spread(project, size, placement_tags, candidates, placed);
    preferred.get(pick % preferred.len().max(1)).copied()
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

    fn c(id: &str, rack: &str) -> Candidate {
        Candidate {
            id: id.into(),
            rack: rack.into(),
        }
    }
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
        let cands = vec![c("a", "r1"), c("b", "r2"), c("d", "r3")];
        let mine = vec![
            placed("p", "r1", &["db"]),
            placed("p", "r2", &[]),
            placed("other", "r3", &[]),
        ];
        let ids = |v: Vec<&Candidate>| v.into_iter().map(|c| c.id.clone()).collect::<Vec<_>>();
        assert_eq!(ids(spread("p", "s", &[], &cands, &mine)), vec!["d"]);
        let mine2 = vec![
            placed("p", "r1", &["db"]),
            placed("p", "r3", &[]),
            placed("p", "r3", &[]),
        ];
        // project racks: r2 (0); tag racks (db): r2, r3 (0) → both: r2
        assert_eq!(
            ids(spread("p", "s", &["db".into()], &cands, &mine2)),
            vec!["b"]
        );
        // project racks r2; tag racks r2/r3 exclude... make them disjoint: tags win
        let mine3 = vec![
            placed("p", "r1", &[]),
            placed("p", "r3", &["db"]),
            placed("p", "r2", &["db"]),
            placed("p", "r2", &["db"]),
        ];
        assert_eq!(
            ids(spread("p", "s", &["db".into()], &cands, &mine3)),
            vec!["a"]
        );
        // other sizes do not count
        let other_size = vec![Placed {
            size: "big".into(),
            ..placed("p", "r3", &[])
        }];
        assert_eq!(ids(spread("p", "s", &[], &cands, &other_size)).len(), 3);
        assert_eq!(
            choose("p", "s", &[], &cands, &mine, &[], 7).map(|c| c.id.as_str()),
            Some("d")
        );
        assert_eq!(choose("p", "s", &[], &[], &mine, &[], 0), None);
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
