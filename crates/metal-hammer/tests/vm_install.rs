//! metal-hammer's installation inside a qemu VM (TCG) with virtual disks: the host kernel has
//! no md, device-mapper or partition-table support, the VM's Debian kernel has all three.
//!
//! Each test boots the Debian kernel with the harness's initramfs plus the metal-hammer binary,
//! runs `metal-hammer install` against the layout and an image served from the host (the guest
//! reaches the host's loopback at 10.0.2.2), and then checks the result from inside the VM with
//! blkid, `mdadm --detail`, `lvm lvs`, and findmnt after mounting the installed root and its
//! fstab. Runs only with `METAL_PRIVILEGED_TESTS=1` (then missing tools fail).

use std::net::SocketAddr;

use metal_domain::fsl::{
    Disk as LayoutDisk, Filesystem, FilesystemLayout, LogicalVolume, Raid, VolumeGroup,
};
use metal_sim::fileserver::{FileServer, Override};
use metal_sim::osimage::OsImageBuilder;
use metal_sim::vm::initramfs::find_program;
use metal_sim::vm::{Disk, Initramfs, ScriptOutput, ScriptRunner};

mod common;
use common::{fs, part, tmpfs_tmp};

const MIB: u64 = 1024 * 1024;

fn privileged(test: &str) -> bool {
    metal_testkit::privileged(
        test,
        &[
            ("qemu-system-x86_64", "qemu-system-x86"),
            ("qemu-img", "qemu-utils"),
            ("busybox", "busybox-static"),
            ("mdadm", "mdadm"),
            ("lvm", "lvm2"),
            ("sgdisk", "gdisk"),
            ("mkfs.fat", "dosfstools"),
            ("mkfs.ext3", "e2fsprogs"),
            ("findmnt", "util-linux"),
        ],
    )
}

/// metal-stack's RAID1 layout from its release notes: EFI on the first disk, root on
/// `/dev/md0` mirrored over both disks with `--metadata=1.0`, tmpfs `/tmp` with options.
fn raid1_layout() -> FilesystemLayout {
    let disk = |d: &str| LayoutDisk {
        device: d.into(),
        partitions: vec![part(1, "efi", 64, "ef00"), part(2, "root", 0, "fd00")],
        wipeonreinstall: true,
    };
    FilesystemLayout {
        id: "raid".into(),
        disks: vec![disk("/dev/vda"), disk("/dev/vdb")],
        raid: vec![Raid {
            arrayname: "/dev/md0".into(),
            devices: vec!["/dev/vda2".into(), "/dev/vdb2".into()],
            level: "1".into(),
            createoptions: vec!["--metadata=1.0".into()],
            spares: 0,
        }],
        filesystems: vec![
            fs("/dev/md0", "ext4", Some("/"), Some("root")),
            Filesystem {
                createoptions: vec!["-F".into(), "32".into()],
                ..fs("/dev/vda1", "vfat", Some("/boot/efi"), Some("efi"))
            },
            tmpfs_tmp("64M"),
        ],
        ..Default::default()
    }
}

/// Striped LVM over two disks with a size-0 (rest of the group) logical volume.
fn lvm_layout() -> FilesystemLayout {
    let disk = |d: &str| LayoutDisk {
        device: d.into(),
        partitions: vec![part(1, "lvm", 0, "8e00")],
        wipeonreinstall: false,
    };
    let lv = |name: &str, size: u64| LogicalVolume {
        name: name.into(),
        volumegroup: "vgroot".into(),
        size,
        lvmtype: "striped".into(),
    };
    FilesystemLayout {
        id: "lvm".into(),
        disks: vec![disk("/dev/vda"), disk("/dev/vdb")],
        volumegroups: vec![VolumeGroup {
            name: "vgroot".into(),
            devices: vec!["/dev/vda1".into(), "/dev/vdb1".into()],
            tags: vec!["metal".into()],
        }],
        logicalvolumes: vec![lv("root", 160), lv("varlib", 0)],
        filesystems: vec![
            fs("/dev/vgroot/root", "ext4", Some("/"), Some("root")),
            fs(
                "/dev/vgroot/varlib",
                "ext3",
                Some("/var/lib"),
                Some("varlib"),
            ),
            tmpfs_tmp("64M"),
        ],
        ..Default::default()
    }
}

/// One disk: EFI and root.
fn plain_layout() -> FilesystemLayout {
    FilesystemLayout {
        id: "default".into(),
        disks: vec![LayoutDisk {
            device: "/dev/vda".into(),
            partitions: vec![part(1, "efi", 64, "ef00"), part(2, "root", 0, "8300")],
            wipeonreinstall: false,
        }],
        filesystems: vec![
            fs("/dev/vda2", "ext4", Some("/"), Some("root")),
            fs("/dev/vda1", "vfat", Some("/boot/efi"), Some("efi")),
        ],
        ..Default::default()
    }
}

const REQUEST: &str = r#"{"machine_uuid":"00000000-0000-0000-0000-0000000000aa","hostname":"vm-test",
 "console":"ttyS0,115200n8","console_password":"not-a-real-password","role":"machine",
 "ssh_pub_keys":["ssh-ed25519 AAAAC3Nza test@metal"],
 "networks":[{"networkid":"internet","ips":["185.1.2.3"],"prefixes":["185.1.2.0/24"],"asn":4200000001,"vrf":104009}]}"#;

/// After a successful install: mounts the installed root and its fstab under /mnt and shows
/// what the tests check.
const VERIFY: &str = r#"
echo "== blkid"; blkid
echo "ROOTFS-MOUNTS $(grep -c ' /rootfs' /proc/mounts)"
mkdir -p /mnt
mount "$ROOTDEV" /mnt || echo "ROOT-MOUNT-FAILED"
echo "== fstab"; cat /mnt/etc/fstab
ul-mount --fstab /mnt/etc/fstab --target-prefix /mnt -a && echo "FSTAB-MOUNTED"
echo "== findmnt"; findmnt -R -n -l -o TARGET,SOURCE,FSTYPE,OPTIONS /mnt
echo "== boot-info"; cat /mnt/etc/metal/boot-info.yaml
echo "== install.yaml"; grep -E '^(hostname|machineuuid|raidenabled|root_uuid|console):' /mnt/etc/metal/install.yaml
ls -l /mnt/etc/metal/install.yaml
echo "== image"; /mnt/bin/busybox --help >/dev/null 2>&1 && echo "IMAGE-BUSYBOX-RUNS"
test -e /mnt/install.sh && echo "INSTALLER-LEFT-BEHIND"
cat /mnt/etc/hostname
"#;

struct Setup {
    runner: ScriptRunner,
    server: FileServer,
    url: String,
    dir: tempfile::TempDir,
}

async fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    OsImageBuilder::new().build(dir.path()).unwrap();
    let server = FileServer::start_on(dir.path(), SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    // the guest reaches the host's loopback through slirp at 10.0.2.2
    let url = format!("http://10.0.2.2:{}/img.tar.lz4", server.addr.port());
    let runner = tokio::task::spawn_blocking(ScriptRunner::standard)
        .await
        .unwrap()
        .expect("VM harness (Debian kernel, base initramfs)");
    Setup {
        runner,
        server,
        url,
        dir,
    }
}

fn extra(layout: &FilesystemLayout) -> Initramfs {
    Initramfs::empty()
        .binary_as(env!("CARGO_BIN_EXE_metal-hammer"), "/bin/metal-hammer")
        .unwrap()
        .binary("mkfs.ext3")
        .unwrap()
        // util-linux mount under its own name: busybox's knows no --fstab/--target-prefix
        .binary_as(
            &find_program("mount").unwrap().to_string_lossy(),
            "/usr/local/bin/ul-mount",
        )
        .unwrap()
        .file("/layout.json", 0o644, serde_json::to_vec(layout).unwrap())
        .file("/request.json", 0o644, REQUEST)
}

fn install_cmd(url: &str) -> String {
    format!(
        "/bin/metal-hammer install --layout /layout.json --request /request.json --image-url {url}; echo \"HAMMER-RC $?\""
    )
}

async fn run(
    s: &Setup,
    disks: Vec<Disk>,
    layout: &FilesystemLayout,
    script: String,
) -> ScriptOutput {
    let runner = &s.runner;
    let extra = extra(layout);
    // the runner blocks on the console; the file server keeps serving on the other worker
    let out = tokio::task::block_in_place(|| {
        let vm = metal_sim::vm::Vm::builder()
            .name(&layout.id)
            .disks(&disks)
            .nic(metal_sim::vm::Nic::user(&metal_sim::vm::mac_for(1)));
        runner.run_with(vm, &extra, &script)
    })
    .expect("VM run");
    eprintln!("---- console of {}:\n{}", layout.id, out.text());
    out
}

fn disks(n: usize, size: u64) -> Vec<Disk> {
    (0..n).map(|_| Disk::qcow2(size).unwrap()).collect()
}

fn line_with<'a>(out: &'a ScriptOutput, needle: &str) -> &'a str {
    out.lines
        .iter()
        .find(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no line with {needle:?} in:\n{}", out.text()))
}

fn assert_installed(out: &ScriptOutput) {
    assert!(
        out.contains("HAMMER-RC 0"),
        "install failed:\n{}",
        out.text()
    );
    assert!(out.contains("METAL_HAMMER_BOOT_INFO"));
    // everything below the target was unmounted at the end
    assert!(
        out.contains("ROOTFS-MOUNTS 0"),
        "mounts left under /rootfs:\n{}",
        out.text()
    );
    assert!(
        out.contains("FSTAB-MOUNTED"),
        "the written fstab does not mount:\n{}",
        out.text()
    );
    assert!(out.contains("IMAGE-BUSYBOX-RUNS"));
    assert!(!out.contains("INSTALLER-LEFT-BEHIND"));
    assert!(out.contains("hostname: vm-test"));
    assert!(out.contains("-rw-------"), "install.yaml must be 0600");
    assert!(line_with(out, "# created by metal-hammer").contains("metal-hammer"));
    assert!(out.contains("bootloader_id: metal-test"));
    // the password never reaches the console
    assert!(!out.text().contains("not-a-real-password"));
}

fn fstab_line<'a>(out: &'a ScriptOutput, path: &str) -> Vec<&'a str> {
    out.lines
        .iter()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|w| w.len() == 6 && w[1] == path && !w[0].starts_with('#'))
        .unwrap_or_else(|| panic!("no fstab entry for {path}:\n{}", out.text()))
}

fn findmnt<'a>(out: &'a ScriptOutput, target: &str) -> Vec<&'a str> {
    out.lines
        .iter()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|w| w.len() == 4 && w[0] == target)
        .unwrap_or_else(|| panic!("{target} not mounted:\n{}", out.text()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raid1_layout_in_vm() {
    if !privileged("raid1_layout_in_vm") {
        return;
    }
    let s = setup().await;
    let layout = raid1_layout();
    let script = format!(
        "{}\nROOTDEV=/dev/md0\n{VERIFY}\necho '== mdadm'; mdadm --detail /dev/md0\nmdadm --examine /dev/vda2 | grep -i version",
        install_cmd(&s.url)
    );
    let out = run(&s, disks(2, 320 * MIB), &layout, script).await;
    assert_installed(&out);
    assert!(!out.contains("METAL_HAMMER_FAILED"));
    assert!(line_with(&out, "Raid Level").contains("raid1"));
    assert!(line_with(&out, "Active Devices").ends_with('2'));
    assert!(
        line_with(&out, "Version :").contains("1.0"),
        "metadata 1.0 expected"
    );
    assert!(out.contains("raidenabled: true"));
    assert!(line_with(&out, "/dev/vda1:").contains("TYPE=\"vfat\""));
    assert!(line_with(&out, "/dev/md0:").contains("TYPE=\"ext4\""));
    assert!(line_with(&out, "/dev/vda2:").contains("linux_raid_member"));
    assert!(line_with(&out, "/dev/vdb2:").contains("linux_raid_member"));
    let root = fstab_line(&out, "/");
    assert!(root[0].starts_with("UUID="));
    assert_eq!((root[2], root[5]), ("ext4", "1"));
    assert_eq!(fstab_line(&out, "/boot/efi")[2], "vfat");
    let tmp = fstab_line(&out, "/tmp");
    assert_eq!((tmp[0], tmp[2], tmp[5]), ("tmpfs", "tmpfs", "0"));
    assert!(tmp[3].contains("noexec") && tmp[3].contains("size=64M"));
    assert_eq!(findmnt(&out, "/mnt")[1], "/dev/md0");
    assert_eq!(findmnt(&out, "/mnt/boot/efi")[1], "/dev/vda1");
    let t = findmnt(&out, "/mnt/tmp");
    assert_eq!(t[2], "tmpfs");
    assert!(t[3].contains("nosuid") && t[3].contains("nodev") && t[3].contains("noexec"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn striped_lvm_layout_in_vm() {
    if !privileged("striped_lvm_layout_in_vm") {
        return;
    }
    let s = setup().await;
    let layout = lvm_layout();
    let script = format!(
        "{}\nROOTDEV=/dev/vgroot/root\n{VERIFY}\necho '== lvs'; lvm lvs --noheadings -o lv_name,segtype,stripes,lv_size --units m vgroot\nlvm vgs --noheadings -o vg_name,vg_tags,vg_free --units m vgroot",
        install_cmd(&s.url)
    );
    let out = run(&s, disks(2, 256 * MIB), &layout, script).await;
    assert_installed(&out);
    let root = line_with(&out, "  root ");
    assert!(
        root.contains("striped") && root.contains(" 2 "),
        "root: {root}"
    );
    assert!(root.contains("160"), "root is 160 MiB: {root}");
    let varlib = line_with(&out, "  varlib ");
    assert!(varlib.contains("striped"), "varlib: {varlib}");
    // size 0 = the rest of the group: nothing left free
    let vg = line_with(&out, "  vgroot ");
    assert!(vg.contains("metal"), "tag: {vg}");
    assert!(
        vg.trim_end().ends_with("0m"),
        "the size-0 volume takes the rest: {vg}"
    );
    assert!(out.contains("raidenabled: false"));
    assert_eq!(fstab_line(&out, "/var/lib")[2], "ext3");
    assert_eq!(fstab_line(&out, "/var/lib")[5], "2");
    assert!(!out.contains("METAL_HAMMER_FAILED"));
    assert!(findmnt(&out, "/mnt")[1].contains("vgroot"));
    assert_eq!(findmnt(&out, "/mnt/var/lib")[2], "ext3");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_efi_root_layout_in_vm_and_failures() {
    if !privileged("plain_efi_root_layout_in_vm_and_failures") {
        return;
    }
    let s = setup().await;
    let layout = plain_layout();
    // first a bad checksum, then a failing mkfs, then the real install on the same disk
    let bad_mkfs = FilesystemLayout {
        id: "bad-mkfs".into(),
        filesystems: vec![
            Filesystem {
                createoptions: vec!["-b".into(), "3".into()],
                ..fs("/dev/vda2", "ext4", Some("/"), Some("root"))
            },
            fs("/dev/vda1", "vfat", Some("/boot/efi"), Some("efi")),
        ],
        ..layout.clone()
    };
    // the same image under bad/, served with a wrong checksum
    let bad = s.dir.path().join("bad");
    std::fs::create_dir(&bad).unwrap();
    std::fs::copy(s.dir.path().join("img.tar.lz4"), bad.join("img.tar.lz4")).unwrap();
    let bad_url = s.url.replace("img.tar.lz4", "bad/img.tar.lz4");
    s.server.set_override(
        "bad/img.tar.lz4.md5",
        Override::Body(b"0123456789abcdef0123456789abcdef  img.tar.lz4\n".to_vec()),
    );
    let script = format!(
        "echo '== bad checksum'\n{}\necho '== bad mkfs'\n/bin/metal-hammer install --layout /bad-mkfs.json --request /request.json --image-url {}; echo \"BADMKFS-RC $?\"\necho '== good'\n{}\nROOTDEV=/dev/vda2\n{VERIFY}\necho '== sgdisk'; sgdisk -p /dev/vda",
        install_cmd(&bad_url).replace("HAMMER-RC", "BADSUM-RC"),
        s.url,
        install_cmd(&s.url),
    );
    let extra_layout = serde_json::to_vec(&bad_mkfs).unwrap();
    let extra = extra(&layout).file("/bad-mkfs.json", 0o644, extra_layout);
    let runner = &s.runner;
    let out = tokio::task::block_in_place(|| {
        let vm = metal_sim::vm::Vm::builder()
            .name("plain")
            .disks(&disks(1, 256 * MIB))
            .nic(metal_sim::vm::Nic::user(&metal_sim::vm::mac_for(1)));
        runner.run_with(vm, &extra, &script)
    })
    .expect("VM run");
    eprintln!("---- console:\n{}", out.text());

    // a wrong checksum: a clear error, exit 1, no boot info
    let failed: Vec<&String> = out
        .lines
        .iter()
        .filter(|l| l.contains("METAL_HAMMER_FAILED"))
        .collect();
    assert_eq!(failed.len(), 2, "two failed runs expected:\n{}", out.text());
    assert!(
        failed[0].contains("0123456789abcdef0123456789abcdef"),
        "{}",
        failed[0]
    );
    assert!(out.contains("BADSUM-RC 1"));
    // a failing mkfs names the command
    assert!(failed[1].contains("mkfs.ext4"), "{}", failed[1]);
    assert!(out.contains("BADMKFS-RC 1"));
    // exactly one success: the good run
    assert_eq!(
        out.lines
            .iter()
            .filter(|l| l.contains("METAL_HAMMER_BOOT_INFO"))
            .count(),
        1
    );
    assert_installed(&out);
    assert!(line_with(&out, "/dev/vda1:").contains("TYPE=\"vfat\""));
    assert!(line_with(&out, "/dev/vda2:").contains("LABEL=\"root\""));
    let gpt = |n: &str| {
        out.lines
            .iter()
            .find(|l| l.contains("MiB") && l.split_whitespace().next() == Some(n))
            .unwrap_or_else(|| panic!("no partition {n} in:\n{}", out.text()))
    };
    assert!(gpt("1").contains("EF00") && gpt("1").contains("efi"));
    assert!(gpt("2").contains("8300") && gpt("2").contains("root"));
    assert_eq!(findmnt(&out, "/mnt")[1], "/dev/vda2");
    assert_eq!(findmnt(&out, "/mnt/boot/efi")[2], "vfat");
}
