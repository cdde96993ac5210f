//! The lab's Debian OS images, packed as metal-images ships an image (`img.tar.lz4` with
//! `img.tar.lz4.md5`) for metal-hammer: a Debian root from `debootstrap`
//! ([`metal_sim::vm::debian::MACHINE_ROOT`]: systemd with networkd, FRR, nftables, sshd, the
//! kernel and an initrd with RAID and LVM, cached) plus what makes it a metal-stack image:
//!
//! - `/install.sh`, which runs `/usr/local/bin/os-installer` (docs/os-installer.md: the
//!   contract, what it configures from `/etc/metal/install.yaml`);
//! - `/usr/local/bin/metal-lldpd` and its unit `metal-lldpd.service` (enabled): the
//!   "provisioned" LLDP beacon metal-core turns into Phoned Home, go-lldpd's job in
//!   metal-stack's images;
//! - on the firewall image, `/usr/local/bin/droptailer-client` (the unit os-installer writes
//!   runs it).
//!
//! The base archive is copied, what a qemu machine does not need is deleted from the copy
//! ([`left_out`]: documentation, translations, apt's package lists, kernel modules of hardware
//! the lab has not), the additions are appended as root-owned files (binaries without their
//! debug sections), then it is compressed with `lz4`; the root directory's own entry stays the
//! base's. Every byte of the image crosses the fabric guest's emulated switches at install
//! time, so the image is kept to what the lab's machines run.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context;
use metal_sim::vm::debian::{DebianRoot, MACHINE_ROOT};
use metal_sim::vm::run_checked;

/// The unit of the LLDP beacon.
pub const LLDPD_UNIT: &str = "[Unit]
Description=metal-lldpd: announces the machine as provisioned (LLDP), for metal-core's phone home
After=network.target

[Service]
ExecStart=/usr/local/bin/metal-lldpd --install-yaml /etc/metal/install.yaml
Restart=always
RestartSec=5

[Install]
WantedBy=multi-user.target
";

/// What metal-hammer runs chrooted into the image.
pub const INSTALL_SH: &str = "#!/bin/sh\n# metal-lab's Debian image: os-installer configures the system from /etc/metal/install.yaml\nexec /usr/local/bin/os-installer \"$@\"\n";

/// The two kinds of image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Machine,
    Firewall,
}

impl Kind {
    /// The image's directory below the lab's files (served over HTTP).
    pub fn dir_name(self) -> &'static str {
        match self {
            Kind::Machine => "debian-machine",
            Kind::Firewall => "debian-firewall",
        }
    }
}

/// systemd-networkd leaves the routes and rules of others (FRR's) alone: by default a restart
/// of networkd flushes every route it did not make, and with them the machine's BGP routes.
pub const NETWORKD_CONF: &str = "# metal-lab's image: FRR owns the routes it installs
[Network]
ManageForeignRoutes=no
ManageForeignRoutingPolicyRules=no
";

/// A firewall routes between its VRFs (metal-stack's firewall images enable forwarding).
pub const FIREWALL_SYSCTL: &str = "# metal-lab's firewall image: the firewall routes
net.ipv4.ip_forward=1
net.ipv6.conf.all.forwarding=1
";

/// What the image adds to FRR's packaged `/etc/frr/daemons`: watchfrr starts the daemons and
/// loads `frr.conf` in a background job that it kills after `-T` seconds (20 by default). Under
/// qemu without KVM that job takes longer, and a killed one leaves bgpd without its
/// configuration.
pub const WATCHFRR_OPTIONS: &str =
    "\n# metal-lab: slow (emulated) machines start FRR slowly\nwatchfrr_options=\"-T 300\"\n";

/// A packed image: `<dir>/img.tar.lz4` and its `.md5`.
#[derive(Debug, Clone)]
pub struct Image {
    pub kind: Kind,
    pub tar_lz4: PathBuf,
    pub md5: String,
    pub compressed_bytes: u64,
}

/// The files added to the Debian root, `(path in the image, contents, mode)`.
pub fn additions(kind: Kind, bin_dir: &Path) -> anyhow::Result<Vec<(String, Vec<u8>, u32)>> {
    let bin = |name: &str| -> anyhow::Result<Vec<u8>> {
        let p = bin_dir.join(name);
        std::fs::read(&p).with_context(|| format!("reading {} (cargo build --bins)", p.display()))
    };
    let mut v = vec![
        (
            "install.sh".to_string(),
            INSTALL_SH.as_bytes().to_vec(),
            0o755,
        ),
        (
            "usr/local/bin/os-installer".to_string(),
            bin("os-installer")?,
            0o755,
        ),
        (
            "usr/local/bin/metal-lldpd".to_string(),
            bin("metal-lldpd")?,
            0o755,
        ),
        (
            "etc/systemd/networkd.conf.d/metal.conf".to_string(),
            NETWORKD_CONF.as_bytes().to_vec(),
            0o644,
        ),
        (
            "etc/systemd/system/metal-lldpd.service".to_string(),
            LLDPD_UNIT.as_bytes().to_vec(),
            0o644,
        ),
    ];
    if kind == Kind::Firewall {
        v.push((
            "etc/sysctl.d/10-metal-firewall.conf".to_string(),
            FIREWALL_SYSCTL.as_bytes().to_vec(),
            0o644,
        ));
        v.push((
            "usr/local/bin/droptailer-client".to_string(),
            bin("droptailer-client")?,
            0o755,
        ));
    }
    Ok(v)
}

/// Kernel module trees (below `kernel/`) of hardware a lab machine (qemu, virtio) has not:
/// graphics, media, radios, sound, InfiniBand, sensors, USB gadgets and serial adapters, and the
/// big Fibre Channel HBAs. Intel's Ethernet drivers stay beside virtio's.
const HARDWARE: &[&str] = &[
    "drivers/gpu/",
    "drivers/media/",
    "drivers/net/wireless/",
    "drivers/net/usb/",
    "drivers/infiniband/",
    "drivers/iio/",
    "drivers/comedi/",
    "drivers/staging/",
    "drivers/isdn/",
    "drivers/bluetooth/",
    "drivers/video/",
    "drivers/usb/serial/",
    "drivers/usb/gadget/",
    "drivers/platform/",
    "drivers/scsi/lpfc/",
    "drivers/scsi/qla2xxx/",
    "sound/",
    "net/wireless/",
    "net/mac80211/",
    "net/bluetooth/",
    "lib/test_bpf.ko",
];

/// FRR's daemons file as the Debian root's tar names it.
const DAEMONS_MEMBER: &str = "./etc/frr/daemons";

/// Whether the image leaves out this member of the Debian root (a path as `tar -t` lists it).
pub fn left_out(member: &str) -> bool {
    let p = member.trim_start_matches("./");
    let below = |dir: &str| p.starts_with(dir) && p.len() > dir.len();
    if [
        "usr/share/doc/",
        "usr/share/man/",
        "usr/share/info/",
        "usr/share/locale/",
        "var/lib/apt/lists/",
        "var/cache/apt/",
    ]
    .iter()
    .any(|d| below(d))
    {
        return true;
    }
    let Some(module) = p
        .strip_prefix("usr/lib/modules/")
        .and_then(|rest| rest.split_once("/kernel/"))
        .map(|(_, m)| m)
    else {
        return false;
    };
    if module.starts_with("drivers/net/ethernet/") {
        return !module.starts_with("drivers/net/ethernet/intel");
    }
    HARDWARE.iter().any(|h| module.starts_with(h))
}

/// Builds the image of `kind` into `files/<kind dir>/` from the cached Debian root and the
/// workspace binaries in `bin_dir` (needs root the first time: debootstrap).
pub fn build(files: &Path, bin_dir: &Path, kind: Kind) -> anyhow::Result<Image> {
    let base = DebianRoot::get(&MACHINE_ROOT).context("the Debian root of the lab's images")?;
    let dir = files.join(kind.dir_name());
    std::fs::create_dir_all(&dir)?;
    let staging = dir.join(".additions");
    let _ = std::fs::remove_dir_all(&staging);
    let mut names = Vec::new();
    for (rel, contents, mode) in additions(kind, bin_dir)? {
        let path = staging.join(&rel);
        std::fs::create_dir_all(path.parent().unwrap())?;
        std::fs::write(&path, contents)?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))?;
        if rel.starts_with("usr/local/bin/") {
            // debug builds carry their debug sections: most of their size
            run_checked(Command::new("strip").arg("--strip-debug").arg(&path))?;
        }
        names.push(rel);
    }
    // the unit enabled, as `systemctl enable` leaves it
    let wants = "etc/systemd/system/multi-user.target.wants/metal-lldpd.service";
    std::fs::create_dir_all(staging.join(wants).parent().unwrap())?;
    std::os::unix::fs::symlink(
        "/etc/systemd/system/metal-lldpd.service",
        staging.join(wants),
    )?;
    names.push(wants.to_string());

    let tar = dir.join("img.tar");
    std::fs::copy(&base.tar, &tar).with_context(|| format!("copying {}", base.tar.display()))?;
    let listing =
        run_checked(Command::new("tar").arg("-tf").arg(&tar)).context("listing the Debian root")?;
    // FRR's daemons file, replaced by the base's with the watchfrr options appended
    let mut text = run_checked(
        Command::new("tar")
            .arg("-xOf")
            .arg(&tar)
            .arg(DAEMONS_MEMBER),
    )
    .context("reading FRR's daemons file from the Debian root")?;
    anyhow::ensure!(
        !text.is_empty(),
        "the Debian root's {DAEMONS_MEMBER} is empty"
    );
    text.push_str(WATCHFRR_OPTIONS);
    let path = staging.join(DAEMONS_MEMBER.trim_start_matches("./"));
    std::fs::create_dir_all(path.parent().unwrap())?;
    std::fs::write(&path, text)?;
    names.push(DAEMONS_MEMBER.trim_start_matches("./").to_string());
    let drop: String = listing
        .lines()
        .filter(|m| left_out(m) || *m == DAEMONS_MEMBER)
        .map(|m| format!("{m}\n"))
        .collect();
    let drop_list = dir.join(".left-out");
    std::fs::write(&drop_list, drop)?;
    run_checked(
        Command::new("tar")
            .args(["--delete", "--no-wildcards", "--no-recursion", "-f"])
            .arg(&tar)
            .arg("-T")
            .arg(&drop_list),
    )?;
    std::fs::remove_file(&drop_list)?;
    run_checked(
        Command::new("tar")
            .args(["--numeric-owner", "--owner=0", "--group=0", "-rf"])
            .arg(&tar)
            .arg("-C")
            .arg(&staging)
            .args(&names),
    )?;
    let tar_lz4 = dir.join("img.tar.lz4");
    run_checked(
        Command::new("lz4")
            .args(["-q", "-f", "-1"])
            .arg(&tar)
            .arg(&tar_lz4),
    )?;
    std::fs::remove_file(&tar)?;
    std::fs::remove_dir_all(&staging)?;
    let md5 = metal_sim::osimage::md5_file(&tar_lz4)?;
    std::fs::write(dir.join("img.tar.lz4.md5"), format!("{md5}  img.tar.lz4\n"))?;
    Ok(Image {
        kind,
        compressed_bytes: std::fs::metadata(&tar_lz4)?.len(),
        tar_lz4,
        md5,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_image_leaves_out_documentation_and_foreign_hardware_only() {
        let k = "./usr/lib/modules/6.1.0-50-amd64/kernel/";
        for gone in [
            "./usr/share/doc/frr/copyright",
            "./usr/share/locale/de/LC_MESSAGES/apt.mo",
            "./var/lib/apt/lists/deb.debian.org_debian_dists_bookworm_InRelease",
            &format!("{k}drivers/gpu/drm/amd/amdgpu/amdgpu.ko"),
            &format!("{k}drivers/net/ethernet/mellanox/mlx5/core/mlx5_core.ko"),
            &format!("{k}sound/core/snd.ko"),
            &format!("{k}lib/test_bpf.ko"),
        ] {
            assert!(left_out(gone), "{gone}");
        }
        for kept in [
            "./usr/share/doc/",
            "./usr/share/zoneinfo/UTC",
            "./usr/lib/modules/6.1.0-50-amd64/modules.dep",
            &format!("{k}drivers/net/virtio_net.ko"),
            &format!("{k}drivers/net/ethernet/intel/e1000/e1000.ko"),
            &format!("{k}drivers/net/vxlan/vxlan.ko"),
            &format!("{k}drivers/net/vrf.ko"),
            &format!("{k}drivers/md/raid1.ko"),
            &format!("{k}net/netfilter/nf_tables.ko"),
            &format!("{k}fs/ext4/ext4.ko"),
            "./usr/bin/python3.11",
            "./boot/initrd.img-6.1.0-50-amd64",
        ] {
            assert!(!left_out(kept), "{kept}");
        }
    }

    #[test]
    fn the_firewall_image_adds_droptailer_and_both_run_os_installer() {
        let dir = tempfile::tempdir().unwrap();
        for b in ["os-installer", "metal-lldpd", "droptailer-client"] {
            std::fs::write(dir.path().join(b), b).unwrap();
        }
        let m = additions(Kind::Machine, dir.path()).unwrap();
        let f = additions(Kind::Firewall, dir.path()).unwrap();
        let names = |v: &[(String, Vec<u8>, u32)]| -> Vec<String> {
            v.iter().map(|(n, _, _)| n.clone()).collect()
        };
        assert!(!names(&m).iter().any(|n| n.contains("droptailer")));
        assert!(names(&f).contains(&"usr/local/bin/droptailer-client".to_string()));
        assert!(INSTALL_SH.contains("exec /usr/local/bin/os-installer"));
        assert!(LLDPD_UNIT.contains("--install-yaml /etc/metal/install.yaml"));
        let e = additions(Kind::Machine, Path::new("/nonexistent"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("os-installer"), "{e}");
    }
}
