//! The command line: global flags (each also read from `METALCTL_<FLAG>`) and the command
//! tree. Handlers live in the modules named by each command.

use std::path::PathBuf;

use clap::builder::FalseyValueParser;
use clap::{ArgAction, Args, Parser, Subcommand};
use clap_complete::Shell;

use crate::audit::AuditCmd;
use crate::context::ContextArgs;
use crate::crud::{Crud, PlainList};
use crate::resources::firewall::FirewallCmd;
use crate::resources::fsl::FslCmd;
use crate::resources::image::ImageList;
use crate::resources::machine::MachineCmd;
use crate::resources::network::NetworkCmd;
use crate::resources::partition::PartitionCmd;
use crate::resources::size::SizeCmd;
use crate::resources::switch::SwitchCmd;

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
    /// Manage partitions and show their capacity.
    #[command(subcommand)]
    Partition(PartitionCmd),
    /// Manage filesystem layouts.
    #[command(subcommand, visible_alias = "fsl")]
    Filesystemlayout(FslCmd),
    /// Manage networks and their IPs.
    #[command(subcommand)]
    Network(NetworkCmd),
    /// Manage projects.
    #[command(subcommand)]
    Project(Crud<PlainList>),
    /// Manage tenants.
    #[command(subcommand)]
    Tenant(Crud<PlainList>),
    /// Manage the leaf switches metal-core registers.
    #[command(subcommand, visible_alias = "sw")]
    Switch(SwitchCmd),
    /// Manage machines: allocate, free, reserve, lock, reinstall, logs.
    #[command(subcommand, visible_alias = "ms")]
    Machine(MachineCmd),
    /// Manage firewalls.
    #[command(subcommand, visible_alias = "fw")]
    Firewall(FirewallCmd),
    /// Search the audit trail.
    #[command(subcommand)]
    Audit(AuditCmd),
    /// BIOS and BMC firmware files (admin).
    #[command(subcommand)]
    Firmware(crate::resources::firmware::FirmwareCmd),
    /// Auth keys for the VPN of a project.
    #[command(subcommand)]
    Vpn(crate::resources::vpn::VpnCmd),
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

/// Parses a command line as `metalctl` would get it (tests of every command module).
#[cfg(test)]
pub fn try_parse(args: &[&str]) -> Result<Cli, clap::Error> {
    Cli::try_parse_from(std::iter::once("metalctl").chain(args.iter().copied()))
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
        try_parse(args).unwrap()
    }

    #[test]
    fn aliases_and_globals() {
        let cli = parse(&["fsl", "ls", "-o", "wide", "--sort-by", "id:desc"]);
        assert_eq!(cli.global.output_format.as_deref(), Some("wide"));
        assert!(matches!(
            cli.command,
            Command::Filesystemlayout(FslCmd::Crud(Crud::List(_)))
        ));
        let cli = parse(&["size", "rs", "usage", "--project", "p1"]);
        assert!(matches!(
            cli.command,
            Command::Size(SizeCmd::Reservation(_))
        ));
        let cli = parse(&[
            "partition",
            "capacity",
            "--size",
            "c1",
            "--project-id",
            "p1",
        ]);
        assert!(matches!(
            cli.command,
            Command::Partition(PartitionCmd::Capacity(_))
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
    fn network_commands() {
        use crate::resources::ip::IpCmd;
        use crate::resources::network::{AllocateArgs, NetworkList};
        let cli = parse(&[
            "network",
            "ls",
            "--partition",
            "fra",
            "--nat",
            "--privatesuper=false",
            "--labels",
            "a=b,c=d",
            "--prefixes",
            "10.0.0.0/16",
            "--addressfamily",
            "ipv6",
            "--vrf",
            "42",
        ]);
        let Command::Network(NetworkCmd::Crud(Crud::List(l))) = cli.command else {
            panic!("not network list: {cli:?}");
        };
        assert_eq!(l.partition.as_deref(), Some("fra"));
        assert_eq!(
            (l.nat, l.privatesuper, l.underlay),
            (Some(true), Some(false), None)
        );
        assert_eq!(l.labels, ["a=b", "c=d"]);
        assert_eq!(l.addressfamily.as_deref(), Some("IPv6"));
        assert_eq!(l.vrf, Some(42));
        assert!(matches!(
            parse(&["network", "list"]).command,
            Command::Network(NetworkCmd::Crud(Crud::List(NetworkList { nat: None, .. })))
        ));
        assert!(
            Cli::try_parse_from(["metalctl", "network", "ls", "--addressfamily", "v5"]).is_err()
        );

        let cli = parse(&[
            "network",
            "allocate",
            "--name",
            "n",
            "--partition",
            "fra",
            "--project",
            "p",
            "--shared",
            "--ipv4-prefix-length",
            "24",
        ]);
        assert!(matches!(
            cli.command,
            Command::Network(NetworkCmd::Allocate(AllocateArgs {
                shared: true,
                nat: false,
                ipv4_prefix_length: Some(24),
                ipv6_prefix_length: None,
                ..
            }))
        ));
        for bad in [
            vec!["network", "allocate", "--name", "n", "--partition", "fra"],
            vec![
                "network",
                "allocate",
                "--name",
                "n",
                "--partition",
                "f",
                "--project",
                "p",
                "--ipv4-prefix-length",
                "33",
            ],
            vec!["network", "free"],
        ] {
            assert!(
                Cli::try_parse_from(std::iter::once("metalctl").chain(bad.iter().copied()))
                    .is_err(),
                "{bad:?}"
            );
        }
        assert!(matches!(
            parse(&["network", "free", "tenant-1"]).command,
            Command::Network(NetworkCmd::Free { ref id }) if id == "tenant-1"
        ));
        assert!(matches!(
            parse(&["network", "rm", "tenant-1"]).command,
            Command::Network(NetworkCmd::Crud(Crud::Delete(_)))
        ));
        assert!(matches!(
            parse(&["network", "apply", "-f", "n.yaml"]).command,
            Command::Network(NetworkCmd::Crud(Crud::Apply(_)))
        ));

        let cli = parse(&[
            "network",
            "ip",
            "ls",
            "--type",
            "static",
            "--tags",
            "a,b",
            "--machineid",
            "m1",
        ]);
        let Command::Network(NetworkCmd::Ip(IpCmd::List(l))) = cli.command else {
            panic!("not ip list: {cli:?}");
        };
        assert_eq!((l.kind.as_deref(), l.tags.len()), (Some("static"), 2));
        assert!(
            Cli::try_parse_from(["metalctl", "network", "ip", "ls", "--type", "sticky"]).is_err()
        );
        for alias in ["free", "delete", "rm"] {
            assert!(matches!(
                parse(&["network", "ip", alias, "10.0.0.5"]).command,
                Command::Network(NetworkCmd::Ip(IpCmd::Delete(_)))
            ));
        }
        let cli = parse(&[
            "network",
            "ip",
            "create",
            "--network",
            "internet",
            "--project",
            "p",
            "--ipaddress",
            "212.34.83.7",
        ]);
        let Command::Network(NetworkCmd::Ip(IpCmd::Create(c))) = cli.command else {
            panic!("not ip create: {cli:?}");
        };
        assert_eq!(c.kind, "static", "static by default");
        assert_eq!(c.ipaddress.as_deref(), Some("212.34.83.7"));
        assert!(matches!(
            parse(&["network", "ip", "create", "-f", "ips.yaml"]).command,
            Command::Network(NetworkCmd::Ip(IpCmd::Create(ref c))) if c.file.as_deref() == Some("ips.yaml")
        ));
        for bad in [
            vec!["network", "ip", "create"],
            vec!["network", "ip", "create", "--network", "internet"],
            vec!["network", "ip", "create", "-f", "x.yaml", "--project", "p"],
            vec!["network", "ip", "describe"],
            vec!["network", "ip", "update"],
        ] {
            assert!(
                Cli::try_parse_from(std::iter::once("metalctl").chain(bad.iter().copied()))
                    .is_err(),
                "{bad:?}"
            );
        }
        assert!(matches!(
            parse(&["network", "ip", "get", "2001:db8::1"]).command,
            Command::Network(NetworkCmd::Ip(IpCmd::Describe { ref ip })) if ip == "2001:db8::1"
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
