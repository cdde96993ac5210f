//! IPs (§4.11): allocate the next free or a given address of a network, update, free, find.
//! The address, its prefix's counters and the IP record are written in one transaction, so two
//! concurrent requests never get the same address and a failure leaves nothing behind.

use metal_domain::ip::{
    self, Ip, IpAllocateRequest, IpFindRequest, IpScope, IpType, IpUpdateRequest,
};
use metal_domain::network::Network;
use metal_domain::prefix::{self, AddressFamily};
use metal_domain::project::Project;
use metal_store::ipam::{self, ClaimError, IpFilter};
use metal_store::{docs, Tx};

use super::store_err;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// Checks the rules of §4.11 that need the network and the project. Runs on the read pool
/// before the transaction: a network deleted meanwhile has no prefixes left to allocate from,
/// and the allocation then fails cleanly.
async fn check_allocation(
    app: &AppState,
    req: &IpAllocateRequest,
) -> ApiResult<(Network, Project)> {
    if req.networkid.is_empty() {
        return Err(ApiError::bad_request("networkid should not be empty"));
    }
    if req.projectid.is_empty() {
        return Err(ApiError::bad_request("projectid should not be empty"));
    }
    let (network, project) = tokio::try_join!(super::get::<Network>(app, &req.networkid), async {
        super::get::<Project>(app, &req.projectid)
            .await
            .map_err(|e| match e {
                ApiError::NotFound(_) => ApiError::unprocessable(format!(
                    "projectid: project {:?} does not exist",
                    req.projectid
                )),
                e => e,
            })
    })?;
    if !network.shared && !network.parentnetworkid.is_empty() && network.projectid != req.projectid
    {
        return Err(ApiError::unprocessable(format!(
            "network {} belongs to project {}, not to {}: only shared networks give ips to other projects",
            network.id, network.projectid, req.projectid
        )));
    }
    Ok((network, project))
}

/// With an IP quota, locks the project row so that concurrent allocations count one after the
/// other, and refuses when the quota is reached.
async fn check_quota(tx: &mut Tx, project: &Project) -> ApiResult<()> {
    let Some(limit) = project
        .quotas
        .as_ref()
        .and_then(|q| q.ip.as_ref())
        .and_then(|q| q.quota)
    else {
        return Ok(());
    };
    docs::lock::<Project>(tx, &project.meta.id).await?;
    let used = ipam::count_ips_of_project(tx, &project.meta.id).await?;
    if used >= i64::from(limit) {
        return Err(ApiError::unprocessable(format!(
            "project {} has reached its quota of {limit} ip(s)",
            project.meta.id
        )));
    }
    Ok(())
}

fn new_ip(req: &IpAllocateRequest) -> ApiResult<Ip> {
    Ok(Ip {
        ipaddress: String::new(),
        allocationuuid: uuid::Uuid::new_v4().to_string(),
        name: req.name.clone(),
        description: req.description.clone(),
        networkid: req.networkid.clone(),
        projectid: req.projectid.clone(),
        kind: IpType::parse(&req.kind)?,
        tags: ip::normalize_tags(req.tags.clone(), req.machineid.as_deref())?,
        created: None,
        changed: None,
    })
}

/// `POST /v1/ip/allocate[/{ip}]`: the next free address of the network (of the requested
/// family, IPv4 first otherwise), or `specific`.
pub async fn allocate(
    app: &AppState,
    req: IpAllocateRequest,
    specific: Option<&str>,
) -> ApiResult<Ip> {
    let mut ip = new_ip(&req)?;
    let family = req
        .addressfamily
        .as_deref()
        .filter(|s| !s.is_empty())
        .map(AddressFamily::parse)
        .transpose()?;
    let wanted = specific.map(|s| prefix::parse_ip("ip", s)).transpose()?;
    let (network, project) = check_allocation(app, &req).await?;
    let prefixes: Vec<ipnet::IpNet> = network
        .prefixes
        .iter()
        .filter_map(|p| p.parse().ok())
        .collect();
    let Some(w) = wanted else {
        if let Some(f) = family {
            if !prefixes.iter().any(|p| AddressFamily::of_net(p) == f) {
                return Err(ApiError::unprocessable(format!(
                    "network {} has no {} prefix",
                    network.id,
                    f.as_str()
                )));
            }
        }
        // the next free address: grouped with concurrent requests for the same network
        return app
            .ip_batcher
            .allocate(&app.store, ip, family, &project)
            .await;
    };
    let Some(cidr) = prefixes.into_iter().find(|p| p.contains(&w)) else {
        return Err(ApiError::unprocessable(format!(
            "ip {w} is not inside any prefix of network {}",
            network.id
        )));
    };
    ip.ipaddress = w.to_string();
    let mut tx = app.store.begin().await?;
    check_quota(&mut tx, &project).await?;
    match ipam::claim_ip(&mut tx, &cidr, &mut ip).await? {
        Ok(()) => {}
        Err(ClaimError::Taken) => {
            return Err(ApiError::Conflict(format!("ip {w} is already allocated")))
        }
        Err(ClaimError::Split) => {
            return Err(ApiError::unprocessable(format!(
                "prefix {cidr} is split into child networks: allocate ips in those"
            )))
        }
        Err(ClaimError::Reserved) => {
            return Err(ApiError::unprocessable(format!(
                "ip {w} is reserved in prefix {cidr}: network and broadcast addresses are never handed out"
            )))
        }
    }
    tx.commit().await.map_err(store_err)?;
    Ok(ip)
}

pub async fn get(app: &AppState, address: &str) -> ApiResult<Ip> {
    let mut conn = app.store.reader().acquire().await.map_err(store_err)?;
    ipam::get_ip(&mut conn, address)
        .await?
        .map(|s| s.value)
        .ok_or_else(|| ApiError::not_found(format!("no ip with address {address:?} found")))
}

pub async fn list(app: &AppState) -> ApiResult<Vec<Ip>> {
    let mut conn = app.store.reader().acquire().await.map_err(store_err)?;
    Ok(ipam::find_ips(&mut conn, &IpFilter::default()).await?)
}

/// `POST /v1/ip/find`: every given field must hold; `networkprefix` finds the IPs inside it.
pub async fn find(app: &AppState, q: &IpFindRequest) -> ApiResult<Vec<Ip>> {
    let mut tags = q.tags.clone();
    if let Some(m) = q.machineid.as_deref().filter(|m| !m.is_empty()) {
        tags.push(ip::machine_tag(m));
    }
    let address = q
        .ipaddress
        .as_deref()
        .filter(|s| !s.is_empty())
        .map(|s| prefix::parse_ip("ipaddress", s).map(|a| a.to_string()))
        .transpose()?;
    let filter = IpFilter {
        address,
        allocation_uuid: q.allocationuuid.clone(),
        name: q.name.clone(),
        network_id: q.networkid.clone(),
        project_id: q.projectid.clone(),
        kind: q
            .kind
            .as_deref()
            .filter(|s| !s.is_empty())
            .map(|k| IpType::parse(k).map(|t| t.as_str().to_string()))
            .transpose()?,
        family: q
            .addressfamily
            .as_deref()
            .filter(|s| !s.is_empty())
            .map(AddressFamily::parse)
            .transpose()?,
        within: q
            .networkprefix
            .as_deref()
            .filter(|s| !s.is_empty())
            .map(|s| prefix::parse_cidr("networkprefix", s))
            .transpose()?,
        tags,
    };
    let mut conn = app.store.reader().acquire().await.map_err(store_err)?;
    Ok(ipam::find_ips(&mut conn, &filter).await?)
}

/// `POST /v1/ip`: name, description, tags and type under the rules of §4.11.
pub async fn update(app: &AppState, req: IpUpdateRequest) -> ApiResult<Ip> {
    let address = prefix::parse_ip("ipaddress", &req.ipaddress)?.to_string();
    let mut tx = app.store.begin().await?;
    let stored = ipam::get_ip(&mut tx, &address)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no ip with address {address:?} found")))?;
    let mut ip = stored.value;
    req.apply(&mut ip)?;
    ipam::update_ip(&mut tx, &mut ip, stored.revision).await?;
    tx.commit().await.map_err(store_err)?;
    Ok(ip)
}

/// `DELETE /v1/ip/free/{ip}`: frees an IP that no machine uses (machine-scoped IPs are freed
/// with their machine: 400 here).
pub async fn free(app: &AppState, address: &str) -> ApiResult<Ip> {
    let address = prefix::parse_ip("ip", address)?.to_string();
    let mut tx = app.store.begin().await?;
    let ip = ipam::get_ip(&mut tx, &address)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no ip with address {address:?} found")))?
        .value;
    if ip.scope() == IpScope::Machine {
        return Err(ApiError::bad_request(format!(
            "ip {address} is used by machine(s) {}: it is freed with the machine",
            ip.machine_ids().join(", ")
        )));
    }
    ipam::release_ip(&mut tx, &address).await?;
    tx.commit().await.map_err(store_err)?;
    Ok(ip)
}
