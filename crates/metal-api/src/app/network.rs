//! Networks (§4.10): create, update and delete by admins, tenant networks allocated from the
//! partition's private super network and freed again, and their usage computed from the IPAM
//! counters. Each request is one transaction: prefixes, VRF and the network document are all
//! written, or none.

use std::collections::HashMap;

use ipnet::IpNet;
use metal_domain::network::{
    self, Network, NetworkAllocateRequest, NetworkCreateRequest, NetworkFindRequest,
    NetworkUpdateRequest, PlannedAllocation, PrefixCounters,
};
use metal_domain::partition::Partition;
use metal_domain::pool;
use metal_domain::prefix::AddressFamily;
use metal_domain::project::Project;
use metal_store::docs::{given, NetworkFilter};
use metal_store::ipam::{self, PrefixState};
use metal_store::Conn;
use metal_store::{docs, Tx};

use super::store_err;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// The usage counters of stored prefixes.
fn counters<'a>(
    prefixes: impl IntoIterator<Item = &'a PrefixState> + 'a,
) -> impl Iterator<Item = PrefixCounters> + 'a {
    prefixes.into_iter().map(PrefixState::counters)
}

async fn view(conn: &mut Conn, n: Network) -> ApiResult<Network> {
    let prefixes = ipam::prefixes_of(conn, &n.id).await?;
    Ok(network::with_usage(n, counters(&prefixes)))
}

async fn views(conn: &mut Conn, nets: Vec<Network>) -> ApiResult<Vec<Network>> {
    let all = ipam::all_prefixes(conn).await?;
    let mut by_net: HashMap<&str, Vec<&PrefixState>> = HashMap::new();
    for p in &all {
        by_net.entry(p.network_id.as_str()).or_default().push(p);
    }
    Ok(nets
        .into_iter()
        .map(|n| {
            let ps = by_net.get(n.id.as_str()).cloned().unwrap_or_default();
            network::with_usage(n, counters(ps))
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
    let filters: Vec<NetworkFilter> = [
        given(&q.id).map(NetworkFilter::Id),
        given(&q.name).map(NetworkFilter::Name),
        given(&q.partitionid).map(NetworkFilter::Partition),
        given(&q.projectid).map(NetworkFilter::Project),
        given(&q.parentnetworkid).map(NetworkFilter::Parent),
        q.privatesuper.map(NetworkFilter::PrivateSuper),
        q.underlay.map(NetworkFilter::Underlay),
        q.vrf.map(NetworkFilter::Vrf),
    ]
    .into_iter()
    .flatten()
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
            network::set_child_lengths(&mut n, &nets, partition.privatenetworkprefixlength)?;
        }
        for (flag, filter, what) in [
            (
                n.privatesuper,
                NetworkFilter::PrivateSuper(true),
                "private super network",
            ),
            (n.underlay, NetworkFilter::Underlay(true), "underlay"),
        ] {
            if !flag {
                continue;
            }
            let existing =
                docs::find::<Network>(&mut tx, &[NetworkFilter::Partition(&n.partitionid), filter])
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
    if n.vrf != 0 && docs::count::<Network>(tx, &[NetworkFilter::Vrf(n.vrf)]).await? == 0 {
        super::integer_pool::release(tx, &pool::VRF, u64::from(n.vrf)).await?;
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

/// Checks a tenant network request (reads outside any transaction, side by side).
pub async fn plan_allocation(
    app: &AppState,
    req: NetworkAllocateRequest,
) -> ApiResult<PlannedAllocation> {
    let checked = network::check_allocate_request(&req)?;
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
                    NetworkFilter::Partition(&req.partitionid),
                    NetworkFilter::PrivateSuper(true),
                ],
            )
            .await?;
            let parents: Vec<IpNet> = match supers.first() {
                Some(s) => ipam::prefixes_of(&mut conn, &s.id)
                    .await?
                    .into_iter()
                    .map(|p| p.cidr)
                    .collect(),
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
    let available: Vec<AddressFamily> = parents.iter().map(AddressFamily::of_net).collect();
    let lengths = network::child_lengths(&checked, &sup, &available)?;
    Ok(PlannedAllocation {
        req,
        sup,
        parents,
        lengths,
    })
}

/// Answers a freshly allocated tenant network with the usage of its new prefixes.
pub fn fresh_view(n: Network, children: &[(IpNet, IpNet)]) -> Network {
    network::with_usage(n, children.iter().map(|(c, _)| PrefixCounters::fresh(c)))
}

/// Allocates one planned tenant network in its own transaction.
pub async fn allocate_one(app: &AppState, plan: &PlannedAllocation) -> ApiResult<Network> {
    let id = uuid::Uuid::new_v4().to_string();
    let mut tx = app.store.begin().await?;
    let vrf = super::integer_pool::acquire_random(&mut tx, &pool::VRF).await?;
    let mut children: Vec<(IpNet, IpNet)> = Vec::new();
    for (af, len) in &plan.lengths {
        let mut got = None;
        for p in plan
            .parents
            .iter()
            .filter(|p| AddressFamily::of_net(p) == *af)
        {
            let Some(locked) = ipam::lock_prefix(&mut tx, p).await? else {
                continue;
            };
            if let Some(child) = ipam::acquire_child(&mut tx, &locked, *len).await? {
                got = Some((child, *p));
                break;
            }
        }
        children.push(got.ok_or_else(|| network::no_room(*af, *len, &plan.sup.id))?);
    }
    for (c, p) in &children {
        ipam::insert_prefix(&mut tx, c, &id, Some(p)).await?;
    }
    let nets: Vec<IpNet> = children.iter().map(|(c, _)| *c).collect();
    let mut n = plan.network(id, &nets, vrf as u32);
    docs::insert(&mut tx, &mut n).await?;
    tx.commit().await.map_err(store_err)?;
    Ok(fresh_view(n, &children))
}

/// `POST /v1/network/allocate` (edit): a tenant network with one child prefix per address
/// family of the partition's private super network and a fresh VRF. Concurrent requests for
/// one partition are served in groups (see `netgroup`).
pub async fn allocate(app: &AppState, req: NetworkAllocateRequest) -> ApiResult<Network> {
    let plan = plan_allocation(app, req).await?;
    let key = plan.req.partitionid.clone();
    app.net_batcher
        .submit(app, &key, plan, super::netgroup::serve)
        .await
}
