//! The generic verbs every entity command has (metal-lib's genericcli): `list`, `describe`,
//! `create`, `update`, `apply`, `delete`, `edit`. A resource describes itself once through
//! [`Resource`] (API calls, id, table, conversions) and gets all verbs from [`run`].
//!
//! Files given with `-f` hold entities in their response shape (what `describe -o yaml`
//! prints); they are converted to create or update requests by the resource.

use std::fmt::Debug;

use anyhow::{Context as _, Result};
use clap::{Args, Subcommand};
use metal_client::Client;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::app::App;
use crate::editor;
use crate::input::read_documents;
use crate::output::Table;
use crate::sort::{self, SortArgs, SortKey};

/// Arguments of a `list` command: at least `--sort-by`.
pub trait ListArgs: Args + Default + Clone + Debug {
    fn sort(&self) -> &SortArgs;
}

/// `list` arguments of resources without filters.
#[derive(Args, Debug, Clone, Default)]
pub struct PlainList {
    #[command(flatten)]
    pub sort: SortArgs,
}

impl ListArgs for PlainList {
    fn sort(&self) -> &SortArgs {
        &self.sort
    }
}

/// An entity type of the API, as the generic verbs see it.
pub trait Resource {
    /// Singular name for messages, e.g. `image`.
    const KIND: &'static str;
    /// Keys accepted by `--sort-by`; the first is the default.
    const SORT_KEYS: &'static [&'static str];

    type Entity: Serialize + DeserializeOwned + Clone;
    /// What a `-f` document is read as: the entity, or a lenient variant of its shape.
    type Doc: DeserializeOwned;
    type Create: Serialize;
    type Update: Serialize;
    type List: ListArgs;

    fn id(e: &Self::Entity) -> String;
    fn doc_id(d: &Self::Doc) -> String;
    fn to_create(d: &Self::Doc) -> Self::Create;
    fn to_update(d: &Self::Doc) -> Self::Update;
    fn table(items: &[Self::Entity], wide: bool, args: &Self::List) -> Table;
    fn sort_key(e: &Self::Entity, key: &str) -> SortKey;

    async fn list(c: &Client, args: &Self::List) -> metal_client::Result<Vec<Self::Entity>>;
    async fn get(c: &Client, id: &str) -> metal_client::Result<Self::Entity>;
    async fn create(c: &Client, req: &Self::Create) -> metal_client::Result<Self::Entity>;
    async fn update(c: &Client, req: Self::Update) -> metal_client::Result<Self::Entity>;
    async fn delete(c: &Client, id: &str) -> metal_client::Result<Self::Entity>;
}

/// The generic verbs, parameterized by the arguments of `list`.
#[derive(Subcommand, Debug, Clone)]
pub enum Crud<L: ListArgs> {
    /// List all entities.
    #[command(visible_alias = "ls")]
    List(L),
    /// Show one entity.
    #[command(visible_alias = "get")]
    Describe {
        /// id of the entity
        id: String,
    },
    /// Create entities from a file.
    Create(FileArgs),
    /// Update entities from a file.
    Update(FileArgs),
    /// Create entities from a file, or update those that exist already.
    Apply(FileArgs),
    /// Delete an entity, or all entities of a file.
    #[command(visible_aliases = ["rm", "destroy", "remove"])]
    Delete(DeleteArgs),
    /// Edit an entity in $EDITOR and update it.
    Edit {
        /// id of the entity
        id: String,
    },
}

/// `-f` and the options of file-based operations.
#[derive(Args, Debug, Clone)]
pub struct FileArgs {
    /// YAML or JSON file with one or more entities (`---` separated); `-` reads stdin.
    #[arg(short = 'f', long = "file")]
    pub file: String,
    #[command(flatten)]
    pub bulk: BulkArgs,
}

#[derive(Args, Debug, Clone, Default)]
pub struct BulkArgs {
    /// Print all results at the end as one list instead of one by one.
    #[arg(long)]
    pub bulk_output: bool,
    /// Do not ask before bulk operations.
    #[arg(
        long,
        env = "METALCTL_SKIP_SECURITY_PROMPTS",
        action = clap::ArgAction::SetTrue,
        value_parser = clap::builder::FalseyValueParser::new()
    )]
    pub skip_security_prompts: bool,
}

#[derive(Args, Debug, Clone)]
pub struct DeleteArgs {
    /// id of the entity
    #[arg(required_unless_present = "file", conflicts_with = "file")]
    pub id: Option<String>,
    /// YAML or JSON file with the entities to delete; `-` reads stdin.
    #[arg(short = 'f', long = "file")]
    pub file: Option<String>,
    #[command(flatten)]
    pub bulk: BulkArgs,
}

/// Lists the entities sorted by `--sort-by` (default: the first sort key, the id).
pub async fn list<R: Resource>(app: &mut App, args: &R::List) -> Result<()> {
    let orders = sort::parse(&args.sort().sort_by, R::SORT_KEYS, R::SORT_KEYS[0])?;
    let client = app.client()?;
    let mut items = R::list(&client, args).await?;
    sort::sort(&mut items, &orders, R::sort_key);
    app.printer
        .list(&items, |wide| R::table(&items, wide, args))
}

/// Prints one entity with the describe printer.
pub fn describe_one<R: Resource>(app: &mut App, item: &R::Entity) -> Result<()> {
    let args = R::List::default();
    app.printer.describe(item, |wide| {
        R::table(std::slice::from_ref(item), wide, &args)
    })
}

/// Runs one of the generic verbs.
pub async fn run<R: Resource>(app: &mut App, cmd: Crud<R::List>) -> Result<()> {
    match cmd {
        Crud::List(args) => list::<R>(app, &args).await,
        Crud::Describe { id } => {
            let item = R::get(&app.client()?, &id).await?;
            describe_one::<R>(app, &item)
        }
        Crud::Create(f) => from_file::<R>(app, &f, Verb::Create).await,
        Crud::Update(f) => from_file::<R>(app, &f, Verb::Update).await,
        Crud::Apply(f) => from_file::<R>(app, &f, Verb::Apply).await,
        Crud::Delete(d) => delete::<R>(app, d).await,
        Crud::Edit { id } => edit::<R>(app, &id).await,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verb {
    Create,
    Update,
    Apply,
}

impl Verb {
    fn as_str(self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::Update => "update",
            Self::Apply => "apply",
        }
    }
}

async fn from_file<R: Resource>(app: &mut App, f: &FileArgs, verb: Verb) -> Result<()> {
    let docs: Vec<R::Doc> = read_documents(&f.file)?;
    if docs.len() > 1 {
        let ids: Vec<String> = docs.iter().map(R::doc_id).collect();
        app.confirm(
            &format!(
                "{} {} {}s: {}",
                verb.as_str(),
                docs.len(),
                R::KIND,
                ids.join(", ")
            ),
            f.bulk.skip_security_prompts,
        )?;
    }
    let client = app.client()?;
    let mut results = Vec::new();
    for doc in &docs {
        let id = R::doc_id(doc);
        let result = match verb {
            Verb::Create => R::create(&client, &R::to_create(doc)).await,
            Verb::Update => R::update(&client, R::to_update(doc)).await,
            Verb::Apply => match R::create(&client, &R::to_create(doc)).await {
                Err(e) if e.is_conflict() => R::update(&client, R::to_update(doc)).await,
                other => other,
            },
        };
        let item = with_id_if_bulk(result, docs.len(), || {
            format!("{} {} {id:?}", verb.as_str(), R::KIND)
        })?;
        emit::<R>(app, &f.bulk, item, &mut results)?;
    }
    finish_bulk::<R>(app, &f.bulk, &results)
}

async fn delete<R: Resource>(app: &mut App, d: DeleteArgs) -> Result<()> {
    let ids: Vec<String> = match (&d.id, &d.file) {
        (Some(id), _) => vec![id.clone()],
        (None, Some(file)) => {
            let docs: Vec<R::Doc> = read_documents(file)?;
            let ids: Vec<String> = docs.iter().map(R::doc_id).collect();
            app.confirm(
                &format!("delete {} {}s: {}", ids.len(), R::KIND, ids.join(", ")),
                d.bulk.skip_security_prompts,
            )?;
            ids
        }
        (None, None) => unreachable!("clap requires an id or a file"),
    };
    let client = app.client()?;
    let mut results = Vec::new();
    for id in &ids {
        let result = R::delete(&client, id).await;
        let item = with_id_if_bulk(result, ids.len(), || format!("delete {} {id:?}", R::KIND))?;
        emit::<R>(app, &d.bulk, item, &mut results)?;
    }
    finish_bulk::<R>(app, &d.bulk, &results)
}

/// In bulk operations an error names the entity it happened to; a single operation reports
/// the server's message as it is.
fn with_id_if_bulk<T>(
    result: metal_client::Result<T>,
    count: usize,
    what: impl FnOnce() -> String,
) -> Result<T> {
    if count > 1 {
        result.with_context(what)
    } else {
        Ok(result?)
    }
}

fn emit<R: Resource>(
    app: &mut App,
    bulk: &BulkArgs,
    item: R::Entity,
    results: &mut Vec<R::Entity>,
) -> Result<()> {
    if bulk.bulk_output {
        results.push(item);
        Ok(())
    } else {
        describe_one::<R>(app, &item)
    }
}

fn finish_bulk<R: Resource>(app: &mut App, bulk: &BulkArgs, results: &[R::Entity]) -> Result<()> {
    if !bulk.bulk_output {
        return Ok(());
    }
    let args = R::List::default();
    app.printer
        .list(results, |wide| R::table(results, wide, &args))
}

async fn edit<R: Resource>(app: &mut App, id: &str) -> Result<()> {
    let client = app.client()?;
    let current = R::get(&client, id).await?;
    let text = serde_yaml::to_string(&current).context("encoding yaml")?;
    let Some(edited) = editor::edit(&text)? else {
        eprintln!("no changes were made");
        return Ok(());
    };
    let doc: R::Doc = crate::input::parse_documents(&edited, "the edited file")?
        .into_iter()
        .next()
        .context("the edited file is empty")?;
    let updated = R::update(&client, R::to_update(&doc)).await?;
    describe_one::<R>(app, &updated)
}
