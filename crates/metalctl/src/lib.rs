//! metalctl: the command line client of metal-api.
//!
//! `main.rs` parses the command line into [`Cli`] and calls [`run`]; everything else lives
//! here, one module per concern:
//!
//! - `cli`: flags and command tree; `app`: what a command runs with (printer, config, client);
//! - `config` and `context`: the config file with its contexts;
//! - `crud`: the generic verbs (list, describe, create, update, apply, delete, edit) over the
//!   entity types in `resources`;
//! - `output`: tables, YAML/JSON, templates and humanized values; `input`: `-f` documents;
//! - `audit`, `misc`: the remaining commands.

mod app;
mod audit;
pub mod cli;
mod config;
mod context;
mod crud;
mod editor;
mod input;
mod misc;
mod output;
mod resources;
mod sort;

pub use cli::Cli;

use anyhow::Result;

use crate::app::App;
use crate::cli::Command;
use crate::resources::{
    fsl, image::ImageResource, partition::PartitionResource, project::ProjectResource, size,
    tenant::TenantResource,
};

/// Runs a parsed command line.
pub async fn run(cli: Cli) -> Result<()> {
    if let Command::Completion { shell } = cli.command {
        return misc::completion(shell);
    }
    let mut app = App::new(cli.global)?;
    match cli.command {
        Command::Image(c) => crud::run::<ImageResource>(&mut app, c).await,
        Command::Size(c) => size::run(&mut app, c).await,
        Command::Partition(c) => crud::run::<PartitionResource>(&mut app, c).await,
        Command::Filesystemlayout(c) => fsl::run(&mut app, c).await,
        Command::Project(c) => crud::run::<ProjectResource>(&mut app, c).await,
        Command::Tenant(c) => crud::run::<TenantResource>(&mut app, c).await,
        Command::Audit(c) => audit::run(&mut app, c).await,
        Command::Context(c) => context::run(&mut app, c),
        Command::Health => misc::health(&mut app).await,
        Command::Version => misc::version(&mut app).await,
        Command::Whoami => misc::whoami(&mut app).await,
        Command::Completion { .. } => unreachable!("handled above"),
    }
}

/// The message printed after `Error: `: the server's message for API errors, otherwise the
/// error with its causes.
pub fn error_message(err: &anyhow::Error) -> String {
    format!("{err:#}")
}

/// True if the error is a closed standard output (e.g. `metalctl image ls | head -1`).
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
