//! What the host kernel can run (no md, no device-mapper, no partition devices): the sgdisk
//! part of a plan on image files, mkfs and mount on a whole loop device, the image's installer
//! in a chroot, and the whole `install()` onto a loop device. Root only: these run when
//! `METAL_PRIVILEGED_TESTS=1`, where a missing tool fails the test.

use std::path::Path;

use metal_domain::fsl::{Disk, DiskPartition, Filesystem, FilesystemLayout};
use metal_hammer::exec::{tool_exists, Command};
use metal_hammer::install::{self, InstallRequest};
use metal_hammer::layout::{self, Applied, PlanOptions, Step};
use metal_sim::fileserver::{FileServer, Override};
use metal_sim::osimage::{busybox, OsImageBuilder};

fn privileged(test: &str, tools: &[&str]) -> bool {
    if std::env::var("METAL_PRIVILEGED_TESTS").as_deref() != Ok("1") {
        eprintln!(
            "\n!!!! SKIPPED {test}: needs root and loop devices (METAL_PRIVILEGED_TESTS=1) !!!!\n"
        );
        return false;
    }
    for t in tools {
        let present = if *t == "busybox" {
            busybox().is_some()
        } else {
            tool_exists(t)
        };
        if !metal_testkit::tool_or_skip(test, present, t, "see the tool list in docs") {
            return false;
        }
    }
    true
}

fn sh(cmd: &str) -> String {
    Command::new("sh", ["-c", cmd])
        .run()
        .unwrap()
        .stdout
        .trim()
        .to_string()
}

/// A loop device over a sparse file, detached on drop.
struct Loop {
    dev: String,
    _dir: tempfile::TempDir,
}

impl Loop {
    fn new(mib: u64) -> Self {
        Self::bytes(mib << 20)
    }

    fn bytes(len: u64) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("disk.img");
        std::fs::File::create(&file).unwrap().set_len(len).unwrap();
        let dev = sh(&format!("losetup -f --show {}", file.display()));
        Self { dev, _dir: dir }
    }
}

impl Drop for Loop {
    fn drop(&mut self) {
        let _ = Command::new("losetup", ["-d", &self.dev]).run();
    }
}

fn mounted_below(path: &Path) -> Vec<String> {
    let p = path.to_string_lossy().to_string();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter_map(|l| l.split(' ').nth(4).map(String::from))
        .filter(|m| m == &p || m.starts_with(&format!("{p}/")))
        .collect()
}

fn part(number: u8, label: &str, size: u64, gpttype: &str) -> DiskPartition {
    DiskPartition {
        number,
        label: Some(label.into()),
        size,
        gpttype: Some(gpttype.into()),
    }
}

fn fs(device: &str, format: &str, path: &str, label: &str) -> Filesystem {
    Filesystem {
        path: Some(path.into()),
        device: device.into(),
        format: format.into(),
        label: Some(label.into()),
        mountoptions: vec![],
        createoptions: vec![],
    }
}

#[test]
fn sgdisk_steps_partition_image_files() {
    if !privileged("sgdisk_steps_partition_image_files", &["sgdisk", "wipefs"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let disks: Vec<String> = ["a.img", "b.img"]
        .iter()
        .map(|n| {
            let p = dir.path().join(n);
            std::fs::File::create(&p).unwrap().set_len(2 << 30).unwrap();
            p.to_string_lossy().into_owned()
        })
        .collect();
    let layout = FilesystemLayout {
        disks: disks
            .iter()
            .map(|d| Disk {
                device: d.clone(),
                partitions: vec![part(1, "efi", 500, "ef00"), part(2, "root", 0, "fd00")],
                wipeonreinstall: true,
            })
            .collect(),
        ..Default::default()
    };
    let steps = layout::plan(
        &layout,
        &PlanOptions {
            target: "/rootfs".into(),
            reinstall: true,
        },
    )
    .unwrap();
    let partitioning: Vec<Step> = steps
        .into_iter()
        .filter(|s| matches!(s, Step::Run(c) if c.program == "wipefs" || c.program == "sgdisk"))
        .collect();
    assert_eq!(partitioning.len(), 4);
    Applied::default().apply(&partitioning).unwrap();
    for d in &disks {
        let p = Command::new("sgdisk", ["-p", d]).run().unwrap().stdout;
        let rows: Vec<Vec<&str>> = p
            .lines()
            .skip_while(|l| !l.trim_start().starts_with("Number"))
            .skip(1)
            .map(|l| l.split_whitespace().collect())
            .collect();
        assert_eq!(rows.len(), 2, "{p}");
        // Number Start End Size Unit Code Name
        assert_eq!(
            (rows[0][0], rows[0][3], rows[0][4], rows[0][5], rows[0][6]),
            ("1", "500.0", "MiB", "EF00", "efi"),
            "{p}"
        );
        assert_eq!(
            (rows[1][0], rows[1][5], rows[1][6]),
            ("2", "FD00", "root"),
            "{p}"
        );
        // size 0 = the rest of the disk
        let end: u64 = rows[1][2].parse().unwrap();
        assert!(end > (2u64 << 30) / 512 - 2048, "{p}");
    }
}

#[test]
fn mkfs_and_mount_steps_on_a_loop_device() {
    if !privileged(
        "mkfs_and_mount_steps_on_a_loop_device",
        &["mkfs.ext4", "blkid", "losetup", "mount"],
    ) {
        return;
    }
    let lo = Loop::new(64);
    let target = tempfile::tempdir().unwrap();
    let mut root = fs(&lo.dev, "ext4", "/", "root");
    root.mountoptions = vec![
        "defaults".into(),
        "noatime".into(),
        "x-systemd.something".into(),
    ];
    let layout = FilesystemLayout {
        filesystems: vec![
            root,
            Filesystem {
                mountoptions: vec!["mode=1777".into(), "size=64M".into()],
                ..fs("tmpfs", "tmpfs", "/tmp", "")
            },
        ],
        ..Default::default()
    };
    let steps = layout::plan(
        &layout,
        &PlanOptions {
            target: target.path().into(),
            reinstall: false,
        },
    )
    .unwrap();
    let mut applied = Applied::default();
    applied.apply(&steps).unwrap();
    assert_eq!(
        mounted_below(target.path()),
        vec![target.path().to_string_lossy().to_string()]
    );
    let uuid = sh(&format!("blkid -s UUID -o value {}", lo.dev));
    assert_eq!(applied.root_uuid.as_deref(), Some(uuid.as_str()));
    assert_eq!(sh(&format!("blkid -s LABEL -o value {}", lo.dev)), "root");
    let fstab = layout::render_fstab(&applied.fstab, "test");
    assert_eq!(
        fstab,
        format!("# created by metal-hammer: \"test\"\nUUID={uuid} / ext4 defaults,noatime,x-systemd.something 0 1\ntmpfs /tmp tmpfs mode=1777,size=64M 0 0\n")
    );
    let opts = sh(&format!(
        "findmnt -n -o OPTIONS {}",
        target.path().display()
    ));
    assert!(opts.contains("noatime"), "{opts}");
    applied.mounts.unmount_all().unwrap();
    assert!(mounted_below(target.path()).is_empty());
}

#[test]
fn a_failing_mkfs_names_the_command() {
    if !privileged(
        "a_failing_mkfs_names_the_command",
        &["mkfs.ext4", "losetup"],
    ) {
        return;
    }
    // too small for ext4
    let lo = Loop::bytes(8192);
    let target = tempfile::tempdir().unwrap();
    for (device, format) in [(lo.dev.as_str(), "ext4"), ("/dev/nonexistent-disk", "vfat")] {
        let layout = FilesystemLayout {
            filesystems: vec![fs(device, format, "/", "root")],
            ..Default::default()
        };
        let steps = layout::plan(
            &layout,
            &PlanOptions {
                target: target.path().into(),
                reinstall: false,
            },
        )
        .unwrap();
        let mut applied = Applied::default();
        let err = applied.apply(&steps).unwrap_err().to_string();
        assert!(
            err.contains(&format!("mkfs.{format}")) && err.contains(device),
            "{err}"
        );
        assert!(err.contains("failed (exit status"), "{err}");
        assert!(applied.mounts.paths.is_empty());
    }
}

fn request(lo: &str, target: &Path, workdir: &Path, image_url: String) -> InstallRequest {
    InstallRequest {
        layout: FilesystemLayout {
            filesystems: vec![
                fs(lo, "ext4", "/", "root"),
                Filesystem {
                    mountoptions: vec!["mode=1777".into()],
                    ..fs("tmpfs", "tmpfs", "/tmp", "")
                },
            ],
            ..Default::default()
        },
        image_url,
        machine_uuid: "00000000-0000-0000-0000-0000000000aa".into(),
        hostname: "host-test-1".into(),
        ssh_pub_keys: vec!["ssh-ed25519 AAAA test".into()],
        user_data: "I2Nsb3VkLWNvbmZpZwo=".into(),
        console_password: "pw-not-logged".into(),
        target: target.into(),
        workdir: workdir.into(),
        ..Default::default()
    }
}

fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o7777
}

#[tokio::test]
async fn install_onto_a_loop_device() {
    if !privileged(
        "install_onto_a_loop_device",
        &[
            "busybox",
            "mkfs.ext4",
            "blkid",
            "losetup",
            "mount",
            "chroot",
        ],
    ) {
        return;
    }
    let images = tempfile::tempdir().unwrap();
    OsImageBuilder::new()
        .file("/boot/vmlinuz", b"KERNEL".to_vec(), 0o644)
        .build(images.path())
        .unwrap();
    let server = FileServer::start(images.path()).await.unwrap();
    let lo = Loop::new(64);
    let target = tempfile::tempdir().unwrap();
    let workdir = tempfile::tempdir().unwrap();
    let req = request(
        &lo.dev,
        target.path(),
        workdir.path(),
        server.url("img.tar.lz4"),
    );

    let boot = install::install(&req).await.unwrap();
    assert!(
        mounted_below(target.path()).is_empty(),
        "everything is unmounted"
    );
    let uuid = sh(&format!("blkid -s UUID -o value {}", lo.dev));
    assert_eq!(boot.kernel, workdir.path().join("vmlinuz"));
    assert_eq!(std::fs::read(&boot.kernel).unwrap(), b"KERNEL");
    assert_eq!(
        boot.initrd.as_deref(),
        Some(workdir.path().join("initrd.img").as_path())
    );
    assert_eq!(
        boot.cmdline,
        format!("console=ttyS0 root=UUID={uuid} init=/sbin/init")
    );
    assert_eq!(boot.bootloader_id, "metal-test");
    assert_eq!(
        (boot.kernel_in_image.as_str(), boot.os_partition.as_str()),
        ("/boot/vmlinuz", lo.dev.as_str())
    );

    // what the installed filesystem holds
    let check = tempfile::tempdir().unwrap();
    let m = check.path();
    sh(&format!("mount {} {}", lo.dev, m.display()));
    let result = std::panic::catch_unwind(|| {
        let fstab = std::fs::read_to_string(m.join("etc/fstab")).unwrap();
        assert_eq!(
            fstab,
            format!("# created by metal-hammer: \"{}\"\nUUID={uuid} / ext4 defaults 0 1\ntmpfs /tmp tmpfs mode=1777 0 0\n", install::VERSION)
        );
        let yaml = std::fs::read_to_string(m.join("etc/metal/install.yaml")).unwrap();
        assert!(
            yaml.contains("hostname: host-test-1") && yaml.contains(&format!("root_uuid: {uuid}")),
            "{yaml}"
        );
        assert_eq!(mode(&m.join("etc/metal/install.yaml")), 0o600);
        assert_eq!(
            std::fs::read(m.join("etc/metal/userdata")).unwrap(),
            b"#cloud-config\n"
        );
        assert_eq!(mode(&m.join("etc/metal/userdata")), 0o600);
        assert_eq!(
            std::fs::read_to_string(m.join("etc/hostname")).unwrap(),
            "host-test-1\n"
        );
        assert!(m.join("etc/metal/disk.json").is_file());
        // the ramdisk's own lvmlocal.conf, or metal-hammer's when it has none
        let expected = std::fs::read_to_string("/etc/lvm/lvmlocal.conf")
            .unwrap_or_else(|_| metal_hammer::layout::LVMLOCAL_CONF.to_string());
        assert_eq!(
            std::fs::read_to_string(m.join("etc/lvm/lvmlocal.conf")).unwrap(),
            expected
        );
        assert!(!m.join("install.sh").exists(), "the installer is removed");
        assert_eq!(mode(&m.join("tmp")), 0o1777);
    });
    sh(&format!("umount {}", m.display()));
    result.unwrap();
}

#[tokio::test]
async fn a_failing_installer_fails_the_install_and_unmounts() {
    if !privileged(
        "a_failing_installer_fails_the_install_and_unmounts",
        &["busybox", "mkfs.ext4", "losetup", "chroot"],
    ) {
        return;
    }
    let images = tempfile::tempdir().unwrap();
    OsImageBuilder::new()
        .failing_installer()
        .build(images.path())
        .unwrap();
    let server = FileServer::start(images.path()).await.unwrap();
    let lo = Loop::new(64);
    let target = tempfile::tempdir().unwrap();
    let workdir = tempfile::tempdir().unwrap();
    let req = request(
        &lo.dev,
        target.path(),
        workdir.path(),
        server.url("img.tar.lz4"),
    );
    let err = install::install(&req).await.unwrap_err();
    let msg = metal_hammer::cli::error_chain(&err);
    assert!(
        msg.contains("installer failed") && msg.contains("exit status: 3"),
        "{msg}"
    );
    assert!(msg.contains("failing on purpose"), "{msg}");
    assert!(
        mounted_below(target.path()).is_empty(),
        "unmounted after the error"
    );
    assert!(install::primary_disk_touched(&anyhow::Error::from(err)));
}

#[tokio::test]
async fn a_bad_checksum_stops_the_install_before_the_installer() {
    if !privileged(
        "a_bad_checksum_stops_the_install_before_the_installer",
        &["busybox", "mkfs.ext4", "losetup"],
    ) {
        return;
    }
    let images = tempfile::tempdir().unwrap();
    OsImageBuilder::new().build(images.path()).unwrap();
    let server = FileServer::start(images.path()).await.unwrap();
    server.set_override(
        "img.tar.lz4.md5",
        Override::Body(b"ffffffffffffffffffffffffffffffff  img.tar.lz4\n".to_vec()),
    );
    let lo = Loop::new(64);
    let target = tempfile::tempdir().unwrap();
    let workdir = tempfile::tempdir().unwrap();
    let req = request(
        &lo.dev,
        target.path(),
        workdir.path(),
        server.url("img.tar.lz4"),
    );
    let err = install::install(&req).await.unwrap_err();
    let msg = metal_hammer::cli::error_chain(&err);
    assert!(
        msg.contains("checksum mismatch") && msg.contains("not installed"),
        "{msg}"
    );
    assert!(mounted_below(target.path()).is_empty());
    let check = tempfile::tempdir().unwrap();
    sh(&format!("mount {} {}", lo.dev, check.path().display()));
    let written = check.path().join("etc/metal/install.yaml").exists();
    let installer_ran = check.path().join("etc/metal/boot-info.yaml").exists();
    sh(&format!("umount {}", check.path().display()));
    assert!(
        !written && !installer_ran,
        "nothing is handed to the installer"
    );
    assert!(std::fs::read_dir(workdir.path()).unwrap().next().is_none());
}

#[tokio::test]
async fn the_installer_runs_in_a_chroot_on_a_directory() {
    if !privileged(
        "the_installer_runs_in_a_chroot_on_a_directory",
        &["busybox", "chroot"],
    ) {
        return;
    }
    for failing in [false, true] {
        let images = tempfile::tempdir().unwrap();
        let mut b = OsImageBuilder::new();
        if failing {
            b = b.failing_installer();
        }
        let image = b.build(images.path()).unwrap();
        let root = tempfile::tempdir().unwrap();
        metal_hammer::image::install_image(
            &format!("file://{}", image.archive.display()),
            root.path(),
        )
        .await
        .unwrap();
        let req = InstallRequest {
            hostname: "chroot-1".into(),
            target: root.path().into(),
            ..Default::default()
        };
        install::write_metal_files(&req, "uuid-42", chrono::Utc::now()).unwrap();
        let r = install::run_installer(root.path());
        if failing {
            let msg = metal_hammer::cli::error_chain(&r.unwrap_err());
            assert!(
                msg.contains(&format!("chroot {} /install.sh", root.path().display())),
                "{msg}"
            );
            assert!(
                msg.contains("exit status: 3") && msg.contains("failing on purpose"),
                "{msg}"
            );
            continue;
        }
        r.unwrap();
        assert!(!root.path().join("install.sh").exists());
        assert_eq!(
            std::fs::read_to_string(root.path().join("etc/hostname")).unwrap(),
            "chroot-1\n"
        );
        let info = install::read_boot_info(root.path()).unwrap();
        assert_eq!(
            info.cmdline,
            "console=ttyS0 root=UUID=uuid-42 init=/sbin/init"
        );
        assert_eq!(
            (info.kernel.as_str(), info.initrd.as_str()),
            ("/boot/vmlinuz", "/boot/initrd.img")
        );
        let work = tempfile::tempdir().unwrap();
        let boot = install::copy_boot_files(root.path(), work.path()).unwrap();
        assert_eq!(std::fs::read(boot.kernel).unwrap(), b"placeholder kernel\n");
    }
}
