//! Machines: search, BMC data, state, update and deletion, answered as `machine_view` builds
//! them. Allocation and free live in `allocate`, reinstall in `reinstall`.

use metal_domain::event::{EventContainer, Liveliness};
use metal_domain::machine::{
    self, Machine, MachineFindRequest, MachineIpmi, MachineIpmiResponse, MachineResponse,
    MachineStateRequest, MachineUpdateRequest, Role,
};
use metal_store::docs;
use metal_store::docs::{given, MachineFilter};
use metal_store::Conn;

use super::machine_view::{view, views};
use super::store_err;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

pub async fn get(app: &AppState, id: &str, role: Option<Role>) -> ApiResult<MachineResponse> {
    let m = super::get::<Machine>(app, id).await?;
    if let Some(r) = role {
        if m.allocation.as_ref().map(|a| a.role) != Some(r) {
            return Err(ApiError::not_found(format!(
                "machine {id} is not a {}",
                r.as_str()
            )));
        }
    }
    view(app, m).await
}

/// The indexed columns `q` (and, for the firewall endpoints, `role`) narrows the machines by.
pub fn filters(q: &MachineFindRequest, role: Option<Role>) -> Vec<MachineFilter<'_>> {
    [
        given(&q.id).map(MachineFilter::Id),
        given(&q.partition_id).map(MachineFilter::Partition),
        given(&q.sizeid).map(MachineFilter::Size),
        given(&q.rackid).map(MachineFilter::Rack),
        given(&q.allocation_project).map(MachineFilter::Project),
        given(&q.allocation_image_id).map(MachineFilter::Image),
        role.map(Role::as_str)
            .or(q.allocation_role.as_deref())
            .filter(|v| !v.is_empty())
            .map(MachineFilter::Role),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// Whether [`filters`] alone decide the search: `q` asks for nothing else, so the documents
/// need not be read to check it.
pub fn indexed_only(q: &MachineFindRequest) -> bool {
    let rest = MachineFindRequest {
        id: None,
        partition_id: None,
        sizeid: None,
        rackid: None,
        allocation_project: None,
        allocation_image_id: None,
        allocation_role: None,
        ..q.clone()
    };
    rest == MachineFindRequest::default()
}

/// The stored machines matching every field of `q` (and, for the firewall endpoints, of
/// `role`): the indexed columns narrow the rows in the database, `matches` checks the rest.
pub async fn matching(
    conn: &mut Conn,
    q: &MachineFindRequest,
    role: Option<Role>,
) -> ApiResult<Vec<Machine>> {
    Ok(docs::find::<Machine>(conn, &filters(q, role))
        .await?
        .into_iter()
        .filter(|m| q.matches(m))
        .collect())
}

/// `POST /v1/machine/ipmi/find`: the machines matching `q` with their BMC data.
pub async fn find_ipmi(
    app: &AppState,
    q: &MachineFindRequest,
) -> ApiResult<Vec<MachineIpmiResponse>> {
    let mut conn = app.store.reader().acquire().await.map_err(store_err)?;
    let found = matching(&mut conn, q, None).await?;
    let ipmis: Vec<MachineIpmi> = found.iter().map(|m| m.ipmi.clone()).collect();
    Ok(views(&mut conn, found)
        .await?
        .into_iter()
        .zip(ipmis)
        .map(|(machine, ipmi)| MachineIpmiResponse {
            machine,
            ipmi,
            bmc_commands: Vec::new(),
        })
        .collect())
}

/// `GET /v1/machine/{id}/ipmi`: one machine with its BMC data.
pub async fn get_ipmi(app: &AppState, id: &str) -> ApiResult<MachineIpmiResponse> {
    let m = super::get::<Machine>(app, id).await?;
    let ipmi = m.ipmi.clone();
    Ok(MachineIpmiResponse {
        bmc_commands: super::commands::of_machine(app, &m.id).await?,
        machine: view(app, m).await?,
        ipmi,
    })
}

/// `POST /v1/machine/{id}/state`: RESERVED and LOCKED need a description.
pub async fn set_state(
    app: &AppState,
    id: &str,
    req: &MachineStateRequest,
    issuer: &str,
) -> ApiResult<MachineResponse> {
    let m = super::update::<Machine, _>(app, id, |m| m.state.set(req, issuer)).await?;
    view(app, m).await
}

/// `POST /v1/machine`: description, tags (recomputed with the system labels) and ssh keys of
/// an allocated machine.
pub async fn update(app: &AppState, req: MachineUpdateRequest) -> ApiResult<MachineResponse> {
    for k in req.ssh_pub_keys.iter().flatten() {
        machine::validate_ssh_key(k)?;
    }
    let m = super::update::<Machine, _>(app, &req.id.clone(), |m| {
        let rack = m.rackid.clone();
        let chassis = m.ipmi.fru.chassis_part_serial.clone();
        let Some(a) = m.allocation.as_mut() else {
            return Err(metal_domain::DomainError::invalid(format!(
                "machine {} is not allocated",
                m.id
            )));
        };
        if let Some(d) = &req.description {
            a.description = d.clone();
        }
        if let Some(k) = &req.ssh_pub_keys {
            a.ssh_pub_keys = k.clone();
        }
        if let Some(t) = &req.tags {
            let asn = a.networks.iter().find(|n| n.private).map(|n| n.asn);
            m.tags = machine::tags_with_system_labels(t, asn, &rack, &chassis);
        }
        Ok(())
    })
    .await?;
    view(app, m).await
}

/// `DELETE /v1/machine/{id}` (admin): only unallocated machines whose event log says dead (or
/// that have none). Its switch connections go with it; the event log is kept, as in metal-stack.
pub async fn delete(app: &AppState, id: &str) -> ApiResult<MachineResponse> {
    let mut tx = app.store.begin().await?;
    let m = docs::must_get::<Machine>(&mut tx, id).await?.value;
    if m.allocation.is_some() {
        return Err(ApiError::unprocessable(format!(
            "machine {id} is allocated: free it first"
        )));
    }
    if let Some(c) = docs::get::<EventContainer>(&mut tx, id).await? {
        if c.value.liveliness != Liveliness::Dead {
            return Err(ApiError::unprocessable(format!(
                "can only delete dead machines: machine {id} is {}",
                c.value.liveliness.as_str()
            )));
        }
    }
    super::cabling::disconnect(&mut tx, &m).await?;
    docs::delete::<Machine>(&mut tx, id).await?;
    tx.commit().await.map_err(store_err)?;
    view(app, m).await
}
