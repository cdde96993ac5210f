//! Group allocation of tenant networks. Concurrent `POST /v1/network/allocate` requests for one
//! partition queue at one worker per partition (`runtime::netbatch`), which serves everything
//! queued here in one transaction: the VRFs, one lock and one search per parent prefix for all child prefixes, one
//! insert for the prefixes and one for the networks, one commit. A lone request takes the
//! single path. When the group cannot be served whole (a parent prefix runs out), the
//! transaction is dropped and each request is served alone, so each gets its own answer.

use std::sync::Arc;

use ipnet::IpNet;
use metal_domain::network::{Network, PlannedAllocation};
use metal_domain::pool;
use metal_domain::prefix::AddressFamily;
use metal_store::{docs, ipam};

use super::network::{allocate_one, fresh_view};
use crate::error::ApiResult;
use crate::state::AppState;

/// Serves a group of planned allocations: in one transaction when it can, else one by one.
pub async fn serve(app: Arc<AppState>, group: Vec<PlannedAllocation>) -> Vec<ApiResult<Network>> {
    if group.len() > 1 {
        match allocate_group(&app, &group).await {
            Ok(Some(nets)) => return nets.into_iter().map(Ok).collect(),
            Ok(None) => {}
            Err(e) => tracing::warn!(
                error = format!("{e:#}"),
                "group network allocation failed, serving one by one"
            ),
        }
    }
    let mut out = Vec::with_capacity(group.len());
    for plan in &group {
        out.push(allocate_one(&app, plan).await);
    }
    out
}

/// The whole group in one transaction, or `None` when some request cannot be served (the
/// transaction is then dropped: nothing was taken).
async fn allocate_group(
    app: &AppState,
    group: &[PlannedAllocation],
) -> anyhow::Result<Option<Vec<Network>>> {
    let sup = &group[0].sup.id;
    if group.iter().any(|j| &j.sup.id != sup) {
        return Ok(None);
    }
    let mut tx = app.store.begin().await?;
    let mut vrfs = Vec::with_capacity(group.len());
    for _ in group {
        match super::integer_pool::acquire_random(&mut tx, &pool::VRF).await {
            Ok(v) => vrfs.push(v),
            Err(_) => return Ok(None),
        }
    }
    // children: per (family, length), all requests at once, parent prefix by parent prefix
    let mut children: Vec<Vec<(IpNet, IpNet)>> = vec![Vec::new(); group.len()];
    let mut keys: Vec<(AddressFamily, u8)> = group.iter().flat_map(|j| j.lengths.clone()).collect();
    keys.sort();
    keys.dedup();
    let parents = &group[0].parents;
    for (af, len) in keys {
        let mut waiting: Vec<usize> = (0..group.len())
            .filter(|i| group[*i].lengths.contains(&(af, len)))
            .collect();
        for p in parents.iter().filter(|p| AddressFamily::of_net(p) == af) {
            if waiting.is_empty() {
                break;
            }
            let Some(locked) = ipam::lock_prefix(&mut tx, p).await? else {
                continue;
            };
            let got = ipam::acquire_children(&mut tx, &locked, len, waiting.len()).await?;
            let served: Vec<usize> = waiting.drain(..got.len()).collect();
            for (i, c) in served.into_iter().zip(got) {
                children[i].push((c, *p));
            }
        }
        if !waiting.is_empty() {
            return Ok(None);
        }
    }
    let mut nets: Vec<Network> = Vec::with_capacity(group.len());
    let mut rows: Vec<(IpNet, String, IpNet)> = Vec::new();
    for (i, j) in group.iter().enumerate() {
        // the families in the order the request lists them
        children[i].sort_by_key(|(c, _)| {
            j.lengths
                .iter()
                .position(|(af, _)| *af == AddressFamily::of_net(c))
        });
        let id = uuid::Uuid::new_v4().to_string();
        let cs: Vec<IpNet> = children[i].iter().map(|(c, _)| *c).collect();
        rows.extend(children[i].iter().map(|(c, p)| (*c, id.clone(), *p)));
        nets.push(j.network(id, &cs, vrfs[i] as u32));
    }
    ipam::insert_child_prefixes(&mut tx, &rows).await?;
    docs::insert_many(&mut tx, &mut nets).await?;
    tx.commit().await?;
    Ok(Some(
        nets.into_iter()
            .zip(children)
            .map(|(n, c)| fresh_view(n, &c))
            .collect(),
    ))
}
