//! VM test harness: boots the Debian kernel with a Rust-built initramfs (or firmware that
//! network-boots) in qemu under TCG, drives it from the serial console and keeps the virtual
//! disks for inspection.
//!
//! The host kernel has no md, device-mapper or partition support, so everything that
//! partitions disks runs inside such a VM. Pieces, each in its own file:
//! - [`kernel`]: the Debian kernel package, downloaded once into a shared cache;
//! - [`modules`]: module dependency resolution from `modules.dep` (pure);
//! - [`cpio`] and [`initramfs`]: the initramfs writer and builder, [`init`] its `/init`;
//! - [`disk`]: qcow2/raw disk files that outlive the VM;
//! - [`console`]: the timestamped serial console with `wait_for`;
//! - [`qemu`]: the `Vm` builder and the running VM (killed on drop), [`nic`] its NICs,
//!   [`qmp`] its control socket;
//! - [`script`]: run a shell script in a VM with disks and collect its output;
//! - [`debian`]: a Debian guest (debootstrap, cached) for the switch and firewall datapath.
//!
//! Environment: `METAL_VM_CACHE` (kernel cache, default `/var/tmp/metal-vm-cache`),
//! `METAL_VM_KERNEL_DIR` (use an extracted kernel tree), `METAL_VM_KEEP=1` (keep each VM's
//! work dir: console.log, disks, OVMF vars), `METAL_VM_ECHO=1` (print console lines to stderr
//! as they arrive), `METAL_VM_QEMU` (the qemu binary, default `qemu-system-x86_64`).

pub mod console;
pub mod cpio;
pub mod debian;
pub mod disk;
pub mod init;
pub mod initramfs;
pub mod kernel;
pub mod ldd;
pub mod modules;
pub mod nic;
pub mod qemu;
pub mod qmp;
pub mod script;

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

pub use console::{Console, ConsoleError, ConsoleLine};
pub use debian::{DebianGuest, GuestRun, GuestSpec};
pub use disk::{Disk, DiskFormat};
pub use initramfs::{BuiltInitramfs, Initramfs, DISK_MODULES, DISK_TOOLS};
pub use kernel::DebianKernel;
pub use nic::{mac_for, Nic};
pub use qemu::{BootOrder, Firmware, Vm, VmBuilder};
pub use script::{run_script, ScriptOutput, ScriptRunner};

/// Whether `METAL_VM_KEEP=1`: work dirs stay on disk and their paths are printed.
pub fn keep_files() -> bool {
    std::env::var("METAL_VM_KEEP").as_deref() == Ok("1")
}

/// A temp dir removed on drop unless [`keep_files`].
#[derive(Debug)]
pub struct WorkDir {
    dir: Option<tempfile::TempDir>,
    path: PathBuf,
}

impl WorkDir {
    pub fn new(prefix: &str) -> Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix(&format!("metal-vm-{prefix}-"))
            .tempdir()
            .context("creating a VM work dir")?;
        let path = dir.path().to_path_buf();
        Ok(Self {
            dir: Some(dir),
            path,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        if keep_files() {
            if let Some(d) = self.dir.take() {
                eprintln!("METAL_VM_KEEP: keeping {}", d.keep().display());
            }
        }
    }
}

/// Runs a command, returns its stdout; a non-zero exit is an error naming the command and
/// carrying its stderr.
pub(crate) fn run_checked(cmd: &mut Command) -> Result<String> {
    let shown = format!("{cmd:?}");
    let out = cmd.output().with_context(|| format!("running {shown}"))?;
    if !out.status.success() {
        bail!(
            "{shown} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
