//! The `metal-hammer` command line: the subcommands, their arguments, how each one runs, and
//! the one table of exit codes they share ([`Exit`]).
//!
//! - `run` (and PID 1 without arguments): the agent ([`crate::agent`]);
//! - `install`: partition, format, install an image and run its installer ([`crate::install`]);
//! - `plan`: print the command plan of a filesystem layout ([`crate::layout`]);
//! - `wipe`: wipe disks ([`crate::wipe`]).
//!
//! `run` and `install` report on stdout, one line each, for the console and for tests that
//! read it: `METAL_HAMMER_INSTALLED ...`, `METAL_HAMMER_BOOT_INFO <json>` or
//! `METAL_HAMMER_FAILED <message>`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use metal_domain::fsl::FilesystemLayout;

use crate::agent::{Agent, Options, Outcome};
use crate::cmdline::Cmdline;
use crate::discover::Discovery;
use crate::install::{install, InstallRequest};
use crate::layout::{plan, special_mounts, PlanOptions};
use crate::wipe::{wipe_all_blocking, wipe_devices, WipeOptions, WipeReport};
use crate::VERSION;

/// The exit codes of every subcommand. A command line that does not parse exits with 2
/// (clap's usage error) before any subcommand runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Exit {
    /// Done: the plan printed, the image installed, every disk wiped, or the agent stopped
    /// after its report (`--no-kexec`).
    Success = 0,
    /// Failed, and the output says why: `METAL_HAMMER_FAILED <message>` on stdout (`run`,
    /// `install`), the error on stderr (`plan`), a line per disk that was not wiped (`wipe`).
    /// The agent as PID 1 does not exit on failure: it reboots.
    Failure = 1,
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> Self {
        ExitCode::from(e as u8)
    }
}

/// Without a subcommand (PID 1 of the ramdisk): `run` with its defaults.
#[derive(Debug, Parser)]
#[command(name = "metal-hammer", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Cmd>,
}

#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// The agent: configuration, register, wait, install, report, kexec (what PID 1 runs).
    Run(RunArgs),
    /// Partition, format, install an image and run its installer; prints the boot info.
    Install(InstallArgs),
    /// Print the command plan for a filesystem layout.
    Plan(PlanArgs),
    /// Wipe disks.
    Wipe(WipeArgs),
}

/// Runs `command` (`None`: `run` with its defaults) on `rt`.
pub fn dispatch(command: Option<Cmd>, rt: &tokio::runtime::Runtime) -> ExitCode {
    match command {
        None => rt.block_on(run_agent(RunArgs::default())),
        Some(Cmd::Run(args)) => rt.block_on(run_agent(args)),
        Some(Cmd::Install(args)) => rt.block_on(run_install(args)),
        Some(Cmd::Plan(args)) => run_plan(args),
        Some(Cmd::Wipe(args)) => run_wipe(args),
    }
}

/// `metal-hammer run` (and PID 1 without arguments): the whole agent.
#[derive(Debug, Clone, clap::Args)]
pub struct RunArgs {
    /// the kernel command line to read
    #[arg(long, default_value = "/proc/cmdline")]
    pub cmdline: String,
    /// the chroot prefix the OS is installed into
    #[arg(long, default_value = "/rootfs")]
    pub target: PathBuf,
    /// where kernel and initrd are kept for kexec
    #[arg(long, default_value = "/tmp")]
    pub workdir: PathBuf,
    /// stop after the report instead of kexecing into the installed OS
    #[arg(long)]
    pub no_kexec: bool,
    /// the root /sys, /proc and /dev are read below
    #[arg(long, default_value = "/")]
    pub system_root: PathBuf,
}

impl Default for RunArgs {
    fn default() -> Self {
        Self {
            cmdline: "/proc/cmdline".into(),
            target: "/rootfs".into(),
            workdir: "/tmp".into(),
            no_kexec: false,
            system_root: "/".into(),
        }
    }
}

/// Runs the agent; on failure sends `Crashed` with the error and reboots (PID 1) or exits 1.
/// Returns only when the run ended without kexec (`--no-kexec`).
pub async fn run_agent(args: RunArgs) -> ExitCode {
    println!("metal-hammer {VERSION}");
    if crate::init::is_pid1() {
        if let Err(e) = crate::init::prepare() {
            println!("METAL_HAMMER_FAILED preparing the ramdisk: {e:#}");
            crate::init::reboot_after(Duration::from_secs(5));
        }
    }
    let setup = async {
        let cmdline = Cmdline::read(&args.cmdline)?;
        let cfg = crate::config::fetch(cmdline.pixie_api_url()?, 10).await?;
        tracing::info!(config = ?cfg, "configuration");
        Agent::new(
            cfg,
            cmdline,
            Options {
                target: args.target.clone(),
                workdir: args.workdir.clone(),
                kexec: !args.no_kexec,
                discovery: Discovery::new(&args.system_root),
            },
        )
    };
    let mut agent = match setup.await {
        Ok(a) => a,
        Err(e) => {
            // no connection to metal-api: nobody to tell but the console
            println!("METAL_HAMMER_FAILED {e:#}");
            crate::init::reboot_after(Duration::from_secs(5));
        }
    };
    let result = match agent.run().await {
        Ok(Outcome::Installed(info)) if agent.opts.kexec => agent.kexec(&info).await,
        Ok(Outcome::Installed(info)) => {
            println!("METAL_HAMMER_INSTALLED kernel={}", info.kernel.display());
            return Exit::Success.into();
        }
        Err(e) => Err(e),
    };
    let e = result
        .err()
        .unwrap_or_else(|| anyhow::anyhow!("kexec returned"));
    let msg = format!("{e:#}");
    println!("METAL_HAMMER_FAILED {msg}");
    agent.events.send("Crashed", msg).await;
    crate::init::reboot_after(Duration::from_secs(5))
}

/// `metal-hammer install`: the install as a command for tests and VMs.
#[derive(Debug, clap::Args)]
pub struct InstallArgs {
    /// The filesystem layout (JSON of `v1.FilesystemLayoutResponse`).
    #[arg(long)]
    pub layout: PathBuf,
    /// The image (`.../img.tar.lz4`, `http://` or `file://`).
    #[arg(long)]
    pub image_url: String,
    /// JSON with the other fields of the install request (hostname, networks, ...).
    #[arg(long)]
    pub request: Option<PathBuf>,
    #[arg(long)]
    pub target: Option<PathBuf>,
    #[arg(long)]
    pub workdir: Option<PathBuf>,
}

/// Runs `metal-hammer install`: prints `METAL_HAMMER_BOOT_INFO <json>` on success, or
/// `METAL_HAMMER_FAILED <message>` and returns exit code 1.
pub async fn run_install(args: InstallArgs) -> ExitCode {
    match cli_request(&args) {
        Ok(req) => match install(&req).await {
            Ok(boot) => {
                println!(
                    "METAL_HAMMER_BOOT_INFO {}",
                    serde_json::to_string(&boot).unwrap_or_default()
                );
                Exit::Success.into()
            }
            Err(e) => fail(&e),
        },
        Err(e) => fail(e.as_ref()),
    }
}

fn fail(e: &dyn std::error::Error) -> ExitCode {
    println!("METAL_HAMMER_FAILED {}", error_chain(e));
    Exit::Failure.into()
}

/// An error and its sources on one line, joined by `: `.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        out.push_str(": ");
        out.push_str(&s.to_string());
        cur = s.source();
    }
    out.replace('\n', " ")
}

fn cli_request(args: &InstallArgs) -> Result<InstallRequest, Box<dyn std::error::Error>> {
    let mut req: InstallRequest = match &args.request {
        Some(p) => serde_json::from_slice(
            &std::fs::read(p).map_err(|e| format!("reading {}: {e}", p.display()))?,
        )
        .map_err(|e| format!("parsing {}: {e}", p.display()))?,
        None => InstallRequest::default(),
    };
    req.layout = serde_json::from_slice(
        &std::fs::read(&args.layout)
            .map_err(|e| format!("reading {}: {e}", args.layout.display()))?,
    )
    .map_err(|e| format!("parsing {}: {e}", args.layout.display()))?;
    req.image_url = args.image_url.clone();
    if let Some(t) = &args.target {
        req.target = t.clone();
    }
    if let Some(w) = &args.workdir {
        req.workdir = w.clone();
    }
    Ok(req)
}

/// `metal-hammer plan`: prints the steps for a layout without running them.
#[derive(Debug, clap::Args)]
pub struct PlanArgs {
    /// The filesystem layout (JSON of `v1.FilesystemLayoutResponse`).
    #[arg(long)]
    pub layout: PathBuf,
    #[arg(long, default_value = "/rootfs")]
    pub target: PathBuf,
    /// Plan a reinstall (`--zap-all` on disks with `wipeonreinstall`).
    #[arg(long)]
    pub reinstall: bool,
}

/// Runs `metal-hammer plan`: one step per line, then the special mounts.
pub fn run_plan(args: PlanArgs) -> ExitCode {
    let layout: FilesystemLayout = match std::fs::read(&args.layout)
        .map_err(|e| e.to_string())
        .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()))
    {
        Ok(l) => l,
        Err(e) => {
            eprintln!("reading {}: {e}", args.layout.display());
            return Exit::Failure.into();
        }
    };
    let opts = PlanOptions {
        target: args.target,
        reinstall: args.reinstall,
    };
    match plan(&layout, &opts) {
        Ok(steps) => {
            let efivars = Path::new("/sys/firmware/efi/efivars").exists();
            for s in steps.iter().chain(&special_mounts(&opts.target, efivars)) {
                println!("{s}");
            }
            Exit::Success.into()
        }
        Err(e) => {
            eprintln!("{e}");
            Exit::Failure.into()
        }
    }
}

/// `metal-hammer wipe`.
#[derive(Debug, clap::Args)]
pub struct WipeArgs {
    /// Devices to wipe.
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    pub devices: Vec<String>,
    /// Wipe every disk found in sysfs (except ram, loop, zram).
    #[arg(long)]
    pub all: bool,
    /// sysfs root for `--all`.
    #[arg(long, default_value = "/sys")]
    pub sysfs: PathBuf,
}

/// Runs `metal-hammer wipe`: one line per disk; exit code 1 if any disk was not wiped.
pub fn run_wipe(args: WipeArgs) -> ExitCode {
    let opts = WipeOptions {
        sysfs: args.sysfs,
        ..WipeOptions::default()
    };
    let report = if args.all {
        wipe_all_blocking(&opts)
    } else {
        WipeReport {
            outcomes: wipe_devices(&args.devices, &opts),
            error: None,
        }
    };
    for line in report.summary() {
        println!("{line}");
    }
    if report.all_wiped() {
        Exit::Success.into()
    } else {
        Exit::Failure.into()
    }
}
