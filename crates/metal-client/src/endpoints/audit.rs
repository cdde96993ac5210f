//! Audit trail search: `POST /v1/audit/find`.

use metal_domain::audit::{AuditEntry, AuditFindRequest};

use crate::{Client, Result};

impl Client {
    /// `POST /v1/audit/find`
    pub async fn find_audit(&self, req: &AuditFindRequest) -> Result<Vec<AuditEntry>> {
        self.post("v1/audit/find", req).await
    }
}
