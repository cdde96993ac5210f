//! `metalctl tenant`: the generic verbs over `/v1/tenant`.
//! Table: `ID | NAME | DESCRIPTION` (+ `LABELS | ANNOTATIONS | QUOTAS` wide).

use metal_client::{Client, Result};
use metal_domain::project::{QuotaSet, Tenant};

use super::labels;
use super::project::quota;
use crate::crud::{PlainList, Resource};
use crate::output::Table;
use crate::sort::SortKey;

pub struct TenantResource;

/// One `kind=limit` line per quota kind, `∞` for no limit.
fn tenant_quotas(q: &Option<QuotaSet>) -> String {
    let q = q.clone().unwrap_or_default();
    [
        ("cluster", &q.cluster),
        ("machine", &q.machine),
        ("ip", &q.ip),
        ("project", &q.project),
    ]
    .iter()
    .map(|(k, v)| format!("{k}={}", quota(v)))
    .collect::<Vec<_>>()
    .join("\n")
}

impl Resource for TenantResource {
    const KIND: &'static str = "tenant";
    const SORT_KEYS: &'static [&'static str] = &["id", "name", "description"];

    type Entity = Tenant;
    type Doc = Tenant;
    type Create = Tenant;
    type Update = Tenant;
    type List = PlainList;

    fn doc_id(d: &Tenant) -> String {
        Self::id(d)
    }

    fn id(e: &Tenant) -> String {
        e.meta.id.clone()
    }

    fn to_create(t: &Tenant) -> Tenant {
        t.clone()
    }

    fn to_update(t: &Tenant) -> Tenant {
        t.clone()
    }

    fn table(items: &[Tenant], wide: bool, _args: &PlainList) -> Table {
        let mut header = vec!["ID", "NAME", "DESCRIPTION"];
        if wide {
            header.extend(["LABELS", "ANNOTATIONS", "QUOTAS"]);
        }
        let mut t = Table::new(header);
        for tn in items {
            let mut row = vec![tn.meta.id.clone(), tn.name.clone(), tn.description.clone()];
            if wide {
                row.push(tn.meta.labels.join("\n"));
                row.push(labels(&tn.meta.annotations));
                row.push(tenant_quotas(&tn.quotas));
            }
            t.push(row);
        }
        t
    }

    fn sort_key(t: &Tenant, key: &str) -> SortKey {
        match key {
            "name" => t.name.as_str().into(),
            "description" => t.description.as_str().into(),
            _ => t.meta.id.as_str().into(),
        }
    }

    async fn list(c: &Client, _args: &PlainList) -> Result<Vec<Tenant>> {
        c.list_tenants().await
    }
    async fn get(c: &Client, id: &str) -> Result<Tenant> {
        c.get_tenant(id).await
    }
    async fn create(c: &Client, req: &Tenant) -> Result<Tenant> {
        c.create_tenant(req).await
    }
    async fn update(c: &Client, mut req: Tenant) -> Result<Tenant> {
        if req.meta.version == 0 {
            req.meta.version = c.get_tenant(&req.meta.id).await?.meta.version;
        }
        c.update_tenant(&req).await
    }
    async fn delete(c: &Client, id: &str) -> Result<Tenant> {
        c.delete_tenant(id).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_columns() {
        let mut t = Tenant {
            name: "Acme".into(),
            ..Default::default()
        };
        t.meta.id = "acme".into();
        let table = TenantResource::table(std::slice::from_ref(&t), false, &PlainList::default());
        assert_eq!(
            table.render_plain(true),
            "ID    NAME  DESCRIPTION\nacme  Acme\n"
        );
        let table = TenantResource::table(&[t], true, &PlainList::default());
        assert_eq!(
            table.header,
            [
                "ID",
                "NAME",
                "DESCRIPTION",
                "LABELS",
                "ANNOTATIONS",
                "QUOTAS"
            ]
        );
        assert_eq!(table.rows[0][5], "cluster=∞\nmachine=∞\nip=∞\nproject=∞");
    }
}
