//! IPs (§4.11): allocate the next free or a given address of a network, update, free, find.
//! The address, its prefix's counters and the IP record are written in one transaction, so two
//! concurrent requests never get the same address and a failure leaves nothing behind.

use metal_domain::ip::{
    self, Ip, IpAllocateRequest, IpFindRequest, IpScope, IpType, IpUpdateRequest,
};
use metal_domain::network::Network;
use metal_domain::prefix::{self, AddressFamily};
use metal_domain::project::Project;
use metal_store::ipam::{self, AcquireError, IpFilter};
use metal_store::{docs, Tx};

use super::store_err;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// Checks the rules of §4.11 that need the network and the project, and the project's IP quota.
async fn check_allocation(tx: &mut Tx, req: &IpAllocateRequest) -> ApiResult<Network> {
    if req.networkid.is_empty() {
        return Err(ApiError::bad_request("networkid should not be empty"));
    }
    if req.projectid.is_empty() {
        return Err(ApiError::bad_request("projectid should not be empty"));
    }
    let network = docs::get::<Network>(tx, &req.networkid)
        .await?
        .map(|s| s.value)
        .ok_or_else(|| {
            ApiError::not_found(format!("no network with id {:?} found", req.networkid))
        })?;
    let project = docs::get::<Project>(tx, &req.projectid)
        .await?
        .ok_or_else(|| {
            ApiError::unprocessable(format!(
                "projectid: project {:?} does not exist",
                req.projectid
            ))
        })?;
    if !network.shared && !network.parentnetworkid.is_empty() && network.projectid != req.projectid
    {
        return Err(ApiError::unprocessable(format!(
            "network {} belongs to project {}, not to {}: only shared networks give ips to other projects",
            network.id, network.projectid, req.projectid
        )));
    }
    // With a quota, the project row is locked so that concurrent allocations count one after
    // the other.
    if let Some(limit) = project
        .value
        .quotas
        .as_ref()
        .and_then(|q| q.ip.as_ref())
        .and_then(|q| q.quota)
    {
        docs::lock::<Project>(tx, &req.projectid).await?;
        let used = ipam::count_ips_of_project(tx, &req.projectid).await?;
        if used >= i64::from(limit) {
            return Err(ApiError::unprocessable(format!(
                "project {} has reached its quota of {limit} ip(s)",
                req.projectid
            )));
        }
    }
    Ok(network)
}

fn new_ip(req: &IpAllocateRequest, address: String) -> ApiResult<Ip> {
    Ok(Ip {
        ipaddress: address,
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
    IpType::parse(&req.kind)?;
    let family = req
        .addressfamily
        .as_deref()
        .filter(|s| !s.is_empty())
        .map(AddressFamily::parse)
        .transpose()?;
    let wanted = specific.map(|s| prefix::parse_ip("ip", s)).transpose()?;
    let mut tx = app.store.begin().await?;
    let network = check_allocation(&mut tx, &req).await?;
    let prefixes = ipam::prefixes_of(&mut tx, &network.id).await?;
    let (addr, cidr) = match wanted {
        Some(w) => {
            let Some(p) = prefixes.iter().find(|p| p.cidr.contains(&w)) else {
                return Err(ApiError::unprocessable(format!(
                    "ip {w} is not inside any prefix of network {}",
                    network.id
                )));
            };
            let locked = lock(&mut tx, &p.cidr).await?;
            refuse_parent_prefix(&locked)?;
            match ipam::acquire_ip(&mut tx, &locked, Some(prefix::to_u128(&w))).await? {
                Ok(a) => (a, locked.cidr),
                Err(AcquireError::Taken) => return Err(ApiError::Conflict(format!("ip {w} is already allocated"))),
                Err(_) => {
                    return Err(ApiError::unprocessable(format!(
                        "ip {w} is reserved in prefix {}: network and broadcast addresses are never handed out",
                        p.cidr
                    )))
                }
            }
        }
        None => {
            let mut candidates: Vec<_> = prefixes
                .iter()
                .filter(|p| family.is_none_or(|f| p.family() == f))
                .collect();
            candidates.sort_by_key(|p| p.family());
            if candidates.is_empty() {
                return Err(ApiError::unprocessable(format!(
                    "network {} has no {} prefix",
                    network.id,
                    family.map(AddressFamily::as_str).unwrap_or("")
                )));
            }
            let mut got = None;
            for p in candidates.iter().filter(|p| p.child_count == 0) {
                let locked = lock(&mut tx, &p.cidr).await?;
                if locked.child_count > 0 {
                    continue;
                }
                if let Ok(a) = ipam::acquire_ip(&mut tx, &locked, None).await? {
                    got = Some((a, locked.cidr));
                    break;
                }
            }
            got.ok_or_else(|| {
                ApiError::unprocessable(format!("no ips left in network {}", network.id))
            })?
        }
    };
    let family = AddressFamily::of_net(&cidr);
    let mut ip = new_ip(&req, prefix::from_u128(family, addr).to_string())?;
    ipam::insert_ip(&mut tx, &mut ip, &cidr).await?;
    tx.commit().await.map_err(store_err)?;
    Ok(ip)
}

async fn lock(tx: &mut Tx, cidr: &ipnet::IpNet) -> ApiResult<ipam::PrefixState> {
    ipam::lock_prefix(tx, cidr)
        .await?
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("prefix {cidr} vanished")))
}

fn refuse_parent_prefix(p: &ipam::PrefixState) -> ApiResult<()> {
    if p.child_count > 0 {
        return Err(ApiError::unprocessable(format!(
            "prefix {} is split into child networks: allocate ips in those",
            p.cidr
        )));
    }
    Ok(())
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
