//! The `metalctl` binary: parse the command line, run it, map the outcome to an exit code
//! (0 success, 1 any error, printed as `Error: <message>` on stderr).

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use metalctl::Cli;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let debug = cli.global.debug;
    if debug {
        tracing_subscriber::fmt()
            .with_writer(std::io::stderr)
            .with_ansi(std::io::stderr().is_terminal())
            .with_env_filter("metal_client=debug,metalctl=debug")
            .init();
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("Error: starting the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(metalctl::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if metalctl::is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("Error: {}", metalctl::error_message(&e));
            if debug {
                eprintln!("{e:?}");
            }
            ExitCode::FAILURE
        }
    }
}
