//! The hammer's run against metal-api (metal-stack's `Run()`): events, BMC user, LLDP,
//! register, wipe, wait for the allocation, install, report, kexec; the reinstall path with
//! AbortReinstall. The BMC's users are set up by [`crate::bmc`], the jump into the installed
//! kernel is [`crate::kexec`]; the command line around the run is in [`crate::cli`].

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use anyhow::Context;
use metal_client::{Client, HmacAuthType};
use metal_domain::machine::MachineResponse;
use metal_proto::api::v1 as pb;
use metal_proto::api::v1::boot_service_client::BootServiceClient;
use metal_proto::api::v1::event_service_client::EventServiceClient;
use metal_proto::metal_config::MetalConfig;
use rand::Rng;
use tonic::transport::{Channel, Endpoint};
use tonic::Code;

use crate::bmc;
use crate::cmdline::Cmdline;
use crate::discover::Discovery;
use crate::lldp;

pub use crate::VERSION;
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

    /// Configures the BMC superuser (with metal-api's password) and the `metal` user when the
    /// machine has a BMC, and returns the BMC's data for the registration (None without a BMC:
    /// nothing is invented).
    async fn bmc(&mut self) -> Option<pb::MachineIpmi> {
        if !self.opts.discovery.has_bmc() {
            tracing::info!("no local BMC interface, registering without BMC data");
            return None;
        }
        let superuser = match call(
            "SuperUserPassword",
            self.boot
                .super_user_password(pb::BootServiceSuperUserPasswordRequest {}),
        )
        .await
        {
            Ok(r) if !r.feature_disabled && !r.super_user_password.is_empty() => {
                Some(r.super_user_password)
            }
            Ok(_) => None,
            Err(e) => {
                tracing::warn!(error = %e, "no BMC superuser password");
                None
            }
        };
        bmc::configure(superuser.as_deref(), password(10, 3)).await
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
        crate::kexec::kexec(info).await
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
    fn wait_errors() {
        assert!(fatal_wait_status(&tonic::Status::unimplemented("x")).is_err());
        assert!(fatal_wait_status(&tonic::Status::unavailable("connection refused")).is_ok());
        assert!(
            fatal_wait_status(&tonic::Status::unknown("tls: failed to verify certificate"))
                .is_err()
        );
    }
}
