//! `metalctl partition`: the generic verbs over `/v1/partition`.
//! Table: `ID | NAME | DESCRIPTION` (+ `LABELS` wide).

use metal_client::{Client, Result};
use metal_domain::partition::{Partition, PartitionCreateRequest, PartitionUpdateRequest};

use super::{labels, non_empty};
use crate::crud::{PlainList, Resource};
use crate::output::Table;
use crate::sort::SortKey;

pub struct PartitionResource;

impl Resource for PartitionResource {
    const KIND: &'static str = "partition";
    const SORT_KEYS: &'static [&'static str] = &["id", "name", "description"];

    type Entity = Partition;
    type Doc = Partition;
    type Create = PartitionCreateRequest;
    type Update = PartitionUpdateRequest;
    type List = PlainList;

    fn doc_id(d: &Partition) -> String {
        Self::id(d)
    }

    fn id(e: &Partition) -> String {
        e.id.clone()
    }

    fn to_create(p: &Partition) -> PartitionCreateRequest {
        PartitionCreateRequest {
            id: p.id.clone(),
            name: p.name.clone(),
            description: p.description.clone(),
            bootconfig: p.bootconfig.clone(),
            mgmtserviceaddress: p.mgmtserviceaddress.clone(),
            privatenetworkprefixlength: (p.privatenetworkprefixlength != 0)
                .then_some(p.privatenetworkprefixlength),
            labels: p.labels.clone(),
            dns_servers: p.dns_servers.clone(),
            ntp_servers: p.ntp_servers.clone(),
        }
    }

    fn to_update(p: &Partition) -> PartitionUpdateRequest {
        PartitionUpdateRequest {
            id: p.id.clone(),
            name: Some(p.name.clone()),
            description: Some(p.description.clone()),
            bootconfig: Some(p.bootconfig.clone()),
            mgmtserviceaddress: non_empty(&p.mgmtserviceaddress),
            privatenetworkprefixlength: (p.privatenetworkprefixlength != 0)
                .then_some(p.privatenetworkprefixlength),
            labels: Some(p.labels.clone()),
            dns_servers: Some(p.dns_servers.clone()),
            ntp_servers: Some(p.ntp_servers.clone()),
        }
    }

    fn table(items: &[Partition], wide: bool, _args: &PlainList) -> Table {
        let mut header = vec!["ID", "NAME", "DESCRIPTION"];
        if wide {
            header.push("LABELS");
        }
        let mut t = Table::new(header);
        for p in items {
            let mut row = vec![p.id.clone(), p.name.clone(), p.description.clone()];
            if wide {
                row.push(labels(&p.labels));
            }
            t.push(row);
        }
        t
    }

    fn sort_key(p: &Partition, key: &str) -> SortKey {
        match key {
            "name" => p.name.as_str().into(),
            "description" => p.description.as_str().into(),
            _ => p.id.as_str().into(),
        }
    }

    async fn list(c: &Client, _args: &PlainList) -> Result<Vec<Partition>> {
        c.list_partitions().await
    }
    async fn get(c: &Client, id: &str) -> Result<Partition> {
        c.get_partition(id).await
    }
    async fn create(c: &Client, req: &PartitionCreateRequest) -> Result<Partition> {
        c.create_partition(req).await
    }
    async fn update(c: &Client, req: PartitionUpdateRequest) -> Result<Partition> {
        c.update_partition(&req).await
    }
    async fn delete(c: &Client, id: &str) -> Result<Partition> {
        c.delete_partition(id).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_columns() {
        let mut p = Partition {
            id: "fra-equ01".into(),
            name: "Frankfurt".into(),
            description: "room 1".into(),
            ..Default::default()
        };
        p.labels.insert("region".into(), "eu".into());
        let t = PartitionResource::table(std::slice::from_ref(&p), false, &PlainList::default());
        assert_eq!(
            t.render_plain(true),
            "ID         NAME       DESCRIPTION\nfra-equ01  Frankfurt  room 1\n"
        );
        let t = PartitionResource::table(&[p], true, &PlainList::default());
        assert_eq!(
            t.render_plain(true),
            "ID         NAME       DESCRIPTION  LABELS\nfra-equ01  Frankfurt  room 1       region=eu\n"
        );
    }

    #[test]
    fn round_trip_keeps_fields() {
        let p = Partition {
            id: "p".into(),
            privatenetworkprefixlength: 24,
            mgmtserviceaddress: "10.0.0.1:4242".into(),
            ..Default::default()
        };
        let c = PartitionResource::to_create(&p);
        assert_eq!(c.privatenetworkprefixlength, Some(24));
        let u = PartitionResource::to_update(&Partition {
            privatenetworkprefixlength: 0,
            ..p
        });
        assert_eq!(u.privatenetworkprefixlength, None);
        assert_eq!(u.mgmtserviceaddress.as_deref(), Some("10.0.0.1:4242"));
    }
}
