//! Provisioning events: the event log of each machine, fed by metal-hammer (gRPC EventService,
//! Dhcp) and by the API itself (Machine Reclaim on free), applied through the FSM of the domain.

use chrono::{DateTime, Utc};
use metal_domain::event::{EventContainer, EventType};
use metal_domain::machine::Machine;
use metal_store::{docs, Tx};

use crate::error::ApiResult;

/// Applies one event to a machine's log inside `tx`; a machine unknown so far is created empty
/// (the first PXE event may come before registration), as metal-stack does.
pub async fn record(
    tx: &mut Tx,
    machine_id: &str,
    event: EventType,
    message: &str,
    now: DateTime<Utc>,
) -> ApiResult<bool> {
    metal_domain::misc::validate_id("machine", machine_id)?;
    if docs::get::<Machine>(tx, machine_id).await?.is_none() {
        let mut m = Machine {
            id: machine_id.to_string(),
            ..Default::default()
        };
        docs::insert(tx, &mut m).await?;
    }
    let stored = docs::get::<EventContainer>(tx, machine_id).await?;
    let (mut c, revision) = match stored {
        Some(s) => (s.value, Some(s.revision)),
        None => (EventContainer::new(machine_id), None),
    };
    let applied = c.apply(event, message, now)?;
    if !applied.changed && revision.is_some() {
        return Ok(false);
    }
    match revision {
        Some(r) => {
            docs::update(tx, &mut c, r).await?;
        }
        None => docs::insert(tx, &mut c).await?,
    }
    Ok(true)
}

/// Makes sure a machine has an event log (registration does).
pub async fn ensure(tx: &mut Tx, machine_id: &str) -> ApiResult<()> {
    if docs::get::<EventContainer>(tx, machine_id).await?.is_none() {
        let mut c = EventContainer::new(machine_id);
        c.last_event_time = Some(metal_store::time::now());
        docs::insert(tx, &mut c).await?;
    }
    Ok(())
}
