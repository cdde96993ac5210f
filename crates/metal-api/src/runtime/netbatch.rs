//! Group allocation of tenant networks. Concurrent `POST /v1/network/allocate` requests for one
//! partition queue at one worker per partition, which serves everything queued in one
//! transaction: the VRFs, one lock and one search per parent prefix for all child prefixes, one
//! insert for the prefixes and one for the networks, one commit. A lone request takes the
//! single path. When the group cannot be served whole (a parent prefix runs out), the
//! transaction is dropped and each request is served alone, so each gets its own answer.

use std::sync::Arc;

use ipnet::IpNet;
use metal_domain::network::Network;
use metal_domain::pool;
use metal_store::{docs, ipam};
use tokio::sync::oneshot;

use super::batch::Groups;
use crate::app::network::{allocate_one, fresh_view, tenant_network, PlannedAllocation};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

const MAX_GROUP: usize = 32;

struct Job {
    plan: PlannedAllocation,
    reply: oneshot::Sender<ApiResult<Network>>,
}

/// The workers, one per partition that has seen allocations.
pub struct NetworkBatcher {
    groups: Groups<Job>,
}

impl Default for NetworkBatcher {
    fn default() -> Self {
        Self {
            groups: Groups::new(MAX_GROUP),
        }
    }
}

impl NetworkBatcher {
    pub async fn allocate(&self, app: &AppState, plan: PlannedAllocation) -> ApiResult<Network> {
        let Some(state) = app.me() else {
            return allocate_one(app, &plan).await;
        };
        let key = plan.req.partitionid.clone();
        let (reply, answer) = oneshot::channel();
        self.groups
            .submit(&key, Job { plan, reply }, move |group| {
                let state = state.clone();
                async move {
                    match state.upgrade() {
                        Some(app) => serve(&app, group).await,
                        None => {
                            for j in group {
                                let _ = j.reply.send(Err(ApiError::Internal(anyhow::anyhow!(
                                    "server is shutting down"
                                ))));
                            }
                        }
                    }
                }
            })?;
        answer
            .await
            .map_err(|_| ApiError::Internal(anyhow::anyhow!("network allocation worker stopped")))?
    }
}

async fn serve(app: &Arc<AppState>, group: Vec<Job>) {
    if group.len() > 1 {
        match allocate_group(app, &group).await {
            Ok(Some(nets)) => {
                for (j, n) in group.into_iter().zip(nets) {
                    let _ = j.reply.send(Ok(n));
                }
                return;
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(
                error = format!("{e:#}"),
                "group network allocation failed, serving one by one"
            ),
        }
    }
    for j in group {
        let r = allocate_one(app, &j.plan).await;
        let _ = j.reply.send(r);
    }
}

/// The whole group in one transaction, or `None` when some request cannot be served (the
/// transaction is then dropped: nothing was taken).
async fn allocate_group(app: &AppState, group: &[Job]) -> anyhow::Result<Option<Vec<Network>>> {
    let sup = &group[0].plan.sup.id;
    if group.iter().any(|j| &j.plan.sup.id != sup) {
        return Ok(None);
    }
    let mut tx = app.store.begin().await?;
    let mut vrfs = Vec::with_capacity(group.len());
    for _ in group {
        match crate::app::integer_pool::acquire_random(&mut tx, &pool::VRF).await {
            Ok(v) => vrfs.push(v),
            Err(_) => return Ok(None),
        }
    }
    // children: per (family, length), all requests at once, parent prefix by parent prefix
    let mut children: Vec<Vec<(IpNet, IpNet)>> = vec![Vec::new(); group.len()];
    let mut keys: Vec<(metal_domain::prefix::AddressFamily, u8)> =
        group.iter().flat_map(|j| j.plan.lengths.clone()).collect();
    keys.sort();
    keys.dedup();
    let parents = &group[0].plan.parents;
    for (af, len) in keys {
        let mut waiting: Vec<usize> = (0..group.len())
            .filter(|i| group[*i].plan.lengths.contains(&(af, len)))
            .collect();
        for p in parents.iter().filter(|p| p.family() == af) {
            if waiting.is_empty() {
                break;
            }
            let Some(locked) = ipam::lock_prefix(&mut tx, &p.cidr).await? else {
                continue;
            };
            let got = ipam::acquire_children(&mut tx, &locked, len, waiting.len()).await?;
            let served: Vec<usize> = waiting.drain(..got.len()).collect();
            for (i, c) in served.into_iter().zip(got) {
                children[i].push((c, p.cidr));
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
            j.plan
                .lengths
                .iter()
                .position(|(af, _)| *af == metal_domain::prefix::AddressFamily::of_net(c))
        });
        let id = uuid::Uuid::new_v4().to_string();
        let cs: Vec<IpNet> = children[i].iter().map(|(c, _)| *c).collect();
        rows.extend(children[i].iter().map(|(c, p)| (*c, id.clone(), *p)));
        nets.push(tenant_network(&j.plan, id, &cs, vrfs[i]));
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
