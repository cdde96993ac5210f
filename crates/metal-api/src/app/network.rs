//! Networks (§4.10): create, update and delete by admins, tenant networks allocated from the
//! partition's private super network and freed again, and their usage computed from the IPAM
//! counters. Each request is one transaction: prefixes, VRF and the network document are all
//! written, or none.

use std::collections::{BTreeMap, HashMap};

use ipnet::IpNet;
use metal_domain::network::{
    self, Network, NetworkAllocateRequest, NetworkConsumption, NetworkCreateRequest,
    NetworkFindRequest, NetworkUpdateRequest, NetworkUsage,
};
use metal_domain::partition::Partition;
use metal_domain::pool;
use metal_domain::prefix::{self, AddressFamily};
use metal_domain::project::Project;
use metal_store::ipam::{self, PrefixState};
use metal_store::{docs, Tx};

use super::store_err;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// Default child length of IPv6 private super networks.
pub const DEFAULT_IPV6_CHILD_LENGTH: u8 = 64;

fn usage_of(n: &Network, prefixes: &[&PrefixState]) -> (NetworkUsage, NetworkConsumption) {
    let mut total = NetworkUsage::default();
    let mut per: BTreeMap<AddressFamily, NetworkUsage> = BTreeMap::new();
    for p in prefixes {
        let size = prefix::size(&p.cidr);
        let available_prefixes = match n.defaultchildprefixlength.get(&p.family()) {
            Some(len) if n.privatesuper && *len > p.cidr.prefix_len() => {
                let block = 1u128 << (u32::from(p.family().bits()) - u32::from(*len));
                (size.saturating_sub(p.child_addresses) / block).min(u128::from(u64::MAX)) as u64
            }
            _ => 0,
        };
        let u = NetworkUsage {
            available_ips: size.min(u128::from(u64::MAX)) as u64,
            used_ips: p.used_ips,
            available_prefixes,
            used_prefixes: p.child_count,
        };
        total.add(&u);
        per.entry(p.family()).or_default().add(&u);
    }
    let consumption = NetworkConsumption {
        ipv4: per.get(&AddressFamily::IPv4).copied(),
        ipv6: per.get(&AddressFamily::IPv6).copied(),
    };
    (total, consumption)
}

fn with_usage(mut n: Network, all: &[&PrefixState]) -> Network {
    let (u, c) = usage_of(&n, all);
    n.usage = u;
    n.consumption = c;
    n
}

async fn view(conn: &mut sqlx::AnyConnection, n: Network) -> ApiResult<Network> {
    let prefixes = ipam::prefixes_of(conn, &n.id).await?;
    let refs: Vec<&PrefixState> = prefixes.iter().collect();
    Ok(with_usage(n, &refs))
}

async fn views(conn: &mut sqlx::AnyConnection, nets: Vec<Network>) -> ApiResult<Vec<Network>> {
    let all = ipam::all_prefixes(conn).await?;
    let mut by_net: HashMap<&str, Vec<&PrefixState>> = HashMap::new();
    for p in &all {
        by_net.entry(p.network_id.as_str()).or_default().push(p);
    }
    Ok(nets
        .into_iter()
        .map(|n| {
            let ps = by_net.get(n.id.as_str()).cloned().unwrap_or_default();
            with_usage(n, &ps)
        })
        .collect())
}

pub async fn get(app: &AppState, id: &str) -> ApiResult<Network> {
    let mut conn = app.store.reader().acquire().await.map_err(store_err)?;
    let n = docs::must_get::<Network>(&mut conn, id).await?.value;
    view(&mut conn, n).await
}

pub async fn list(app: &AppState) -> ApiResult<Vec<Network>> {
    let mut conn = app.store.reader().acquire().await.map_err(store_err)?;
    let nets = docs::list::<Network>(&mut conn).await?;
    views(&mut conn, nets).await
}

pub async fn find(app: &AppState, q: &NetworkFindRequest) -> ApiResult<Vec<Network>> {
    q.validate()?;
    let vrf = q.vrf.map(|v| v.to_string());
    let flag = |b: Option<bool>| b.map(|b| b.to_string());
    let (ps, ul) = (flag(q.privatesuper), flag(q.underlay));
    let filters: Vec<(&str, &str)> = [
        ("id", q.id.as_deref()),
        ("name", q.name.as_deref()),
        ("partition_id", q.partitionid.as_deref()),
        ("project_id", q.projectid.as_deref()),
        ("parent_id", q.parentnetworkid.as_deref()),
        ("privatesuper", ps.as_deref()),
        ("underlay", ul.as_deref()),
        ("vrf", vrf.as_deref()),
    ]
    .into_iter()
    .filter_map(|(c, v)| v.filter(|v| !v.is_empty()).map(|v| (c, v)))
    .collect();
    let mut conn = app.store.reader().acquire().await.map_err(store_err)?;
    let found: Vec<Network> = docs::find::<Network>(&mut conn, &filters)
        .await?
        .into_iter()
        .filter(|n| q.matches(n))
        .collect();
    views(&mut conn, found).await
}

/// A reference in the request body to an entity that does not exist is a 422 naming the field.
fn missing(field: &str, e: ApiError) -> ApiError {
    match e {
        ApiError::NotFound(m) => ApiError::unprocessable(format!("{field}: {m}")),
        e => e,
    }
}

async fn require_project(tx: &mut Tx, id: &str) -> ApiResult<()> {
    if !id.is_empty() && docs::get::<Project>(tx, id).await?.is_none() {
        return Err(ApiError::unprocessable(format!(
            "projectid: project {id:?} does not exist"
        )));
    }
    Ok(())
}

async fn require_partition(tx: &mut Tx, id: &str) -> ApiResult<Partition> {
    docs::get::<Partition>(tx, id)
        .await?
        .map(|s| s.value)
        .ok_or_else(|| {
            ApiError::unprocessable(format!("partitionid: partition {id:?} does not exist"))
        })
}

/// Refuses prefixes that share an address with any other network's.
async fn check_overlaps(tx: &mut Tx, nets: &[IpNet], own_id: &str) -> ApiResult<()> {
    for net in nets {
        if let Some(o) = ipam::overlapping(tx, net)
            .await?
            .into_iter()
            .find(|o| o.network_id != own_id)
        {
            return Err(ApiError::unprocessable(format!(
                "prefix {net} overlaps prefix {} of network {}",
                o.cidr, o.network_id
            )));
        }
    }
    Ok(())
}

/// `PUT /v1/network` (admin).
pub async fn create(app: &AppState, req: NetworkCreateRequest) -> ApiResult<Network> {
    if !req.parentnetworkid.is_empty() {
        return Err(ApiError::bad_request(
            "parentnetworkid cannot be set on create: cut child networks with POST /v1/network/allocate",
        ));
    }
    let (mut n, nets) = req.into_network()?;
    if n.id.is_empty() {
        n.id = uuid::Uuid::new_v4().to_string();
    }
    let mut tx = app.store.begin().await?;
    ipam::lock_topology(&mut tx).await?;
    if docs::get::<Network>(&mut tx, &n.id).await?.is_some() {
        return Err(ApiError::Conflict(format!(
            "network with id {:?} already exists",
            n.id
        )));
    }
    require_project(&mut tx, &n.projectid).await?;
    if !n.partitionid.is_empty() {
        let partition = require_partition(&mut tx, &n.partitionid).await?;
        if n.privatesuper {
            for af in network::families(&nets) {
                n.defaultchildprefixlength.entry(af).or_insert(match af {
                    AddressFamily::IPv4 => partition.privatenetworkprefixlength,
                    AddressFamily::IPv6 => DEFAULT_IPV6_CHILD_LENGTH,
                });
            }
            for (af, len) in &n.defaultchildprefixlength {
                if let Some(p) = nets
                    .iter()
                    .find(|p| AddressFamily::of_net(p) == *af && *len <= p.prefix_len())
                {
                    return Err(ApiError::bad_request(format!(
                        "child prefix length {len} must be longer than the prefix {p}"
                    )));
                }
            }
        }
        for (flag, column, what) in [
            (n.privatesuper, "privatesuper", "private super network"),
            (n.underlay, "underlay", "underlay"),
        ] {
            if !flag {
                continue;
            }
            let existing = docs::find::<Network>(
                &mut tx,
                &[("partition_id", n.partitionid.as_str()), (column, "true")],
            )
            .await?;
            if let Some(e) = existing.first() {
                return Err(ApiError::unprocessable(format!(
                    "partition {} already has a {what}: {}",
                    n.partitionid, e.id
                )));
            }
        }
    }
    check_overlaps(&mut tx, &nets, &n.id).await?;
    if n.vrf != 0 {
        match super::integer_pool::acquire(&mut tx, &pool::VRF, u64::from(n.vrf)).await {
            Ok(()) => {}
            Err(ApiError::Conflict(_)) if n.vrfshared => {}
            Err(ApiError::Conflict(_)) => {
                return Err(ApiError::unprocessable(format!(
                    "vrf {} is already in use; set vrfshared to share it",
                    n.vrf
                )))
            }
            Err(e) => return Err(e),
        }
    }
    for net in &nets {
        ipam::insert_prefix(&mut tx, net, &n.id, None).await?;
    }
    docs::insert(&mut tx, &mut n).await?;
    let out = view(&mut tx, n).await?;
    tx.commit().await.map_err(store_err)?;
    Ok(out)
}

/// `POST /v1/network` (admin): name, description, labels, shared (never back to false),
/// destination prefixes, and the prefixes (removed ones must be empty, added ones free).
pub async fn update(app: &AppState, req: NetworkUpdateRequest) -> ApiResult<Network> {
    let mut tx = app.store.begin().await?;
    if req.prefixes.is_some() {
        ipam::lock_topology(&mut tx).await?;
    }
    let stored = docs::must_get::<Network>(&mut tx, &req.id).await?;
    let mut n = stored.value;
    req.apply_simple(&mut n)?;
    if let Some(list) = &req.prefixes {
        if !n.parentnetworkid.is_empty() {
            return Err(ApiError::bad_request(
                "the prefixes of a child network cannot be changed",
            ));
        }
        let wanted = network::validate_prefixes(list)?;
        let current = ipam::prefixes_of(&mut tx, &n.id).await?;
        for p in current.iter().filter(|p| !wanted.contains(&p.cidr)) {
            let (ips, children) = ipam::prefix_occupancy(&mut tx, &p.cidr).await?;
            if ips > 0 || children > 0 {
                return Err(ApiError::unprocessable(format!(
                    "prefix {} cannot be removed: it holds {ips} ip(s) and {children} child network(s)",
                    p.cidr
                )));
            }
            ipam::delete_prefix(&mut tx, p).await?;
        }
        let added: Vec<IpNet> = wanted
            .iter()
            .filter(|w| !current.iter().any(|c| c.cidr == **w))
            .copied()
            .collect();
        check_overlaps(&mut tx, &added, &n.id).await?;
        for net in &added {
            ipam::insert_prefix(&mut tx, net, &n.id, None).await?;
        }
        n.prefixes = wanted.iter().map(ToString::to_string).collect();
    }
    docs::update(&mut tx, &mut n, stored.revision).await?;
    let out = view(&mut tx, n).await?;
    tx.commit().await.map_err(store_err)?;
    Ok(out)
}

/// Removes a network and its prefixes, gives back its VRF unless another network shares it.
async fn remove(tx: &mut Tx, n: &Network) -> ApiResult<()> {
    let prefixes = ipam::prefixes_of(tx, &n.id).await?;
    for p in &prefixes {
        let (ips, children) = ipam::prefix_occupancy(tx, &p.cidr).await?;
        if children > 0 {
            return Err(ApiError::unprocessable(format!(
                "network {} still has child networks in prefix {}",
                n.id, p.cidr
            )));
        }
        if ips > 0 {
            return Err(ApiError::unprocessable(format!(
                "network {} still has {ips} allocated ip(s) in prefix {}",
                n.id, p.cidr
            )));
        }
    }
    for p in &prefixes {
        ipam::delete_prefix(tx, p).await?;
    }
    docs::delete::<Network>(tx, &n.id).await?;
    if n.vrf != 0 {
        let vrf = n.vrf.to_string();
        if docs::count_where::<Network>(tx, "vrf", &vrf).await? == 0 {
            super::integer_pool::release(tx, &pool::VRF, u64::from(n.vrf)).await?;
        }
    }
    Ok(())
}

/// `DELETE /v1/network/{id}` (admin): refused while child networks or IPs exist.
pub async fn delete(app: &AppState, id: &str) -> ApiResult<Network> {
    let mut tx = app.store.begin().await?;
    ipam::lock_topology(&mut tx).await?;
    let n = docs::must_get::<Network>(&mut tx, id).await?.value;
    let out = view(&mut tx, n.clone()).await?;
    remove(&mut tx, &n).await?;
    tx.commit().await.map_err(store_err)?;
    Ok(out)
}

/// `DELETE /v1/network/free/{id}` (edit): frees a tenant network cut from a private super
/// network; refused while it holds IPs.
pub async fn free(app: &AppState, id: &str) -> ApiResult<Network> {
    let mut tx = app.store.begin().await?;
    let n = docs::must_get::<Network>(&mut tx, id).await?.value;
    if n.parentnetworkid.is_empty() {
        return Err(ApiError::bad_request(format!(
            "network {id} was not allocated from a private super network: delete it instead"
        )));
    }
    let out = view(&mut tx, n.clone()).await?;
    remove(&mut tx, &n).await?;
    tx.commit().await.map_err(store_err)?;
    Ok(out)
}

/// A checked `POST /v1/network/allocate`: the request, its super network with that network's
/// prefixes, and the child prefix length per address family.
pub struct PlannedAllocation {
    pub req: NetworkAllocateRequest,
    pub sup: Network,
    pub parents: Vec<PrefixState>,
    pub lengths: Vec<(AddressFamily, u8)>,
}

/// Checks a tenant network request (reads outside any transaction, side by side).
pub async fn plan_allocation(
    app: &AppState,
    req: NetworkAllocateRequest,
) -> ApiResult<PlannedAllocation> {
    if req.projectid.is_empty() {
        return Err(ApiError::bad_request("projectid should not be empty"));
    }
    if req.partitionid.is_empty() {
        return Err(ApiError::bad_request("partitionid should not be empty"));
    }
    network::validate_destination_prefixes(&req.destinationprefixes)?;
    let lengths = network::parse_lengths("length", &req.length)?;
    let only = req
        .addressfamily
        .as_deref()
        .filter(|s| !s.is_empty())
        .map(AddressFamily::parse)
        .transpose()?;
    let (_, _, (supers, parents)) = tokio::try_join!(
        async {
            super::get::<Project>(app, &req.projectid)
                .await
                .map_err(|e| missing("projectid", e))
        },
        async {
            super::get::<Partition>(app, &req.partitionid)
                .await
                .map_err(|e| missing("partitionid", e))
        },
        async {
            let mut conn = app.store.reader().acquire().await.map_err(store_err)?;
            let supers = docs::find::<Network>(
                &mut conn,
                &[
                    ("partition_id", req.partitionid.as_str()),
                    ("privatesuper", "true"),
                ],
            )
            .await?;
            let parents = match supers.first() {
                Some(s) => ipam::prefixes_of(&mut conn, &s.id).await?,
                None => Vec::new(),
            };
            Ok::<_, ApiError>((supers, parents))
        }
    )?;
    let Some(sup) = supers.into_iter().next() else {
        return Err(ApiError::not_found(format!(
            "partition {} has no private super network",
            req.partitionid
        )));
    };
    let mut families: Vec<AddressFamily> = parents.iter().map(PrefixState::family).collect();
    families.dedup();
    if let Some(af) = only {
        if !families.contains(&af) {
            return Err(ApiError::unprocessable(format!(
                "the private super network {} has no {} prefix",
                sup.id,
                af.as_str()
            )));
        }
        families = vec![af];
    }
    let lengths = families
        .into_iter()
        .map(|af| {
            let len = lengths
                .get(&af)
                .or_else(|| sup.defaultchildprefixlength.get(&af))
                .copied()
                .unwrap_or(match af {
                    AddressFamily::IPv4 => {
                        metal_domain::partition::DEFAULT_PRIVATE_NETWORK_PREFIX_LENGTH
                    }
                    AddressFamily::IPv6 => DEFAULT_IPV6_CHILD_LENGTH,
                });
            (af, len)
        })
        .collect();
    Ok(PlannedAllocation {
        req,
        sup,
        parents,
        lengths,
    })
}

/// The error of a super network without room.
pub fn no_room(af: AddressFamily, len: u8, sup: &str) -> ApiError {
    ApiError::unprocessable(format!(
        "no free /{len} {} prefix left in private super network {sup}",
        af.as_str()
    ))
}

/// The network document of a planned allocation with its children and VRF.
pub fn tenant_network(
    plan: &PlannedAllocation,
    id: String,
    children: &[IpNet],
    vrf: u64,
) -> Network {
    let req = &plan.req;
    Network {
        id,
        name: req.name.clone(),
        description: req.description.clone(),
        labels: req.labels.clone(),
        partitionid: req.partitionid.clone(),
        projectid: req.projectid.clone(),
        parentnetworkid: plan.sup.id.clone(),
        prefixes: children.iter().map(ToString::to_string).collect(),
        destinationprefixes: req.destinationprefixes.clone(),
        vrf: vrf as u32,
        nat: req.nat,
        shared: req.shared,
        ..Default::default()
    }
}

/// Answers a freshly allocated tenant network with the usage of its new prefixes.
pub fn fresh_view(n: Network, children: &[(IpNet, IpNet)]) -> Network {
    let states: Vec<PrefixState> = children
        .iter()
        .map(|(c, p)| ipam::fresh_prefix(c, &n.id, Some(p)))
        .collect();
    let refs: Vec<&PrefixState> = states.iter().collect();
    with_usage(n, &refs)
}

/// Allocates one planned tenant network in its own transaction.
pub async fn allocate_one(app: &AppState, plan: &PlannedAllocation) -> ApiResult<Network> {
    let id = uuid::Uuid::new_v4().to_string();
    let mut tx = app.store.begin().await?;
    let vrf = super::integer_pool::acquire_random(&mut tx, &pool::VRF).await?;
    let mut children: Vec<(IpNet, IpNet)> = Vec::new();
    for (af, len) in &plan.lengths {
        let mut got = None;
        for p in plan.parents.iter().filter(|p| p.family() == *af) {
            let Some(locked) = ipam::lock_prefix(&mut tx, &p.cidr).await? else {
                continue;
            };
            if let Some(child) = ipam::acquire_child(&mut tx, &locked, *len).await? {
                got = Some((child, p.cidr));
                break;
            }
        }
        children.push(got.ok_or_else(|| no_room(*af, *len, &plan.sup.id))?);
    }
    for (c, p) in &children {
        ipam::insert_prefix(&mut tx, c, &id, Some(p)).await?;
    }
    let nets: Vec<IpNet> = children.iter().map(|(c, _)| *c).collect();
    let mut n = tenant_network(plan, id, &nets, vrf);
    docs::insert(&mut tx, &mut n).await?;
    tx.commit().await.map_err(store_err)?;
    Ok(fresh_view(n, &children))
}

/// `POST /v1/network/allocate` (edit): a tenant network with one child prefix per address
/// family of the partition's private super network and a fresh VRF. Concurrent requests for
/// one partition are served in groups (see `netbatch`).
pub async fn allocate(app: &AppState, req: NetworkAllocateRequest) -> ApiResult<Network> {
    let plan = plan_allocation(app, req).await?;
    app.net_batcher.allocate(app, plan).await
}
