//! The installation of an allocation onto the disks (§2.12, §9.3): layout, image, the files
//! metal-hammer hands to the image's installer (`/etc/metal/install.yaml`, userdata,
//! `disk.json`, `lvmlocal.conf`), the installer in a chroot, `boot-info.yaml`, fstab and the
//! unmount.
//!
//! Order: the layout is planned before anything is touched (an unknown format fails before a
//! disk is wiped), then applied; the image is unpacked and verified; only then are the pseudo
//! filesystems (proc, sys, efivars, tmp, dev) mounted, so that no tar entry lands in the
//! ramdisk's `/dev` or on `/proc` (metal-stack mounts them before the image). Whatever happens,
//! everything mounted is unmounted in reverse before [`install`] returns.

use std::path::{Path, PathBuf};

use metal_domain::fsl::FilesystemLayout;
use metal_domain::partition::{DnsServer, NtpServer};
use metal_util::fs::write_private;
use serde::{Deserialize, Serialize};
use tracing::{debug, info, warn};

use crate::exec::{Command, ExecError};
use crate::image::{self, ImageError};
use crate::layout::{self, Applied, LayoutError, PlanOptions, UnmountError};

/// This metal-hammer's version, as written into fstab.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Where the ramdisk keeps its lvm configuration (copied into images that have `/etc/lvm`).
const RAMDISK_LVMLOCAL: &str = "/etc/lvm/lvmlocal.conf";

/// A network of the allocation as the installer reads it (`v1.MachineNetwork`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct InstallNetwork {
    pub asn: u64,
    pub destinationprefixes: Vec<String>,
    pub ips: Vec<String>,
    pub nat: bool,
    pub networkid: String,
    pub networktype: String,
    pub prefixes: Vec<String>,
    pub private: bool,
    pub underlay: bool,
    pub vrf: u64,
}

/// A NIC with its LLDP neighbours (`v1.MachineNic`).
pub type InstallNic = metal_domain::machine::MachineNic;

/// What to install. `console_password` and `user_data` are secrets: [`std::fmt::Debug`] omits
/// them and nothing logs them.
#[derive(Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct InstallRequest {
    pub layout: FilesystemLayout,
    pub image_url: String,
    pub machine_uuid: String,
    pub hostname: String,
    pub networks: Vec<InstallNetwork>,
    pub ssh_pub_keys: Vec<String>,
    /// As in the allocation: base64, or raw if it does not decode.
    pub user_data: String,
    /// `machine` or `firewall`.
    pub role: String,
    /// The kernel console, e.g. `ttyS0,115200n8`.
    pub console: String,
    pub console_password: String,
    pub nics: Vec<InstallNic>,
    pub dns_servers: Vec<DnsServer>,
    pub ntp_servers: Vec<NtpServer>,
    pub firewall_rules: Option<serde_json::Value>,
    pub vpn: Option<serde_json::Value>,
    pub reinstall: bool,
    /// Where the image root is mounted.
    pub target: PathBuf,
    /// Where kernel and initrd are copied before the target is unmounted.
    pub workdir: PathBuf,
}

impl Default for InstallRequest {
    fn default() -> Self {
        Self {
            layout: FilesystemLayout::default(),
            image_url: String::new(),
            machine_uuid: String::new(),
            hostname: String::new(),
            networks: Vec::new(),
            ssh_pub_keys: Vec::new(),
            user_data: String::new(),
            role: "machine".into(),
            console: "ttyS0".into(),
            console_password: String::new(),
            nics: Vec::new(),
            dns_servers: Vec::new(),
            ntp_servers: Vec::new(),
            firewall_rules: None,
            vpn: None,
            reinstall: false,
            target: PathBuf::from("/rootfs"),
            workdir: PathBuf::from("/tmp"),
        }
    }
}

impl std::fmt::Debug for InstallRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InstallRequest")
            .field("layout", &self.layout.id)
            .field("image_url", &self.image_url)
            .field("machine_uuid", &self.machine_uuid)
            .field("hostname", &self.hostname)
            .field("networks", &self.networks.len())
            .field("role", &self.role)
            .field("reinstall", &self.reinstall)
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}

/// `/etc/metal/install.yaml` (§2.12.3).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstallerConfig {
    pub hostname: String,
    pub networks: Vec<InstallNetwork>,
    pub machineuuid: String,
    pub sshpublickey: String,
    pub password: String,
    pub console: String,
    pub timestamp: String,
    pub nics: Vec<InstallNic>,
    pub vpn: Option<serde_json::Value>,
    pub role: String,
    pub raidenabled: bool,
    pub root_uuid: String,
    pub firewall_rules: Option<serde_json::Value>,
    pub dns_servers: Vec<DnsServer>,
    pub ntp_servers: Vec<NtpServer>,
}

impl InstallerConfig {
    /// The installer's view of `req`, with the root filesystem's UUID and a timestamp.
    pub fn new(
        req: &InstallRequest,
        root_uuid: &str,
        timestamp: chrono::DateTime<chrono::Utc>,
    ) -> Self {
        Self {
            hostname: req.hostname.clone(),
            networks: req.networks.clone(),
            machineuuid: req.machine_uuid.clone(),
            sshpublickey: req.ssh_pub_keys.join("\n"),
            password: req.console_password.clone(),
            console: req.console.clone(),
            timestamp: timestamp.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            // only NICs whose neighbours all have a MAC (§2.12.3)
            nics: req
                .nics
                .iter()
                .filter(|n| n.neighbors.iter().all(|nb| !nb.mac.is_empty()))
                .cloned()
                .collect(),
            vpn: req.vpn.clone(),
            role: req.role.clone(),
            raidenabled: !req.layout.raid.is_empty(),
            root_uuid: root_uuid.into(),
            firewall_rules: req.firewall_rules.clone(),
            dns_servers: req.dns_servers.clone(),
            ntp_servers: req.ntp_servers.clone(),
        }
    }
}

/// `/etc/metal/boot-info.yaml` as the installer writes it (paths inside the image).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct BootInfoFile {
    pub kernel: String,
    pub initrd: String,
    pub cmdline: String,
    pub bootloader_id: String,
}

/// What to kexec into and what to report: kernel and initrd copied out of the image into the
/// workdir, and their paths inside the image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BootInfo {
    /// The copy in the workdir (for kexec).
    pub kernel: PathBuf,
    /// The copy in the workdir; `None` when the image has no initrd.
    pub initrd: Option<PathBuf>,
    pub cmdline: String,
    pub bootloader_id: String,
    /// The kernel's path inside the image, as `boot-info.yaml` has it (for the report).
    pub kernel_in_image: String,
    /// The initrd's path inside the image, `""` without one.
    pub initrd_in_image: String,
    /// The layout's first disk.
    pub primary_disk: String,
    /// The device of the root filesystem.
    pub os_partition: String,
}

/// An installation that did not complete.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error("the layout mounts no filesystem at /")]
    NoRoot,
    #[error("planning the filesystem layout")]
    Plan(#[source] LayoutError),
    #[error("filesystem layout")]
    Layout(#[from] LayoutError),
    #[error("image")]
    Image(#[from] ImageError),
    #[error("writing {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the image has neither /install-go nor /install.sh")]
    NoInstaller,
    #[error("the image's installer failed")]
    Installer(#[source] ExecError),
    #[error("reading {path}")]
    BootInfo {
        path: PathBuf,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("unmounting the target")]
    Unmount(#[from] UnmountError),
    #[error("blocking task failed")]
    Join(#[from] tokio::task::JoinError),
}

fn write_err(path: &Path) -> impl FnOnce(std::io::Error) -> InstallError + '_ {
    move |source| InstallError::Write {
        path: path.into(),
        source,
    }
}

/// Installs `req` and returns what to boot. Everything mounted is unmounted again, also after
/// an error.
pub async fn install(req: &InstallRequest) -> Result<BootInfo, InstallError> {
    let opts = PlanOptions {
        target: req.target.clone(),
        reinstall: req.reinstall,
    };
    if root_device(&req.layout).is_none() {
        return Err(InstallError::NoRoot);
    }
    let steps = layout::plan(&req.layout, &opts).map_err(InstallError::Plan)?;
    let mut applied = Applied::default();
    let result = install_planned(req, steps, &mut applied).await;
    let mut mounts = std::mem::take(&mut applied.mounts);
    let unmounted = tokio::task::spawn_blocking(move || mounts.unmount_all()).await?;
    match (result, unmounted) {
        (Err(e), Err(u)) => {
            warn!(error = %u, "unmount after a failed installation");
            Err(e)
        }
        (Err(e), Ok(())) => Err(e),
        (Ok(_), Err(u)) => Err(u.into()),
        (Ok(b), Ok(())) => {
            info!(kernel = %b.kernel.display(), "installation done");
            Ok(b)
        }
    }
}

/// The device of the filesystem mounted at `/`.
pub fn root_device(layout: &FilesystemLayout) -> Option<&str> {
    layout
        .filesystems
        .iter()
        .find(|fs| {
            fs.path.as_deref() == Some("/")
                && !matches!(fs.format.as_str(), "tmpfs" | "swap" | "none" | "")
        })
        .map(|fs| fs.device.as_str())
}

/// Whether a failed installation may have changed the disks: `false` only for errors raised
/// before the first command ran (an unusable request or layout). Anything else, also an error
/// that is not an [`InstallError`], counts as touched, so that metal-api never boots an old
/// installation from a disk that may have been wiped.
pub fn primary_disk_touched(e: &anyhow::Error) -> bool {
    if e.downcast_ref::<RequestError>().is_some() {
        return false;
    }
    !matches!(
        e.downcast_ref::<InstallError>(),
        Some(InstallError::NoRoot | InstallError::Plan(_))
    )
}

/// A machine that cannot be installed: nothing was touched.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    #[error("machine {0} has no allocation")]
    NoAllocation(String),
    #[error("the allocation of machine {0} has no image url")]
    NoImage(String),
    #[error("the allocation of machine {0} has no filesystem layout")]
    NoLayout(String),
}

impl InstallRequest {
    /// The request for an allocated machine as metal-api answers it.
    pub fn from_machine(
        m: &metal_domain::machine::MachineResponse,
        console_password: &str,
        console: &str,
        target: &Path,
        workdir: &Path,
    ) -> Result<Self, RequestError> {
        let a = m
            .allocation
            .as_ref()
            .ok_or_else(|| RequestError::NoAllocation(m.id.clone()))?;
        let image_url = a
            .image
            .as_ref()
            .map(|i| i.url.clone())
            .filter(|u| !u.is_empty())
            .ok_or_else(|| RequestError::NoImage(m.id.clone()))?;
        let layout = a
            .filesystemlayout
            .clone()
            .ok_or_else(|| RequestError::NoLayout(m.id.clone()))?;
        Ok(Self {
            layout,
            image_url,
            machine_uuid: m.id.clone(),
            hostname: a.hostname.clone(),
            networks: a
                .networks
                .iter()
                .map(|n| InstallNetwork {
                    asn: n.asn,
                    destinationprefixes: n.destinationprefixes.clone(),
                    ips: n.ips.clone(),
                    nat: n.nat,
                    networkid: n.networkid.clone(),
                    networktype: n.networktype.as_str().to_string(),
                    prefixes: n.prefixes.clone(),
                    private: n.private,
                    underlay: n.underlay,
                    vrf: u64::from(n.vrf),
                })
                .collect(),
            ssh_pub_keys: a.ssh_pub_keys.clone(),
            user_data: a.user_data.clone(),
            role: a.role.as_str().to_string(),
            console: console.to_string(),
            console_password: console_password.to_string(),
            nics: m.hardware.nics.clone(),
            dns_servers: a.dns_servers.clone(),
            ntp_servers: a.ntp_servers.clone(),
            firewall_rules: a
                .firewall_rules
                .as_ref()
                .and_then(|r| serde_json::to_value(r).ok()),
            vpn: None,
            reinstall: a.reinstall,
            target: target.to_path_buf(),
            workdir: workdir.to_path_buf(),
        })
    }
}

async fn install_planned(
    req: &InstallRequest,
    steps: Vec<layout::Step>,
    applied: &mut Applied,
) -> Result<BootInfo, InstallError> {
    // blocking commands run off the async threads; `applied` comes back even after an error
    let mut owned = std::mem::take(applied);
    let (owned, res) = tokio::task::spawn_blocking(move || {
        let r = owned.apply(&steps);
        (owned, r)
    })
    .await?;
    *applied = owned;
    res?;
    let root_uuid = applied.root_uuid.clone().ok_or(InstallError::NoRoot)?;

    image::install_image(&req.image_url, &req.target).await?;

    let specials =
        layout::special_mounts(&req.target, Path::new("/sys/firmware/efi/efivars").exists());
    let mut owned = std::mem::take(applied);
    let (owned, res) = tokio::task::spawn_blocking(move || {
        let r = owned.apply(&specials);
        (owned, r)
    })
    .await?;
    *applied = owned;
    res?;

    write_metal_files(req, &root_uuid, chrono::Utc::now())?;
    let target = req.target.clone();
    tokio::task::spawn_blocking(move || run_installer(&target)).await??;
    let mut boot = copy_boot_files(&req.target, &req.workdir)?;
    boot.primary_disk = req
        .layout
        .disks
        .first()
        .map(|d| d.device.clone())
        .unwrap_or_default();
    boot.os_partition = root_device(&req.layout).unwrap_or_default().to_string();
    let fstab = req.target.join("etc/fstab");
    std::fs::create_dir_all(req.target.join("etc")).map_err(write_err(&fstab))?;
    std::fs::write(&fstab, layout::render_fstab(&applied.fstab, VERSION))
        .map_err(write_err(&fstab))?;
    Ok(boot)
}

/// Writes `/etc/metal/install.yaml`, `/etc/metal/userdata`, `/etc/metal/disk.json` and, if the
/// image has `/etc/lvm`, `/etc/lvm/lvmlocal.conf` into `req.target`.
pub fn write_metal_files(
    req: &InstallRequest,
    root_uuid: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), InstallError> {
    let dir = req.target.join("etc/metal");
    std::fs::create_dir_all(&dir).map_err(write_err(&dir))?;
    let yaml = serde_yaml::to_string(&InstallerConfig::new(req, root_uuid, now))
        .map_err(|e| std::io::Error::other(e.to_string()))
        .map_err(write_err(&dir))?;
    // the console password and the userdata are for root only
    let path = dir.join("install.yaml");
    write_private(&path, yaml.as_bytes()).map_err(write_err(&path))?;
    if !req.user_data.is_empty() {
        let path = dir.join("userdata");
        write_private(&path, &decode_userdata(&req.user_data)).map_err(write_err(&path))?;
    }
    let disk_json = dir.join("disk.json");
    std::fs::write(
        &disk_json,
        legacy_disk_json(&req.layout, |d| layout::fs_uuid(d).ok()),
    )
    .map_err(write_err(&disk_json))?;
    let lvm_dir = req.target.join("etc/lvm");
    if lvm_dir.is_dir() {
        let conf = std::fs::read_to_string(RAMDISK_LVMLOCAL)
            .unwrap_or_else(|_| layout::LVMLOCAL_CONF.to_string());
        let path = lvm_dir.join("lvmlocal.conf");
        std::fs::write(&path, conf).map_err(write_err(&path))?;
    }
    Ok(())
}

/// Userdata as written to the image: base64-decoded, or as given if it is not base64.
pub fn decode_userdata(user_data: &str) -> Vec<u8> {
    use base64::Engine;
    let compact: String = user_data.split_whitespace().collect();
    base64::engine::general_purpose::STANDARD
        .decode(compact.as_bytes())
        .unwrap_or_else(|_| user_data.as_bytes().to_vec())
}

/// Legacy `/etc/metal/disk.json`: the first disk and its partitions labelled root, efi or
/// varlib with their mount point, format and filesystem UUID (`uuid_of` = blkid).
pub fn legacy_disk_json(
    layout: &FilesystemLayout,
    uuid_of: impl Fn(&str) -> Option<String>,
) -> String {
    let Some(disk) = layout.disks.first() else {
        return "{}".into();
    };
    let partitions: Vec<serde_json::Value> = disk
        .partitions
        .iter()
        .filter(|p| matches!(p.label.as_deref(), Some("root" | "efi" | "varlib")))
        .map(|p| {
            let dev = disk.partition_device(p.number);
            let fs = layout.filesystems.iter().find(|f| f.device == dev);
            let mut props = serde_json::Map::new();
            if let Some(uuid) = uuid_of(&dev) {
                props.insert("UUID".into(), uuid.into());
            }
            serde_json::json!({
                "Label": p.label,
                "Number": p.number,
                "Device": dev,
                "MountPoint": fs.and_then(|f| f.path.clone()).unwrap_or_default(),
                "Filesystem": fs.map(|f| f.format.clone()).unwrap_or_default(),
                "GPTType": p.gpttype.clone().unwrap_or_default(),
                "Size": p.size,
                "Properties": props,
            })
        })
        .collect();
    serde_json::json!({ "Device": disk.device, "Partitions": partitions }).to_string()
}

/// Runs the image's installer (`/install-go`, else `/install.sh`) as
/// `chroot <target> <installer>` in `target`, then removes it.
pub fn run_installer(target: &Path) -> Result<(), InstallError> {
    let installer = ["install-go", "install.sh"]
        .into_iter()
        .find(|i| target.join(i).is_file())
        .ok_or(InstallError::NoInstaller)?;
    let cmd = Command::new(
        "chroot",
        [target.to_string_lossy().as_ref(), &format!("/{installer}")],
    )
    .current_dir(target)
    .env(
        "PATH",
        "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    );
    info!(command = %cmd, "running the image's installer");
    let out = cmd.run().map_err(InstallError::Installer)?;
    debug!(stdout = %out.stdout, stderr = %out.stderr, "installer output");
    let path = target.join(installer);
    std::fs::remove_file(&path).map_err(write_err(&path))?;
    Ok(())
}

/// Reads `/etc/metal/boot-info.yaml` in `target`.
pub fn read_boot_info(target: &Path) -> Result<BootInfoFile, InstallError> {
    let path = target.join("etc/metal/boot-info.yaml");
    let text = std::fs::read_to_string(&path).map_err(|e| InstallError::BootInfo {
        path: path.clone(),
        source: Box::new(e),
    })?;
    serde_yaml::from_str(&text).map_err(|e| InstallError::BootInfo {
        path,
        source: Box::new(e),
    })
}

/// Reads the boot info and copies kernel and initrd from `target` into `workdir`.
pub fn copy_boot_files(target: &Path, workdir: &Path) -> Result<BootInfo, InstallError> {
    let file = read_boot_info(target)?;
    std::fs::create_dir_all(workdir).map_err(write_err(workdir))?;
    let copy = |inner: &str| -> Result<PathBuf, InstallError> {
        let src = layout::in_target(target, inner);
        let name = src
            .file_name()
            .map(PathBuf::from)
            .unwrap_or_else(|| "kernel".into());
        let dst = workdir.join(name);
        std::fs::copy(&src, &dst).map_err(|e| InstallError::BootInfo {
            path: src.clone(),
            source: Box::new(e),
        })?;
        Ok(dst)
    };
    if file.kernel.is_empty() {
        return Err(InstallError::BootInfo {
            path: target.join("etc/metal/boot-info.yaml"),
            source: "no kernel given".into(),
        });
    }
    let kernel = copy(&file.kernel)?;
    let initrd = if file.initrd.is_empty() {
        None
    } else {
        Some(copy(&file.initrd)?)
    };
    Ok(BootInfo {
        kernel,
        initrd,
        cmdline: file.cmdline,
        bootloader_id: file.bootloader_id,
        kernel_in_image: file.kernel,
        initrd_in_image: file.initrd,
        primary_disk: String::new(),
        os_partition: String::new(),
    })
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
pub async fn run_cli(args: InstallArgs) -> std::process::ExitCode {
    match cli_request(&args) {
        Ok(req) => match install(&req).await {
            Ok(boot) => {
                println!(
                    "METAL_HAMMER_BOOT_INFO {}",
                    serde_json::to_string(&boot).unwrap_or_default()
                );
                std::process::ExitCode::SUCCESS
            }
            Err(e) => fail(&e),
        },
        Err(e) => fail(e.as_ref()),
    }
}

fn fail(e: &dyn std::error::Error) -> std::process::ExitCode {
    println!("METAL_HAMMER_FAILED {}", error_chain(e));
    std::process::ExitCode::FAILURE
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
