//! The audit trail: what was changed, by whom (written by the audit middleware), searched here.

use metal_domain::audit::{AuditEntry, AuditFindRequest};

use super::store_err;
use crate::error::ApiResult;
use crate::state::AppState;

/// `POST /v1/audit/find`: the entries matching `q`, newest first.
pub async fn find(app: &AppState, q: &AuditFindRequest) -> ApiResult<Vec<AuditEntry>> {
    let mut conn = app.store.reader().acquire().await.map_err(store_err)?;
    Ok(metal_store::audit::find(&mut conn, q).await?)
}
