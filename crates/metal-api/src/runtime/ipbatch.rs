//! Group allocation of IPs. Concurrent requests for the next free address of the same network
//! queue at one worker per network, which takes everything queued and allocates it in one
//! transaction: one prefix lock, one search, one insert and one commit for the whole group.
//! Under load this turns N commits (each holding the prefix lock through its disk flush) into
//! one; a lone request takes the single-IP path and waits for nobody.
//!
//! Every request still gets its own answer, including its own error (quota reached, network
//! full); a failure of the transaction itself fails the requests of that group only.

use std::collections::BTreeMap;

use metal_domain::ip::Ip;
use metal_domain::prefix::AddressFamily;
use metal_domain::project::Project;
use metal_store::{docs, ipam, Store};
use tokio::sync::oneshot;

use super::batch::Groups;

use crate::error::{ApiError, ApiResult};

/// Most requests one transaction serves.
const MAX_GROUP: usize = 64;

/// A request waiting for an address.
struct Job {
    ip: Ip,
    family: Option<AddressFamily>,
    /// The project's IP quota, when it has one.
    quota: Option<i32>,
    reply: oneshot::Sender<ApiResult<Ip>>,
}

/// The workers, one per network that has seen allocations.
pub struct IpBatcher {
    groups: Groups<Job>,
}

impl Default for IpBatcher {
    fn default() -> Self {
        Self {
            groups: Groups::new(MAX_GROUP),
        }
    }
}

impl IpBatcher {
    /// Allocates the next free address of `ip.networkid` for `ip` (whose other fields are set).
    pub async fn allocate(
        &self,
        store: &Store,
        ip: Ip,
        family: Option<AddressFamily>,
        project: &Project,
    ) -> ApiResult<Ip> {
        let quota = project
            .quotas
            .as_ref()
            .and_then(|q| q.ip.as_ref())
            .and_then(|q| q.quota);
        let (reply, answer) = oneshot::channel();
        let network = ip.networkid.clone();
        let job = Job {
            ip,
            family,
            quota,
            reply,
        };
        let store = store.clone();
        let key = network.clone();
        self.groups.submit(&key, job, move |group| {
            let store = store.clone();
            let network = network.clone();
            async move { serve(&store, &network, group).await }
        })?;
        answer
            .await
            .map_err(|_| ApiError::Internal(anyhow::anyhow!("ip allocation worker stopped")))?
    }
}

/// Allocates for a group and answers each request.
async fn serve(store: &Store, network: &str, group: Vec<Job>) {
    let (ips, rest): (Vec<_>, Vec<_>) = group
        .into_iter()
        .map(|j| (j.ip.clone(), (j.family, j.quota, j.reply)))
        .unzip();
    let mut ips = ips;
    let meta: Vec<(Option<AddressFamily>, Option<i32>)> =
        rest.iter().map(|(f, q, _)| (*f, *q)).collect();
    match allocate_group(store, network, &mut ips, &meta).await {
        Ok(outcomes) => {
            for ((_, _, reply), (ip, outcome)) in
                rest.into_iter().zip(ips.into_iter().zip(outcomes))
            {
                let _ = reply.send(outcome.map(|()| ip));
            }
        }
        Err(e) => {
            let msg = format!("{e:#}");
            tracing::error!(network, error = msg, "group ip allocation failed");
            for (_, _, reply) in rest {
                let _ = reply.send(Err(ApiError::Internal(anyhow::anyhow!(
                    "ip allocation failed: {msg}"
                ))));
            }
        }
    }
}

/// One transaction for the group: quotas per project, then addresses per address family in
/// the order the requests came.
async fn allocate_group(
    store: &Store,
    network: &str,
    ips: &mut [Ip],
    meta: &[(Option<AddressFamily>, Option<i32>)],
) -> anyhow::Result<Vec<ApiResult<()>>> {
    let mut outcomes: Vec<Option<ApiResult<()>>> = (0..ips.len()).map(|_| None).collect();
    let mut tx = store.begin().await?;
    // quotas: lock each project that has one (in a fixed order), count, admit in order
    let mut quota_of: BTreeMap<&str, i32> = BTreeMap::new();
    for (ip, (_, q)) in ips.iter().zip(meta) {
        if let Some(q) = q {
            quota_of.insert(ip.projectid.as_str(), *q);
        }
    }
    let mut left: BTreeMap<String, i64> = BTreeMap::new();
    for (project, limit) in &quota_of {
        docs::lock::<Project>(&mut tx, project).await?;
        let used = ipam::count_ips_of_project(&mut tx, project).await?;
        left.insert(project.to_string(), i64::from(*limit) - used);
    }
    for (i, ip) in ips.iter().enumerate() {
        if let Some(n) = left.get_mut(&ip.projectid) {
            if *n <= 0 {
                outcomes[i] = Some(Err(ApiError::unprocessable(format!(
                    "project {} has reached its quota of {} ip(s)",
                    ip.projectid,
                    quota_of[ip.projectid.as_str()]
                ))));
            } else {
                *n -= 1;
            }
        }
    }
    // addresses, one pass per requested family
    let mut families: Vec<Option<AddressFamily>> = meta.iter().map(|(f, _)| *f).collect();
    families.sort();
    families.dedup();
    for fam in families {
        let idx: Vec<usize> = (0..ips.len())
            .filter(|i| outcomes[*i].is_none() && meta[*i].0 == fam)
            .collect();
        let mut batch: Vec<Ip> = idx.iter().map(|i| ips[*i].clone()).collect();
        let got = if batch.len() == 1 {
            usize::from(
                ipam::allocate_next_ip(&mut tx, network, fam, &mut batch[0])
                    .await?
                    .is_some(),
            )
        } else {
            ipam::allocate_next_ips(&mut tx, network, fam, &mut batch).await?
        };
        for (k, i) in idx.iter().enumerate() {
            if k < got {
                ips[*i] = batch[k].clone();
                outcomes[*i] = Some(Ok(()));
            } else {
                outcomes[*i] = Some(Err(ApiError::unprocessable(format!(
                    "no ips left in network {network}"
                ))));
            }
        }
    }
    tx.commit().await?;
    Ok(outcomes.into_iter().map(|o| o.unwrap_or(Ok(()))).collect())
}
