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
//!
//! This module is the flow; the wire types (what to install, what it leads to) are in
//! `request.rs`, the files written into the image and read back from it in `files.rs`.

mod files;
mod request;

use std::path::{Path, PathBuf};

use metal_domain::fsl::FilesystemLayout;
use tracing::{debug, info, warn};

use crate::exec::{Command, ExecError};
use crate::image::{self, ImageError};
use crate::layout::{self, Applied, LayoutError, PlanOptions, UnmountError};

pub use files::{
    copy_boot_files, decode_userdata, installer_config, legacy_disk_json, read_boot_info,
    write_metal_files, BootInfoFile, InstallerConfig,
};
pub use request::{BootInfo, InstallNetwork, InstallNic, InstallRequest, RequestError};

/// This metal-hammer's version, as written into fstab.
pub use crate::VERSION;

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
