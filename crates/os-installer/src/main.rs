//! os-installer: configures an unpacked OS image from `/etc/metal/install.yaml`.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use os_installer::config::InstallConfig;
use os_installer::tasks::{self, Installer};

#[derive(Debug, Parser)]
#[command(name = "os-installer", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Cmd>,
    /// the image root (`/` when run chrooted, as metal-hammer runs it)
    #[arg(long, global = true, default_value = "/")]
    root: PathBuf,
    /// the allocation (default: <root>/etc/metal/install.yaml)
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// run only these tasks (repeatable; names as `os-installer tasks` lists them)
    #[arg(long)]
    only: Vec<String>,
    /// skip these tasks
    #[arg(long)]
    except: Vec<String>,
    /// do not check the written FRR and nftables files with vtysh and nft
    #[arg(long)]
    skip_checks: bool,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Render the files that follow from install.yaml alone into a directory (dry run).
    Render {
        #[arg(long)]
        out: PathBuf,
        /// also check the FRR and nftables files
        #[arg(long)]
        check: bool,
    },
    /// List the tasks in the order they run.
    Tasks,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("OS_INSTALLER_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    if let Some(Cmd::Tasks) = cli.command {
        for t in tasks::TASKS {
            println!("{t}");
        }
        return Ok(());
    }
    let path = cli
        .config
        .clone()
        .unwrap_or_else(|| cli.root.join("etc/metal/install.yaml"));
    let text = std::fs::read_to_string(&path)
        .map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?;
    let mut cfg: InstallConfig =
        serde_yaml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    for nic in cfg.drop_unnamable_nics() {
        tracing::warn!(nic, "ignoring a NIC without a MAC address");
    }
    match cli.command {
        Some(Cmd::Render { out, check }) => {
            for f in tasks::rendered(&cfg) {
                let p = out.join(&f.path);
                std::fs::create_dir_all(p.parent().unwrap_or(&out))?;
                std::fs::write(&p, &f.content)?;
                println!("{}", f.path);
            }
            if check {
                tasks::check_network(&out, &cfg)?;
            }
            Ok(())
        }
        Some(Cmd::Tasks) => Ok(()),
        None => {
            let start = std::time::Instant::now();
            Installer {
                root: cli.root,
                cfg,
                checks: !cli.skip_checks,
                only: cli.only,
                except: cli.except,
            }
            .run()?;
            tracing::info!(ms = start.elapsed().as_millis() as u64, "installed");
            Ok(())
        }
    }
}
