//! `metal-lab`: `up`, `status`, `env` and `down` of the qemu lab; `sim` for simulated machines.
//!
//! Every flag can also be given as environment variable `METAL_LAB_<FLAG>`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use metal_lab::{forward, lab, sim};

#[derive(Debug, Parser)]
#[command(
    name = "metal-lab",
    version,
    about = "A virtual data centre of qemu machines provisioned by metal-api, pixie, metal-bmc, metal-core and metal-hammer; and a simulator of machines"
)]
struct Cli {
    /// the lab's name: its network namespaces are <name>-mgmt, -hosts, -leaf01, -leaf02
    #[arg(long, global = true, env = "METAL_LAB_NAME", default_value = "mlab")]
    name: String,
    /// the lab's directory (state, disks, logs); removed by `down`
    #[arg(
        long,
        global = true,
        env = "METAL_LAB_DIR",
        default_value = "/var/tmp/metal-lab"
    )]
    dir: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Build the lab and start it: network, metal-api, pixie, metal-bmc, metal-core, the BMCs;
    /// then power the machines on through metal-bmc.
    Up {
        /// number of machines
        #[arg(long, env = "METAL_LAB_MACHINES", default_value_t = 2)]
        machines: usize,
        /// metal-api's REST port on the host's loopback (0: any free port)
        #[arg(long, env = "METAL_LAB_API_PORT", default_value_t = 8480)]
        api_port: u16,
        /// where the binaries metal-api, pixie, metal-bmc, metal-core, metal-hammer and
        /// metal-lldpd are (default: beside metal-lab)
        #[arg(long, env = "METAL_LAB_BIN_DIR")]
        bin_dir: Option<PathBuf>,
        /// leave the machines powered off (power them on with metalctl machine power on)
        #[arg(long, env = "METAL_LAB_NO_POWER_ON")]
        no_power_on: bool,
        /// seconds between two phone-home batches of metal-core (metal-stack: 60)
        #[arg(long, env = "METAL_LAB_PHONE_HOME_INTERVAL", default_value_t = 10)]
        phone_home_interval: u64,
        /// the leaves as Cumulus-style switches (metal-core, FRR, DHCP relay) in a Debian guest
        /// with the exit router, machines PXE-booting through the leaves' relays (at most 8)
        #[arg(long, env = "METAL_LAB_ROUTED")]
        routed: bool,
        /// also build the Debian machine and firewall images (debootstrap the first time,
        /// then cached) and register them as debian-12.1 and firewall-debian-3.1
        #[arg(long, env = "METAL_LAB_DEBIAN_IMAGES")]
        debian_images: bool,
    },
    /// Run a command in a node of a routed lab's fabric (leaf01, leaf02, exit or external:
    /// metal-lab exec leaf01 -- vtysh -c 'show bgp summary'), or on a machine's installed OS
    /// (its lab name, UUID or hostname: through `metal-lab ssh`).
    Exec {
        node: String,
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
        command: Vec<String>,
    },
    /// Log in to a machine's installed OS (its lab name machine-N, UUID or allocation
    /// hostname) as user metal with the lab's key: allocate it with
    /// `-p @<lab dir>/ssh/id_ed25519.pub`. With a COMMAND, run it there (stdin is forwarded).
    Ssh {
        machine: String,
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        command: Vec<String>,
    },
    /// Show the lab's daemons and machines.
    Status,
    /// Print the shell exports for metalctl (eval "$(metal-lab env)").
    Env,
    /// Stop and remove everything the lab made (also after a crash).
    Down,
    /// Simulate machines (metal-hammer) and their leaf switches (metal-core) against a metal-api.
    Sim(Box<sim::SimArgs>),
    /// (internal) relay a loopback port into a lab namespace
    #[command(hide = true)]
    Forward {
        #[arg(long)]
        netns: String,
        #[arg(long)]
        listen: SocketAddr,
        #[arg(long)]
        to: SocketAddr,
    },
    /// (internal) serve a directory over HTTP
    #[command(hide = true)]
    Serve {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long)]
        listen: SocketAddr,
    },
}

fn init_logging(level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(level))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .init();
}

/// `metal-lab ssh` (and `exec` of a machine): replaces this process with `ssh`.
fn ssh(dir: &std::path::Path, machine: &str, command: &[String]) -> anyhow::Error {
    use std::os::unix::process::CommandExt;
    let run = || -> anyhow::Result<std::process::Command> {
        let state = lab::State::load(dir)?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let m = rt.block_on(metal_lab::ssh::resolve(&state, machine))?;
        metal_lab::ssh::command(&state, &m, command)
    };
    match run() {
        Ok(mut c) => anyhow::Error::from(c.exec()).context("running ssh"),
        Err(e) => e,
    }
}

/// `metal-lab exec`: the command's output as it comes, its exit code as ours.
fn exec(dir: &std::path::Path, node: &str, command: &[String]) -> anyhow::Result<i32> {
    use std::io::Write;
    let state = lab::State::load(dir)?;
    let (mut out, mut err) = (std::io::stdout(), std::io::stderr());
    metal_lab::exec::run(&state, node, command, &mut |s, d| {
        let _ = match s {
            metal_lab::exec::Stream::Stdout => out.write_all(d).and_then(|_| out.flush()),
            metal_lab::exec::Stream::Stderr => err.write_all(d),
        };
    })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        // setns before any runtime thread exists
        Command::Forward { netns, listen, to } => {
            init_logging("info");
            forward::run(&netns, listen, to)
        }
        Command::Down => lab::down(&cli.name, &cli.dir, false),
        Command::Ssh { machine, command } => {
            eprintln!("metal-lab: {:#}", ssh(&cli.dir, &machine, &command));
            return ExitCode::from(255);
        }
        Command::Exec { node, command } if !metal_lab::routed::NODES.contains(&node.as_str()) => {
            eprintln!("metal-lab: {:#}", ssh(&cli.dir, &node, &command));
            return ExitCode::from(255);
        }
        Command::Exec { node, command } => {
            return match exec(&cli.dir, &node, &command) {
                Ok(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
                Err(e) => {
                    eprintln!("metal-lab: {e:#}");
                    ExitCode::from(255)
                }
            };
        }
        Command::Env => lab::State::load(&cli.dir).map(|s| print!("{}", s.env())),
        command => {
            let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
            rt.block_on(async move {
                match command {
                    Command::Up {
                        machines,
                        api_port,
                        bin_dir,
                        no_power_on,
                        phone_home_interval,
                        routed,
                        debian_images,
                    } => {
                        init_logging("warn");
                        let state = lab::up(lab::UpOptions {
                            name: cli.name.clone(),
                            dir: cli.dir.clone(),
                            machines,
                            api_port,
                            bin_dir: bin_dir.unwrap_or_else(lab::default_bin_dir),
                            power_on: !no_power_on,
                            phone_home_interval: phone_home_interval.max(1),
                            routed,
                            debian_images,
                        })
                        .await?;
                        println!(
                            "lab {:?} is up with {} machines; metal-api at {}\n\n  eval \"$(metal-lab env)\" && metalctl machine ls\n",
                            state.name,
                            state.machines,
                            state.api_url()
                        );
                        Ok(())
                    }
                    Command::Status => {
                        print!("{}", lab::status(&cli.dir).await?);
                        Ok(())
                    }
                    Command::Sim(args) => {
                        init_logging(&args.log_level);
                        sim::run(*args).await
                    }
                    Command::Serve { dir, listen } => {
                        init_logging("info");
                        lab::serve(&dir, listen).await
                    }
                    Command::Forward { .. }
                    | Command::Down
                    | Command::Env
                    | Command::Ssh { .. }
                    | Command::Exec { .. } => unreachable!(),
                }
            })
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("metal-lab: {e:#}");
            ExitCode::FAILURE
        }
    }
}
