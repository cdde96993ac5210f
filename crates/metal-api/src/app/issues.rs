//! Machine issues (§5): the catalogue and the evaluation of the machines matching a search
//! query. The rules are `metal_domain::issues::evaluate`; this module only loads the
//! machines and the event containers it needs.

use chrono::{DateTime, Utc};
use metal_domain::issues::{self, IssueConfig, MachineIssueResponse, MachineIssuesRequest};
use metal_domain::machine::Machine;

use super::store_err;
use crate::error::ApiResult;
use crate::state::AppState;

/// `POST /v1/machine/issues/evaluate`: the machines matching the query that have at least
/// one reported issue, sorted by id. Unknown issue ids or severities are 400 before anything
/// is loaded. The uniqueness issues compare within the matching machines only.
pub async fn evaluate(
    app: &AppState,
    req: &MachineIssuesRequest,
    now: DateTime<Utc>,
) -> ApiResult<Vec<MachineIssueResponse>> {
    let config = IssueConfig::from_request(req)?;
    let mut conn = app.store.reader().acquire().await.map_err(store_err)?;
    let machines: Vec<Machine> = super::machine::matching(&mut conn, &req.query, None).await?;
    let events = super::machine_view::event_containers(&mut conn, &machines).await?;
    Ok(issues::responses(issues::evaluate(
        &machines, &events, now, &config,
    )))
}
