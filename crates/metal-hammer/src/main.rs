//! metal-hammer: PID 1 of the install ramdisk, or a plain process for tests.
//!
//! A thin entry point: logging, the command line, a runtime; the subcommands and their exit
//! codes are in [`metal_hammer::cli`].

use std::process::ExitCode;

use clap::Parser;
use metal_hammer::cli::{self, Cli, Exit};

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
            return Exit::Failure.into();
        }
    };
    cli::dispatch(cli.command, &rt)
}
