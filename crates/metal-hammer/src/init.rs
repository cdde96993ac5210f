//! What metal-hammer does as PID 1 of the ramdisk before the agent runs, and how it ends.
//!
//! The ramdisk's `/init` may prepare everything itself and `exec` the hammer; every step here
//! is therefore idempotent: filesystems already mounted stay, modules already loaded are
//! skipped, interfaces with an address keep it.
//!
//! - mounts `/proc`, `/sys`, `/dev` (devtmpfs), `/tmp`, `/run`;
//! - loads the kernel modules listed in the first of [`MODULES_FILES`] that exists (one path
//!   per line, absolute or relative to `/lib/modules/<release>`, in dependency order as the
//!   ramdisk builder resolved them) with `insmod`;
//! - brings every `eth*` interface up and asks for an address with busybox `udhcpc` on all of
//!   them at once (the Debian kernel has no `ip=dhcp`); `/etc/resolv.conf` comes from the lease.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::Context;
use nix::mount::{mount, MsFlags};

/// Lists of modules to load, one `.ko` path per line, dependencies first: our own, and the one
/// metal-sim's ramdisk builder (`metal_sim::vm::Initramfs::modules`) writes.
pub const MODULES_FILES: &[&str] = &["/etc/metal-hammer/modules", "/etc/metal-vm/modules"];
/// PATH of PID 1 (the kernel starts init without one).
pub const PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// The udhcpc script that configures address, route and resolver.
pub const UDHCPC_SCRIPT: &str = "/usr/share/udhcpc/default.script";

pub fn is_pid1() -> bool {
    std::process::id() == 1
}

fn mounted(path: &str) -> bool {
    std::fs::read_to_string("/proc/self/mounts")
        .map(|m| m.lines().any(|l| l.split_whitespace().nth(1) == Some(path)))
        .unwrap_or(false)
}

fn mount_fs(source: &str, target: &str, fstype: &str, data: Option<&str>) -> anyhow::Result<()> {
    if Path::new("/proc/self/mounts").exists() && mounted(target) {
        return Ok(());
    }
    std::fs::create_dir_all(target).with_context(|| format!("creating {target}"))?;
    mount(Some(source), target, Some(fstype), MsFlags::empty(), data)
        .with_context(|| format!("mounting {fstype} on {target}"))
}

/// Mounts the kernel filesystems.
pub fn mount_kernel_filesystems() -> anyhow::Result<()> {
    mount_fs("proc", "/proc", "proc", None)?;
    mount_fs("sysfs", "/sys", "sysfs", None)?;
    mount_fs("devtmpfs", "/dev", "devtmpfs", Some("mode=0755"))?;
    mount_fs("tmpfs", "/tmp", "tmpfs", Some("mode=1777"))?;
    mount_fs("tmpfs", "/run", "tmpfs", Some("mode=0755"))?;
    Ok(())
}

/// Loads the listed modules; a module that is already loaded is fine, a missing file is not.
pub fn load_modules(list: &Path) -> anyhow::Result<usize> {
    let Ok(s) = std::fs::read_to_string(list) else {
        return Ok(0);
    };
    let loaded = std::fs::read_to_string("/proc/modules").unwrap_or_default();
    let release = nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut n = 0;
    for line in s
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let path = if line.starts_with('/') {
            line.to_string()
        } else {
            format!("/lib/modules/{release}/{line}")
        };
        let path = path.as_str();
        let name = Path::new(path)
            .file_name()
            .and_then(|f| f.to_str())
            .unwrap_or(path)
            .trim_end_matches(".ko")
            .replace('-', "_");
        if loaded
            .lines()
            .any(|l| l.split_whitespace().next() == Some(name.as_str()))
        {
            continue;
        }
        let out = Command::new("insmod")
            .arg(path)
            .output()
            .with_context(|| format!("running insmod {path}"))?;
        let err = String::from_utf8_lossy(&out.stderr);
        if !out.status.success() && !err.contains("File exists") {
            anyhow::bail!("insmod {path}: {}", err.trim());
        }
        n += 1;
    }
    Ok(n)
}

/// The names of the `eth*` interfaces.
pub fn ethernet_interfaces() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir("/sys/class/net")
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().to_string())
                .filter(|n| n.starts_with("eth"))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// The first IPv4 address of an `eth*` interface (for the LLDP description).
pub fn first_ipv4() -> Option<String> {
    let out = Command::new("ip")
        .args(["-4", "-o", "addr", "show"])
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout).lines().find_map(|l| {
        let mut w = l.split_whitespace();
        let iface = w.nth(1)?;
        if !iface.starts_with("eth") {
            return None;
        }
        let cidr = w.skip_while(|x| *x != "inet").nth(1)?;
        Some(cidr.split('/').next()?.to_string())
    })
}

/// Brings `lo` and the `eth*` interfaces up (MTU 9000 as metal-hammer sets, where the NIC
/// allows it) and runs udhcpc on each interface without an address; succeeds when at least
/// one interface has an IPv4 address.
pub fn network_up(interfaces: &[String]) -> anyhow::Result<()> {
    let _ = Command::new("ip")
        .args(["link", "set", "lo", "up"])
        .status();
    for i in interfaces {
        let _ = Command::new("ip")
            .args(["link", "set", i, "mtu", "9000"])
            .output();
        let _ = Command::new("ip").args(["link", "set", i, "up"]).status();
    }
    if first_ipv4().is_some() {
        return Ok(());
    }
    let children: Vec<_> = interfaces
        .iter()
        .filter_map(|i| {
            Command::new("udhcpc")
                .args([
                    "-i",
                    i,
                    "-n",
                    "-q",
                    "-t",
                    "8",
                    "-T",
                    "2",
                    "-s",
                    UDHCPC_SCRIPT,
                ])
                .spawn()
                .ok()
        })
        .collect();
    for mut c in children {
        let _ = c.wait();
    }
    first_ipv4()
        .map(|_| ())
        .context("no interface got an IPv4 address by DHCP")
}

/// Everything PID 1 does before the agent: filesystems, modules, network.
pub fn prepare() -> anyhow::Result<()> {
    mount_kernel_filesystems()?;
    let mut n = 0;
    if let Some(list) = MODULES_FILES.iter().map(Path::new).find(|p| p.exists()) {
        n = load_modules(list)?;
    }
    tracing::info!(modules = n, "kernel modules loaded");
    network_up(&ethernet_interfaces())
}

/// Ends PID 1 after a failure: reboot (the BMC's boot order brings the machine back to PXE).
/// As a plain process: exit 1.
pub fn reboot_after(pause: Duration) -> ! {
    std::thread::sleep(pause);
    if is_pid1() {
        nix::unistd::sync();
        let _ = nix::sys::reboot::reboot(nix::sys::reboot::RebootMode::RB_AUTOBOOT);
    }
    std::process::exit(1)
}
