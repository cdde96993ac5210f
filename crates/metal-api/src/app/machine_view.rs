//! Machines as the API answers them: each with its partition, size, image and provisioning
//! events embedded, loaded with one read per entity kind. Used by every flow that answers
//! machines (`machine`, `commands`, the allocation handlers) and by the capacity, issue and
//! fleet metric reads that need the event logs.

use std::collections::HashMap;

use metal_domain::event::EventContainer;
use metal_domain::image::Image;
use metal_domain::machine::{Machine, MachineResponse};
use metal_domain::partition::Partition;
use metal_domain::size::Size;
use metal_store::docs;
use metal_store::Conn;

use super::store_err;
use crate::error::ApiResult;
use crate::state::AppState;

/// The provisioning event containers of `machines` by machine id: one read for a single
/// machine, none for no machine, else all containers in one list.
pub async fn event_containers(
    conn: &mut Conn,
    machines: &[Machine],
) -> ApiResult<HashMap<String, EventContainer>> {
    Ok(match machines {
        [] => HashMap::new(),
        [one] => docs::get::<EventContainer>(conn, &one.id)
            .await?
            .map(|c| (c.value.id.clone(), c.value))
            .into_iter()
            .collect(),
        _ => docs::list::<EventContainer>(conn)
            .await?
            .into_iter()
            .map(|c| (c.id.clone(), c))
            .collect(),
    })
}

/// Answers for many machines, loading each referenced entity kind once.
pub async fn views(conn: &mut Conn, machines: Vec<Machine>) -> ApiResult<Vec<MachineResponse>> {
    let partitions: HashMap<String, Partition> = docs::list::<Partition>(conn)
        .await?
        .into_iter()
        .map(|p| (p.id.clone(), p))
        .collect();
    let sizes: HashMap<String, Size> = docs::list::<Size>(conn)
        .await?
        .into_iter()
        .map(|s| (s.id.clone(), s))
        .collect();
    let images: HashMap<String, Image> = if machines.iter().any(|m| m.allocation.is_some()) {
        docs::list::<Image>(conn)
            .await?
            .into_iter()
            .map(|i| (i.id.clone(), i))
            .collect()
    } else {
        HashMap::new()
    };
    let events = event_containers(conn, &machines).await?;
    Ok(machines
        .into_iter()
        .map(|m| {
            let p = partitions.get(&m.partitionid).cloned();
            let s = sizes.get(&m.sizeid).cloned();
            let i = m
                .allocation
                .as_ref()
                .and_then(|a| images.get(&a.imageid))
                .cloned();
            let e = events.get(&m.id);
            MachineResponse::build(m, p, s, i, e)
        })
        .collect())
}

pub async fn view(app: &AppState, m: Machine) -> ApiResult<MachineResponse> {
    let mut conn = app.store.reader().acquire().await.map_err(store_err)?;
    Ok(views(&mut conn, vec![m]).await?.remove(0))
}
