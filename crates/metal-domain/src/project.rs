//! Tenants and projects (metal-stack keeps them in its masterdata service; we store them
//! ourselves). A tenant owns projects; machines, networks and IPs are allocated into projects,
//! and a project's quotas bound how many it may hold.
//!
//! Wire shapes: `v1.ProjectResponse`, `v1.TenantResponse` (masterdata's `meta` object carries the
//! id, timestamps and the optimistic-locking `version`).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{DomainError, DomainResult};

/// Masterdata metadata of a project or tenant.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct Meta {
    pub id: String,
    pub kind: String,
    pub apiversion: String,
    /// Optimistic-locking version: an update must carry the version it read.
    pub version: i64,
    pub created_time: Option<DateTime<Utc>>,
    pub updated_time: Option<DateTime<Utc>>,
    pub annotations: BTreeMap<String, String>,
    pub labels: Vec<String>,
}

/// One quota: `quota` is the limit (absent = unlimited), `used` is filled in on reads. Absent
/// values are left out of answers, not sent as `null`: the reference's `v1.Quota` and
/// `v1.QuotaSet` have no nullable fields (metal-api (Go) omits them too).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct Quota {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quota: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub used: Option<i32>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct QuotaSet {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<Quota>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub machine: Option<Quota>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip: Option<Quota>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project: Option<Quota>,
}

impl QuotaSet {
    fn validate(&self, field: &str) -> DomainResult<()> {
        for (name, q) in [
            ("cluster", &self.cluster),
            ("machine", &self.machine),
            ("ip", &self.ip),
            ("project", &self.project),
        ] {
            if let Some(Quota { quota: Some(n), .. }) = q {
                if *n < 0 {
                    return Err(DomainError::invalid(format!(
                        "{field}.{name}.quota must not be negative, got {n}"
                    )));
                }
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct Project {
    pub meta: Meta,
    pub name: String,
    pub description: String,
    pub tenant_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quotas: Option<QuotaSet>,
}

/// Create and update bodies have the project's own shape.
pub type ProjectCreateRequest = Project;
pub type ProjectUpdateRequest = Project;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct ProjectFindRequest {
    pub id: Option<String>,
    pub name: Option<String>,
    pub description: Option<String>,
    pub tenant_id: Option<String>,
}

impl ProjectFindRequest {
    pub fn matches(&self, p: &Project) -> bool {
        eq_opt(&self.id, &p.meta.id)
            && eq_opt(&self.name, &p.name)
            && eq_opt(&self.description, &p.description)
            && eq_opt(&self.tenant_id, &p.tenant_id)
    }
}

fn eq_opt(want: &Option<String>, have: &str) -> bool {
    want.as_deref().is_none_or(|w| w.is_empty() || w == have)
}

impl Project {
    /// Checks a project for create or update. The id is set by the caller beforehand.
    pub fn validate(&self) -> DomainResult<()> {
        if self.tenant_id.trim().is_empty() {
            return Err(DomainError::invalid("tenant_id should not be empty"));
        }
        crate::misc::validate_id("project", &self.meta.id)?;
        if let Some(q) = &self.quotas {
            q.validate("quotas")?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct IssuerConfig {
    pub url: String,
    pub client_id: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct IdmConfig {
    pub idm_type: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct IamConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issuer_config: Option<IssuerConfig>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idm_config: Option<IdmConfig>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct Tenant {
    pub meta: Meta,
    pub name: String,
    pub description: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iam_config: Option<IamConfig>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_quotas: Option<QuotaSet>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quotas: Option<QuotaSet>,
}

pub type TenantCreateRequest = Tenant;
pub type TenantUpdateRequest = Tenant;

impl Tenant {
    pub fn validate(&self) -> DomainResult<()> {
        if self.meta.id.trim().is_empty() {
            return Err(DomainError::invalid(
                "meta.id of the tenant should not be empty",
            ));
        }
        crate::misc::validate_id("tenant", &self.meta.id)?;
        if let Some(q) = &self.quotas {
            q.validate("quotas")?;
        }
        if let Some(q) = &self.default_quotas {
            q.validate("default_quotas")?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct Paging {
    pub page: Option<u64>,
    pub count: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct TenantFindRequest {
    pub id: Option<String>,
    pub name: Option<String>,
    /// every given annotation must be present with this value
    pub annotations: BTreeMap<String, String>,
    pub paging: Option<Paging>,
}

impl TenantFindRequest {
    pub fn matches(&self, t: &Tenant) -> bool {
        eq_opt(&self.id, &t.meta.id)
            && eq_opt(&self.name, &t.name)
            && self
                .annotations
                .iter()
                .all(|(k, v)| t.meta.annotations.get(k) == Some(v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project(tenant: &str) -> Project {
        Project {
            meta: Meta {
                id: "p1".into(),
                ..Default::default()
            },
            tenant_id: tenant.into(),
            ..Default::default()
        }
    }

    #[test]
    fn project_needs_tenant() {
        assert_eq!(
            project("").validate(),
            Err(DomainError::invalid("tenant_id should not be empty"))
        );
        assert!(project("t1").validate().is_ok());
    }

    #[test]
    fn negative_quota_is_rejected() {
        let mut p = project("t1");
        p.quotas = Some(QuotaSet {
            machine: Some(Quota {
                quota: Some(-1),
                used: None,
            }),
            ..Default::default()
        });
        assert_eq!(
            p.validate(),
            Err(DomainError::invalid(
                "quotas.machine.quota must not be negative, got -1"
            ))
        );
    }

    #[test]
    fn find_matches_given_fields_only() {
        let p = Project {
            name: "web".into(),
            ..project("t1")
        };
        let q = |name: Option<&str>, tenant: Option<&str>| ProjectFindRequest {
            name: name.map(Into::into),
            tenant_id: tenant.map(Into::into),
            ..Default::default()
        };
        assert!(q(None, None).matches(&p));
        assert!(q(Some("web"), Some("t1")).matches(&p));
        assert!(!q(Some("web"), Some("t2")).matches(&p));
        assert!(!q(Some("db"), None).matches(&p));
    }

    #[test]
    fn tenant_find_by_annotation() {
        let mut t = Tenant::default();
        t.meta.id = "t1".into();
        t.meta.annotations.insert("a".into(), "1".into());
        let mut q = TenantFindRequest::default();
        q.annotations.insert("a".into(), "1".into());
        assert!(q.matches(&t));
        q.annotations.insert("a".into(), "2".into());
        assert!(!q.matches(&t));
    }
}
