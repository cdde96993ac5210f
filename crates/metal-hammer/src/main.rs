//! metal-hammer: PID 1 of the install ramdisk, or a plain process for tests.
//!
//! A thin dispatcher: every subcommand lives in the library module that owns it.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use metal_hammer::{agent, install, layout, wipe};

/// Without a subcommand (PID 1 of the ramdisk): `run` with its defaults.
#[derive(Debug, Parser)]
#[command(name = "metal-hammer", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Cmd>,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// The agent: configuration, register, wait, install, report, kexec (what PID 1 runs).
    Run(agent::RunArgs),
    /// Partition, format, install an image and run its installer; prints the boot info.
    Install(install::InstallArgs),
    /// Print the command plan for a filesystem layout.
    Plan(layout::PlanArgs),
    /// Wipe disks.
    Wipe(wipe::WipeArgs),
}

fn main() -> ExitCode {
    use std::io::IsTerminal;
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    // PID 1 is started by the kernel with arguments of its own (from the command line)
    let cli = if std::process::id() == 1 {
        // the kernel starts init without PATH; set it before any thread exists
        std::env::set_var("PATH", metal_hammer::init::PATH);
        Cli { command: None }
    } else {
        Cli::parse()
    };
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            println!("METAL_HAMMER_FAILED starting the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match cli.command {
        None => rt.block_on(agent::run_cli(agent::RunArgs::default())),
        Some(Cmd::Run(args)) => rt.block_on(agent::run_cli(args)),
        Some(Cmd::Install(args)) => rt.block_on(install::run_cli(args)),
        Some(Cmd::Plan(args)) => layout::run_cli(args),
        Some(Cmd::Wipe(args)) => wipe::run_cli(args),
    }
}
