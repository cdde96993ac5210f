//! The command line: global flags (each also read from `METALCTL_<FLAG>`) and the command
//! tree. Handlers live in the modules named by each command.

use std::path::PathBuf;

use clap::builder::FalseyValueParser;
use clap::{ArgAction, Args, Parser, Subcommand};
use clap_complete::Shell;

use crate::audit::AuditCmd;
use crate::context::ContextArgs;
use crate::crud::{Crud, PlainList};
use crate::resources::fsl::FslCmd;
use crate::resources::image::ImageList;
use crate::resources::size::SizeCmd;

/// metalctl: the command line client of metal-api.
#[derive(Parser, Debug, Clone)]
#[command(name = "metalctl", version, about, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Flags valid on every command.
#[derive(Args, Debug, Clone, Default)]
#[command(next_help_heading = "Global Options")]
pub struct GlobalArgs {
    /// Config file (default: /etc/metalctl/config.yaml, ~/.metalctl/config.yaml, ./config.yaml).
    #[arg(short = 'c', long, global = true, env = "METALCTL_CONFIG")]
    pub config: Option<PathBuf>,
    /// API base URL, e.g. http://localhost:8080/metal/.
    #[arg(long, global = true, env = "METALCTL_API_URL")]
    pub api_url: Option<String>,
    /// Bearer token (an OIDC id-token).
    #[arg(
        long,
        global = true,
        env = "METALCTL_API_TOKEN",
        hide_env_values = true
    )]
    pub api_token: Option<String>,
    /// HMAC key to sign requests with.
    #[arg(long, global = true, env = "METALCTL_HMAC", hide_env_values = true)]
    pub hmac: Option<String>,
    /// User the HMAC key belongs to: Metal-Admin (default), Metal-Edit or Metal-View.
    #[arg(long, global = true, env = "METALCTL_HMAC_AUTH_TYPE")]
    pub hmac_auth_type: Option<String>,
    /// Output format: table, wide, markdown, yaml, json or template.
    #[arg(short = 'o', long, global = true, env = "METALCTL_OUTPUT_FORMAT")]
    pub output_format: Option<String>,
    /// Go template for -o template, over the JSON shape of each entity, e.g. '{{ .id }}'.
    #[arg(long, global = true, env = "METALCTL_TEMPLATE")]
    pub template: Option<String>,
    /// Leave out table headers.
    #[arg(long, global = true, env = "METALCTL_NO_HEADERS", action = ArgAction::SetTrue, value_parser = FalseyValueParser::new())]
    pub no_headers: bool,
    /// Skip the prompts before dangerous actions.
    #[arg(long, global = true, env = "METALCTL_YES_I_REALLY_MEAN_IT", action = ArgAction::SetTrue, value_parser = FalseyValueParser::new())]
    pub yes_i_really_mean_it: bool,
    /// Log the requests sent and print error details.
    #[arg(long, global = true, env = "METALCTL_DEBUG", action = ArgAction::SetTrue, value_parser = FalseyValueParser::new())]
    pub debug: bool,
}

#[derive(Subcommand, Debug, Clone)]
pub enum Command {
    /// Manage images.
    #[command(subcommand)]
    Image(Crud<ImageList>),
    /// Manage sizes and their image constraints.
    #[command(subcommand)]
    Size(SizeCmd),
    /// Manage partitions.
    #[command(subcommand)]
    Partition(Crud<PlainList>),
    /// Manage filesystem layouts.
    #[command(subcommand, visible_alias = "fsl")]
    Filesystemlayout(FslCmd),
    /// Manage projects.
    #[command(subcommand)]
    Project(Crud<PlainList>),
    /// Manage tenants.
    #[command(subcommand)]
    Tenant(Crud<PlainList>),
    /// Search the audit trail.
    #[command(subcommand)]
    Audit(AuditCmd),
    /// List contexts, or switch to another one.
    #[command(visible_alias = "ctx")]
    Context(ContextArgs),
    /// Show the health of metal-api.
    Health,
    /// Show client and server version.
    Version,
    /// Show who the credentials belong to.
    Whoami,
    /// Print a shell completion script.
    Completion {
        #[arg(value_enum)]
        shell: Shell,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn command_tree_is_consistent() {
        Cli::command().debug_assert();
    }

    fn parse(args: &[&str]) -> Cli {
        Cli::try_parse_from(std::iter::once("metalctl").chain(args.iter().copied())).unwrap()
    }

    #[test]
    fn aliases_and_globals() {
        let cli = parse(&["fsl", "ls", "-o", "wide", "--sort-by", "id:desc"]);
        assert_eq!(cli.global.output_format.as_deref(), Some("wide"));
        assert!(matches!(
            cli.command,
            Command::Filesystemlayout(FslCmd::Crud(Crud::List(_)))
        ));
        let cli = parse(&["size", "ic", "try", "--size", "s", "--image", "i"]);
        assert!(matches!(
            cli.command,
            Command::Size(SizeCmd::Imageconstraint(_))
        ));
        for alias in ["rm", "destroy", "remove", "delete"] {
            let cli = parse(&["image", alias, "ubuntu-22.04"]);
            assert!(matches!(cli.command, Command::Image(Crud::Delete(_))));
        }
        let cli = parse(&[
            "image",
            "get",
            "x",
            "--no-headers",
            "--yes-i-really-mean-it",
        ]);
        assert!(cli.global.no_headers && cli.global.yes_i_really_mean_it);
        let cli = parse(&["ctx", "-"]);
        assert!(
            matches!(cli.command, Command::Context(ContextArgs { name: Some(ref n), .. }) if n == "-")
        );
        let cli = parse(&["context", "short"]);
        assert!(matches!(
            cli.command,
            Command::Context(ContextArgs { cmd: Some(_), .. })
        ));
        let cli = parse(&["image", "list", "--show-usage"]);
        assert!(matches!(
            cli.command,
            Command::Image(Crud::List(ImageList {
                show_usage: true,
                ..
            }))
        ));
    }

    #[test]
    fn delete_needs_id_or_file() {
        assert!(Cli::try_parse_from(["metalctl", "partition", "delete"]).is_err());
        assert!(Cli::try_parse_from(["metalctl", "partition", "delete", "-f", "x.yaml"]).is_ok());
        assert!(
            Cli::try_parse_from(["metalctl", "partition", "delete", "p", "-f", "x.yaml"]).is_err()
        );
        assert!(Cli::try_parse_from(["metalctl", "partition", "create"]).is_err());
    }
}
