//! A filesystem layout turned into the ordered plan of metal-stack's metal-hammer (§2.12.1) and
//! its execution.
//!
//! [`plan`] is pure: it decides every command (partitions, RAID, LVM, mkfs, mounts) and the fstab
//! entries, so tests compare argv sequences without touching a disk. [`Applied::apply`] executes
//! a plan step by step and records what it mounted, the fstab entries (with `UUID=` from
//! `blkid`) and the root filesystem's UUID; the caller owns the [`Applied`], so after an error
//! it still knows what to unmount. [`special_mounts`] are the pseudo filesystems the image's
//! installer needs.
//!
//! LVM runs without udev in the ramdisk: every `lvm` call gets [`LVM_CONFIG`] with `--config`
//! (no global file to forget, and the plan shows it), and `--yes` so that a stale signature
//! prompt is answered instead of reading end-of-file from stdin and aborting.
//!
//! The pure plan is in `plan.rs` (one function per stage), its execution in `apply.rs`; the
//! errors of both are [`LayoutError`].

mod apply;
mod plan;

use std::path::PathBuf;
use std::time::Duration;

use crate::exec::ExecError;

pub use apply::{fs_uuid, wait_for_devices, Applied, Mounts, UnmountError};
pub use plan::{
    gpt_steps, in_target, lvm_steps, mkfs_steps, mount_options, mount_steps, plan, raid_steps,
    render_fstab, special_mounts, FstabEntry, PlanOptions, Step, DROPPED_MOUNT_OPTIONS,
    LVMLOCAL_CONF, LVM_CONFIG,
};

/// A layout that cannot be planned, or a step of its plan that failed.
#[derive(Debug, thiserror::Error)]
pub enum LayoutError {
    #[error("filesystem on {device}: unsupported format {format:?}")]
    UnknownFormat { device: String, format: String },
    #[error("logical volume {lv}: volume group {vg} is not in the layout")]
    UnknownVolumeGroup { lv: String, vg: String },
    #[error("raid {array}: {spares} spares but only {devices} devices")]
    RaidDevices {
        array: String,
        devices: usize,
        spares: i32,
    },
    #[error(transparent)]
    Exec(#[from] ExecError),
    #[error("device nodes did not appear within {}s: {}", .waited.as_secs(), .missing.join(", "))]
    DevicesMissing {
        missing: Vec<String>,
        waited: Duration,
    },
    #[error("creating mount point {path}")]
    MountPoint {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("no filesystem UUID for {device} (blkid printed nothing)")]
    NoUuid { device: String },
}
