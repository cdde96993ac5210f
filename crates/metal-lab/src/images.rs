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
//! The base archive is copied and the additions appended as root-owned files, then compressed
//! with `lz4`; the root directory's own entry stays the base's.

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
            "etc/systemd/system/metal-lldpd.service".to_string(),
            LLDPD_UNIT.as_bytes().to_vec(),
            0o644,
        ),
    ];
    if kind == Kind::Firewall {
        v.push((
            "usr/local/bin/droptailer-client".to_string(),
            bin("droptailer-client")?,
            0o755,
        ));
    }
    Ok(v)
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
