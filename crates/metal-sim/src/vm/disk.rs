//! Virtual disk files: created with `qemu-img` (qcow2) or as sparse raw files, attached as
//! virtio-blk, and kept after the VM ends so a test can inspect them or boot another VM on
//! them. A created disk lives in its own [`WorkDir`] shared by its clones.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use anyhow::{Context, Result};

use super::{run_checked, WorkDir};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiskFormat {
    Qcow2,
    Raw,
}

impl DiskFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            DiskFormat::Qcow2 => "qcow2",
            DiskFormat::Raw => "raw",
        }
    }
}

/// One disk file. Clones share the file; a created one is removed with the last clone
/// (unless `METAL_VM_KEEP=1`).
#[derive(Debug, Clone)]
pub struct Disk {
    path: PathBuf,
    format: DiskFormat,
    _owner: Option<Arc<WorkDir>>,
}

impl Disk {
    /// A new qcow2 disk of `size` bytes in its own temp dir.
    pub fn qcow2(size: u64) -> Result<Self> {
        Self::create(DiskFormat::Qcow2, size)
    }

    /// A new sparse raw disk of `size` bytes in its own temp dir.
    pub fn raw(size: u64) -> Result<Self> {
        Self::create(DiskFormat::Raw, size)
    }

    fn create(format: DiskFormat, size: u64) -> Result<Self> {
        let dir = WorkDir::new("disk")?;
        let path = dir.path().join(format!("disk.{}", format.as_str()));
        let mut disk = Self::create_at(&path, format, size)?;
        disk._owner = Some(Arc::new(dir));
        Ok(disk)
    }

    /// A new disk at `path` (the caller owns the file).
    pub fn create_at(path: &Path, format: DiskFormat, size: u64) -> Result<Self> {
        match format {
            DiskFormat::Qcow2 => {
                run_checked(
                    Command::new("qemu-img")
                        .args(["create", "-q", "-f", "qcow2"])
                        .arg(path)
                        .arg(size.to_string()),
                )?;
            }
            DiskFormat::Raw => {
                let f =
                    File::create(path).with_context(|| format!("creating {}", path.display()))?;
                f.set_len(size)
                    .with_context(|| format!("sizing {}", path.display()))?;
            }
        }
        Ok(Self::open(path, format))
    }

    /// An existing disk file, left alone afterwards.
    pub fn open(path: &Path, format: DiskFormat) -> Self {
        Self {
            path: path.to_path_buf(),
            format,
            _owner: None,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn format(&self) -> DiskFormat {
        self.format
    }

    /// `qemu-img info --output=json` of the file (e.g. `virtual-size`, `actual-size`).
    pub fn info(&self) -> Result<serde_json::Value> {
        let out = run_checked(
            Command::new("qemu-img")
                .args(["info", "-U", "--output=json", "-f", self.format.as_str()])
                .arg(&self.path),
        )?;
        serde_json::from_str(&out).context("parsing qemu-img info")
    }
}
