//! `metalctl size imageconstraint` (alias `ic`): the generic verbs over
//! `/v1/size-image-constraint`, and `try --size --image`.
//! Table: `ID | NAME | DESCRIPTION | IMAGE | CONSTRAINT`, one row per (size, os → constraint).

use anyhow::Result as AnyResult;
use clap::{Args, Subcommand};
use metal_client::{Client, Result};
use metal_domain::sic::{
    SizeImageConstraint, SizeImageConstraintCreateRequest, SizeImageConstraintTryRequest,
    SizeImageConstraintUpdateRequest,
};

use super::non_empty;
use crate::app::App;
use crate::crud::{self, Crud, PlainList, Resource};
use crate::output::Table;
use crate::sort::SortKey;

/// `metalctl size imageconstraint ...`
#[derive(Subcommand, Debug, Clone)]
pub enum SicCmd {
    #[command(flatten)]
    Crud(Crud<PlainList>),
    /// Check whether an image may be installed on machines of a size.
    Try(TryArgs),
}

#[derive(Args, Debug, Clone)]
pub struct TryArgs {
    /// size id
    #[arg(long)]
    pub size: String,
    /// image id
    #[arg(long)]
    pub image: String,
}

pub async fn run(app: &mut App, cmd: SicCmd) -> AnyResult<()> {
    match cmd {
        SicCmd::Crud(c) => crud::run::<SicResource>(app, c).await,
        SicCmd::Try(args) => {
            let req = SizeImageConstraintTryRequest {
                size: args.size.clone(),
                image: args.image.clone(),
            };
            app.client()?.try_size_image_constraint(&req).await?;
            app.printer.write(&format!(
                "image {:?} is allowed on size {:?}\n",
                args.image, args.size
            ))
        }
    }
}

pub struct SicResource;

impl Resource for SicResource {
    const KIND: &'static str = "size image constraint";
    const SORT_KEYS: &'static [&'static str] = &["id", "name", "description"];

    type Entity = SizeImageConstraint;
    type Doc = SizeImageConstraint;
    type Create = SizeImageConstraintCreateRequest;
    type Update = SizeImageConstraintUpdateRequest;
    type List = PlainList;

    fn id(e: &SizeImageConstraint) -> String {
        e.id.clone()
    }

    fn doc_id(d: &SizeImageConstraint) -> String {
        d.id.clone()
    }

    fn to_create(s: &SizeImageConstraint) -> SizeImageConstraintCreateRequest {
        SizeImageConstraintCreateRequest {
            id: s.id.clone(),
            name: non_empty(&s.name),
            description: non_empty(&s.description),
            constraints: s.constraints.clone(),
        }
    }

    fn to_update(s: &SizeImageConstraint) -> SizeImageConstraintUpdateRequest {
        SizeImageConstraintUpdateRequest {
            id: s.id.clone(),
            name: Some(s.name.clone()),
            description: Some(s.description.clone()),
            constraints: Some(s.constraints.clone()),
        }
    }

    fn table(items: &[SizeImageConstraint], _wide: bool, _args: &PlainList) -> Table {
        let mut t = Table::new(["ID", "NAME", "DESCRIPTION", "IMAGE", "CONSTRAINT"]);
        for s in items {
            if s.constraints.images.is_empty() {
                t.push([s.id.as_str(), &s.name, &s.description, "", ""]);
            }
            for (os, constraint) in &s.constraints.images {
                t.push([s.id.as_str(), &s.name, &s.description, os, constraint]);
            }
        }
        t
    }

    fn sort_key(s: &SizeImageConstraint, key: &str) -> SortKey {
        match key {
            "name" => s.name.as_str().into(),
            "description" => s.description.as_str().into(),
            _ => s.id.as_str().into(),
        }
    }

    async fn list(c: &Client, _args: &PlainList) -> Result<Vec<SizeImageConstraint>> {
        c.list_size_image_constraints().await
    }
    async fn get(c: &Client, id: &str) -> Result<SizeImageConstraint> {
        c.get_size_image_constraint(id).await
    }
    async fn create(
        c: &Client,
        req: &SizeImageConstraintCreateRequest,
    ) -> Result<SizeImageConstraint> {
        c.create_size_image_constraint(req).await
    }
    async fn update(
        c: &Client,
        req: SizeImageConstraintUpdateRequest,
    ) -> Result<SizeImageConstraint> {
        c.update_size_image_constraint(&req).await
    }
    async fn delete(c: &Client, id: &str) -> Result<SizeImageConstraint> {
        c.delete_size_image_constraint(id).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_row_per_os() {
        let docs: Vec<SizeImageConstraint> = crate::input::parse_documents(
            "id: c1-xlarge-x86\nname: c1\nconstraints:\n  images:\n    ubuntu: \">= 20.04.20211011\"\n    debian: \">= 12.0.20240101\"\n---\nid: empty\n",
            "test",
        )
        .unwrap();
        let t = SicResource::table(&docs, false, &PlainList::default());
        assert_eq!(
            t.render_plain(true),
            "\
ID             NAME  DESCRIPTION  IMAGE   CONSTRAINT
c1-xlarge-x86  c1                 debian  >= 12.0.20240101
c1-xlarge-x86  c1                 ubuntu  >= 20.04.20211011
empty
"
        );
    }
}
