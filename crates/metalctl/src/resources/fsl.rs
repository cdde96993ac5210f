//! `metalctl filesystemlayout` (alias `fsl`): the generic verbs over `/v1/filesystemlayout`,
//! `try --size --image` (which layout would be chosen) and `match --machine
//! --filesystemlayout` (do the machine's disks fit the layout).
//! Table: `ID | DESCRIPTION | FILESYSTEMS | SIZES | IMAGES`.

use anyhow::Result as AnyResult;
use clap::{Args, Subcommand};
use metal_client::{Client, Result};
use metal_domain::fsl::{
    Filesystem, FilesystemLayout, FilesystemLayoutCreateRequest, FilesystemLayoutMatchRequest,
    FilesystemLayoutTryRequest, FilesystemLayoutUpdateRequest,
};

use super::non_empty;
use crate::app::App;
use crate::crud::{self, Crud, PlainList, Resource};
use crate::output::table::display_width;
use crate::output::Table;
use crate::sort::SortKey;

/// `metalctl filesystemlayout ...`
#[derive(Subcommand, Debug, Clone)]
pub enum FslCmd {
    #[command(flatten)]
    Crud(Crud<PlainList>),
    /// Show the layout a machine of a size gets with an image.
    Try(TryArgs),
    /// Check whether the disks of a machine fit a layout.
    Match(MatchArgs),
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

#[derive(Args, Debug, Clone)]
pub struct MatchArgs {
    /// machine id
    #[arg(long)]
    pub machine: String,
    /// filesystem layout id
    #[arg(long)]
    pub filesystemlayout: String,
}

pub async fn run(app: &mut App, cmd: FslCmd) -> AnyResult<()> {
    match cmd {
        FslCmd::Crud(c) => crud::run::<FslResource>(app, c).await,
        FslCmd::Try(a) => {
            let req = FilesystemLayoutTryRequest {
                size: a.size,
                image: a.image,
            };
            let layout = app.client()?.try_filesystem_layout(&req).await?;
            crud::describe_one::<FslResource>(app, &layout)
        }
        FslCmd::Match(a) => {
            let req = FilesystemLayoutMatchRequest {
                machine: a.machine,
                filesystemlayout: a.filesystemlayout,
            };
            let layout = app.client()?.match_filesystem_layout(&req).await?;
            crud::describe_one::<FslResource>(app, &layout)
        }
    }
}

pub struct FslResource;

/// `path  device` lines, shallow mount points first; unmounted filesystems last with `-`.
fn filesystems(fss: &[Filesystem]) -> String {
    let depth = |f: &Filesystem| match &f.path {
        Some(p) => p.split('/').filter(|s| !s.is_empty()).count(),
        None => usize::MAX,
    };
    let mut sorted: Vec<&Filesystem> = fss.iter().collect();
    sorted.sort_by_key(|f| depth(f));
    let path = |f: &Filesystem| f.path.clone().unwrap_or_else(|| "-".to_string());
    let width = sorted
        .iter()
        .map(|f| display_width(&path(f)))
        .max()
        .unwrap_or(0);
    sorted
        .iter()
        .map(|f| {
            let p = path(f);
            let pad = " ".repeat(width - display_width(&p));
            format!("{p}{pad}  {}", f.device)
        })
        .collect::<Vec<_>>()
        .join("\n")
}

impl Resource for FslResource {
    const KIND: &'static str = "filesystem layout";
    const SORT_KEYS: &'static [&'static str] = &["id", "description"];

    type Entity = FilesystemLayout;
    type Doc = FilesystemLayout;
    type Create = FilesystemLayoutCreateRequest;
    type Update = FilesystemLayoutUpdateRequest;
    type List = PlainList;

    fn id(e: &FilesystemLayout) -> String {
        e.id.clone()
    }

    fn doc_id(d: &FilesystemLayout) -> String {
        d.id.clone()
    }

    fn to_create(l: &FilesystemLayout) -> FilesystemLayoutCreateRequest {
        FilesystemLayoutCreateRequest {
            id: l.id.clone(),
            name: non_empty(&l.name),
            description: non_empty(&l.description),
            constraints: l.constraints.clone(),
            disks: l.disks.clone(),
            raid: l.raid.clone(),
            volumegroups: l.volumegroups.clone(),
            logicalvolumes: l.logicalvolumes.clone(),
            filesystems: l.filesystems.clone(),
        }
    }

    fn to_update(l: &FilesystemLayout) -> FilesystemLayoutUpdateRequest {
        FilesystemLayoutUpdateRequest {
            id: l.id.clone(),
            name: Some(l.name.clone()),
            description: Some(l.description.clone()),
            constraints: l.constraints.clone(),
            disks: l.disks.clone(),
            raid: l.raid.clone(),
            volumegroups: l.volumegroups.clone(),
            logicalvolumes: l.logicalvolumes.clone(),
            filesystems: l.filesystems.clone(),
        }
    }

    fn table(items: &[FilesystemLayout], _wide: bool, _args: &PlainList) -> Table {
        let mut t = Table::new(["ID", "DESCRIPTION", "FILESYSTEMS", "SIZES", "IMAGES"]);
        for l in items {
            let images: Vec<String> = l
                .constraints
                .images
                .iter()
                .map(|(os, c)| format!("{os} {c}"))
                .collect();
            t.push([
                l.id.clone(),
                l.description.clone(),
                filesystems(&l.filesystems),
                l.constraints.sizes.join("\n"),
                images.join("\n"),
            ]);
        }
        t
    }

    fn sort_key(l: &FilesystemLayout, key: &str) -> SortKey {
        match key {
            "description" => l.description.as_str().into(),
            _ => l.id.as_str().into(),
        }
    }

    async fn list(c: &Client, _args: &PlainList) -> Result<Vec<FilesystemLayout>> {
        c.list_filesystem_layouts().await
    }
    async fn get(c: &Client, id: &str) -> Result<FilesystemLayout> {
        c.get_filesystem_layout(id).await
    }
    async fn create(c: &Client, req: &FilesystemLayoutCreateRequest) -> Result<FilesystemLayout> {
        c.create_filesystem_layout(req).await
    }
    async fn update(c: &Client, req: FilesystemLayoutUpdateRequest) -> Result<FilesystemLayout> {
        c.update_filesystem_layout(&req).await
    }
    async fn delete(c: &Client, id: &str) -> Result<FilesystemLayout> {
        c.delete_filesystem_layout(id).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LAYOUT: &str = "
id: default
description: standard layout
constraints:
  sizes: [c1-large-x86, c1-xlarge-x86]
  images:
    ubuntu: '>= 20.04'
    debian: '*'
filesystems:
  - path: /var/lib
    device: /dev/sda3
    format: ext4
  - path: /
    device: /dev/sda2
    format: ext4
  - device: tmpfs
    format: tmpfs
  - path: /boot/efi
    device: /dev/sda1
    format: vfat
";

    #[test]
    fn table_columns() {
        let docs: Vec<FilesystemLayout> = crate::input::parse_documents(LAYOUT, "test").unwrap();
        let t = FslResource::table(&docs, false, &PlainList::default());
        assert_eq!(
            t.render_plain(true),
            "\
ID       DESCRIPTION      FILESYSTEMS           SIZES          IMAGES
default  standard layout  /          /dev/sda2  c1-large-x86   debian *
                          /var/lib   /dev/sda3  c1-xlarge-x86  ubuntu >= 20.04
                          /boot/efi  /dev/sda1
                          -          tmpfs
"
        );
    }

    #[test]
    fn conversions_keep_the_layout() {
        let docs: Vec<FilesystemLayout> = crate::input::parse_documents(LAYOUT, "test").unwrap();
        let c = FslResource::to_create(&docs[0]);
        assert_eq!(c.name, None);
        assert_eq!(c.filesystems.len(), 4);
        let u = FslResource::to_update(&docs[0]);
        assert_eq!(u.constraints.sizes.len(), 2);
    }
}
