//! The executing half of [`crate::layout`]: runs the steps of a plan, records what it mounted
//! (so that the caller can unmount after an error), resolves fstab entries to `UUID=` with
//! `blkid`, and unmounts in reverse.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tracing::{info, warn};

use super::{FstabEntry, LayoutError, Step};
use crate::exec::Command;

/// How long device nodes may take to appear after a partition table re-read or array creation.
const DEVICE_WAIT: Duration = Duration::from_secs(15);

/// The filesystem UUID of `device` (`blkid -s UUID -o value`).
pub fn fs_uuid(device: &str) -> Result<String, LayoutError> {
    let out = Command::new("blkid", ["-s", "UUID", "-o", "value", device]).run()?;
    let uuid = out.stdout.trim().to_string();
    if uuid.is_empty() {
        return Err(LayoutError::NoUuid {
            device: device.into(),
        });
    }
    Ok(uuid)
}

/// What executing a plan did so far.
#[derive(Debug, Default)]
pub struct Applied {
    /// Mount points in mount order (unmount in reverse).
    pub mounts: Mounts,
    pub fstab: Vec<FstabEntry>,
    /// The UUID of the filesystem mounted at `/`.
    pub root_uuid: Option<String>,
}

impl Applied {
    /// Executes `steps` in order, stopping at the first error; what was mounted until then stays
    /// recorded in `self.mounts`.
    pub fn apply(&mut self, steps: &[Step]) -> Result<(), LayoutError> {
        for step in steps {
            self.apply_step(step)?;
        }
        Ok(())
    }

    fn apply_step(&mut self, step: &Step) -> Result<(), LayoutError> {
        match step {
            Step::Run(c) => {
                info!(command = %c, "layout");
                c.run()?;
            }
            Step::RunUnless { probe, run } => {
                if probe.run().is_ok() {
                    info!(probe = %probe, "exists, skipping");
                } else {
                    info!(command = %run, "layout");
                    run.run()?;
                }
            }
            Step::WaitForDevices(devices) => wait_for_devices(devices, DEVICE_WAIT)?,
            Step::Tune { path, value } => {
                if let Err(e) = std::fs::write(path, value) {
                    warn!(path = %path.display(), error = %e, "cannot tune");
                }
            }
            Step::Mount {
                mountpoint,
                command,
            } => {
                std::fs::create_dir_all(mountpoint).map_err(|source| LayoutError::MountPoint {
                    path: mountpoint.clone(),
                    source,
                })?;
                info!(command = %command, "mount");
                command.run()?;
                self.mounts.paths.push(mountpoint.clone());
            }
            Step::Fstab { device, entry } => {
                let mut entry = entry.clone();
                if let Some(d) = device {
                    let uuid = fs_uuid(d)?;
                    if entry.file == "/" {
                        self.root_uuid = Some(uuid.clone());
                    }
                    entry.spec = format!("UUID={uuid}");
                }
                self.fstab.push(entry);
            }
        }
        Ok(())
    }
}

/// Polls until every device node exists or `timeout` passed.
pub fn wait_for_devices(devices: &[String], timeout: Duration) -> Result<(), LayoutError> {
    let deadline = Instant::now() + timeout;
    loop {
        let missing: Vec<String> = devices
            .iter()
            .filter(|d| !Path::new(d).exists())
            .cloned()
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(LayoutError::DevicesMissing {
                missing,
                waited: timeout,
            });
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Mount points, unmounted in reverse order by [`Mounts::unmount_all`] or on drop.
#[derive(Debug, Default)]
pub struct Mounts {
    pub paths: Vec<PathBuf>,
}

/// Mount points that could not be unmounted, even lazily.
#[derive(Debug, thiserror::Error)]
#[error("could not unmount {}", .0.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "))]
pub struct UnmountError(pub Vec<PathBuf>);

impl Mounts {
    /// Unmounts everything in reverse order: `MNT_FORCE`, and if that fails a lazy unmount.
    pub fn unmount_all(&mut self) -> Result<(), UnmountError> {
        use nix::mount::{umount2, MntFlags};
        let mut failed = Vec::new();
        while let Some(p) = self.paths.pop() {
            if let Err(e) = umount2(&p, MntFlags::MNT_FORCE) {
                warn!(path = %p.display(), error = %e, "unmount failed, detaching lazily");
                if let Err(e) = umount2(&p, MntFlags::MNT_DETACH) {
                    warn!(path = %p.display(), error = %e, "lazy unmount failed");
                    failed.push(p);
                }
            }
        }
        if failed.is_empty() {
            Ok(())
        } else {
            Err(UnmountError(failed))
        }
    }
}

impl Drop for Mounts {
    fn drop(&mut self) {
        if !self.paths.is_empty() {
            let _ = self.unmount_all();
        }
    }
}
