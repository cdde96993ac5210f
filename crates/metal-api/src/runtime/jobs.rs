//! Background jobs of the server (§6.4, §6.5), safe with several replicas: each run first takes
//! the job's lease in the database, so one replica runs a job at a time.
//!
//! - liveliness (every minute): a machine without events for more than 5 minutes is Unknown
//!   when allocated, Dead when not;
//! - resurrection (every hour): unallocated machines dead for more than an hour, or whose
//!   reclaim failed, are freed (which records Machine Reclaim).

use chrono::{DateTime, Utc};
use metal_domain::event::{self, EventContainer};
use metal_domain::machine::{Machine, MachineStateValue};
use metal_store::docs;

use crate::app::store_err;
use crate::error::ApiResult;
use crate::state::AppState;

/// Counts of one liveliness run.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct LivelinessCounts {
    pub alive: usize,
    pub dead: usize,
    pub unknown: usize,
    pub changed: usize,
}

/// Takes the lease of `job` for `ttl`; `false` when another replica holds it.
pub async fn lease(
    app: &AppState,
    job: &str,
    holder: &str,
    now: DateTime<Utc>,
    ttl: chrono::Duration,
) -> ApiResult<bool> {
    let mut tx = app.store.begin().await?;
    let got = metal_store::jobs::try_lease(&mut tx, job, holder, now, now + ttl).await?;
    tx.commit().await.map_err(store_err)?;
    Ok(got)
}

/// Recomputes the liveliness of every machine with an event log.
pub async fn liveliness(app: &AppState, now: DateTime<Utc>) -> ApiResult<LivelinessCounts> {
    let (containers, allocated) = {
        let mut conn = app.store.reader().acquire().await.map_err(store_err)?;
        let containers = docs::list::<EventContainer>(&mut conn).await?;
        let machines = docs::list::<Machine>(&mut conn).await?;
        let allocated: std::collections::HashSet<String> = machines
            .into_iter()
            .filter(|m| m.allocation.is_some())
            .map(|m| m.id)
            .collect();
        (containers, allocated)
    };
    let mut counts = LivelinessCounts::default();
    for c in containers {
        let l = event::liveliness(&c, allocated.contains(&c.id), now);
        match l {
            event::Liveliness::Alive => counts.alive += 1,
            event::Liveliness::Dead => counts.dead += 1,
            event::Liveliness::Unknown => counts.unknown += 1,
        }
        if l != c.liveliness {
            let id = c.id.clone();
            // a concurrent event wins: it sets the liveliness itself
            match crate::app::update::<EventContainer, _>(app, &id, |c| {
                c.liveliness = l;
                Ok(())
            })
            .await
            {
                Ok(_) => counts.changed += 1,
                Err(e) => tracing::debug!(machine = id, error = %e, "liveliness not updated"),
            }
        }
    }
    Ok(counts)
}

/// Frees the unallocated machines that should be resurrected; answers their ids. Locked
/// machines are left alone (and logged), as operators lock machines to keep them out.
pub async fn resurrect(app: &AppState, now: DateTime<Utc>) -> ApiResult<Vec<String>> {
    let (containers, machines) = {
        let mut conn = app.store.reader().acquire().await.map_err(store_err)?;
        (
            docs::list::<EventContainer>(&mut conn).await?,
            docs::list::<Machine>(&mut conn).await?,
        )
    };
    let by_id: std::collections::HashMap<&str, &Machine> =
        machines.iter().map(|m| (m.id.as_str(), m)).collect();
    let mut freed = Vec::new();
    for c in &containers {
        let Some(m) = by_id.get(c.id.as_str()) else {
            continue;
        };
        let locked = m.state.value == MachineStateValue::Locked;
        if locked && event::should_resurrect(c, m.allocation.is_some(), false, now) {
            tracing::info!(machine = m.id, "not resurrecting a locked machine");
            continue;
        }
        if event::should_resurrect(c, m.allocation.is_some(), locked, now) {
            match crate::app::allocate::free(app, &m.id).await {
                Ok(_) => freed.push(m.id.clone()),
                Err(e) => tracing::warn!(machine = m.id, error = %e, "resurrection failed"),
            }
        }
    }
    Ok(freed)
}
