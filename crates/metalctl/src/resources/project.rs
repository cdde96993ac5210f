//! `metalctl project`: the generic verbs over `/v1/project`.
//! Table: `UID | TENANT | NAME | DESCRIPTION | LABELS | ANNOTATIONS`
//! (+ `QUOTAS CLUSTERS/MACHINES/IPS` wide).
//!
//! Updates carry the optimistic-locking `meta.version`; a file without one (version 0) is
//! sent with the version the server has now, as metalctl does.

use metal_client::{Client, Result};
use metal_domain::project::{Project, Quota, QuotaSet};

use super::labels;
use crate::crud::{PlainList, Resource};
use crate::output::Table;
use crate::sort::SortKey;

pub struct ProjectResource;

/// `∞` for no limit, else the limit.
pub fn quota(q: &Option<Quota>) -> String {
    match q.as_ref().and_then(|q| q.quota) {
        Some(n) => n.to_string(),
        None => "∞".to_string(),
    }
}

/// `clusters/machines/ips` limits, e.g. `∞/10/∞`.
pub fn project_quotas(q: &Option<QuotaSet>) -> String {
    let q = q.clone().unwrap_or_default();
    format!(
        "{}/{}/{}",
        quota(&q.cluster),
        quota(&q.machine),
        quota(&q.ip)
    )
}

impl Resource for ProjectResource {
    const KIND: &'static str = "project";
    const SORT_KEYS: &'static [&'static str] = &["id", "tenant", "name", "description"];

    type Entity = Project;
    type Doc = Project;
    type Create = Project;
    type Update = Project;
    type List = PlainList;

    fn doc_id(d: &Project) -> String {
        Self::id(d)
    }

    fn id(e: &Project) -> String {
        e.meta.id.clone()
    }

    fn to_create(p: &Project) -> Project {
        p.clone()
    }

    fn to_update(p: &Project) -> Project {
        p.clone()
    }

    fn table(items: &[Project], wide: bool, _args: &PlainList) -> Table {
        let mut header = vec![
            "UID",
            "TENANT",
            "NAME",
            "DESCRIPTION",
            "LABELS",
            "ANNOTATIONS",
        ];
        if wide {
            header.push("QUOTAS CLUSTERS/MACHINES/IPS");
        }
        let mut t = Table::new(header);
        for p in items {
            let mut row = vec![
                p.meta.id.clone(),
                p.tenant_id.clone(),
                p.name.clone(),
                p.description.clone(),
                p.meta.labels.join("\n"),
                labels(&p.meta.annotations),
            ];
            if wide {
                row.push(project_quotas(&p.quotas));
            }
            t.push(row);
        }
        t
    }

    fn sort_key(p: &Project, key: &str) -> SortKey {
        match key {
            "tenant" => p.tenant_id.as_str().into(),
            "name" => p.name.as_str().into(),
            "description" => p.description.as_str().into(),
            _ => p.meta.id.as_str().into(),
        }
    }

    async fn list(c: &Client, _args: &PlainList) -> Result<Vec<Project>> {
        c.list_projects().await
    }
    async fn get(c: &Client, id: &str) -> Result<Project> {
        c.get_project(id).await
    }
    async fn create(c: &Client, req: &Project) -> Result<Project> {
        c.create_project(req).await
    }
    async fn update(c: &Client, mut req: Project) -> Result<Project> {
        if req.meta.version == 0 {
            req.meta.version = c.get_project(&req.meta.id).await?.meta.version;
        }
        c.update_project(&req).await
    }
    async fn delete(c: &Client, id: &str) -> Result<Project> {
        c.delete_project(id).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_columns() {
        let mut p = Project {
            name: "web".into(),
            description: "the shop".into(),
            tenant_id: "acme".into(),
            ..Default::default()
        };
        p.meta.id = "p1".into();
        p.meta.labels = vec!["a".into(), "b".into()];
        p.meta.annotations.insert("owner".into(), "ops".into());
        p.quotas = Some(QuotaSet {
            machine: Some(Quota {
                quota: Some(10),
                used: Some(2),
            }),
            ..Default::default()
        });
        let t = ProjectResource::table(std::slice::from_ref(&p), false, &PlainList::default());
        assert_eq!(
            t.render_plain(true),
            "\
UID  TENANT  NAME  DESCRIPTION  LABELS  ANNOTATIONS
p1   acme    web   the shop     a       owner=ops
                                b
"
        );
        let t = ProjectResource::table(&[p], true, &PlainList::default());
        assert!(t.header.last().unwrap().starts_with("QUOTAS"));
        assert_eq!(t.rows[0].last().unwrap(), "∞/10/∞");
    }
}
