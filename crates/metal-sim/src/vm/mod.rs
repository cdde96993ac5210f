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
pub fn run_checked(cmd: &mut Command) -> Result<String> {
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

/// The cache entry `<cache>/<entry>`: `ready` reads a complete one; when there is none, `build`
/// makes it in a temp dir beside its place (it fills the directory it is given) and it is
/// renamed into place, so a present entry is always complete. Concurrent callers, threads and
/// processes, serialise on `<cache>/<entry>.lock`.
pub(crate) fn cached<T>(
    cache: &Path,
    entry: &str,
    ready: impl Fn(&Path) -> Result<T>,
    build: impl FnOnce(&Path) -> Result<()>,
) -> Result<T> {
    use nix::fcntl::{Flock, FlockArg};
    let dest = cache.join(entry);
    if let Ok(t) = ready(&dest) {
        return Ok(t);
    }
    std::fs::create_dir_all(cache).with_context(|| format!("creating {}", cache.display()))?;
    let lock_path = cache.join(format!("{entry}.lock"));
    let lock_file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .with_context(|| format!("opening {}", lock_path.display()))?;
    let _lock = Flock::lock(lock_file, FlockArg::LockExclusive)
        .map_err(|(_, e)| anyhow::anyhow!("locking {}: {e}", lock_path.display()))?;
    // another process may have finished while we waited for the lock
    if let Ok(t) = ready(&dest) {
        return Ok(t);
    }
    let tmp = tempfile::Builder::new()
        .prefix(&format!(".{entry}."))
        .tempdir_in(cache)
        .with_context(|| format!("creating a temp dir in {}", cache.display()))?;
    let built = tmp.path().join("entry");
    std::fs::create_dir(&built)?;
    build(&built)?;
    std::fs::rename(&built, &dest)
        .with_context(|| format!("renaming {} to {}", built.display(), dest.display()))?;
    ready(&dest)
}
