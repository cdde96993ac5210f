//! Switches (§4.12): metal-core registers its switch and notifies after every sync; operators
//! read, update, delete and toggle ports. Every change reads the switch under a row lock and
//! writes it in the same transaction, so metal-core's notify every few seconds, an operator's
//! edit and a machine's registration never overwrite each other or fail with a conflict.
//!
//! Responses carry the switch's partition and, per port with an allocated machine behind it,
//! the BGP filter metal-core renders into the port's route maps, derived on read from the
//! machine's allocation and its project's IPs (`metal_domain::switch::filter`).

use std::collections::BTreeMap;

use metal_domain::machine::Machine;
use metal_domain::partition::Partition;
use metal_domain::switch::filter::{self, FilterMachine};
use metal_domain::switch::migrate::{self, Migration};
use metal_domain::switch::register::{self, Registration};
use metal_domain::switch::{
    BgpFilter, Switch, SwitchFindRequest, SwitchMigrateRequest, SwitchMode, SwitchNotifyRequest,
    SwitchNotifyResponse, SwitchPortToggleRequest, SwitchRegisterRequest, SwitchResponse,
    SwitchUpdateRequest,
};
use metal_store::docs::SwitchFilter;
use metal_store::{docs, time, Tx};
use metal_store::{ipam, Conn};

use super::store_err;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// The response for one switch, with its partition and its ports' BGP filters.
async fn view(conn: &mut Conn, s: &Switch) -> ApiResult<SwitchResponse> {
    let p = docs::get::<Partition>(conn, &s.partition_id).await?;
    view_in(conn, s, p.as_ref().map(|p| &p.value)).await
}

/// The response for one switch whose partition was read already.
async fn view_in(
    conn: &mut Conn,
    s: &Switch,
    partition: Option<&Partition>,
) -> ApiResult<SwitchResponse> {
    let filters = Filters::default().of(conn, s).await?;
    Ok(SwitchResponse::new(s, partition, &filters))
}

/// Reads what the BGP filters of ports need, each machine and each project's IPs once.
#[derive(Default)]
struct Filters {
    machines: BTreeMap<String, Option<Machine>>,
    project_ips: BTreeMap<String, Vec<String>>,
}

impl Filters {
    /// The filters of the switch's ports with an allocated machine behind them, by port name.
    /// A filter that cannot be made (a stored prefix that does not parse) is left out and
    /// logged: metal-core then renders the port without it, which accepts nothing.
    async fn of(&mut self, conn: &mut Conn, s: &Switch) -> ApiResult<BTreeMap<String, BgpFilter>> {
        let mut out = BTreeMap::new();
        for c in &s.connections {
            if !self.machines.contains_key(&c.machine_id) {
                let m = docs::get::<Machine>(conn, &c.machine_id).await?;
                self.machines
                    .insert(c.machine_id.clone(), m.map(|m| m.value));
            }
            let Some(Some(m)) = self.machines.get(&c.machine_id) else {
                continue;
            };
            let Some(a) = &m.allocation else {
                continue;
            };
            let Some(port) = s.nics.iter().find(|p| p.key() == c.nic.key()) else {
                continue;
            };
            if !self.project_ips.contains_key(&a.project) {
                let ips = ipam::find_ips(
                    conn,
                    &ipam::IpFilter {
                        project_id: Some(a.project.clone()),
                        ..Default::default()
                    },
                )
                .await?;
                self.project_ips.insert(
                    a.project.clone(),
                    ips.into_iter().map(|ip| ip.ipaddress).collect(),
                );
            }
            let machine = FilterMachine::of(a);
            let ips = &self.project_ips[&a.project];
            match filter::bgp_filter(&machine, &port.vrf, ips) {
                Ok(f) => {
                    out.insert(port.name.clone(), f);
                }
                Err(e) => tracing::warn!(
                    switch = s.id,
                    port = port.name,
                    machine = m.id,
                    error = %e,
                    "no BGP filter for the port"
                ),
            }
        }
        Ok(out)
    }
}

/// The responses for several switches, reading the partitions once.
async fn views(conn: &mut Conn, switches: &[Switch]) -> ApiResult<Vec<SwitchResponse>> {
    let partitions: BTreeMap<String, Partition> = docs::list::<Partition>(conn)
        .await?
        .into_iter()
        .map(|p| (p.id.clone(), p))
        .collect();
    let mut filters = Filters::default();
    let mut out = Vec::with_capacity(switches.len());
    for s in switches {
        let f = filters.of(conn, s).await?;
        out.push(SwitchResponse::new(s, partitions.get(&s.partition_id), &f));
    }
    Ok(out)
}

pub async fn get(app: &AppState, id: &str) -> ApiResult<SwitchResponse> {
    let mut conn = app.store.reader().acquire().await.map_err(store_err)?;
    let s = docs::must_get::<Switch>(&mut conn, id).await?.value;
    view(&mut conn, &s).await
}

pub async fn list(app: &AppState) -> ApiResult<Vec<SwitchResponse>> {
    let mut conn = app.store.reader().acquire().await.map_err(store_err)?;
    let all = docs::list::<Switch>(&mut conn).await?;
    views(&mut conn, &all).await
}

pub async fn find(app: &AppState, req: &SwitchFindRequest) -> ApiResult<Vec<SwitchResponse>> {
    let mut conn = app.store.reader().acquire().await.map_err(store_err)?;
    let found = docs::find::<Switch>(&mut conn, &SwitchFilter::of_request(req)).await?;
    views(&mut conn, &found).await
}

/// Reads a switch for a change, holding its row until the transaction ends.
async fn for_change(tx: &mut Tx, id: &str) -> ApiResult<docs::Stored<Switch>> {
    docs::lock::<Switch>(tx, id).await?;
    Ok(docs::must_get::<Switch>(tx, id).await?)
}

/// Registers a switch (metal-core at start); `true` when it is new. The partition must exist.
pub async fn register(
    app: &AppState,
    req: SwitchRegisterRequest,
) -> ApiResult<(bool, SwitchResponse)> {
    req.validate()?;
    let mut tx = app.store.begin().await?;
    let Some(partition) = docs::get::<Partition>(&mut tx, &req.partition_id).await? else {
        return Err(ApiError::unprocessable(format!(
            "partition_id: partition {:?} does not exist",
            req.partition_id
        )));
    };
    docs::lock::<Switch>(&mut tx, &req.id).await?;
    let current = docs::get::<Switch>(&mut tx, &req.id).await?;
    let rack = match &current {
        Some(c) if c.value.mode == SwitchMode::Replace => {
            docs::find::<Switch>(&mut tx, &[SwitchFilter::Rack(&req.rack_id)]).await?
        }
        _ => Vec::new(),
    };
    let Registration {
        switch: mut s,
        created,
    } = register::register(current.as_ref().map(|c| &c.value), req, &rack)?;
    match &current {
        None => docs::insert(&mut tx, &mut s).await?,
        Some(c) => {
            docs::update(&mut tx, &mut s, c.revision).await?;
        }
    }
    let resp = view_in(&mut tx, &s, Some(&partition.value)).await?;
    tx.commit().await.map_err(store_err)?;
    Ok((created, resp))
}

/// An operator's update: description, console command, mode.
pub async fn update(app: &AppState, req: SwitchUpdateRequest) -> ApiResult<SwitchResponse> {
    if req.id.is_empty() {
        return Err(ApiError::bad_request("id should not be empty"));
    }
    let mut tx = app.store.begin().await?;
    let stored = for_change(&mut tx, &req.id).await?;
    let mut s = stored.value;
    req.apply(&mut s)?;
    docs::update(&mut tx, &mut s, stored.revision).await?;
    let resp = view(&mut tx, &s).await?;
    tx.commit().await.map_err(store_err)?;
    Ok(resp)
}

/// Deletes a switch; refused (422) while machines are connected to it, unless `force`.
pub async fn delete(app: &AppState, id: &str, force: bool) -> ApiResult<SwitchResponse> {
    let mut tx = app.store.begin().await?;
    let s = for_change(&mut tx, id).await?.value;
    let machines = s.connected_machines();
    if !force && !machines.is_empty() {
        return Err(ApiError::unprocessable(format!(
            "cannot delete switch {id} while machines are connected to it: {} (force deletes it anyway)",
            machines.join(", ")
        )));
    }
    docs::delete::<Switch>(&mut tx, id).await?;
    let resp = view(&mut tx, &s).await?;
    tx.commit().await.map_err(store_err)?;
    Ok(resp)
}

/// metal-core's report after a sync: sync status and port states.
pub async fn notify(
    app: &AppState,
    id: &str,
    req: SwitchNotifyRequest,
) -> ApiResult<SwitchNotifyResponse> {
    let mut tx = app.store.begin().await?;
    let stored = for_change(&mut tx, id).await?;
    let mut s = stored.value;
    let unknown = req.apply(&mut s, time::now())?;
    if !unknown.is_empty() {
        tracing::warn!(switch = id, ports = ?unknown, "switch reported the state of ports it does not have");
    }
    docs::update(&mut tx, &mut s, stored.revision).await?;
    tx.commit().await.map_err(store_err)?;
    Ok(SwitchNotifyResponse::new(&s))
}

/// An operator sets the desired state of a port with a machine; metal-core applies it.
pub async fn toggle_port(
    app: &AppState,
    id: &str,
    req: SwitchPortToggleRequest,
) -> ApiResult<SwitchResponse> {
    let mut tx = app.store.begin().await?;
    let stored = for_change(&mut tx, id).await?;
    let mut s = stored.value;
    if req.apply(&mut s)? {
        docs::update(&mut tx, &mut s, stored.revision).await?;
    }
    let resp = view(&mut tx, &s).await?;
    tx.commit().await.map_err(store_err)?;
    Ok(resp)
}

/// Moves the machine connections of a switch, with its ports' VRFs and states, to the switch
/// replacing it (`metal_domain::switch::migrate`), and rewrites the connected machines' LLDP
/// neighbours to the new ports, in one transaction that writes both switches and the machines
/// (each revision-checked) or nothing. Answers the new switch; the old one stays registered
/// without connections. Either switch missing is 404 naming it.
pub async fn migrate(app: &AppState, req: SwitchMigrateRequest) -> ApiResult<SwitchResponse> {
    req.validate()?;
    let mut tx = app.store.begin().await?;
    // switch rows first, in id order, as every flow touching switches and machines does
    let mut ids = [req.old_switch_id.as_str(), req.new_switch_id.as_str()];
    ids.sort_unstable();
    for id in ids {
        docs::lock::<Switch>(&mut tx, id).await?;
    }
    let existing = |role: &str, id: &str, s: Option<docs::Stored<Switch>>| {
        s.ok_or_else(|| ApiError::not_found(format!("{role} switch {id:?} does not exist")))
    };
    let old = docs::get::<Switch>(&mut tx, &req.old_switch_id).await?;
    let old = existing("old", &req.old_switch_id, old)?;
    let new = docs::get::<Switch>(&mut tx, &req.new_switch_id).await?;
    let new = existing("new", &req.new_switch_id, new)?;
    let migration = migrate::migrate(&old.value, &new.value)?;
    let machines = migration.new.connected_machines();
    for id in &machines {
        // a connection of a machine that is gone moves as it is
        let Some(stored) = docs::get::<Machine>(&mut tx, id).await? else {
            continue;
        };
        let mut m = stored.value;
        if migrate::rewire_neighbors(&mut m.hardware.nics, id, &old.value, &migration) {
            docs::update(&mut tx, &mut m, stored.revision).await?;
        }
    }
    let Migration {
        old: mut o,
        new: mut n,
        moved,
    } = migration;
    docs::update(&mut tx, &mut o, old.revision).await?;
    docs::update(&mut tx, &mut n, new.revision).await?;
    let resp = view(&mut tx, &n).await?;
    tx.commit().await.map_err(store_err)?;
    tracing::info!(
        old = %o.id,
        new = %n.id,
        ports = ?moved,
        machines = ?machines,
        "migrated the machine connections of a switch"
    );
    Ok(resp)
}
