//! Handlers of the machine issues: the catalogue and the evaluation (§5).

use axum::extract::State;
use axum::Json;
use metal_domain::issues::{self, MachineIssue, MachineIssueResponse, MachineIssuesRequest};

use super::extract::JsonBody;
use crate::app;
use crate::error::ApiResult;
use crate::state::App;

/// `GET /v1/machine/issues`: every issue type the evaluation knows.
pub async fn issue_list() -> Json<Vec<MachineIssue>> {
    Json(issues::catalogue())
}

/// `POST /v1/machine/issues/evaluate`: the issues of the machines matching the query.
pub async fn issue_evaluate(
    State(a): State<App>,
    JsonBody(r): JsonBody<MachineIssuesRequest>,
) -> ApiResult<Json<Vec<MachineIssueResponse>>> {
    Ok(Json(
        app::issues::evaluate(&a, &r, metal_store::time::now()).await?,
    ))
}
