//! The hammer's run against metal-api (metal-stack's `Run()`): events, BMC user, LLDP,
//! register, wipe, wait for the allocation, install, report, kexec; the reinstall path with
//! AbortReinstall.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use anyhow::Context;
use metal_client::{Client, HmacAuthType};
use metal_domain::machine::MachineResponse;
use metal_proto::api::v1 as pb;
use metal_proto::api::v1::boot_service_client::BootServiceClient;
use metal_proto::api::v1::event_service_client::EventServiceClient;
use rand::Rng;
use tonic::transport::{Channel, Endpoint};
use tonic::Code;

use crate::cmdline::Cmdline;
use crate::discover::{self, Discovery};
use crate::lldp;
use metal_proto::metal_config::MetalConfig;

pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// Timeout of every unary call (metal-stack: 10 s).
const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// Pause before reopening a failed Wait stream.
const WAIT_RETRY: Duration = Duration::from_secs(3);
/// How often `Alive` is sent while the hammer runs.
const ALIVE_INTERVAL: Duration = Duration::from_secs(60);

/// The tools the hammer calls; all must be present before anything is touched.
pub const REQUIRED_TOOLS: &[&str] = &[
    "blkid",
    "chroot",
    "ip",
    "kexec",
    "lvm",
    "mdadm",
    "mkfs.ext3",
    "mkfs.ext4",
    "mkfs.vfat",
    "mkswap",
    "mount",
    "sgdisk",
    "udhcpc",
    "umount",
    "wipefs",
];

/// Where and how the run installs; defaults are the ramdisk's.
#[derive(Debug, Clone)]
pub struct Options {
    /// the chroot prefix the OS is installed into
    pub target: PathBuf,
    /// where kernel and initrd are kept for kexec
    pub workdir: PathBuf,
    /// kexec into the installed OS at the end (off: stop after the report)
    pub kexec: bool,
    /// the root that /sys, /proc and /dev are read below
    pub discovery: Discovery,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            target: PathBuf::from("/rootfs"),
            workdir: PathBuf::from("/tmp"),
            kexec: true,
            discovery: Discovery::default(),
        }
    }
}

/// What a finished run leads to.
#[derive(Debug)]
pub enum Outcome {
    /// installed and reported; kexec into this (or, without kexec, stop)
    Installed(crate::install::BootInfo),
}

fn which(tool: &str) -> bool {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
        .unwrap_or(false)
}

/// The tools of [`REQUIRED_TOOLS`] not found on PATH.
pub fn missing_tools() -> Vec<&'static str> {
    REQUIRED_TOOLS
        .iter()
        .copied()
        .filter(|t| !which(t))
        .collect()
}

/// A random password of `len` letters and digits with at least `digits` digits.
pub fn password(len: usize, digits: usize) -> String {
    const LETTERS: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ";
    let mut rng = rand::thread_rng();
    let mut chars: Vec<char> = (0..len)
        .map(|i| {
            if i < digits {
                char::from(b'0' + rng.gen_range(0..10u8))
            } else {
                char::from(LETTERS[rng.gen_range(0..LETTERS.len())])
            }
        })
        .collect();
    for i in (1..chars.len()).rev() {
        chars.swap(i, rng.gen_range(0..=i));
    }
    chars.into_iter().collect()
}

fn now() -> metal_proto::prost_types::Timestamp {
    let d = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    metal_proto::prost_types::Timestamp {
        seconds: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        nanos: i32::try_from(d.subsec_nanos()).unwrap_or(0),
    }
}

/// Sends provisioning events for one machine; failures are only logged (metal-hammer).
#[derive(Clone)]
pub struct Events {
    client: EventServiceClient<Channel>,
    machine: String,
}

impl Events {
    pub fn new(channel: Channel, machine: &str) -> Self {
        Self {
            client: EventServiceClient::new(channel),
            machine: machine.to_string(),
        }
    }

    pub async fn send(&self, event: &str, message: impl Into<String>) {
        let message = message.into();
        tracing::info!(event, message, "event");
        let req = pb::EventServiceSendRequest {
            events: [(
                self.machine.clone(),
                pb::MachineProvisioningEvent {
                    time: Some(now()),
                    event: event.to_string(),
                    message,
                },
            )]
            .into(),
        };
        let mut c = self.client.clone();
        match tokio::time::timeout(CALL_TIMEOUT, c.send(req)).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!(event, error = %e, "event not stored"),
            Err(_) => tracing::warn!(event, "event not stored: timeout"),
        }
    }
}

/// The gRPC channel to metal-api, mutual TLS when the configuration carries certificates.
pub fn channel(cfg: &MetalConfig) -> anyhow::Result<Channel> {
    let uri = cfg.grpc_uri();
    let mut e = Endpoint::from_shared(uri.clone())
        .with_context(|| format!("invalid gRPC address {uri:?}"))?
        .connect_timeout(Duration::from_secs(5));
    e = metal_proto::keepalive::endpoint(e);
    if cfg.tls() {
        metal_proto::tls::install_crypto_provider();
        let tls = metal_proto::tls::client_tls_config_from_pem(
            cfg.ca_cert.as_bytes(),
            cfg.cert.as_bytes(),
            cfg.key.as_bytes(),
            cfg.grpc_host(),
        )?;
        e = e.tls_config(tls)?;
    }
    Ok(e.connect_lazy())
}

async fn call<T>(
    what: &str,
    f: impl std::future::Future<Output = Result<tonic::Response<T>, tonic::Status>>,
) -> anyhow::Result<T> {
    match tokio::time::timeout(CALL_TIMEOUT, f).await {
        Ok(Ok(r)) => Ok(r.into_inner()),
        Ok(Err(s)) => Err(anyhow::anyhow!("{what}: {}: {}", s.code(), s.message())),
        Err(_) => Err(anyhow::anyhow!("{what}: no answer within {CALL_TIMEOUT:?}")),
    }
}

/// One run of the agent for one machine.
pub struct Agent {
    pub cfg: MetalConfig,
    pub cmdline: Cmdline,
    pub uuid: String,
    pub opts: Options,
    pub boot: BootServiceClient<Channel>,
    pub events: Events,
    pub rest: Client,
}

impl Agent {
    pub fn new(cfg: MetalConfig, cmdline: Cmdline, opts: Options) -> anyhow::Result<Self> {
        let uuid = opts.discovery.machine_uuid()?;
        let ch = channel(&cfg)?;
        let rest = Client::builder(&cfg.metal_api_url)
            .hmac(cfg.hmac.clone(), HmacAuthType::View)
            .timeout(CALL_TIMEOUT)
            .user_agent(format!("metal-hammer/{VERSION}"))
            .build()
            .context("REST client for metal-api")?;
        Ok(Self {
            events: Events::new(ch.clone(), &uuid),
            boot: BootServiceClient::new(ch),
            cfg,
            cmdline,
            uuid,
            opts,
            rest,
        })
    }

    /// Sends `Alive` every minute for as long as the process lives.
    pub fn start_alive(&self) {
        let events = self.events.clone();
        tokio::spawn(async move {
            let mut t = tokio::time::interval(ALIVE_INTERVAL);
            t.tick().await;
            loop {
                t.tick().await;
                events
                    .send(
                        "Alive",
                        format!("still alive at: {}", chrono::Utc::now().to_rfc3339()),
                    )
                    .await;
            }
        });
    }

    /// Configures the BMC superuser and the `metal` user when the machine has a BMC, and
    /// returns the BMC's data for the registration (None without a BMC: nothing is invented).
    async fn bmc(&mut self) -> Option<pb::MachineIpmi> {
        if !self.opts.discovery.has_bmc() {
            tracing::info!("no local BMC interface, registering without BMC data");
            return None;
        }
        match call(
            "SuperUserPassword",
            self.boot
                .super_user_password(pb::BootServiceSuperUserPasswordRequest {}),
        )
        .await
        {
            Ok(r) if !r.feature_disabled && !r.super_user_password.is_empty() => {
                if let Err(e) =
                    ipmitool(&["user", "set", "password", "2", &r.super_user_password]).await
                {
                    tracing::warn!(error = %e, "BMC superuser password not set");
                }
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "no BMC superuser password"),
        }
        let read = async {
            let lan = ipmitool(&["lan", "print", "1"]).await?;
            let info = ipmitool(&["bmc", "info"]).await?;
            let fru = ipmitool(&["fru"]).await.unwrap_or_default();
            discover::ipmi_from_ipmitool(&lan, &info, &fru)
        };
        let mut ipmi = match read.await {
            Ok(i) => i,
            Err(e) => {
                tracing::warn!(error = %e, "BMC not readable");
                return None;
            }
        };
        let pw = password(10, 3);
        match metal_user(&pw).await {
            Ok(()) => {
                ipmi.user = "metal".into();
                ipmi.password = pw;
            }
            Err(e) => tracing::warn!(error = %e, "BMC user metal not configured"),
        }
        Some(ipmi)
    }

    /// Discovers the hardware, waits for LLDP neighbours and registers.
    pub async fn register(&mut self) -> anyhow::Result<pb::BootServiceRegisterResponse> {
        let d = self.opts.discovery.clone();
        let mut hardware = d.hardware()?;
        let bios = d.bios()?;
        let ipmi = self.bmc().await;

        let want = self.cmdline.lldp_neighbors();
        let ifaces = crate::init::ethernet_interfaces();
        if want > 0 {
            let neighbors = lldp::Neighbors::default();
            let ip = crate::init::first_ipv4().unwrap_or_default();
            let desc = format!(
                "metal-hammer IP:{ip} version:{VERSION} waiting since {} for installation",
                chrono::Utc::now().to_rfc3339()
            );
            lldp::start(
                &ifaces,
                &self.uuid,
                &desc,
                Duration::from_secs(5),
                &neighbors,
            )?;
            let timeout = self.cmdline.lldp_timeout();
            anyhow::ensure!(
                neighbors.wait(want, timeout).await,
                "LLDP: switches not seen on {want} interfaces within {timeout:?} (seen: {:?})",
                neighbors
                    .snapshot()
                    .iter()
                    .map(|(i, l)| (i.clone(), l.len()))
                    .collect::<Vec<_>>()
            );
            let seen = neighbors.snapshot();
            for nic in &mut hardware.nics {
                if let Some(list) = seen.get(&nic.name) {
                    nic.neighbors = list.iter().map(lldp::neighbor_nic).collect();
                }
            }
        }
        self.events.send("Registering", "start registering").await;
        call(
            "Register",
            self.boot.register(pb::BootServiceRegisterRequest {
                uuid: self.uuid.clone(),
                hardware: Some(hardware),
                bios: Some(bios),
                ipmi,
                tags: Vec::new(),
                metal_hammer_version: VERSION.to_string(),
                partition_id: self.cfg.partition.clone(),
            }),
        )
        .await
    }

    pub async fn machine(&self) -> anyhow::Result<MachineResponse> {
        self.rest
            .get_machine(&self.uuid)
            .await
            .with_context(|| format!("GET /v1/machine/{}", self.uuid))
    }

    /// Blocks until metal-api ends the Wait stream (= allocated).
    pub async fn wait(&mut self) -> anyhow::Result<()> {
        loop {
            let req = pb::BootServiceWaitRequest {
                machine_id: self.uuid.clone(),
            };
            let mut stream = match self.boot.wait(req).await {
                Ok(s) => s.into_inner(),
                Err(s) => {
                    fatal_wait_status(&s)?;
                    tracing::warn!(error = %s, "wait failed, retrying");
                    tokio::time::sleep(WAIT_RETRY).await;
                    continue;
                }
            };
            loop {
                match stream.message().await {
                    Ok(Some(_)) => tracing::debug!("wait: keep-alive"),
                    Ok(None) => return Ok(()),
                    Err(s) => {
                        fatal_wait_status(&s)?;
                        tracing::warn!(error = %s, "wait stream broke, reopening");
                        tokio::time::sleep(WAIT_RETRY).await;
                        break;
                    }
                }
            }
        }
    }

    /// The whole run: from Preparing to an installed, reported machine.
    pub async fn run(&mut self) -> anyhow::Result<Outcome> {
        self.events
            .send(
                "Preparing",
                format!("starting metal-hammer version:{VERSION}"),
            )
            .await;
        self.start_alive();
        let missing = missing_tools();
        anyhow::ensure!(
            missing.is_empty(),
            "tools missing from the ramdisk: {}",
            missing.join(", ")
        );
        let console_password = password(16, 0);

        let reg = self.register().await?;
        tracing::info!(size = reg.size, partition = reg.partition_id, "registered");

        let m = self.machine().await?;
        let reinstall = m.allocation.as_ref().is_some_and(|a| a.reinstall);
        if reinstall {
            return self.reinstall(m, &console_password).await;
        }
        if m.allocation.is_none() {
            self.wipe_all().await;
            self.events.send("Waiting", "waiting for allocation").await;
            self.wait().await?;
        }
        let m = self.machine().await?;
        self.install_and_report(m, &console_password).await
    }

    async fn wipe_all(&self) {
        let report = crate::wipe::wipe_all(&crate::wipe::WipeOptions::default()).await;
        for line in report.summary() {
            tracing::info!("{line}");
        }
    }

    async fn install_and_report(
        &mut self,
        m: MachineResponse,
        console_password: &str,
    ) -> anyhow::Result<Outcome> {
        let req = crate::install::InstallRequest::from_machine(
            &m,
            console_password,
            &self.cmdline.console(),
            &self.opts.target,
            &self.opts.workdir,
        )?;
        self.events.send("Installing", "start installation").await;
        let info = crate::install::install(&req).await?;
        let image_id = m
            .allocation
            .as_ref()
            .and_then(|a| a.image.as_ref())
            .map(|i| i.id.clone())
            .unwrap_or_default();
        call(
            "Report",
            self.boot.report(pb::BootServiceReportRequest {
                uuid: self.uuid.clone(),
                console_password: console_password.to_string(),
                boot_info: Some(pb::BootInfo {
                    image_id,
                    primary_disk: info.primary_disk.clone(),
                    os_partition: info.os_partition.clone(),
                    initrd: info.initrd_in_image.clone(),
                    cmdline: info.cmdline.clone(),
                    kernel: info.kernel_in_image.clone(),
                    bootloader_id: info.bootloader_id.clone(),
                }),
                success: true,
                message: "installation succeeded".into(),
            }),
        )
        .await?;
        Ok(Outcome::Installed(info))
    }

    async fn reinstall(
        &mut self,
        m: MachineResponse,
        console_password: &str,
    ) -> anyhow::Result<Outcome> {
        let r = self.install_and_report(m, console_password).await;
        let Err(e) = r else { return r };
        tracing::error!(error = %e, "reinstallation failed, aborting it");
        let wiped = crate::install::primary_disk_touched(&e);
        match call(
            "AbortReinstall",
            self.boot
                .abort_reinstall(pb::BootServiceAbortReinstallRequest {
                    uuid: self.uuid.clone(),
                    primary_disk_wiped: wiped,
                }),
        )
        .await
        {
            Ok(resp) => {
                if let Some(b) = resp.boot_info {
                    tracing::info!(
                        kernel = b.kernel,
                        "metal-api kept the previous installation"
                    );
                }
            }
            Err(e2) => tracing::warn!(error = %e2, "AbortReinstall failed"),
        }
        Err(e)
    }

    /// kexec into the installed kernel.
    pub async fn kexec(&self, info: &crate::install::BootInfo) -> anyhow::Result<()> {
        self.events
            .send("Booting New Kernel", "booting into distro kernel")
            .await;
        kexec(info).await
    }
}

fn fatal_wait_status(s: &tonic::Status) -> anyhow::Result<()> {
    if s.code() == Code::Unimplemented {
        anyhow::bail!("metal-api does not implement Wait: incompatible (breaking change)");
    }
    let m = s.message();
    if m.contains("failed to verify certificate") || m.contains("invalid peer certificate") {
        anyhow::bail!("metal-api's certificate is not trusted: {}", s.message());
    }
    Ok(())
}

/// Loads the installed kernel and jumps into it.
pub async fn kexec(info: &crate::install::BootInfo) -> anyhow::Result<()> {
    let mut load = tokio::process::Command::new("kexec");
    load.arg("-l").arg(&info.kernel);
    if let Some(initrd) = info.initrd.as_ref() {
        load.arg(format!("--initrd={}", initrd.display()));
    }
    load.arg(format!("--command-line={}", info.cmdline));
    let out = load.output().await.context("running kexec -l")?;
    anyhow::ensure!(
        out.status.success(),
        "kexec -l {}: {}",
        info.kernel.display(),
        String::from_utf8_lossy(&out.stderr).trim()
    );
    nix::unistd::sync();
    let out = tokio::process::Command::new("kexec")
        .arg("-e")
        .output()
        .await
        .context("running kexec -e")?;
    anyhow::bail!(
        "kexec -e returned: {}",
        String::from_utf8_lossy(&out.stderr).trim()
    )
}

async fn ipmitool(args: &[&str]) -> anyhow::Result<String> {
    let out = tokio::time::timeout(
        Duration::from_secs(30),
        tokio::process::Command::new("ipmitool").args(args).output(),
    )
    .await
    .context("ipmitool timed out")?
    .context("running ipmitool")?;
    // arguments may hold a password: name only the subcommand
    anyhow::ensure!(
        out.status.success(),
        "ipmitool {} {}: {}",
        args.first().unwrap_or(&""),
        args.get(1).unwrap_or(&""),
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The user slot of `metal` in `ipmitool user list 1`, or the first free slot from 3 on.
pub fn metal_user_slot(user_list: &str) -> Option<u32> {
    let mut free = None;
    for l in user_list.lines().skip(1) {
        let mut w = l.split_whitespace();
        let Some(id) = w.next().and_then(|i| i.parse::<u32>().ok()) else {
            continue;
        };
        let name = w.next().unwrap_or("");
        if name == "metal" {
            return Some(id);
        }
        // a free slot has no name: the next column is already "true"/"false"
        if free.is_none() && id >= 3 && (name == "true" || name == "false") {
            free = Some(id);
        }
    }
    free
}

async fn metal_user(password: &str) -> anyhow::Result<()> {
    let list = ipmitool(&["user", "list", "1"]).await?;
    let id = metal_user_slot(&list).context("no free BMC user slot for metal")?;
    let id = id.to_string();
    ipmitool(&["user", "set", "name", &id, "metal"]).await?;
    ipmitool(&["user", "set", "password", &id, password]).await?;
    ipmitool(&[
        "channel",
        "setaccess",
        "1",
        &id,
        "link=on",
        "ipmi=on",
        "callin=on",
        "privilege=4",
    ])
    .await?;
    ipmitool(&["user", "enable", &id]).await?;
    if let Err(e) = ipmitool(&["sol", "payload", "enable", "1", &id]).await {
        tracing::warn!(error = %e, "SOL payload not enabled for metal");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords() {
        let p = password(10, 3);
        assert_eq!(p.len(), 10);
        assert_eq!(p.chars().filter(char::is_ascii_digit).count(), 3);
        assert!(p.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(password(16, 0), password(16, 0));
    }

    #[test]
    fn user_slots() {
        let list = "ID  Name\t     Callin  Link Auth\tIPMI Msg   Channel Priv Limit\n\
                    1                    true    false      false      NO ACCESS\n\
                    2   ADMIN            true    false      false      ADMINISTRATOR\n\
                    3                    true    false      false      NO ACCESS\n\
                    4   metal            true    true       true       ADMINISTRATOR\n";
        assert_eq!(metal_user_slot(list), Some(4));
        let list = list.replace("metal", "other");
        assert_eq!(metal_user_slot(&list), Some(3));
    }

    #[test]
    fn wait_errors() {
        assert!(fatal_wait_status(&tonic::Status::unimplemented("x")).is_err());
        assert!(fatal_wait_status(&tonic::Status::unavailable("connection refused")).is_ok());
        assert!(
            fatal_wait_status(&tonic::Status::unknown("tls: failed to verify certificate"))
                .is_err()
        );
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
pub async fn run_cli(args: RunArgs) -> std::process::ExitCode {
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
            return std::process::ExitCode::SUCCESS;
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
