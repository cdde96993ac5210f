//! What the lab's machines boot: Debian's kernel, the metal-hammer ramdisk, and the OS image.
//!
//! - **ramdisk**: busybox, the disk tools and modules of the VM harness, ipmitool, and
//!   metal-hammer as `/init`;
//! - **OS image** (`img.tar.lz4` + `.md5`, see `metal_sim::osimage`): a busybox root whose
//!   `/install.sh` writes `boot-info.yaml`; `/boot/vmlinuz` is the same Debian kernel and
//!   `/boot/initrd.img` an initramfs that assembles md arrays and LVM volumes, mounts the root
//!   file system named by `root=UUID=` and `switch_root`s into the disk's `/sbin/init`. That init
//!   mounts what `/etc/fstab` lists, prints what the disks hold (for the lab's checks), brings up
//!   the NICs and runs `metal-lldpd`, which sends the "provisioned" LLDP beacon (go-lldpd's job
//!   in metal-stack's images) that metal-core turns into Phoned Home.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context};
use metal_sim::osimage::{OsImage, OsImageBuilder};
use metal_sim::vm::{ldd, DebianKernel, Initramfs};

/// Printed by the installed OS once its root file system is mounted.
pub const OS_UP: &str = "LAB-OS-UP";
/// Prefix of the disk facts the installed OS prints.
pub const OS_FACT: &str = "LAB-OS-FACT";

/// The nftables expressions of the firewall rules os-installer renders (counter, meta and the
/// set types are part of `nf_tables`).
pub const NFTABLES_MODULES: &[&str] = &[
    "nf_tables",
    "nft_ct",
    "nft_limit",
    "nft_log",
    "nf_log_syslog",
    "nft_chain_nat",
    "nft_nat",
    "nft_masq",
    "nft_reject_inet",
];

/// The installed OS's initramfs `/init`: modules, arrays, volumes, root by UUID, switch_root.
const OS_INITRD_INIT: &str = r#"#!/bin/sh
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /run/lvm /run/lock
kver=$(uname -r)
while read -r m; do
    [ -n "$m" ] && insmod "/lib/modules/$kver/$m" 2>/dev/null
done < /etc/metal-vm/modules
sleep 1
mdadm --assemble --scan >/dev/null 2>&1
lvm vgchange -ay >/dev/null 2>&1
uuid=$(sed -n 's/.*root=UUID=\([^ ]*\).*/\1/p' /proc/cmdline)
dev=""
for i in $(busybox seq 1 50); do
    dev=$(blkid -U "$uuid" 2>/dev/null) && [ -n "$dev" ] && break
    busybox usleep 200000
done
if [ -z "$dev" ]; then
    echo "LAB-OS-FAILED: no root file system with UUID $uuid"
    sleep 5
    echo b > /proc/sysrq-trigger
fi
for md in /dev/md*; do
    [ -b "$md" ] && echo "LAB-OS-FACT mdadm $md $(mdadm --detail "$md" 2>/dev/null | sed -n 's/^ *\(Version\|Raid Level\|Active Devices\) : \(.*\)/\1=\2/p' | tr ' \n' '_ ')"
done
lvm lvs --noheadings -o lv_name,vg_name,segtype,stripes 2>/dev/null | while read -r l; do echo "LAB-OS-FACT lv $l"; done
mkdir -p /newroot
mount -o rw "$dev" /newroot || { echo "LAB-OS-FAILED: mounting $dev"; sleep 5; echo b > /proc/sysrq-trigger; }
echo "LAB-OS-FACT rootdev $dev"
umount /sys /proc
mount --move /dev /newroot/dev 2>/dev/null || umount /dev
exec busybox switch_root /newroot /sbin/init
"#;

/// The installed OS's `/sbin/init` (on the disk).
const OS_INIT: &str = r#"#!/bin/sh
export PATH=/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mount -a 2>&1 | sed 's/^/LAB-OS mount: /'
echo "LAB-OS-UP $(cat /etc/hostname) $(grep -o 'root=[^ ]*' /proc/cmdline)"
while read -r dev mnt fs rest; do
    case "$dev" in /dev/*) echo "LAB-OS-FACT mount $mnt $dev $fs";; esac
done < /proc/mounts
[ -f /proc/mdstat ] && grep '^md' /proc/mdstat | sed 's/^/LAB-OS-FACT mdstat /'
for n in /sys/class/net/eth*; do busybox ip link set "${n##*/}" up; done
metal-lldpd --install-yaml /etc/metal/install.yaml &
while true; do sleep 3600; done
"#;

/// The built artifacts.
#[derive(Debug, Clone)]
pub struct Artifacts {
    pub kernel: PathBuf,
    pub ramdisk: PathBuf,
    pub image: OsImage,
    pub kernel_version: String,
}

/// Builds everything into `dir`: `vmlinuz`, `metal-hammer-initrd.img`, `img.tar.lz4` and its
/// `.md5` (and the OS image's initrd on its own).
pub fn build(dir: &Path, hammer: &Path, lldpd: &Path) -> anyhow::Result<Artifacts> {
    std::fs::create_dir_all(dir)?;
    let kernel = DebianKernel::get().context("the Debian kernel for the machines")?;
    let vmlinuz = dir.join("vmlinuz");
    std::fs::copy(&kernel.vmlinuz, &vmlinuz)?;

    let ramdisk = dir.join("metal-hammer-initrd.img");
    Initramfs::standard(&kernel)?
        // UEFI machines: metal-hammer mounts efivarfs into the target for the installer;
        // nftables: a firewall's installer checks its rules (`nft --check`) against the
        // running kernel, metal-hammer's, which the ramdisk has no modprobe to extend
        .modules(&kernel, &["efivarfs"])?
        .modules(&kernel, NFTABLES_MODULES)?
        .binary("mkfs.ext3")?
        .binary("ipmitool")?
        .binary_as(&hammer.display().to_string(), "/init")?
        .build(&ramdisk)
        .context("building the metal-hammer ramdisk")?;

    let os_initrd = dir.join("os-initrd.img");
    Initramfs::standard(&kernel)?
        .file("/init", 0o755, OS_INITRD_INIT)
        .build(&os_initrd)
        .context("building the OS image's initrd")?;

    let mut image = OsImageBuilder::new()
        .file("/boot/vmlinuz", std::fs::read(&vmlinuz)?, 0o644)
        .file("/boot/initrd.img", std::fs::read(&os_initrd)?, 0o644)
        .file("/sbin/init", OS_INIT, 0o755)
        .file("/usr/local/bin/metal-lldpd", std::fs::read(lldpd)?, 0o755);
    for lib in libraries(lldpd)? {
        let bytes = std::fs::read(&lib).with_context(|| format!("reading {}", lib.display()))?;
        image = image.file(&lib.display().to_string(), bytes, 0o755);
    }
    let image = image.build(dir).context("building the OS image")?;
    Ok(Artifacts {
        kernel: vmlinuz,
        ramdisk,
        image,
        kernel_version: kernel.version,
    })
}

/// The shared libraries (and loader) of a program, as `ldd` names them; the files read through
/// their symlinks.
fn libraries(program: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let out = Command::new("ldd")
        .arg(program)
        .output()
        .context("running ldd")?;
    let libs = ldd::parse(&String::from_utf8_lossy(&out.stdout));
    if !libs.missing.is_empty() {
        bail!(
            "{}: libraries not found: {:?}",
            program.display(),
            libs.missing
        );
    }
    Ok(libs.paths.into_iter().map(PathBuf::from).collect())
}
