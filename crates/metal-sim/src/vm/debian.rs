//! A Debian guest for what busybox cannot do: the leaf switches and firewalls of the routed
//! lab need ifupdown2 (Python), FRR and nftables on a kernel with VRF, 802.1Q and
//! VLAN-filtering bridges, which the host kernel lacks (network.md §6).
//!
//! [`DebianGuest::get`] builds a root file system once per machine with `debootstrap
//! --variant=minbase` from the Debian archive apt already uses (about 2.5 min, 0.9 GB), writes
//! it into an ext4 image (`mkfs.ext4 -d`) and keeps that image with the root's own kernel and
//! initrd in `<METAL_VM_CACHE>/debian-<name>-<digest>/`. The digest covers the suite, the
//! package list and [`GUEST_INIT`], so a change to either builds a new image (see
//! [`super::cached`] for the locking).
//!
//! Each [`DebianGuest::run`] boots the image read-only (a qcow2 overlay per run takes the
//! writes), with a second small ext4 disk holding the run's script and files, mounted at
//! [`FILES_MOUNT`]. The root's `/metal-init` is PID 1: it mounts the kernel file systems,
//! loads the modules the datapath needs, prints the markers of the busybox guests
//! (`VM-READY`, `VM-CMD-START`, `VM-CMD-EXIT <code>`, so [`super::script::collect`] reads both)
//! and powers off.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};

use super::disk::{Disk, DiskFormat};
use super::qemu::{Vm, VmBuilder};
use super::script::{collect, ScriptOutput};
use super::{run_checked, WorkDir};

/// The Debian release of the guests (the machines' own).
pub const SUITE: &str = "bookworm";

/// Where the run's files are mounted in the guest.
pub const FILES_MOUNT: &str = "/run/metal";

/// A guest's name and the packages on top of `minbase`.
#[derive(Debug, Clone, Copy)]
pub struct GuestSpec {
    pub name: &'static str,
    pub packages: &'static [&'static str],
}

/// The network guest: a Cumulus-style Linux switch or a firewall (ifupdown2, FRR with its
/// reload tool, nftables, the ISC DHCP relay, LLDP) on Debian's kernel.
pub const NETWORK: GuestSpec = GuestSpec {
    name: "network",
    packages: &[
        "linux-image-amd64",
        "systemd-sysv",
        "kmod",
        "procps",
        "iproute2",
        "ifupdown2",
        "frr",
        "frr-pythontools",
        "nftables",
        "isc-dhcp-relay",
        "lldpd",
    ],
};

/// The root of the lab's Debian machine and firewall images (`metal-lab`): what os-installer's
/// contract asks of an image (systemd with networkd, FRR, nftables, `useradd`), the kernel and
/// an initrd that assembles RAID and LVM roots, sshd, curl, and Python for the lab's test
/// services.
pub const MACHINE_ROOT: GuestSpec = GuestSpec {
    name: "machine-root",
    packages: &[
        "linux-image-amd64",
        "systemd-sysv",
        "kmod",
        "procps",
        "iproute2",
        "frr",
        "nftables",
        "openssh-server",
        "python3",
        "mdadm",
        "lvm2",
        "sudo",
        "curl",
    ],
};

/// PID 1 of the guest. The kernel command line's `metal.modules=a,b` are loaded first.
pub const GUEST_INIT: &str = r#"#!/bin/sh
# metal-sim Debian guest init: kernel file systems, modules, the run's script, power off.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mkdir -p /dev/pts /run /tmp
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp
hostname "$(sed -n 's/.*metal.hostname=\([^ ]*\).*/\1/p' /proc/cmdline)"
for m in $(sed -n 's/.*metal.modules=\([^ ]*\).*/\1/p' /proc/cmdline | tr ',' ' '); do
  modprobe "$m" || echo "metal-init: modprobe $m failed"
done
ip link set lo up
mkdir -p /run/metal
mount -o ro /dev/vdb /run/metal
echo "VM-READY $(cut -d' ' -f1 /proc/uptime)"
echo "VM-CMD-START"
sh /run/metal/run.sh
echo "VM-CMD-EXIT $?"
sync
echo o > /proc/sysrq-trigger
sleep 30
"#;

/// A built guest: its root image, kernel and initrd.
#[derive(Debug, Clone)]
pub struct DebianGuest {
    pub name: String,
    /// ext4 image of the root file system (never written: runs use overlays)
    pub image: PathBuf,
    pub vmlinuz: PathBuf,
    pub initrd: PathBuf,
}

/// One run: a script with files beside it.
#[derive(Debug, Clone)]
pub struct GuestRun {
    script: String,
    files: Vec<(String, Vec<u8>, u32)>,
    modules: Vec<String>,
    hostname: String,
    memory_mib: u32,
    timeout: Duration,
}

impl GuestRun {
    /// `script` (POSIX sh) runs as root with its output on the console; its exit code is the
    /// run's.
    pub fn new(script: &str) -> Self {
        Self {
            script: script.to_string(),
            files: Vec::new(),
            modules: Vec::new(),
            hostname: "guest".to_string(),
            memory_mib: 1024,
            timeout: Duration::from_secs(300),
        }
    }

    /// A file at `FILES_MOUNT/<rel>` with the given mode (e.g. `0o755` for a binary).
    pub fn file(mut self, rel: &str, content: impl Into<Vec<u8>>, mode: u32) -> Self {
        self.files.push((rel.to_string(), content.into(), mode));
        self
    }

    /// Kernel modules loaded before the script (e.g. `vrf`, `8021q`, `vxlan`, `bridge`).
    pub fn modules(mut self, modules: &[&str]) -> Self {
        self.modules.extend(modules.iter().map(|m| m.to_string()));
        self
    }

    pub fn hostname(mut self, name: &str) -> Self {
        self.hostname = name.to_string();
        self
    }

    pub fn memory_mib(mut self, mib: u32) -> Self {
        self.memory_mib = mib;
        self
    }

    /// How long the run may take until `VM-CMD-EXIT` (default 300 s: TCG on a busy machine).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
}

impl DebianGuest {
    /// The guest of `spec`, built on first use (needs root, debootstrap and the archive).
    pub fn get(spec: &GuestSpec) -> Result<Self> {
        let entry = format!("debian-{}-{}", spec.name, &digest(spec)[..16]);
        let ready = |dir: &Path| Self::at(dir, spec.name);
        super::cached(&super::kernel::cache_dir(), &entry, ready, |dir| {
            build(spec, dir)
        })
    }

    /// A built entry (`root.ext4`, `vmlinuz`, `initrd.img`).
    pub fn at(dir: &Path, name: &str) -> Result<Self> {
        let g = Self {
            name: name.to_string(),
            image: dir.join("root.ext4"),
            vmlinuz: dir.join("vmlinuz"),
            initrd: dir.join("initrd.img"),
        };
        for p in [&g.image, &g.vmlinuz, &g.initrd] {
            if !p.is_file() {
                bail!("{}: missing", p.display());
            }
        }
        Ok(g)
    }

    /// A VM of this guest for `run`, for callers that add NICs or change it further before
    /// [`VmBuilder::start`]; `dir` keeps the overlay and the files disk.
    pub fn vm(&self, run: &GuestRun, dir: &Path) -> Result<VmBuilder> {
        let overlay = dir.join(format!("{}-root.qcow2", run.hostname));
        run_checked(
            Command::new("qemu-img")
                .args(["create", "-q", "-f", "qcow2", "-F", "raw", "-b"])
                .arg(&self.image)
                .arg(&overlay),
        )?;
        let files = files_disk(run, dir)?;
        let mut append = format!(
            "console=ttyS0 panic=-1 loglevel=4 root=/dev/vda rw init=/metal-init metal.hostname={}",
            run.hostname
        );
        if !run.modules.is_empty() {
            append.push_str(&format!(" metal.modules={}", run.modules.join(",")));
        }
        Ok(Vm::builder()
            .name(&run.hostname)
            .memory_mib(run.memory_mib)
            .disk(&Disk::open(&overlay, DiskFormat::Qcow2))
            .disk(&files)
            .kernel(&self.vmlinuz, Some(&self.initrd), &append))
    }

    /// Boots the guest with `run` and no NIC, and collects the script's output.
    pub fn run(&self, run: &GuestRun) -> Result<ScriptOutput> {
        let dir = WorkDir::new(&format!("debian-{}", self.name))?;
        let mut vm = self.vm(run, dir.path())?.start()?;
        collect(&mut vm, run.timeout)
    }
}

/// A Debian root file system packed as an uncompressed tar archive (numeric owners), the base
/// of an OS image: `<METAL_VM_CACHE>/debian-root-<name>-<digest>/root.tar`.
#[derive(Debug, Clone)]
pub struct DebianRoot {
    pub tar: PathBuf,
}

impl DebianRoot {
    /// The root of `spec`, built on first use (needs root, debootstrap and the archive).
    pub fn get(spec: &GuestSpec) -> Result<Self> {
        let entry = format!("debian-root-{}-{}", spec.name, &digest(spec)[..16]);
        super::cached(&super::kernel::cache_dir(), &entry, Self::at, |dir| {
            build_root(spec, dir)
        })
    }

    pub fn at(dir: &Path) -> Result<Self> {
        let tar = dir.join("root.tar");
        if !tar.is_file() {
            bail!("{}: missing", tar.display());
        }
        Ok(Self { tar })
    }
}

/// debootstrap, without apt's downloaded packages, packed.
fn build_root(spec: &GuestSpec, dir: &Path) -> Result<()> {
    let root = dir.join("root");
    debootstrap(spec, &root)?;
    let _ = fs::remove_dir_all(root.join("var/cache/apt/archives"));
    run_checked(
        Command::new("tar")
            .args(["--numeric-owner", "--xattrs", "-C"])
            .arg(&root)
            .arg("-cf")
            .arg(dir.join("root.tar"))
            .arg("."),
    )?;
    fs::remove_dir_all(&root)?;
    Ok(())
}

fn debootstrap(spec: &GuestSpec, root: &Path) -> Result<()> {
    let started = std::time::Instant::now();
    run_checked(
        Command::new("debootstrap")
            .args(["--variant=minbase", "--merged-usr"])
            .arg(format!("--include={}", spec.packages.join(",")))
            .arg(SUITE)
            .arg(root)
            .arg(mirror()?),
    )
    .with_context(|| {
        format!(
            "debootstrap of the Debian {} (needs root and the Debian archive)",
            spec.name
        )
    })?;
    tracing::info!(
        guest = spec.name,
        secs = started.elapsed().as_secs(),
        "debootstrap done"
    );
    Ok(())
}

/// The digest of what the image holds.
fn digest(spec: &GuestSpec) -> String {
    let mut h = Sha256::new();
    h.update(SUITE);
    for p in spec.packages {
        h.update([0]);
        h.update(p);
    }
    h.update([0]);
    h.update(GUEST_INIT);
    hex::encode(h.finalize())
}

/// The Debian archive apt uses here: `METAL_VM_DEBIAN_MIRROR`, else the first `URIs:` of
/// `/etc/apt/sources.list.d/debian.sources` or the first `deb` line of `sources.list`.
pub fn mirror() -> Result<String> {
    if let Ok(m) = std::env::var("METAL_VM_DEBIAN_MIRROR") {
        return Ok(m);
    }
    let deb822 = fs::read_to_string("/etc/apt/sources.list.d/debian.sources").unwrap_or_default();
    let list = fs::read_to_string("/etc/apt/sources.list").unwrap_or_default();
    mirror_in(&deb822, &list).context(
        "no Debian archive in /etc/apt/sources.list.d/debian.sources or /etc/apt/sources.list \
         (set METAL_VM_DEBIAN_MIRROR)",
    )
}

fn mirror_in(deb822: &str, list: &str) -> Option<String> {
    let from_deb822 = deb822
        .lines()
        .filter_map(|l| l.strip_prefix("URIs:"))
        .flat_map(str::split_whitespace)
        .find(|u| !u.contains("security"));
    let from_list = || {
        list.lines()
            .map(str::split_whitespace)
            .filter_map(|mut w| (w.next() == Some("deb")).then(|| w.find(|x| !x.starts_with('['))))
            .flatten()
            .find(|u| !u.contains("security"))
    };
    from_deb822.or_else(from_list).map(str::to_string)
}

/// debootstrap, the init, the kernel and initrd copied out, the ext4 image.
fn build(spec: &GuestSpec, dir: &Path) -> Result<()> {
    let root = dir.join("root");
    debootstrap(spec, &root)?;
    let init = root.join("metal-init");
    fs::write(&init, GUEST_INIT)?;
    set_mode(&init, 0o755)?;
    // no daemons start by themselves: the runs start what they test
    fs::write(root.join("etc/hostname"), "guest\n")?;
    for (pattern, dest) in [("vmlinuz-", "vmlinuz"), ("initrd.img-", "initrd.img")] {
        let boot = root.join("boot");
        let found = fs::read_dir(&boot)?
            .filter_map(|e| e.ok())
            .find(|e| e.file_name().to_string_lossy().starts_with(pattern))
            .with_context(|| format!("no {pattern}* in {}", boot.display()))?;
        fs::copy(found.path(), dir.join(dest))?;
    }
    // apt's downloaded packages are not needed in the image
    let _ = fs::remove_dir_all(root.join("var/cache/apt/archives"));
    let image = dir.join("root.ext4");
    let file = fs::File::create(&image)?;
    file.set_len(3 << 30)?;
    drop(file);
    run_checked(
        Command::new("mkfs.ext4")
            .args(["-q", "-F", "-L", "metal-root", "-d"])
            .arg(&root)
            .arg(&image),
    )?;
    fs::remove_dir_all(&root)?;
    Ok(())
}

/// A small ext4 disk holding `run.sh` and the run's files.
fn files_disk(run: &GuestRun, dir: &Path) -> Result<Disk> {
    let tree = dir.join(format!("{}-files", run.hostname));
    fs::create_dir_all(&tree)?;
    let script = tree.join("run.sh");
    fs::write(&script, &run.script)?;
    set_mode(&script, 0o755)?;
    let mut size: u64 = 0;
    for (rel, content, mode) in &run.files {
        if rel.split('/').any(|p| p == ".." || p.is_empty()) {
            bail!("file {rel:?}: a relative path without '..' or empty parts");
        }
        let path = tree.join(rel);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)?;
        }
        fs::write(&path, content)?;
        set_mode(&path, *mode)?;
        size += content.len() as u64;
    }
    let image = dir.join(format!("{}-files.ext4", run.hostname));
    let file = fs::File::create(&image)?;
    file.set_len((size * 2).max(16 << 20))?;
    drop(file);
    run_checked(
        Command::new("mkfs.ext4")
            .args(["-q", "-F", "-L", "metal-files", "-d"])
            .arg(&tree)
            .arg(&image),
    )?;
    Ok(Disk::open(&image, DiskFormat::Raw))
}

fn set_mode(path: &Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .with_context(|| format!("chmod {mode:o} {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::super::init::{MARK_CMD_EXIT, MARK_CMD_START, MARK_READY};
    use super::*;

    #[test]
    fn the_mirror_is_read_from_apt_sources() {
        let deb822 = "Types: deb\n# http://snapshot.debian.org/archive/debian/2025\nURIs: http://deb.debian.org/debian\nSuites: bookworm\n\nTypes: deb\nURIs: http://deb.debian.org/debian-security\n";
        assert_eq!(
            mirror_in(deb822, "").as_deref(),
            Some("http://deb.debian.org/debian")
        );
        let list = "# comment\ndeb http://security.debian.org/debian-security bookworm-security main\ndeb [arch=amd64] http://mirror.test/debian bookworm main\n";
        assert_eq!(
            mirror_in("", list).as_deref(),
            Some("http://mirror.test/debian")
        );
        assert_eq!(mirror_in("", ""), None);
    }

    #[test]
    fn the_digest_follows_packages_and_init() {
        let a = digest(&NETWORK);
        let fewer = GuestSpec {
            name: "network",
            packages: &NETWORK.packages[..3],
        };
        assert_ne!(a, digest(&fewer));
        assert_eq!(a, digest(&NETWORK));
        assert!(GUEST_INIT.contains(MARK_READY) && GUEST_INIT.contains(MARK_CMD_START));
        assert!(GUEST_INIT.contains(MARK_CMD_EXIT));
    }
}
