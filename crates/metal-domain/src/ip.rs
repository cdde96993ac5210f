//! IP addresses allocated from networks (§2.7, §4.11): static or ephemeral, tagged with the
//! machines using them, scoped to nothing, a project, or a machine of a project.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{DomainError, DomainResult};

/// The tag that binds an IP to a machine.
pub const MACHINE_TAG_PREFIX: &str = "machine.metal-stack.io/id=";

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum IpType {
    #[default]
    Ephemeral,
    Static,
}

impl IpType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ephemeral => "ephemeral",
            Self::Static => "static",
        }
    }
    /// "static" or "ephemeral" (an empty type means ephemeral, as in metal-stack).
    pub fn parse(s: &str) -> DomainResult<Self> {
        match s {
            "static" => Ok(Self::Static),
            "ephemeral" | "" => Ok(Self::Ephemeral),
            other => Err(DomainError::invalid(format!(
                "type must be static or ephemeral, got {other:?}"
            ))),
        }
    }
}

/// An allocated IP (`v1.IPResponse`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct Ip {
    pub ipaddress: String,
    pub allocationuuid: String,
    pub name: String,
    pub description: String,
    pub networkid: String,
    pub projectid: String,
    #[serde(rename = "type")]
    pub kind: IpType,
    pub tags: Vec<String>,
    pub created: Option<DateTime<Utc>>,
    pub changed: Option<DateTime<Utc>>,
}

/// Body of `POST /v1/ip/allocate` and `/allocate/{ip}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct IpAllocateRequest {
    pub networkid: String,
    pub projectid: String,
    pub name: String,
    pub description: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub tags: Vec<String>,
    pub machineid: Option<String>,
    pub addressfamily: Option<String>,
}

/// Body of `POST /v1/ip`: name, description and tags change when given; the type may go from
/// ephemeral to static, not back.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct IpUpdateRequest {
    pub ipaddress: String,
    pub name: Option<String>,
    pub description: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub tags: Option<Vec<String>>,
}

/// Body of `POST /v1/ip/find`. `networkprefix` finds the IPs inside a prefix (in metal-stack
/// this filter never matches anything).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct IpFindRequest {
    pub ipaddress: Option<String>,
    pub allocationuuid: Option<String>,
    pub name: Option<String>,
    pub networkid: Option<String>,
    pub networkprefix: Option<String>,
    pub projectid: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub machineid: Option<String>,
    pub tags: Vec<String>,
    pub addressfamily: Option<String>,
}

/// Who an IP belongs to (§2.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpScope {
    Empty,
    Project,
    Machine,
}

/// The machine tag of a machine id.
pub fn machine_tag(machine_id: &str) -> String {
    format!("{MACHINE_TAG_PREFIX}{machine_id}")
}

/// Tags as stored: deduplicated and sorted; a `machineid` adds the machine tag.
pub fn normalize_tags(
    mut tags: Vec<String>,
    machine_id: Option<&str>,
) -> DomainResult<Vec<String>> {
    if let Some(m) = machine_id.filter(|m| !m.is_empty()) {
        tags.push(machine_tag(m));
    }
    for t in &tags {
        if t.trim().is_empty() {
            return Err(DomainError::invalid("tags: empty tags are not allowed"));
        }
        if let Some(id) = t.strip_prefix(MACHINE_TAG_PREFIX) {
            if id.is_empty() {
                return Err(DomainError::invalid(format!(
                    "tags: {t:?} names no machine"
                )));
            }
        }
    }
    tags.sort();
    tags.dedup();
    Ok(tags)
}

impl Ip {
    /// The machines the IP is tagged with.
    pub fn machine_ids(&self) -> Vec<&str> {
        self.tags
            .iter()
            .filter_map(|t| t.strip_prefix(MACHINE_TAG_PREFIX))
            .collect()
    }

    pub fn scope(&self) -> IpScope {
        scope_of(&self.projectid, &self.tags)
    }
}

fn scope_of(project: &str, tags: &[String]) -> IpScope {
    if project.is_empty() {
        IpScope::Empty
    } else if tags.iter().any(|t| t.starts_with(MACHINE_TAG_PREFIX)) {
        IpScope::Machine
    } else {
        IpScope::Project
    }
}

impl IpUpdateRequest {
    /// Applies an update under the rules of §4.11: static → ephemeral is refused, and the scope
    /// may only change from or to `project`.
    pub fn apply(&self, ip: &mut Ip) -> DomainResult<()> {
        let mut next = ip.clone();
        if let Some(k) = &self.kind {
            let k = IpType::parse(k)?;
            if ip.kind == IpType::Static && k == IpType::Ephemeral {
                return Err(DomainError::invalid(format!(
                    "ip {}: a static ip cannot be made ephemeral",
                    ip.ipaddress
                )));
            }
            next.kind = k;
        }
        if let Some(tags) = &self.tags {
            next.tags = normalize_tags(tags.clone(), None)?;
        }
        let (old, new) = (ip.scope(), next.scope());
        if old != new && old != IpScope::Project && new != IpScope::Project {
            return Err(DomainError::invalid(format!(
                "ip {}: can not change scope from {old:?} to {new:?}",
                ip.ipaddress
            )));
        }
        if let Some(v) = &self.name {
            next.name = v.clone();
        }
        if let Some(v) = &self.description {
            next.description = v.clone();
        }
        *ip = next;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(kind: IpType, project: &str, tags: &[&str]) -> Ip {
        Ip {
            ipaddress: "10.0.0.5".into(),
            kind,
            projectid: project.into(),
            tags: tags.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn tags_are_normalized() {
        let t = normalize_tags(vec!["b".into(), "a".into(), "b".into()], Some("m1")).unwrap();
        assert_eq!(t, vec!["a", "b", "machine.metal-stack.io/id=m1"]);
        assert!(normalize_tags(vec![" ".into()], None).is_err());
        assert!(normalize_tags(vec!["machine.metal-stack.io/id=".into()], None).is_err());
    }

    #[test]
    fn scopes() {
        assert_eq!(ip(IpType::Static, "", &[]).scope(), IpScope::Empty);
        assert_eq!(ip(IpType::Static, "p", &["x"]).scope(), IpScope::Project);
        assert_eq!(
            ip(IpType::Static, "p", &["machine.metal-stack.io/id=m"]).scope(),
            IpScope::Machine
        );
    }

    #[test]
    fn update_rules() {
        let mut i = ip(IpType::Static, "p", &[]);
        let to_eph = IpUpdateRequest {
            kind: Some("ephemeral".into()),
            ..Default::default()
        };
        assert!(to_eph
            .apply(&mut i)
            .unwrap_err()
            .to_string()
            .contains("cannot be made ephemeral"));
        let mut i = ip(IpType::Ephemeral, "p", &[]);
        let to_static = IpUpdateRequest {
            kind: Some("static".into()),
            name: Some("n".into()),
            ..Default::default()
        };
        to_static.apply(&mut i).unwrap();
        assert_eq!((i.kind, i.name.as_str()), (IpType::Static, "n"));
        // project → machine and back are fine
        let tag = IpUpdateRequest {
            tags: Some(vec![machine_tag("m1")]),
            ..Default::default()
        };
        tag.apply(&mut i).unwrap();
        assert_eq!(i.scope(), IpScope::Machine);
        let untag = IpUpdateRequest {
            tags: Some(vec![]),
            ..Default::default()
        };
        untag.apply(&mut i).unwrap();
        assert_eq!(i.scope(), IpScope::Project);
        assert!(IpUpdateRequest {
            kind: Some("sticky".into()),
            ..Default::default()
        }
        .apply(&mut i)
        .is_err());
        // without a project the scope stays empty, tags or not
        let mut e = ip(IpType::Ephemeral, "", &[]);
        tag.apply(&mut e).unwrap();
        assert_eq!(e.scope(), IpScope::Empty);
        // a refused update changes nothing
        let mut s = ip(IpType::Static, "p", &["x"]);
        let bad = IpUpdateRequest {
            kind: Some("ephemeral".into()),
            name: Some("changed".into()),
            ..Default::default()
        };
        assert!(bad.apply(&mut s).is_err());
        assert_eq!(s, ip(IpType::Static, "p", &["x"]));
    }
}
