//! `metalctl size`: the generic verbs over `/v1/size`, `suggest <machine-id>`, and the
//! `imageconstraint` (see `sic`) and `reservation` (see `reservation`) subtrees.
//! Table: `ID | NAME | DESCRIPTION | CPU RANGE | MEMORY RANGE | STORAGE RANGE | GPU RANGE`
//! (+ `LABELS` wide); memory and storage humanized.

use std::collections::BTreeMap;

use anyhow::Result as AnyResult;
use clap::{Args, Subcommand};
use metal_client::{Client, Result};
use metal_domain::size::{
    ConstraintType, Size, SizeConstraint, SizeCreateRequest, SizeUpdateRequest,
};

use super::reservation::{self, ReservationCmd};
use super::sic::{self, SicCmd};
use super::{labels, non_empty};
use crate::app::App;
use crate::crud::{self, Crud, PlainList, Resource};
use crate::output::{humanize, Table};
use crate::sort::SortKey;

/// `metalctl size ...`
#[derive(Subcommand, Debug, Clone)]
pub enum SizeCmd {
    #[command(flatten)]
    Crud(Crud<PlainList>),
    /// Suggest a size whose constraints match the hardware of a machine exactly.
    Suggest(SuggestArgs),
    /// Image version constraints of sizes.
    #[command(subcommand, visible_alias = "ic")]
    Imageconstraint(SicCmd),
    /// Machines of a size reserved for projects.
    #[command(subcommand, visible_alias = "rs")]
    Reservation(ReservationCmd),
}

#[derive(Args, Debug, Clone)]
pub struct SuggestArgs {
    /// id of the machine whose hardware the size is made for
    pub machine_id: String,
    /// id of the suggested size
    #[arg(long, default_value = "suggested-size")]
    pub id: String,
    /// name of the suggested size
    #[arg(long, default_value = "suggested-size")]
    pub name: String,
    /// description of the suggested size
    #[arg(long, default_value = "a suggested size")]
    pub description: String,
    /// labels of the suggested size (key=value, comma separated)
    #[arg(long, value_delimiter = ',')]
    pub labels: Vec<String>,
}

pub async fn run(app: &mut App, cmd: SizeCmd) -> AnyResult<()> {
    match cmd {
        SizeCmd::Crud(c) => crud::run::<SizeResource>(app, c).await,
        SizeCmd::Suggest(args) => suggest(app, args).await,
        SizeCmd::Imageconstraint(c) => sic::run(app, c).await,
        SizeCmd::Reservation(c) => reservation::run(app, c).await,
    }
}

async fn suggest(app: &mut App, args: SuggestArgs) -> AnyResult<()> {
    let mut labels = BTreeMap::new();
    for l in &args.labels {
        let (k, v) = l.split_once('=').unwrap_or((l.as_str(), ""));
        labels.insert(k.to_string(), v.to_string());
    }
    let constraints = app.client()?.suggest_size(&args.machine_id).await?;
    let size = Size {
        id: args.id,
        name: args.name,
        description: args.description,
        constraints,
        labels,
        created: None,
        changed: None,
    };
    crud::describe_one::<SizeResource>(app, &size)
}

pub struct SizeResource;

fn range(c: &SizeConstraint) -> String {
    match c.kind {
        ConstraintType::Memory | ConstraintType::Storage => {
            format!("{} - {}", humanize::bytes(c.min), humanize::bytes(c.max))
        }
        ConstraintType::Gpu => format!("{}: {} - {}", c.identifier, c.min, c.max),
        ConstraintType::Cores => format!("{} - {}", c.min, c.max),
    }
}

fn ranges(s: &Size, kind: ConstraintType) -> String {
    s.constraints
        .iter()
        .filter(|c| c.kind == kind)
        .map(range)
        .collect::<Vec<_>>()
        .join("\n")
}

impl Resource for SizeResource {
    const KIND: &'static str = "size";
    const SORT_KEYS: &'static [&'static str] = &["id", "name", "description"];

    type Entity = Size;
    type Doc = Size;
    type Create = SizeCreateRequest;
    type Update = SizeUpdateRequest;
    type List = PlainList;

    fn id(e: &Size) -> String {
        e.id.clone()
    }

    fn doc_id(d: &Size) -> String {
        d.id.clone()
    }

    fn to_create(s: &Size) -> SizeCreateRequest {
        SizeCreateRequest {
            id: s.id.clone(),
            name: non_empty(&s.name),
            description: non_empty(&s.description),
            constraints: s.constraints.clone(),
            labels: s.labels.clone(),
        }
    }

    fn to_update(s: &Size) -> SizeUpdateRequest {
        SizeUpdateRequest {
            id: s.id.clone(),
            name: Some(s.name.clone()),
            description: Some(s.description.clone()),
            constraints: Some(s.constraints.clone()),
            labels: Some(s.labels.clone()),
        }
    }

    fn table(items: &[Size], wide: bool, _args: &PlainList) -> Table {
        let mut header = vec![
            "ID",
            "NAME",
            "DESCRIPTION",
            "CPU RANGE",
            "MEMORY RANGE",
            "STORAGE RANGE",
            "GPU RANGE",
        ];
        if wide {
            header.push("LABELS");
        }
        let mut t = Table::new(header);
        for s in items {
            let mut row = vec![
                s.id.clone(),
                s.name.clone(),
                s.description.clone(),
                ranges(s, ConstraintType::Cores),
                ranges(s, ConstraintType::Memory),
                ranges(s, ConstraintType::Storage),
                ranges(s, ConstraintType::Gpu),
            ];
            if wide {
                row.push(labels(&s.labels));
            }
            t.push(row);
        }
        t
    }

    fn sort_key(s: &Size, key: &str) -> SortKey {
        match key {
            "name" => s.name.as_str().into(),
            "description" => s.description.as_str().into(),
            _ => s.id.as_str().into(),
        }
    }

    async fn list(c: &Client, _args: &PlainList) -> Result<Vec<Size>> {
        c.list_sizes().await
    }
    async fn get(c: &Client, id: &str) -> Result<Size> {
        c.get_size(id).await
    }
    async fn create(c: &Client, req: &SizeCreateRequest) -> Result<Size> {
        c.create_size(req).await
    }
    async fn update(c: &Client, req: SizeUpdateRequest) -> Result<Size> {
        c.update_size(&req).await
    }
    async fn delete(c: &Client, id: &str) -> Result<Size> {
        c.delete_size(id).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_columns() {
        let gpu = SizeConstraint {
            identifier: "AD102GL*".into(),
            ..SizeConstraint::new(ConstraintType::Gpu, 1, 2)
        };
        let mut s = Size {
            id: "c1-xlarge-x86".into(),
            name: "c1".into(),
            description: "big".into(),
            constraints: vec![
                SizeConstraint::new(ConstraintType::Cores, 4, 8),
                SizeConstraint::new(ConstraintType::Memory, 16_000_000_000, 32_000_000_000),
                SizeConstraint::new(
                    ConstraintType::Storage,
                    1_000_000_000_000,
                    2_500_000_000_000,
                ),
                gpu,
            ],
            labels: BTreeMap::new(),
            created: None,
            changed: None,
        };
        s.labels.insert("tier".into(), "gold".into());
        let t = SizeResource::table(std::slice::from_ref(&s), false, &PlainList::default());
        assert_eq!(
            t.render_plain(true),
            "\
ID             NAME  DESCRIPTION  CPU RANGE  MEMORY RANGE   STORAGE RANGE    GPU RANGE
c1-xlarge-x86  c1    big          4 - 8      16 GB - 32 GB  1.0 TB - 2.5 TB  AD102GL*: 1 - 2
"
        );
        let t = SizeResource::table(&[s], true, &PlainList::default());
        assert_eq!(t.rows[0].last().unwrap(), "tier=gold");
    }

    #[test]
    fn conversions() {
        let s = Size {
            id: "s".into(),
            name: String::new(),
            description: "d".into(),
            constraints: vec![],
            labels: BTreeMap::new(),
            created: None,
            changed: None,
        };
        let c = SizeResource::to_create(&s);
        assert_eq!(c.name, None);
        assert_eq!(c.description.as_deref(), Some("d"));
        let u = SizeResource::to_update(&s);
        assert_eq!(u.constraints, Some(vec![]));
    }
}
