//! `/v1/machine/issues`: the catalogue of machine issues and their evaluation (§5). The routes
//! and their handlers.

use axum::extract::State;
use axum::routing::{get, post};
use axum::Json;
use metal_domain::issues::{self, MachineIssue, MachineIssueResponse, MachineIssuesRequest};

use super::extract::JsonBody;
use super::table::{Op, RouteTable};
use super::VIEW;
use crate::app;
use crate::error::ApiResult;
use crate::state::App;

/// The issue routes.
pub(super) fn routes(t: &mut RouteTable) {
    t.add(
        Op::get("/v1/machine/issues", "listIssues", VIEW)
            .summary("returns the list of issues that exist in the API")
            .returns_list::<MachineIssue>(200),
        get(issue_list),
    );
    t.add(
        Op::post("/v1/machine/issues/evaluate", "issues", VIEW)
            .summary("returns machine issues")
            .body::<MachineIssuesRequest>()
            .returns_list::<MachineIssueResponse>(200),
        post(issue_evaluate),
    );
}

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
