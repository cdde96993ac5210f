//! `/v1/audit`: the audit trail search. The route and its handler.

use axum::extract::State;
use axum::routing::post;
use axum::Json;
use metal_domain::audit::{AuditEntry, AuditFindRequest};

use super::extract::JsonBody;
use super::table::{Op, RouteTable};
use super::VIEW;
use crate::app;
use crate::error::ApiResult;
use crate::state::App;

/// The audit route.
pub(super) fn routes(t: &mut RouteTable) {
    t.add(
        Op::post("/v1/audit/find", "findAuditTraces", VIEW)
            .summary("find audit trail entries, newest first")
            .body::<AuditFindRequest>()
            .returns_list::<AuditEntry>(200),
        post(audit_find),
    );
}

pub async fn audit_find(
    State(a): State<App>,
    JsonBody(q): JsonBody<AuditFindRequest>,
) -> ApiResult<Json<Vec<AuditEntry>>> {
    Ok(Json(app::audit::find(&a, &q).await?))
}
