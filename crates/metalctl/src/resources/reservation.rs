//! `metalctl size reservation` (alias `rs`): the generic verbs over `/v1/size/reservations`
//! and `usage`.
//! Table: `ID | SIZE | PROJECT | PARTITIONS | DESCRIPTION | AMOUNT` (+ `LABELS` wide).
//! Usage: `ID | SIZE | PROJECT | PARTITION | USED/AMOUNT` (+ `ALLOCATED | LABELS` wide), one row
//! per reservation and partition.

use anyhow::Result as AnyResult;
use clap::{Args, Subcommand};
use metal_client::{Client, Result};
use metal_domain::reservation::{
    SizeReservation, SizeReservationCreateRequest, SizeReservationListRequest,
    SizeReservationUpdateRequest, SizeReservationUsage,
};

use super::{labels, non_empty};
use crate::app::App;
use crate::crud::{self, Crud, ListArgs, Resource};
use crate::output::Table;
use crate::sort::{SortArgs, SortKey};

/// `metalctl size reservation ...`
#[derive(Subcommand, Debug, Clone)]
pub enum ReservationCmd {
    #[command(flatten)]
    Crud(Crud<ReservationList>),
    /// Show per reservation and partition how many of the reserved machines are used.
    Usage(ReservationFilter),
}

/// Filters of `list` and `usage`; with any of them the reservations are searched on the server.
#[derive(Args, Debug, Clone, Default)]
pub struct ReservationFilter {
    /// id of the reservation
    #[arg(long)]
    pub id: Option<String>,
    /// size of the reservation
    #[arg(long)]
    pub size_id: Option<String>,
    /// project of the reservation
    #[arg(long)]
    pub project: Option<String>,
    /// a partition the reservation applies to
    #[arg(long)]
    pub partition: Option<String>,
}

impl ReservationFilter {
    fn has_filter(&self) -> bool {
        [&self.id, &self.size_id, &self.project, &self.partition]
            .iter()
            .any(|f| f.as_deref().is_some_and(|v| !v.is_empty()))
    }

    fn to_request(&self) -> SizeReservationListRequest {
        SizeReservationListRequest {
            id: self.id.clone(),
            sizeid: self.size_id.clone(),
            projectid: self.project.clone(),
            partitionid: self.partition.clone(),
        }
    }
}

/// Arguments of `size reservation list`.
#[derive(Args, Debug, Clone, Default)]
pub struct ReservationList {
    #[command(flatten)]
    pub filter: ReservationFilter,
    #[command(flatten)]
    pub sort: SortArgs,
}

impl ListArgs for ReservationList {
    fn sort(&self) -> &SortArgs {
        &self.sort
    }
}

pub async fn run(app: &mut App, cmd: ReservationCmd) -> AnyResult<()> {
    match cmd {
        ReservationCmd::Crud(c) => crud::run::<ReservationResource>(app, c).await,
        ReservationCmd::Usage(f) => {
            let mut rows = app
                .client()?
                .size_reservations_usage(&f.to_request())
                .await?;
            rows.sort_by(|a, b| (&a.id, &a.partitionid).cmp(&(&b.id, &b.partitionid)));
            app.printer.list(&rows, |wide| usage_table(&rows, wide))
        }
    }
}

/// The usage table.
pub fn usage_table(rows: &[SizeReservationUsage], wide: bool) -> Table {
    let mut header = vec!["ID", "SIZE", "PROJECT", "PARTITION", "USED/AMOUNT"];
    if wide {
        header.extend(["ALLOCATED", "LABELS"]);
    }
    let mut t = Table::new(header);
    for u in rows {
        let mut row = vec![
            u.id.clone(),
            u.sizeid.clone(),
            u.projectid.clone(),
            u.partitionid.clone(),
            format!("{}/{}", u.usedamount, u.amount),
        ];
        if wide {
            row.push(u.projectallocations.to_string());
            row.push(labels(&u.labels));
        }
        t.push(row);
    }
    t
}

pub struct ReservationResource;

impl Resource for ReservationResource {
    const KIND: &'static str = "size reservation";
    const SORT_KEYS: &'static [&'static str] = &["id", "size", "project", "amount", "description"];

    type Entity = SizeReservation;
    type Doc = SizeReservation;
    type Create = SizeReservationCreateRequest;
    type Update = SizeReservationUpdateRequest;
    type List = ReservationList;

    fn id(e: &SizeReservation) -> String {
        e.id.clone()
    }

    fn doc_id(d: &SizeReservation) -> String {
        d.id.clone()
    }

    fn to_create(r: &SizeReservation) -> SizeReservationCreateRequest {
        SizeReservationCreateRequest {
            id: r.id.clone(),
            name: non_empty(&r.name),
            description: non_empty(&r.description),
            sizeid: r.sizeid.clone(),
            projectid: r.projectid.clone(),
            partitionids: r.partitionids.clone(),
            amount: r.amount,
            labels: r.labels.clone(),
        }
    }

    fn to_update(r: &SizeReservation) -> SizeReservationUpdateRequest {
        SizeReservationUpdateRequest {
            id: r.id.clone(),
            name: Some(r.name.clone()),
            description: Some(r.description.clone()),
            partitionids: Some(r.partitionids.clone()),
            amount: Some(r.amount),
            labels: Some(r.labels.clone()),
        }
    }

    fn table(items: &[SizeReservation], wide: bool, _args: &ReservationList) -> Table {
        let mut header = vec![
            "ID",
            "SIZE",
            "PROJECT",
            "PARTITIONS",
            "DESCRIPTION",
            "AMOUNT",
        ];
        if wide {
            header.push("LABELS");
        }
        let mut t = Table::new(header);
        for r in items {
            let mut row = vec![
                r.id.clone(),
                r.sizeid.clone(),
                r.projectid.clone(),
                r.partitionids.join(", "),
                r.description.clone(),
                r.amount.to_string(),
            ];
            if wide {
                row.push(labels(&r.labels));
            }
            t.push(row);
        }
        t
    }

    fn sort_key(r: &SizeReservation, key: &str) -> SortKey {
        match key {
            "size" => r.sizeid.as_str().into(),
            "project" => r.projectid.as_str().into(),
            "amount" => i64::from(r.amount).into(),
            "description" => r.description.as_str().into(),
            _ => r.id.as_str().into(),
        }
    }

    async fn list(c: &Client, args: &ReservationList) -> Result<Vec<SizeReservation>> {
        if args.filter.has_filter() {
            c.find_size_reservations(&args.filter.to_request()).await
        } else {
            c.list_size_reservations().await
        }
    }
    async fn get(c: &Client, id: &str) -> Result<SizeReservation> {
        c.get_size_reservation(id).await
    }
    async fn create(c: &Client, req: &SizeReservationCreateRequest) -> Result<SizeReservation> {
        c.create_size_reservation(req).await
    }
    async fn update(c: &Client, req: SizeReservationUpdateRequest) -> Result<SizeReservation> {
        c.update_size_reservation(&req).await
    }
    async fn delete(c: &Client, id: &str) -> Result<SizeReservation> {
        c.delete_size_reservation(id).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resv() -> SizeReservation {
        let mut r = SizeReservation {
            id: "r1".into(),
            sizeid: "c1-xlarge-x86".into(),
            projectid: "p1".into(),
            partitionids: vec!["fra".into(), "ams".into()],
            description: "for the db".into(),
            amount: 3,
            ..Default::default()
        };
        r.labels.insert("team".into(), "a".into());
        r
    }

    #[test]
    fn table_columns() {
        let args = ReservationList::default();
        let t = ReservationResource::table(&[resv()], false, &args);
        assert_eq!(
            t.render_plain(true),
            "\
ID  SIZE           PROJECT  PARTITIONS  DESCRIPTION  AMOUNT
r1  c1-xlarge-x86  p1       fra, ams    for the db   3
"
        );
        let t = ReservationResource::table(&[resv()], true, &args);
        assert_eq!(t.header.last().map(String::as_str), Some("LABELS"));
        assert_eq!(t.rows[0].last().map(String::as_str), Some("team=a"));
    }

    #[test]
    fn usage_columns() {
        let u = SizeReservationUsage {
            id: "r1".into(),
            sizeid: "c1-xlarge-x86".into(),
            projectid: "p1".into(),
            partitionid: "fra".into(),
            amount: 3,
            usedamount: 2,
            projectallocations: 5,
            ..Default::default()
        };
        assert_eq!(
            usage_table(std::slice::from_ref(&u), false).render_plain(true),
            "\
ID  SIZE           PROJECT  PARTITION  USED/AMOUNT
r1  c1-xlarge-x86  p1       fra        2/3
"
        );
        let t = usage_table(&[u], true);
        assert_eq!(t.header[5..], ["ALLOCATED", "LABELS"]);
        assert_eq!(t.rows[0][5], "5");
    }

    #[test]
    fn conversions_and_filters() {
        let r = resv();
        let c = ReservationResource::to_create(&r);
        assert_eq!((c.name, c.amount), (None, 3));
        let u = ReservationResource::to_update(&r);
        assert_eq!(u.partitionids.as_deref().map(<[String]>::len), Some(2));
        let f = ReservationFilter::default();
        assert!(!f.has_filter());
        let f = ReservationFilter {
            partition: Some("fra".into()),
            ..Default::default()
        };
        assert!(f.has_filter());
        assert_eq!(f.to_request().partitionid.as_deref(), Some("fra"));
    }
}
