//! Starts qemu for one VM and owns the process: killed (and reaped) on drop.
//!
//! Always TCG (`-accel tcg,tb-size=64 -cpu max`: KVM here is a nested device that hangs a
//! stock kernel, and the default CPU lacks SSE4.2), `-nodefaults -display none -no-reboot`,
//! the first serial port on qemu's stdio (read by [`Console`], written by
//! [`Vm::send_line`]), and a QMP socket in the VM's work dir. Boot either directly
//! (kernel, initrd, command line) or through firmware (SeaBIOS, or OVMF with a per-VM copy
//! of the VARS file) in the order set by `bootindex` on the devices. NICs are virtio-net with
//! a fixed MAC on slirp (`10.0.2.2` is the host's loopback) or on a tap device the caller
//! created; `netns` runs qemu through `ip netns exec`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::Value;

use super::console::{Console, ConsoleError, ConsoleLine};
use super::disk::Disk;
use super::nic::{Nic, NicKind};
use super::WorkDir;
use crate::poll::try_until_blocking;

pub const OVMF_CODE: &str = "/usr/share/OVMF/OVMF_CODE_4M.fd";
pub const OVMF_VARS: &str = "/usr/share/OVMF/OVMF_VARS_4M.fd";

/// Firmware for [`VmBuilder::firmware`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Firmware {
    SeaBios,
    Ovmf,
}

/// What the firmware tries first (the other kind follows).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BootOrder {
    NetworkFirst,
    DiskFirst,
}

#[derive(Debug, Clone)]
enum Boot {
    Direct {
        kernel: PathBuf,
        initrd: Option<PathBuf>,
        append: String,
    },
    Firmware(Firmware, BootOrder),
}

/// Configures a VM; [`VmBuilder::start`] launches it.
#[derive(Debug, Clone)]
pub struct VmBuilder {
    name: String,
    memory_mib: u32,
    cpus: u32,
    boot: Option<Boot>,
    disks: Vec<Disk>,
    nics: Vec<Nic>,
    uuid: Option<String>,
    netns: Option<String>,
    args: Vec<String>,
    reboot_exits: bool,
}

impl Vm {
    pub fn builder() -> VmBuilder {
        VmBuilder {
            name: "vm".into(),
            memory_mib: 512,
            cpus: 1,
            boot: None,
            disks: Vec::new(),
            nics: Vec::new(),
            uuid: None,
            netns: None,
            args: Vec::new(),
            reboot_exits: true,
        }
    }
}

impl VmBuilder {
    /// Shown in console echo and errors.
    pub fn name(mut self, name: &str) -> Self {
        self.name = name.to_string();
        self
    }

    /// Default 512.
    pub fn memory_mib(mut self, mib: u32) -> Self {
        self.memory_mib = mib;
        self
    }

    pub fn cpus(mut self, n: u32) -> Self {
        self.cpus = n;
        self
    }

    /// Direct boot of a kernel with an initrd. `append` is the kernel command line; include
    /// `console=ttyS0` to see the kernel (see [`super::script::DEFAULT_APPEND`]).
    pub fn kernel(mut self, kernel: &Path, initrd: Option<&Path>, append: &str) -> Self {
        self.boot = Some(Boot::Direct {
            kernel: kernel.to_path_buf(),
            initrd: initrd.map(Path::to_path_buf),
            append: append.to_string(),
        });
        self
    }

    /// Boot through firmware (PXE with the NIC's iPXE ROM, or the disks).
    pub fn firmware(mut self, firmware: Firmware, order: BootOrder) -> Self {
        self.boot = Some(Boot::Firmware(firmware, order));
        self
    }

    /// A virtio-blk disk; the guest sees them as vda, vdb, ... in this order.
    pub fn disk(mut self, disk: &Disk) -> Self {
        self.disks.push(disk.clone());
        self
    }

    pub fn disks(mut self, disks: &[Disk]) -> Self {
        self.disks.extend(disks.iter().cloned());
        self
    }

    /// A NIC; the guest sees them as eth0, eth1, ... in this order.
    pub fn nic(mut self, nic: Nic) -> Self {
        self.nics.push(nic);
        self
    }

    /// The SMBIOS system UUID (`/sys/class/dmi/id/product_uuid`).
    pub fn uuid(mut self, uuid: &str) -> Self {
        self.uuid = Some(uuid.to_string());
        self
    }

    /// Run qemu inside this network namespace (`ip netns exec`).
    pub fn netns(mut self, netns: &str) -> Self {
        self.netns = Some(netns.to_string());
        self
    }

    /// A guest reboot (or a reset through an IPMI BMC) restarts the VM through its firmware
    /// instead of ending qemu (no `-no-reboot`), as a server's reset does.
    pub fn allow_reboot(mut self) -> Self {
        self.reboot_exits = false;
        self
    }

    /// An extra qemu argument.
    pub fn arg(mut self, arg: &str) -> Self {
        self.args.push(arg.to_string());
        self
    }

    /// The qemu command line (without the binary) for a VM whose work dir is `dir`.
    pub fn qemu_args(&self, dir: &Path) -> Result<Vec<String>> {
        let mut a: Vec<String> = [
            "-name",
            &self.name,
            "-nodefaults",
            "-no-user-config",
            "-display",
            "none",
            "-accel",
            "tcg,tb-size=64",
            "-cpu",
            "max",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        if self.reboot_exits {
            a.push("-no-reboot".into());
        }
        a.extend(["-m".into(), self.memory_mib.to_string()]);
        a.extend(["-smp".into(), self.cpus.to_string()]);
        a.extend(["-chardev".into(), "stdio,id=ser0,signal=off".into()]);
        a.extend(["-serial".into(), "chardev:ser0".into()]);
        let qmp = dir.join("qmp.sock");
        a.extend([
            "-qmp".into(),
            format!("unix:{},server=on,wait=off", qmp.display()),
        ]);
        if let Some(u) = &self.uuid {
            a.extend(["-uuid".into(), u.clone()]);
        }
        let (mut disk_index, mut nic_index) = (None, None);
        match &self.boot {
            None => bail!("{}: no boot method (kernel or firmware)", self.name),
            Some(Boot::Direct {
                kernel,
                initrd,
                append,
            }) => {
                a.extend(["-kernel".into(), kernel.display().to_string()]);
                if let Some(i) = initrd {
                    a.extend(["-initrd".into(), i.display().to_string()]);
                }
                a.extend(["-append".into(), append.clone()]);
            }
            Some(Boot::Firmware(fw, order)) => {
                if *fw == Firmware::Ovmf {
                    let vars = dir.join("OVMF_VARS.fd");
                    std::fs::copy(OVMF_VARS, &vars)
                        .with_context(|| format!("copying {OVMF_VARS} (package ovmf)"))?;
                    a.extend([
                        "-drive".into(),
                        format!("if=pflash,format=raw,unit=0,readonly=on,file={OVMF_CODE}"),
                        "-drive".into(),
                        format!("if=pflash,format=raw,unit=1,file={}", vars.display()),
                    ]);
                }
                let (first, second) = (1, 1 + self.nics.len().max(self.disks.len()));
                match order {
                    BootOrder::NetworkFirst => {
                        (nic_index, disk_index) = (Some(first), Some(second))
                    }
                    BootOrder::DiskFirst => (disk_index, nic_index) = (Some(first), Some(second)),
                }
            }
        }
        for (i, d) in self.disks.iter().enumerate() {
            let path = d.path().display().to_string();
            if path.contains(',') {
                bail!("disk path {path} contains a comma");
            }
            a.extend([
                "-drive".into(),
                format!(
                    "file={path},format={},if=none,id=disk{i},discard=unmap",
                    d.format().as_str()
                ),
            ]);
            let mut dev = format!("virtio-blk-pci,drive=disk{i},serial=disk{i}");
            if let Some(b) = disk_index {
                dev.push_str(&format!(",bootindex={}", b + i));
            }
            a.extend(["-device".into(), dev]);
        }
        for (i, n) in self.nics.iter().enumerate() {
            let netdev = match &n.kind {
                NicKind::User { options } => {
                    let mut s = format!("user,id=net{i}");
                    for o in options {
                        s.push(',');
                        s.push_str(o);
                    }
                    s
                }
                NicKind::Tap { ifname } => {
                    format!("tap,id=net{i},ifname={ifname},script=no,downscript=no")
                }
            };
            a.extend(["-netdev".into(), netdev]);
            let mut dev = format!("virtio-net-pci,netdev=net{i},mac={}", n.mac);
            if let Some(b) = nic_index {
                dev.push_str(&format!(",bootindex={}", b + i));
            }
            if let Some(rom) = &n.romfile {
                dev.push_str(&format!(",romfile={rom}"));
            }
            a.extend(["-device".into(), dev]);
        }
        a.extend(self.args.iter().cloned());
        Ok(a)
    }

    /// Launches qemu.
    pub fn start(self) -> Result<Vm> {
        let dir = Arc::new(WorkDir::new(&self.name)?);
        let args = self.qemu_args(dir.path())?;
        let qemu = std::env::var("METAL_VM_QEMU").unwrap_or_else(|_| "qemu-system-x86_64".into());
        let mut cmd = match &self.netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, &qemu]);
                c
            }
            None => Command::new(&qemu),
        };
        cmd.args(&args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let started = Instant::now();
        let mut child = cmd
            .spawn()
            .with_context(|| format!("starting {qemu} (package qemu-system-x86)"))?;
        let console = Console::new(&self.name, started);
        let log = std::fs::File::create(dir.path().join("console.log")).ok();
        let echo = std::env::var("METAL_VM_ECHO").as_deref() == Ok("1");
        if let Some(out) = child.stdout.take() {
            console.spawn_reader(out, log, echo);
        }
        if let Some(err) = child.stderr.take() {
            console.spawn_stderr_reader(err);
        }
        let stdin = child.stdin.take();
        tracing::debug!(vm = %self.name, pid = child.id(), ?args, "qemu started");
        Ok(Vm {
            name: self.name,
            child,
            stdin,
            console,
            dir,
            started,
            disks: self.disks,
        })
    }
}

/// A running (or ended) VM. Dropping it kills qemu.
pub struct Vm {
    name: String,
    child: Child,
    stdin: Option<ChildStdin>,
    console: Console,
    dir: Arc<WorkDir>,
    started: Instant,
    disks: Vec<Disk>,
}

impl Vm {
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// A handle on the console (shares the lines and the wait cursor).
    pub fn console(&self) -> Console {
        self.console.clone()
    }

    /// When qemu was started; console timestamps count from here.
    pub fn started(&self) -> Instant {
        self.started
    }

    /// The VM's work dir (console.log, qmp.sock, OVMF vars).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn disks(&self) -> &[Disk] {
        &self.disks
    }

    /// qemu's exit status, if it has ended.
    pub fn exit_status(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// The next console line containing `pattern`; the error carries the last console lines
    /// and qemu's exit status if it ended.
    pub fn wait_for(
        &mut self,
        pattern: &str,
        timeout: Duration,
    ) -> Result<ConsoleLine, ConsoleError> {
        match self.console.wait_for(pattern, timeout) {
            Ok(l) => Ok(l),
            Err(e) => {
                if self.console.is_closed() {
                    // The console closes as qemu exits; give it a moment to be reaped.
                    let _ = self.wait_exit(Duration::from_secs(5));
                }
                let status = self.exit_status().map(|s| s.to_string());
                Err(e.with_exit(status))
            }
        }
    }

    /// Waits for the line `marker` of a guest script that reports its own failure with a line
    /// containing `failed` (and then powers off). A failure is an error with the console from
    /// 40 lines before that line to the guest's end; a timeout is [`Vm::wait_for`]'s error.
    /// Answers how long the wait took.
    pub fn phase(&mut self, marker: &str, failed: &str, timeout: Duration) -> Result<Duration> {
        let started = Instant::now();
        let r = self.wait_for(marker, timeout);
        let at = self
            .console
            .lines()
            .iter()
            .position(|l| l.text.contains(failed));
        if let Some(at) = at {
            // the script prints what it knows before it powers off
            let _ = self.wait_exit(Duration::from_secs(60));
            let lines: Vec<String> = self.console.lines()[at.saturating_sub(40)..]
                .iter()
                .map(|l| l.text.clone())
                .collect();
            bail!("{}: the guest failed:\n{}", self.name, lines.join("\n"));
        }
        r.map_err(|e| anyhow::anyhow!("{marker}: {e}"))?;
        Ok(started.elapsed())
    }

    /// Waits for qemu to exit (e.g. after `poweroff -f`).
    pub fn wait_exit(&mut self, timeout: Duration) -> Result<ExitStatus> {
        let deadline = Instant::now() + timeout;
        self.console.wait_closed(timeout);
        // done when qemu exited or waiting for it failed
        let exited = try_until_blocking(
            "qemu to exit",
            deadline.saturating_duration_since(Instant::now()),
            Duration::from_millis(20),
            || self.child.try_wait().transpose(),
        );
        match exited {
            Ok(status) => status.context("waiting for qemu"),
            Err(_) => bail!(
                "{}: qemu still running after {timeout:?}\n{}",
                self.name,
                self.console.tail(super::console::TAIL_LINES)
            ),
        }
    }

    /// Types `line` and a newline on the serial console.
    pub fn send_line(&mut self, line: &str) -> Result<()> {
        let stdin = self.stdin.as_mut().context("console input closed")?;
        stdin.write_all(format!("{line}\n").as_bytes())?;
        stdin.flush()?;
        Ok(())
    }

    /// One QMP command; returns its `return` value.
    pub fn qmp(&self, execute: &str, arguments: Option<Value>) -> Result<Value> {
        super::qmp::execute(&self.dir.path().join("qmp.sock"), execute, arguments)
    }

    /// ACPI power button (the guest needs acpid or a kernel that handles it).
    pub fn powerdown(&self) -> Result<()> {
        self.qmp("system_powerdown", None).map(|_| ())
    }

    /// Ends qemu at once; the disks stay consistent as far as the guest flushed them.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Vm {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            self.kill();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::nic::mac_for;
    use super::*;

    #[test]
    fn firmware_boot_orders_devices() {
        let b = Vm::builder()
            .firmware(Firmware::SeaBios, BootOrder::DiskFirst)
            .disk(&Disk::open(
                Path::new("/tmp/a.qcow2"),
                super::super::DiskFormat::Qcow2,
            ))
            .nic(Nic::tap("tap0", &mac_for(1)));
        let args = b.qemu_args(Path::new("/tmp/x")).unwrap().join(" ");
        assert!(
            args.contains("virtio-blk-pci,drive=disk0,serial=disk0,bootindex=1"),
            "{args}"
        );
        assert!(args.contains("mac=52:54:00:00:00:01,bootindex=2"), "{args}");
        assert!(
            args.contains("tap,id=net0,ifname=tap0,script=no,downscript=no"),
            "{args}"
        );
        assert!(args.contains("-accel tcg,tb-size=64 -cpu max"), "{args}");
    }

    #[test]
    fn needs_a_boot_method() {
        assert!(Vm::builder().qemu_args(Path::new("/tmp")).is_err());
    }
}
