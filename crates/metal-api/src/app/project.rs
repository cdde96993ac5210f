//! Tenants and projects (masterdata in metal-stack, stored here). Updates carry the
//! `meta.version` they read; a different stored version is a conflict (409). Deletes are refused
//! while something still belongs to the project or tenant.

use metal_domain::network::Network;
use metal_domain::project::{Project, ProjectFindRequest, Tenant, TenantFindRequest};
use metal_store::docs::{given, NetworkFilter, ProjectFilter, SizeReservationFilter};
use metal_store::usage::{self, MachineRef};
use metal_store::{docs, ipam};

use super::store_err;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

pub async fn create_project(app: &AppState, mut p: Project) -> ApiResult<Project> {
    if p.meta.id.is_empty() {
        p.meta.id = uuid::Uuid::new_v4().to_string();
    }
    p.meta.kind = "Project".into();
    p.meta.apiversion = "v1".into();
    p.meta.version = 0;
    p.validate()?;
    let mut tx = app.store.begin().await?;
    if docs::get::<Tenant>(&mut tx, &p.tenant_id).await?.is_none() {
        return Err(ApiError::unprocessable(format!(
            "tenant_id: tenant {:?} does not exist",
            p.tenant_id
        )));
    }
    docs::insert(&mut tx, &mut p).await?;
    tx.commit().await.map_err(store_err)?;
    Ok(p)
}

fn check_version(kind: &str, id: &str, stored: i64, given: i64) -> ApiResult<()> {
    if stored != given {
        return Err(ApiError::Conflict(format!(
            "{kind} {id:?} was changed by another request (version {stored}, yours {given}), please retry"
        )));
    }
    Ok(())
}

pub async fn update_project(app: &AppState, mut p: Project) -> ApiResult<Project> {
    if p.meta.id.is_empty() {
        return Err(ApiError::bad_request("meta.id should not be empty"));
    }
    p.validate()?;
    let mut tx = app.store.begin().await?;
    let stored = docs::must_get::<Project>(&mut tx, &p.meta.id).await?;
    check_version(
        "project",
        &p.meta.id,
        stored.value.meta.version,
        p.meta.version,
    )?;
    if p.tenant_id != stored.value.tenant_id
        && docs::get::<Tenant>(&mut tx, &p.tenant_id).await?.is_none()
    {
        return Err(ApiError::unprocessable(format!(
            "tenant_id: tenant {:?} does not exist",
            p.tenant_id
        )));
    }
    p.meta.version = stored.value.meta.version + 1;
    p.meta.kind = stored.value.meta.kind.clone();
    p.meta.apiversion = stored.value.meta.apiversion.clone();
    p.meta.created_time = stored.value.meta.created_time;
    docs::update(&mut tx, &mut p, stored.revision).await?;
    tx.commit().await.map_err(store_err)?;
    Ok(p)
}

/// Deletes a project unless machines, networks, IPs or size reservations belong to it (400, as
/// metal-stack answers).
pub async fn delete_project(app: &AppState, id: &str) -> ApiResult<Project> {
    let mut tx = app.store.begin().await?;
    // reservation creates, and allocations of projects with quotas, lock the project row too:
    // count under the lock
    docs::lock::<Project>(&mut tx, id).await?;
    let p = docs::must_get::<Project>(&mut tx, id).await?.value;
    let machines = usage::machines_using(&mut tx, MachineRef::Project, id).await?;
    if !machines.is_empty() {
        return Err(ApiError::bad_request(format!(
            "there are still machines in project {id}: {}",
            machines.join(", ")
        )));
    }
    let networks = docs::count::<Network>(&mut tx, &[NetworkFilter::Project(id)]).await?;
    let ips = ipam::count_ips_of_project(&mut tx, id).await?;
    if networks > 0 || ips > 0 {
        return Err(ApiError::bad_request(format!(
            "there are still {networks} network(s) and {ips} ip(s) in project {id}"
        )));
    }
    let reservations = docs::find::<metal_domain::reservation::SizeReservation>(
        &mut tx,
        &[SizeReservationFilter::Project(id)],
    )
    .await?;
    if !reservations.is_empty() {
        let ids: Vec<&str> = reservations.iter().map(|r| r.id.as_str()).collect();
        return Err(ApiError::bad_request(format!(
            "there are still size reservations of project {id}: {}",
            ids.join(", ")
        )));
    }
    docs::delete::<Project>(&mut tx, id).await?;
    tx.commit().await.map_err(store_err)?;
    Ok(p)
}

/// A project with the `used` counts of its machine and IP quotas filled in.
pub async fn get_project(app: &AppState, id: &str) -> ApiResult<Project> {
    let mut conn = app.store.reader().acquire().await.map_err(store_err)?;
    let mut p = docs::must_get::<Project>(&mut conn, id).await?.value;
    let machines = usage::machines_using(&mut conn, MachineRef::Project, id)
        .await?
        .len();
    let ips = ipam::count_ips_of_project(&mut conn, id).await?;
    let quotas = p.quotas.get_or_insert_with(Default::default);
    quotas.machine.get_or_insert_with(Default::default).used = Some(machines as i32);
    quotas.ip.get_or_insert_with(Default::default).used = Some(ips as i32);
    Ok(p)
}

pub async fn find_projects(app: &AppState, q: &ProjectFindRequest) -> ApiResult<Vec<Project>> {
    let filters: Vec<ProjectFilter> = [
        given(&q.id).map(ProjectFilter::Id),
        given(&q.name).map(ProjectFilter::Name),
        given(&q.tenant_id).map(ProjectFilter::Tenant),
    ]
    .into_iter()
    .flatten()
    .collect();
    let mut conn = app.store.reader().acquire().await.map_err(store_err)?;
    let found = docs::find::<Project>(&mut conn, &filters).await?;
    Ok(found.into_iter().filter(|p| q.matches(p)).collect())
}

pub async fn create_tenant(app: &AppState, mut t: Tenant) -> ApiResult<Tenant> {
    t.validate()?;
    t.meta.kind = "Tenant".into();
    t.meta.apiversion = "v1".into();
    t.meta.version = 0;
    super::create(app, t).await
}

pub async fn update_tenant(app: &AppState, mut t: Tenant) -> ApiResult<Tenant> {
    t.validate()?;
    let mut tx = app.store.begin().await?;
    let stored = docs::must_get::<Tenant>(&mut tx, &t.meta.id).await?;
    check_version(
        "tenant",
        &t.meta.id,
        stored.value.meta.version,
        t.meta.version,
    )?;
    t.meta.version = stored.value.meta.version + 1;
    t.meta.kind = stored.value.meta.kind.clone();
    t.meta.apiversion = stored.value.meta.apiversion.clone();
    t.meta.created_time = stored.value.meta.created_time;
    docs::update(&mut tx, &mut t, stored.revision).await?;
    tx.commit().await.map_err(store_err)?;
    Ok(t)
}

/// Deletes a tenant unless it still owns projects (400).
pub async fn delete_tenant(app: &AppState, id: &str) -> ApiResult<Tenant> {
    let mut tx = app.store.begin().await?;
    let t = docs::must_get::<Tenant>(&mut tx, id).await?.value;
    let n = docs::count::<Project>(&mut tx, &[ProjectFilter::Tenant(id)]).await?;
    if n > 0 {
        return Err(ApiError::bad_request(format!(
            "tenant {id} still owns {n} project(s); delete them first"
        )));
    }
    docs::delete::<Tenant>(&mut tx, id).await?;
    tx.commit().await.map_err(store_err)?;
    Ok(t)
}

pub async fn find_tenants(app: &AppState, q: &TenantFindRequest) -> ApiResult<Vec<Tenant>> {
    let all = super::list::<Tenant>(app).await?;
    let mut found: Vec<Tenant> = all.into_iter().filter(|t| q.matches(t)).collect();
    if let Some(p) = &q.paging {
        let count = p.count.unwrap_or(found.len() as u64).max(1) as usize;
        let page = p.page.unwrap_or(0) as usize;
        // a page far beyond the end is empty, not an overflow
        found = found
            .into_iter()
            .skip(page.saturating_mul(count))
            .take(count)
            .collect();
    }
    Ok(found)
}
