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
pub mod input;
mod misc;
mod output;
mod resources;
mod sort;

pub use cli::Cli;

use anyhow::Result;

use crate::app::App;
use crate::cli::Command;
use crate::resources::{
    fsl, image::ImageResource, network, project::ProjectResource, size, tenant::TenantResource,
};

/// Runs a parsed command line, printing results to stdout (coloured if it is a terminal).
pub async fn run(cli: Cli) -> Result<()> {
    use std::io::IsTerminal;
    let color = output::color::wanted(std::io::stdout().is_terminal());
    run_with(cli, Box::new(std::io::stdout()), color).await
}

/// Runs a parsed command line, printing results to `out` without colours (for driving
/// metalctl in-process, e.g. from tests). Prompts and notes still go to stderr.
pub async fn run_to(cli: Cli, out: Box<dyn std::io::Write + Send>) -> Result<()> {
    run_with(cli, out, false).await
}

/// Runs metalctl in-process with `args` (the command line without the program's name) and
/// answers what it printed (for tests and tools that drive metalctl as a library).
pub async fn run_captured(args: &[&str]) -> Result<String> {
    use clap::Parser;
    let cli = Cli::try_parse_from(std::iter::once("metalctl").chain(args.iter().copied()))?;
    let out = Captured::default();
    run_to(cli, Box::new(out.clone())).await?;
    let bytes = out.0.lock().unwrap_or_else(|e| e.into_inner()).clone();
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// An output that keeps what is written, shared with its clones.
#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

async fn run_with(cli: Cli, out: Box<dyn std::io::Write + Send>, color: bool) -> Result<()> {
    if let Command::Completion { shell } = cli.command {
        return misc::completion(shell);
    }
    let mut app = App::new(cli.global, out)?;
    app.color = color;
    match cli.command {
        Command::Image(c) => crud::run::<ImageResource>(&mut app, c).await,
        Command::Size(c) => size::run(&mut app, c).await,
        Command::Partition(c) => resources::partition::run(&mut app, c).await,
        Command::Filesystemlayout(c) => fsl::run(&mut app, c).await,
        Command::Network(c) => network::run(&mut app, c).await,
        Command::Project(c) => crud::run::<ProjectResource>(&mut app, c).await,
        Command::Tenant(c) => crud::run::<TenantResource>(&mut app, c).await,
        Command::Switch(c) => resources::switch::run(&mut app, c).await,
        Command::Machine(c) => resources::machine::run(&mut app, c).await,
        Command::Firewall(c) => resources::firewall::run(&mut app, c).await,
        Command::Audit(c) => audit::run(&mut app, c).await,
        Command::Vpn(c) => resources::vpn::run(&mut app, c).await,
        Command::Firmware(c) => resources::firmware::run(&mut app, c).await,
        Command::Context(c) => context::run(&mut app, c),
        Command::Health => misc::health(&mut app).await,
        Command::Version => misc::version(&mut app).await,
        Command::Whoami => misc::whoami(&mut app).await,
        Command::Completion { .. } => unreachable!("handled above"),
    }
}

/// The message printed after `Error: `: the server's message for API errors, otherwise the
/// error with its causes. For a connection failure the HTTP stack's intermediate layers are
/// left out: the URL and the root cause are what a user can act on.
pub fn error_message(err: &anyhow::Error) -> String {
    let mut parts = Vec::new();
    for e in err.chain() {
        parts.push(e.to_string());
        if let Some(metal_client::Error::Connect { .. }) = e.downcast_ref::<metal_client::Error>() {
            if let Some(root) = e.source().map(|_| err.root_cause()) {
                parts.push(root.to_string());
            }
            break;
        }
    }
    parts.join(": ")
}

/// True if the error is a closed standard output (e.g. `metalctl image ls | head -1`).
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn error_messages() {
        let api = anyhow::Error::from(metal_client::Error::Api {
            status: 404,
            message: "no image with id \"x\"".into(),
        });
        assert_eq!(error_message(&api), "no image with id \"x\"");
        let ctx = api.context("create image \"x\"");
        assert_eq!(
            error_message(&ctx),
            "create image \"x\": no image with id \"x\""
        );
        let io = std::io::Error::new(std::io::ErrorKind::BrokenPipe, "closed");
        assert!(is_broken_pipe(&anyhow::Error::from(io).context("writing")));
    }

    #[test]
    fn run_is_send() {
        fn assert_send<T: Send>(_: T) {}
        let cli = Cli::try_parse_from(["metalctl", "version"]).unwrap();
        assert_send(run_to(cli, Box::new(std::io::sink())));
    }

    #[tokio::test]
    async fn connection_errors_name_url_and_root_cause() {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let client = metal_client::Client::new(
            &format!("http://127.0.0.1:{port}/metal/"),
            metal_client::Auth::None,
        )
        .unwrap();
        let err = anyhow::Error::from(client.version().await.unwrap_err())
            .context("failed to get server info");
        assert_eq!(
            error_message(&err),
            format!("failed to get server info: cannot reach metal-api at http://127.0.0.1:{port}/metal/v1/version: Connection refused (os error 111)")
        );
    }
}
