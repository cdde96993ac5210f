//! Run a shell script in a VM with disks and collect what it printed: the helper the
//! boot-chain tests mostly use.
//!
//! A [`ScriptRunner`] builds the base initramfs once (busybox, disk tools, disk modules, the
//! standard `/init`), cached across processes in `<METAL_VM_CACHE>/initramfs/<digest>.cpio.gz`
//! (see [`Initramfs::build_cached`]); each run appends a tiny archive holding the script (the kernel unpacks
//! concatenated archives), boots it with a slirp NIC (the guest reaches the host's loopback
//! at 10.0.2.2) and the given disks, and returns the lines between `VM-CMD-START` and
//! `VM-CMD-EXIT <code>`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use super::console::ConsoleLine;
use super::disk::Disk;
use super::init::{MARK_CMD_EXIT, MARK_CMD_START, MARK_READY};
use super::initramfs::{BuiltInitramfs, Initramfs};
use super::kernel::DebianKernel;
use super::nic::{mac_for, Nic};
use super::qemu::{Vm, VmBuilder};
use super::WorkDir;

/// The kernel command line for direct boots: serial console, warnings only, and a panic
/// ends qemu at once (with `-no-reboot`).
pub const DEFAULT_APPEND: &str = "console=ttyS0 panic=-1 loglevel=4";

/// What a script run produced.
#[derive(Debug, Clone)]
pub struct ScriptOutput {
    /// Console lines the script printed (kernel messages may be among them).
    pub lines: Vec<String>,
    pub exit_code: i32,
    /// The whole console, timestamped.
    pub console: Vec<ConsoleLine>,
    /// From qemu start to `VM-READY`.
    pub ready_after: Duration,
    /// From qemu start to qemu's exit.
    pub total: Duration,
}

impl ScriptOutput {
    /// The script's lines joined with newlines.
    pub fn text(&self) -> String {
        self.lines.join("\n")
    }

    /// Whether some line contains `s`.
    pub fn contains(&self, s: &str) -> bool {
        self.lines.iter().any(|l| l.contains(s))
    }

    /// Fails with the whole output unless the script exited 0.
    pub fn success(&self) -> Result<&Self> {
        if self.exit_code != 0 {
            anyhow::bail!("script exited {}:\n{}", self.exit_code, self.text());
        }
        Ok(self)
    }
}

/// Boots scripts on one kernel and base initramfs.
pub struct ScriptRunner {
    kernel: DebianKernel,
    base: BuiltInitramfs,
    dir: WorkDir,
    timeout: Duration,
    memory_mib: u32,
    runs: AtomicUsize,
}

impl ScriptRunner {
    /// The Debian kernel and [`Initramfs::standard`].
    pub fn standard() -> Result<Self> {
        let kernel = DebianKernel::get()?;
        let initramfs = Initramfs::standard(&kernel)?;
        Self::new(kernel, &initramfs)
    }

    /// Any base initramfs whose `/init` runs [`super::init::RUN_SCRIPT`] (the standard one).
    pub fn new(kernel: DebianKernel, initramfs: &Initramfs) -> Result<Self> {
        let dir = WorkDir::new("script")?;
        let base = initramfs.build_cached(&super::kernel::cache_dir().join("initramfs"))?;
        tracing::info!(
            size = base.size,
            uncompressed = base.uncompressed,
            build_ms = base.build_time.as_millis() as u64,
            "built base initramfs"
        );
        Ok(Self {
            kernel,
            base,
            dir,
            timeout: Duration::from_secs(300),
            memory_mib: 512,
            runs: AtomicUsize::new(0),
        })
    }

    /// How long one run may take until `VM-CMD-EXIT` (default 300 s: TCG on busy CI).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    pub fn memory_mib(mut self, mib: u32) -> Self {
        self.memory_mib = mib;
        self
    }

    pub fn kernel(&self) -> &DebianKernel {
        &self.kernel
    }

    pub fn base(&self) -> &BuiltInitramfs {
        &self.base
    }

    /// An initrd = base + `extra` (e.g. the script, a metal-hammer binary, config files).
    pub fn initrd_with(&self, extra: &Initramfs) -> Result<BuiltInitramfs> {
        let n = self.runs.fetch_add(1, Ordering::Relaxed);
        extra.build_on(
            &self.base.path,
            &self.dir.path().join(format!("run{n}.cpio.gz")),
        )
    }

    /// Runs `script` (busybox sh) in a VM with `disks` (vda, vdb, ...) and a slirp NIC.
    pub fn run(&self, disks: &[Disk], script: &str) -> Result<ScriptOutput> {
        let vm = Vm::builder()
            .name("script")
            .disks(disks)
            .nic(Nic::user(&mac_for(1)));
        self.run_with(vm, &Initramfs::empty(), script)
    }

    /// Like [`Self::run`] on a VM configured by the caller (disks, NICs, name) with files
    /// added on top of the base initramfs; kernel, initrd and memory are set here.
    pub fn run_with(&self, vm: VmBuilder, extra: &Initramfs, script: &str) -> Result<ScriptOutput> {
        let initrd = self.initrd_with(&extra.clone().command(script))?;
        let mut vm = vm
            .memory_mib(self.memory_mib)
            .kernel(&self.kernel.vmlinuz, Some(&initrd.path), DEFAULT_APPEND)
            .start()?;
        collect(&mut vm, self.timeout)
    }
}

/// Waits for the standard `/init`'s markers and qemu's exit, and cuts out the script lines.
pub fn collect(vm: &mut Vm, timeout: Duration) -> Result<ScriptOutput> {
    let deadline = Instant::now() + timeout;
    let left = || deadline.saturating_duration_since(Instant::now());
    let ready = vm.wait_for(MARK_READY, left())?;
    let exit = vm.wait_for(MARK_CMD_EXIT, left())?;
    let exit_code = exit
        .text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .with_context(|| format!("no exit code in {:?}", exit.text))?;
    vm.wait_exit(Duration::from_secs(60))?;
    let total = vm.started().elapsed();
    let console = vm.console();
    let lines = console
        .between(MARK_CMD_START, MARK_CMD_EXIT)
        .unwrap_or_default()
        .into_iter()
        .map(|l| l.text)
        .collect();
    Ok(ScriptOutput {
        lines,
        exit_code,
        console: console.lines(),
        ready_after: ready.at,
        total,
    })
}

/// One-off: [`ScriptRunner::standard`] and one run. Build a runner for several runs.
pub fn run_script(disks: &[Disk], script: &str) -> Result<ScriptOutput> {
    ScriptRunner::standard()?.run(disks, script)
}
