//! Machine and firewall allocation (§4.1) as one transaction: the candidate is claimed, its
//! IPs, ASN and allocation are written together, or nothing is. There is no "preallocated" flag
//! and no rollback that can fail: a failed request leaves no trace, and two concurrent requests
//! never get the same machine (the claim locks the row; on PostgreSQL a concurrent allocation
//! skips it instead of waiting).

use metal_domain::allocation::{self, AllocationParts, GivenIp, NetworkContext, PlannedNetwork};
use metal_domain::event::EventType;
use metal_domain::fsl::{self, FilesystemLayout};
use metal_domain::ids::{PartitionId, SizeId};
use metal_domain::image::Image;
use metal_domain::ip::{self as ipdom, Ip, IpType};
use metal_domain::machine::BmcCommand;
use metal_domain::machine::{
    self, Machine, MachineAllocateRequest, MachineNetwork, NetworkKind, Role,
};
use metal_domain::network::Network;
use metal_domain::pool::{self, ASN};
use metal_domain::project::Project;
use metal_domain::sic::{self, SizeImageConstraint};
use metal_domain::size::Size;
use metal_store::docs::{NetworkFilter, SizeReservationFilter, Stored};
use metal_store::{docs, ipam, machines, Tx};
use rand::Rng;

use super::store_err;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// Step A of §4.1: everything that can be checked before choosing a machine. Every error is a
/// 400, as in metal-stack.
struct Spec {
    req: MachineAllocateRequest,
    role: Role,
    image: Image,
    size: Size,
    partition: PartitionId,
    machine: Option<Machine>,
    firewall_rules: Option<machine::FirewallRules>,
}

async fn build_spec(
    app: &AppState,
    mut req: MachineAllocateRequest,
    role: Role,
) -> ApiResult<Spec> {
    let bad = |e: ApiError| ApiError::bad_request(e.to_string());
    allocation::check_request(&req)?;
    // without a machine, image and size are read side by side (a machine's size is known only
    // once it is read); their errors count in the order of the checks
    let (image, size) = if req.uuid.is_empty() {
        let (image, size) = tokio::join!(
            super::image::latest(app, &req.imageid),
            super::get::<Size>(app, &req.sizeid)
        );
        (image, Some(size))
    } else {
        (super::image::latest(app, &req.imageid).await, None)
    };
    let image = image.map_err(bad)?;
    let firewall_rules = allocation::check_role(&req, role, &image)?;
    let machine = if req.uuid.is_empty() {
        allocation::check_partition_and_size(&req)?;
        None
    } else {
        let m = super::get::<Machine>(app, &req.uuid).await.map_err(bad)?;
        allocation::place_on(&mut req, &m)?;
        Some(m)
    };
    let size = match size {
        Some(size) => size,
        None => super::get::<Size>(app, &req.sizeid).await,
    }
    .map_err(bad)?;
    Ok(Spec {
        partition: PartitionId::new(&req.partitionid),
        req,
        role,
        image,
        size,
        machine,
        firewall_rules,
    })
}

/// Step B's checks that need no machine yet. The three reads run side by side (each on a
/// pool connection of its own); their errors count in the order of the checks.
async fn check_spec(app: &AppState, s: &Spec) -> ApiResult<(Project, FilesystemLayout)> {
    let req = &s.req;
    allocation::check_details(req, s.role)?;
    let constraint = async {
        let mut conn = app.store.reader().acquire().await.map_err(store_err)?;
        Ok::<_, ApiError>(
            docs::get::<SizeImageConstraint>(&mut conn, &s.size.id)
                .await?
                .map(|c| c.value),
        )
    };
    let project = super::get::<Project>(app, &req.projectid);
    let layouts = async {
        if !req.filesystemlayoutid.is_empty() {
            return Ok(None);
        }
        let mut conn = app.store.reader().acquire().await.map_err(store_err)?;
        Ok::<_, ApiError>(Some(
            docs::list_by_creation::<FilesystemLayout>(&mut conn).await?,
        ))
    };
    let (constraint, project, layouts) = tokio::join!(constraint, project, layouts);
    sic::check(constraint?.as_ref(), &s.size.id, &s.image)?;
    let project = project?;
    let layout = match layouts? {
        Some(layouts) => match fsl::from(&layouts, &s.size.id, &s.image.id) {
            Ok(l) => l.clone(),
            Err(e) => return Err(ApiError::unprocessable(e.to_string())),
        },
        None => super::get::<FilesystemLayout>(app, &req.filesystemlayoutid).await?,
    };
    Ok((project, layout))
}

/// `POST /v1/machine/allocate` and `/v1/firewall/allocate`.
pub async fn allocate(
    app: &AppState,
    req: MachineAllocateRequest,
    role: Role,
    creator: &str,
) -> ApiResult<Machine> {
    let spec = build_spec(app, req, role).await?;
    let (project, layout) = check_spec(app, &spec).await?;
    let mut tx = app.store.begin().await?;
    let machine = pick(app, &mut tx, &spec, &project).await?;
    let m = allocate_to(&mut tx, &spec, &project, &layout, machine, creator).await?;
    // delivered to the other replicas' Wait streams when the transaction commits
    metal_store::notify::notify(
        &mut tx,
        app.store.backend(),
        metal_store::notify::Channel::Allocation,
        &m.id,
    )
    .await?;
    tx.commit().await.map_err(store_err)?;
    app.waiters.wake(&m.id);
    Ok(m)
}

/// The machine to allocate, claimed for this transaction, as stored.
async fn pick(
    app: &AppState,
    tx: &mut Tx,
    s: &Spec,
    project: &Project,
) -> ApiResult<Stored<Machine>> {
    let backend = app.store.backend();
    if let Some(quota) = project
        .quotas
        .as_ref()
        .and_then(|q| q.machine.as_ref())
        .and_then(|q| q.quota)
    {
        docs::lock::<Project>(tx, &project.meta.id).await?;
        if machines::count_of_project(tx, &project.meta.id).await? >= i64::from(quota) {
            return Err(ApiError::unprocessable(format!(
                "project {} has reached its quota of {quota} machine(s)",
                project.meta.id
            )));
        }
    }
    if let Some(m) = &s.machine {
        if !machines::claim(tx, backend, &m.id).await? {
            return Err(ApiError::unprocessable(format!(
                "machine {} is already allocated",
                m.id
            )));
        }
        return Ok(docs::must_get::<Machine>(tx, &m.id).await?);
    }
    // Size reservations (§4.1 5d): every allocation of this size in this partition locks the
    // reservation rows that apply (in id order) before it counts candidates and placed
    // machines, so each count sees the allocations committed before it and stays exact.
    use metal_domain::reservation::{self as resv, SizeReservation};
    let mut reserved = Vec::new();
    for r in docs::find::<SizeReservation>(tx, &[SizeReservationFilter::Size(&s.size.id)]).await? {
        if r.applies_to(&s.partition) && docs::lock::<SizeReservation>(tx, &r.id).await? {
            reserved.push(r);
        }
    }
    let reservations = resv::for_allocation(&reserved, &s.size.id, &s.partition);
    // candidates are counted per rack (no row per machine), then one is claimed; without
    // reservations, counts up to a moment old serve (a hint: the claim decides, and "none"
    // is only answered after counting afresh)
    let size = SizeId::new(&s.size.id);
    let keep = reservations.is_empty();
    let kept = if keep {
        app.candidates.get(s.partition.as_str(), &s.size.id)
    } else {
        None
    };
    let mut fresh = kept.is_none();
    let mut racks = match kept {
        Some(r) => r,
        None => count_candidates(app, tx, s, keep).await?,
    };
    // spreading looks at the project's machines, reservations at their projects' machines
    let mut projects = vec![project.meta.id.as_str()];
    projects.extend(reservations.iter().map(|r| r.project.as_str()));
    projects.sort_unstable();
    projects.dedup();
    let tags_of = (!s.req.placement_tags.is_empty()).then_some(project.meta.id.as_str());
    let placed = machines::placed(tx, &s.partition, &size, &projects, tags_of).await?;
    loop {
        let pick = rand::thread_rng().gen::<u32>() as usize;
        let Some((rack, offset)) = allocation::choose_slot(
            &project.meta.id,
            &s.size.id,
            &s.req.placement_tags,
            &racks,
            &placed,
            &reservations,
            pick,
        ) else {
            if !fresh {
                racks = count_candidates(app, tx, s, keep).await?;
                fresh = true;
                continue;
            }
            return Err(ApiError::unprocessable(format!(
                "no machine available in partition {} with size {}",
                s.partition, s.size.id
            )));
        };
        if let Some(m) =
            machines::claim_in_rack(tx, backend, &s.partition, &size, &rack, offset).await?
        {
            if keep {
                app.candidates.took(s.partition.as_str(), &s.size.id, &rack);
            }
            return Ok(m);
        }
        // the rack's candidates were all taken by concurrent allocations: choose again
        racks.retain(|r| r.rack != rack);
    }
}

/// Counts the candidates per rack now, and keeps the count for the next allocations when
/// `keep`.
async fn count_candidates(
    app: &AppState,
    tx: &mut Tx,
    s: &Spec,
    keep: bool,
) -> ApiResult<Vec<allocation::RackCount>> {
    let racks = machines::candidate_racks(tx, &s.partition, &SizeId::new(&s.size.id)).await?;
    if keep {
        app.candidates.put(s.partition.as_str(), &s.size.id, &racks);
    }
    Ok(racks)
}

async fn allocate_to(
    tx: &mut Tx,
    s: &Spec,
    project: &Project,
    layout: &FilesystemLayout,
    stored: Stored<Machine>,
    creator: &str,
) -> ApiResult<Machine> {
    let mut m = stored.value;
    let disks: Vec<(String, u64)> = m
        .hardware
        .disks
        .iter()
        .map(|d| (d.name.clone(), d.size))
        .collect();
    layout.matches(&disks)?;
    let planned = gather(tx, s, project).await?;
    let asn = pool::asn_of(super::integer_pool::acquire_random(tx, &ASN).await?);
    let name = allocation::allocation_name(&s.req, &m.id);
    let mut networks = Vec::with_capacity(planned.len());
    for p in planned {
        networks.push(attach(tx, &m.id, &name, &s.req.projectid, p, asn).await?);
    }
    let primary_asn = networks.iter().find(|n| n.private).map(|n| n.asn);
    m.tags = machine::tags_with_system_labels(
        &s.req.tags,
        primary_asn,
        &m.rackid,
        &m.ipmi.fru.chassis_part_serial,
    );
    m.allocation = Some(allocation::new_allocation(
        &s.req,
        AllocationParts {
            allocationuuid: uuid::Uuid::new_v4().to_string(),
            creator: creator.to_string(),
            created: metal_store::time::now(),
            name,
            role: s.role,
            image_id: s.image.id.clone(),
            layout: layout.clone(),
            networks,
            firewall_rules: s.firewall_rules.clone(),
        },
    ));
    // the revision read when the machine was claimed (its row is locked since)
    docs::update(tx, &mut m, stored.revision).await?;
    Ok(m)
}

/// Loads what network gathering needs and gathers (§4.1 step 8).
async fn gather(tx: &mut Tx, s: &Spec, project: &Project) -> ApiResult<Vec<PlannedNetwork>> {
    let mut requested = Vec::with_capacity(s.req.networks.len());
    for n in &s.req.networks {
        let net = docs::get::<Network>(tx, &n.networkid)
            .await?
            .ok_or_else(|| {
                ApiError::not_found(format!("no network with id {:?} found", n.networkid))
            })?
            .value;
        requested.push((n.clone(), net));
    }
    let in_partition = docs::find::<Network>(tx, &[NetworkFilter::Partition(&s.partition)]).await?;
    let privatesupers: Vec<String> =
        docs::find::<Network>(tx, &[NetworkFilter::PrivateSuper(true)])
            .await?
            .into_iter()
            .map(|n| n.id)
            .collect();
    let underlay = in_partition.iter().find(|n| n.underlay);
    let mut given = Vec::with_capacity(s.req.ips.len());
    for address in &s.req.ips {
        let ip = ipam::get_ip(tx, address)
            .await?
            .ok_or_else(|| ApiError::unprocessable(format!("ips: {address} is not allocated")))?
            .value;
        given.push(GivenIp {
            address: ip.ipaddress,
            network: ip.networkid,
            project: ip.projectid,
        });
    }
    let ctx = NetworkContext {
        role: s.role,
        project: &project.meta.id,
        partition: &s.partition,
        privatesupers: &privatesupers,
        underlay,
    };
    Ok(allocation::gather_networks(&ctx, &requested, &given)?)
}

/// Acquires the network's ephemeral IP (when auto), tags the given IPs with the machine, and
/// answers the network as the machine sees it.
async fn attach(
    tx: &mut Tx,
    machine_id: &str,
    name: &str,
    project: &str,
    p: PlannedNetwork,
    asn: u64,
) -> ApiResult<MachineNetwork> {
    let tag = ipdom::machine_tag(machine_id);
    let mut ips = p.ips.clone();
    for address in &p.ips {
        let stored = ipam::get_ip(tx, address)
            .await?
            .ok_or_else(|| ApiError::unprocessable(format!("ips: {address} is not allocated")))?;
        let mut ip = stored.value;
        if !ip.tags.contains(&tag) {
            ip.tags.push(tag.clone());
            ip.tags.sort();
        }
        ipam::update_ip(tx, &mut ip, stored.revision).await?;
    }
    if p.auto {
        let mut ip = Ip {
            allocationuuid: uuid::Uuid::new_v4().to_string(),
            name: name.to_string(),
            description: "autoassigned".into(),
            networkid: p.network.id.clone(),
            projectid: project.to_string(),
            kind: IpType::Ephemeral,
            tags: vec![tag.clone()],
            ..Default::default()
        };
        if ipam::allocate_next_ip(tx, &p.network.id, None, &mut ip)
            .await?
            .is_none()
        {
            return Err(ApiError::unprocessable(format!(
                "no ips left in network {}",
                p.network.id
            )));
        }
        ips.push(ip.ipaddress);
    }
    Ok(MachineNetwork {
        networkid: p.network.id.clone(),
        projectid: p.network.projectid.clone(),
        prefixes: p.network.prefixes.clone(),
        ips,
        destinationprefixes: p.network.destinationprefixes.clone(),
        vrf: p.network.vrf,
        asn,
        nat: p.network.nat,
        private: p.kind.is_private(),
        underlay: p.kind == NetworkKind::Underlay,
        networktype: p.kind,
        networktypev2: String::new(),
        nattypev2: String::new(),
    })
}

/// `DELETE /v1/machine/{id}/free`: releases the allocation's IPs (ephemeral ones deleted,
/// static ones untagged) and its ASN, and clears the allocation, in one transaction. Freeing an
/// unallocated machine is allowed (operators use it to repair failed reclaims). The
/// Machine Reclaim event is recorded, and the PXE boot and reset for the BMC agent are queued,
/// in the same transaction. (Their delivery to metal-bmc comes with the fleet operations.)
pub async fn free(app: &AppState, id: &str) -> ApiResult<Machine> {
    let mut tx = app.store.begin().await?;
    let stored = docs::must_get::<Machine>(&mut tx, id).await?;
    let mut m = stored.value;
    if m.state.value == machine::MachineStateValue::Locked {
        return Err(ApiError::unprocessable(format!("machine {id} is locked")));
    }
    if let Some(a) = m.allocation.take() {
        let tag = ipdom::machine_tag(id);
        let mut asns = std::collections::BTreeSet::new();
        for n in &a.networks {
            asns.insert(n.asn);
        }
        // every IP of the project tagged with this machine, also ones attached later
        let tagged = ipam::find_ips(
            &mut tx,
            &ipam::IpFilter {
                tags: vec![tag.clone()],
                ..Default::default()
            },
        )
        .await?;
        for ip in tagged {
            let stored = ipam::get_ip(&mut tx, &ip.ipaddress).await?;
            let Some(stored) = stored else { continue };
            let mut ip = stored.value;
            ip.tags.retain(|t| t != &tag);
            if ip.kind == IpType::Ephemeral && ip.machine_ids().is_empty() {
                ipam::release_ip(&mut tx, &ip.ipaddress).await?;
            } else {
                ipam::update_ip(&mut tx, &mut ip, stored.revision).await?;
            }
        }
        for asn in asns.into_iter().filter(|a| *a > pool::ASN_BASE) {
            super::integer_pool::release(&mut tx, &ASN, asn - pool::ASN_BASE).await?;
        }
    }
    m.tags.clear();
    m.waiting = false;
    docs::update(&mut tx, &mut m, stored.revision).await?;
    super::cabling::set_vrf(&mut tx, &m, "").await?;
    // metal-bmc boots the machine into PXE and resets it
    let commands = [BmcCommand::BootPxe, BmcCommand::PowerReset];
    super::commands::queue_for(app, &mut tx, &m, &commands, "free machine called").await?;
    super::events::record(
        &mut tx,
        id,
        EventType::MachineReclaim,
        "free machine called",
        metal_store::time::now(),
    )
    .await?;
    tx.commit().await.map_err(store_err)?;
    super::commands::wake(app, &m.partitionid);
    Ok(m)
}
