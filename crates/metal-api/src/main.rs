//! `metal-api`: parse flags, set up logging, run. Exit code 1 on a start-up error, 2 on bad flags.

use clap::Parser;
use metal_api::config::{Command, Config};
use tracing_subscriber::EnvFilter;

fn init_logging(config: &Config) {
    let filter = EnvFilter::try_new(&config.log_level).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if config.log_json {
        builder.json().init();
    } else {
        builder.init();
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let config = Config::parse();
    if let Some(Command::DumpOpenapi) = config.command {
        print!("{}", metal_api::openapi::generate());
        return std::process::ExitCode::SUCCESS;
    }
    init_logging(&config);
    if let Err(e) = config.validate() {
        eprintln!("error: {e}");
        return std::process::ExitCode::from(2);
    }
    match metal_api::run(config).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
