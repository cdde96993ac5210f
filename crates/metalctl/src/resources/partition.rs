//! `metalctl partition`: the generic verbs over `/v1/partition`, and `capacity`.
//! Table: `ID | NAME | DESCRIPTION` (+ `LABELS` wide).
//! Capacity: `PARTITION | SIZE | ALLOCATED | FREE | UNAVAILABLE | RESERVATIONS | | | TOTAL | | |
//! FAULTY` (+ `PHONED HOME | WAITING | OTHER` wide) and a `Total` row; reservations read
//! `<open> (<used>/<total> used)`.

use anyhow::Result as AnyResult;
use clap::{Args, Subcommand};
use metal_client::{Client, Result};
use metal_domain::machine::{PartitionCapacity, PartitionCapacityRequest, ServerCapacity};
use metal_domain::partition::{Partition, PartitionCreateRequest, PartitionUpdateRequest};

use super::{labels, non_empty};
use crate::app::App;
use crate::crud::{self, Crud, PlainList, Resource};
use crate::output::Table;
use crate::sort::SortKey;

/// `metalctl partition ...`
#[derive(Subcommand, Debug, Clone)]
pub enum PartitionCmd {
    #[command(flatten)]
    Crud(Crud<PlainList>),
    /// Show how many machines of each size are allocated, free, reserved and faulty.
    Capacity(CapacityArgs),
}

/// Arguments of `partition capacity`.
#[derive(Args, Debug, Clone, Default)]
pub struct CapacityArgs {
    /// only this partition
    #[arg(long)]
    pub id: Option<String>,
    /// only this size
    #[arg(long)]
    pub size: Option<String>,
    /// count free machines as this project sees them: its own reservations are free for it
    #[arg(long)]
    pub project_id: Option<String>,
}

pub async fn run(app: &mut App, cmd: PartitionCmd) -> AnyResult<()> {
    match cmd {
        PartitionCmd::Crud(c) => crud::run::<PartitionResource>(app, c).await,
        PartitionCmd::Capacity(a) => {
            let req = PartitionCapacityRequest {
                id: a.id,
                sizeid: a.size,
                projectid: a.project_id,
            };
            let caps = app.client()?.partition_capacity(&req).await?;
            app.printer.list(&caps, |wide| capacity_table(&caps, wide))
        }
    }
}

fn reservations(reservations: u64, used: u64) -> String {
    if reservations == 0 {
        return "0".into();
    }
    format!(
        "{} ({used}/{reservations} used)",
        reservations.saturating_sub(used)
    )
}

/// The capacity table: one row per partition and size, then the sums.
pub fn capacity_table(caps: &[PartitionCapacity], wide: bool) -> Table {
    let mut header = vec![
        "PARTITION",
        "SIZE",
        "ALLOCATED",
        "FREE",
        "UNAVAILABLE",
        "RESERVATIONS",
        "|",
        "TOTAL",
        "|",
        "FAULTY",
    ];
    if wide {
        header.extend(["PHONED HOME", "WAITING", "OTHER"]);
    }
    let mut t = Table::new(header);
    let mut sum = ServerCapacity::default();
    let row = |partition: &str, size: &str, reserved: String, c: &ServerCapacity| {
        let mut row = vec![
            partition.to_string(),
            size.to_string(),
            c.allocated.to_string(),
            c.free.to_string(),
            c.unavailable.to_string(),
            reserved,
            "|".into(),
            c.total.to_string(),
            "|".into(),
            c.faulty.to_string(),
        ];
        if wide {
            row.extend([
                c.phoned_home.to_string(),
                c.waiting.to_string(),
                c.other.to_string(),
            ]);
        }
        row
    };
    for p in caps {
        for c in &p.servers {
            t.push(row(
                &p.id,
                &c.size,
                reservations(c.reservations, c.usedreservations),
                c,
            ));
            sum.allocated += c.allocated;
            sum.free += c.free;
            sum.unavailable += c.unavailable;
            sum.reservations += c.reservations;
            sum.usedreservations += c.usedreservations;
            sum.total += c.total;
            sum.faulty += c.faulty;
            sum.phoned_home += c.phoned_home;
            sum.waiting += c.waiting;
            sum.other += c.other;
        }
    }
    let open = sum.reservations.saturating_sub(sum.usedreservations);
    t.push(row("Total", "", open.to_string(), &sum));
    t
}

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
    fn capacity_columns() {
        let server = |size: &str, reservations: u64, used: u64| ServerCapacity {
            size: size.into(),
            total: 5,
            allocated: 2,
            free: 1,
            unavailable: 1,
            faulty: 1,
            phoned_home: 2,
            waiting: 2,
            other: 1,
            reservations,
            usedreservations: used,
            ..Default::default()
        };
        let caps = vec![PartitionCapacity {
            id: "fra".into(),
            servers: vec![server("c1", 3, 1), server("n1", 0, 0)],
            ..Default::default()
        }];
        assert_eq!(
            capacity_table(&caps, false).render_plain(true),
            "\
PARTITION  SIZE  ALLOCATED  FREE  UNAVAILABLE  RESERVATIONS  |  TOTAL  |  FAULTY
fra        c1    2          1     1            2 (1/3 used)  |  5      |  1
fra        n1    2          1     1            0             |  5      |  1
Total            4          2     2            2             |  10     |  2
"
        );
        let t = capacity_table(&caps, true);
        assert_eq!(t.header[10..], ["PHONED HOME", "WAITING", "OTHER"]);
        assert_eq!(t.rows[2][10..], ["4", "4", "2"]);
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
