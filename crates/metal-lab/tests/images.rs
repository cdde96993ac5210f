//! The lab's Debian machine and firewall images (`metal_lab::images`) through metal-hammer's
//! own installation code: the packed image is checked and unpacked by
//! `metal_hammer::image::install_image`, the allocation written as `/etc/metal/install.yaml`
//! (os-installer's golden allocations of a machine and a firewall), the image's `/install.sh`
//! run chrooted by `metal_hammer::install::run_installer` (os-installer in the image: the
//! `metal` user, networkd, FRR checked by the image's own `vtysh`, nftables checked by `nft`,
//! droptailer's unit), and the boot files found by `copy_boot_files` as metal-hammer kexecs
//! them. What is left in the root is what the machine boots.
//!
//! Privileged (root: debootstrap, chroot, ownership); the Debian root is built once and cached.

mod common;

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::bin;
use metal_lab::images::{self, Kind};

const TOOLS: &[(&str, &str)] = &[
    ("debootstrap", "debootstrap"),
    ("lz4", "lz4"),
    ("tar", "tar"),
    ("chroot", "coreutils"),
    ("mount", "mount"),
];

/// proc, sysfs and dev in the target, as metal-hammer mounts them for the installer; unmounted
/// at the end, also when the test fails.
struct Mounts(Vec<PathBuf>);

impl Mounts {
    fn new(target: &Path) -> Mounts {
        let mut m = Mounts(Vec::new());
        for (what, fs, dir) in [("proc", "proc", "proc"), ("sysfs", "sysfs", "sys")] {
            let at = target.join(dir);
            std::fs::create_dir_all(&at).unwrap();
            m.mount(&["-t", fs, what], at);
        }
        let dev = target.join("dev");
        std::fs::create_dir_all(&dev).unwrap();
        m.mount(&["--rbind", "/dev"], dev);
        m
    }

    fn mount(&mut self, args: &[&str], at: PathBuf) {
        let ok = Command::new("mount").args(args).arg(&at).status().unwrap();
        assert!(ok.success(), "mount {args:?} {}", at.display());
        self.0.push(at);
    }
}

impl Drop for Mounts {
    fn drop(&mut self) {
        for at in self.0.iter().rev() {
            let _ = Command::new("umount").arg("-R").arg("-l").arg(at).status();
        }
    }
}

fn golden(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../os-installer/tests/golden")
        .join(name)
        .join("install.yaml")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn debian_images_install_through_metal_hammer_and_os_installer() {
    let test = "debian_images_install_through_metal_hammer_and_os_installer";
    if !metal_testkit::privileged(test, TOOLS) {
        return;
    }
    let bin_dir = bin("os-installer", "os-installer")
        .parent()
        .unwrap()
        .to_path_buf();
    bin("metal-lab", "metal-lldpd");
    bin("droptailer", "droptailer-client");
    let tmp = tempfile::tempdir().unwrap();
    for (kind, allocation) in [
        (Kind::Machine, "machine-private"),
        (Kind::Firewall, "firewall"),
    ] {
        let files = tmp.path().join("files");
        let (f, b) = (files.clone(), bin_dir.clone());
        let image = tokio::task::spawn_blocking(move || images::build(&f, &b, kind))
            .await
            .unwrap()
            .unwrap_or_else(|e| panic!("{kind:?} image: {e:#}"));
        let md5 = std::fs::read_to_string(image.tar_lz4.with_extension("lz4.md5")).unwrap();
        assert_eq!(md5, format!("{}  img.tar.lz4\n", image.md5));
        eprintln!(
            "{kind:?} image: {} MB compressed",
            image.compressed_bytes / 1_000_000
        );

        let target = tmp.path().join(format!("target-{}", kind.dir_name()));
        std::fs::create_dir_all(&target).unwrap();
        let url = format!("file://{}", image.tar_lz4.display());
        let stats = metal_hammer::image::install_image(&url, &target)
            .await
            .unwrap_or_else(|e| panic!("metal-hammer unpacking the {kind:?} image: {e}"));
        assert_eq!(stats.md5, image.md5);
        assert!(stats.entries > 5_000, "{stats:?}");
        // the root directory keeps its mode; the additions are root's
        let root_mode = std::fs::metadata(&target).unwrap().mode() & 0o7777;
        assert_eq!(root_mode, 0o755, "{root_mode:o}");
        assert!(
            target.join("usr/bin/curl").is_file(),
            "curl, for the README's walk-through"
        );
        for f in ["usr/local/bin/os-installer", "usr/local/bin/metal-lldpd"] {
            let m = std::fs::metadata(target.join(f)).unwrap();
            assert_eq!((m.uid(), m.gid(), m.mode() & 0o777), (0, 0, 0o755), "{f}");
        }
        let wants = target.join("etc/systemd/system/multi-user.target.wants/metal-lldpd.service");
        assert_eq!(
            std::fs::read_link(&wants).unwrap(),
            Path::new("/etc/systemd/system/metal-lldpd.service")
        );

        let metal = target.join("etc/metal");
        std::fs::create_dir_all(&metal).unwrap();
        // as an older metal-hammer wrote it: `lo` among the NICs, with its zero MAC
        let mut cfg: serde_yaml::Value =
            serde_yaml::from_str(&std::fs::read_to_string(golden(allocation)).unwrap()).unwrap();
        cfg["nics"]
            .as_sequence_mut()
            .expect("the golden allocation's nics")
            .push(
                serde_yaml::from_str("{mac: '00:00:00:00:00:00', name: lo, neighbors: []}")
                    .unwrap(),
            );
        std::fs::write(
            metal.join("install.yaml"),
            serde_yaml::to_string(&cfg).unwrap(),
        )
        .unwrap();
        let mounts = Mounts::new(&target);
        let t = target.clone();
        let ran = tokio::task::spawn_blocking(move || metal_hammer::install::run_installer(&t))
            .await
            .unwrap();
        drop(mounts);
        ran.unwrap_or_else(|e| panic!("the {kind:?} image's installer: {e}"));
        assert!(
            !target.join("install.sh").exists(),
            "metal-hammer removes it"
        );

        let work = tmp.path().join(format!("work-{}", kind.dir_name()));
        std::fs::create_dir_all(&work).unwrap();
        let boot = metal_hammer::install::copy_boot_files(&target, &work)
            .unwrap_or_else(|e| panic!("boot-info.yaml of the {kind:?} image: {e}"));
        assert!(boot.kernel_in_image.contains("vmlinuz-"), "{boot:?}");
        assert!(boot.kernel.is_file(), "{boot:?}");
        assert!(
            boot.initrd.as_ref().is_some_and(|i| i.is_file()),
            "{boot:?}"
        );
        assert_eq!(boot.bootloader_id, "metal-debian", "{boot:?}");
        assert!(boot.cmdline.contains("root=UUID="), "{boot:?}");

        let read = |p: &str| {
            std::fs::read_to_string(target.join(p)).unwrap_or_else(|e| panic!("{p}: {e}"))
        };
        assert!(read("etc/passwd").contains("\nmetal:"), "the metal user");
        assert!(read("etc/frr/frr.conf").contains("router bgp"));
        // os-installer turned bgpd on and kept the image's watchfrr options
        let daemons = read("etc/frr/daemons");
        assert!(daemons.contains("bgpd=yes"), "{daemons}");
        assert!(
            daemons.contains("\nwatchfrr_options=\"-T 300\"\n"),
            "{daemons}"
        );
        assert!(read("etc/systemd/networkd.conf.d/metal.conf").contains("ManageForeignRoutes=no"));
        // no `.link` for the NIC without a MAC (it would rename every virtual device)
        for f in std::fs::read_dir(target.join("etc/systemd/network")).unwrap() {
            let text = std::fs::read_to_string(f.unwrap().path()).unwrap();
            assert!(!text.contains("MACAddress=00:00:00:00:00:00"), "{text}");
        }
        let networkd: Vec<String> = std::fs::read_dir(target.join("etc/systemd/network"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(
            networkd.iter().any(|n| n.ends_with(".network")),
            "{networkd:?}"
        );
        if kind == Kind::Firewall {
            assert!(read("etc/nftables/rules").contains("table inet metal"));
            assert!(read("etc/sysctl.d/10-metal-firewall.conf").contains("net.ipv4.ip_forward=1"));
            let unit = read("etc/systemd/system/droptailer.service");
            assert!(unit.contains("/usr/local/bin/droptailer-client"), "{unit}");
            assert!(target.join("usr/local/bin/droptailer-client").is_file());
        } else {
            assert!(!target.join("usr/local/bin/droptailer-client").exists());
        }
    }
}
