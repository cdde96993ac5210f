//! The layout plan as exact command lines (§2.12.1), and the files rendered for the image
//! (fstab, install.yaml, disk.json, userdata). Pure: nothing here touches a disk.

use std::path::{Path, PathBuf};

use metal_domain::fsl::{Disk, Filesystem, FilesystemLayout, LogicalVolume, Raid, VolumeGroup};
use metal_hammer::install::{self, InstallNetwork, InstallRequest};
mod common;
use common::{fs, part, tmpfs_tmp};
use metal_hammer::layout::{self, FstabEntry, PlanOptions, Step, LVM_CONFIG};

/// The RAID1 layout of metal-stack's release notes: two disks with efi + a RAID member each.
fn raid1() -> FilesystemLayout {
    let disk = |d: &str| Disk {
        device: d.into(),
        partitions: vec![part(1, "efi", 500, "ef00"), part(2, "root", 0, "fd00")],
        wipeonreinstall: true,
    };
    FilesystemLayout {
        id: "raid1".into(),
        disks: vec![disk("/dev/sda"), disk("/dev/sdb")],
        raid: vec![Raid {
            arrayname: "/dev/md0".into(),
            devices: vec!["/dev/sda2".into(), "/dev/sdb2".into()],
            level: "1".into(),
            createoptions: vec!["--metadata=1.0".into()],
            spares: 0,
        }],
        filesystems: vec![
            fs("/dev/sda1", "vfat", Some("/boot/efi"), Some("efi")),
            Filesystem {
                createoptions: vec!["-m".into(), "1".into()],
                ..fs("/dev/md0", "ext4", Some("/"), Some("root"))
            },
            tmpfs_tmp("512M"),
        ],
        ..Default::default()
    }
}

fn striped_lvm() -> FilesystemLayout {
    let disk = |d: &str| Disk {
        device: d.into(),
        partitions: vec![part(1, "lvm", 0, "8e00")],
        wipeonreinstall: false,
    };
    FilesystemLayout {
        id: "lvm".into(),
        disks: vec![disk("/dev/sda"), disk("/dev/sdb")],
        volumegroups: vec![VolumeGroup {
            name: "vgroot".into(),
            devices: vec!["/dev/sda1".into(), "/dev/sdb1".into()],
            tags: vec!["root".into()],
        }],
        logicalvolumes: vec![
            LogicalVolume {
                name: "root".into(),
                volumegroup: "vgroot".into(),
                size: 5000,
                lvmtype: "striped".into(),
            },
            LogicalVolume {
                name: "varlib".into(),
                volumegroup: "vgroot".into(),
                size: 0,
                lvmtype: "striped".into(),
            },
        ],
        filesystems: vec![
            fs(
                "/dev/vgroot/varlib",
                "ext4",
                Some("/var/lib"),
                Some("varlib"),
            ),
            fs("/dev/vgroot/root", "ext4", Some("/"), Some("root")),
        ],
        ..Default::default()
    }
}

fn plain(device: &str) -> FilesystemLayout {
    FilesystemLayout {
        id: "plain".into(),
        disks: vec![Disk {
            device: device.into(),
            partitions: vec![part(1, "efi", 500, "ef00"), part(2, "root", 0, "8300")],
            wipeonreinstall: false,
        }],
        filesystems: vec![
            fs(
                &metal_domain::fsl::partition_device(device, 2),
                "ext4",
                Some("/"),
                Some("root"),
            ),
            fs(
                &metal_domain::fsl::partition_device(device, 1),
                "vfat",
                Some("/boot/efi"),
                Some("efi"),
            ),
        ],
        ..Default::default()
    }
}

fn opts(reinstall: bool) -> PlanOptions {
    PlanOptions {
        target: PathBuf::from("/rootfs"),
        reinstall,
    }
}

/// Every step as one line: commands as argv joined by spaces (no shell quoting), the other
/// steps in a short form.
fn lines(steps: &[Step]) -> Vec<String> {
    steps
        .iter()
        .map(|s| match s {
            Step::Run(c) => c.argv().join(" "),
            Step::RunUnless { probe, run } => {
                format!("{} || {}", probe.argv().join(" "), run.argv().join(" "))
            }
            Step::WaitForDevices(d) => format!("wait {}", d.join(" ")),
            Step::Tune { path, value } => format!("tune {} {value}", path.display()),
            Step::Mount {
                mountpoint,
                command,
            } => format!(
                "mount@{} {}",
                mountpoint.display(),
                command.argv().join(" ")
            ),
            Step::Fstab { device, entry } => format!(
                "fstab {} {} {} {} {} {}",
                device.as_deref().unwrap_or(&entry.spec),
                entry.file,
                entry.vfstype,
                entry.options,
                entry.freq,
                entry.passno
            ),
        })
        .collect()
}

#[test]
fn raid1_plan_is_exact() {
    let steps = layout::plan(&raid1(), &opts(false)).unwrap();
    let expected = vec![
        "wipefs --all /dev/sda",
        "sgdisk --new=1:0:+500M --change-name=1:efi --typecode=1:ef00 --new=2:0:0 --change-name=2:root --typecode=2:fd00 /dev/sda",
        "blockdev --rereadpt /dev/sda",
        "wait /dev/sda1 /dev/sda2",
        "wipefs --all /dev/sdb",
        "sgdisk --new=1:0:+500M --change-name=1:efi --typecode=1:ef00 --new=2:0:0 --change-name=2:root --typecode=2:fd00 /dev/sdb",
        "blockdev --rereadpt /dev/sdb",
        "wait /dev/sdb1 /dev/sdb2",
        "mdadm --create /dev/md0 --force --run --homehost any --level 1 --raid-devices 2 --assume-clean --metadata=1.0 /dev/sda2 /dev/sdb2",
        "wait /dev/md0",
        "tune /proc/sys/dev/raid/speed_limit_min 200000000",
        "mkfs.vfat -n efi /dev/sda1",
        "mkfs.ext4 -m 1 -F -L root /dev/md0",
        "mount@/rootfs mount -t ext4 /dev/md0 /rootfs",
        "fstab /dev/md0 / ext4 defaults 0 1",
        "fstab tmpfs /tmp tmpfs defaults,noatime,nosuid,nodev,noexec,mode=1777,size=512M 0 0",
        "mount@/rootfs/boot/efi mount -t vfat /dev/sda1 /rootfs/boot/efi",
        "fstab /dev/sda1 /boot/efi vfat defaults 0 2",
    ];
    assert_eq!(lines(&steps), expected);
}

#[test]
fn reinstall_zaps_only_disks_with_wipeonreinstall() {
    let steps = layout::plan(&raid1(), &opts(true)).unwrap();
    let l = lines(&steps);
    assert!(
        l[1].starts_with("sgdisk --zap-all --new=1:0:+500M"),
        "{}",
        l[1]
    );
    let steps = layout::plan(&plain("/dev/sda"), &opts(true)).unwrap();
    assert!(lines(&steps)[1].starts_with("sgdisk --new=1:0:+500M"));
}

#[test]
fn striped_lvm_plan_is_exact() {
    let steps = layout::plan(&striped_lvm(), &opts(false)).unwrap();
    let cfg = LVM_CONFIG;
    let expected = vec![
        "wipefs --all /dev/sda".to_string(),
        "sgdisk --new=1:0:0 --change-name=1:lvm --typecode=1:8e00 /dev/sda".into(),
        "blockdev --rereadpt /dev/sda".into(),
        "wait /dev/sda1".into(),
        "wipefs --all /dev/sdb".into(),
        "sgdisk --new=1:0:0 --change-name=1:lvm --typecode=1:8e00 /dev/sdb".into(),
        "blockdev --rereadpt /dev/sdb".into(),
        "wait /dev/sdb1".into(),
        format!("lvm vgs --config {cfg} vgroot || lvm vgcreate --config {cfg} --verbose --yes vgroot --addtag root /dev/sda1 /dev/sdb1"),
        format!("lvm lvs --config {cfg} vgroot/root || lvm lvcreate --config {cfg} --verbose --yes --name root --wipesignatures y --size 5000m --type striped --stripes 2 vgroot"),
        "wait /dev/vgroot/root".into(),
        format!("lvm lvs --config {cfg} vgroot/varlib || lvm lvcreate --config {cfg} --verbose --yes --name varlib --wipesignatures y --extents 100%FREE --type striped --stripes 2 vgroot"),
        "wait /dev/vgroot/varlib".into(),
        "mkfs.ext4 -F -L varlib /dev/vgroot/varlib".into(),
        "mkfs.ext4 -F -L root /dev/vgroot/root".into(),
        "mount@/rootfs mount -t ext4 /dev/vgroot/root /rootfs".into(),
        "fstab /dev/vgroot/root / ext4 defaults 0 1".into(),
        "mount@/rootfs/var/lib mount -t ext4 /dev/vgroot/varlib /rootfs/var/lib".into(),
        "fstab /dev/vgroot/varlib /var/lib ext4 defaults 0 2".into(),
    ];
    assert_eq!(lines(&steps), expected);
}

#[test]
fn lvm_with_one_pv_is_linear_and_raid1_mirrors() {
    let mut l = striped_lvm();
    l.logicalvolumes[0].lvmtype = "raid1".into();
    let steps = lines(&layout::plan(&l, &opts(false)).unwrap());
    assert!(steps
        .iter()
        .any(|s| s.ends_with("--size 5000m --type raid1 --mirrors 1 --nosync vgroot")));
    l.volumegroups[0].devices.truncate(1);
    let steps = lines(&layout::plan(&l, &opts(false)).unwrap());
    let creates: Vec<_> = steps.iter().filter(|s| s.contains("lvcreate")).collect();
    assert_eq!(creates.len(), 2);
    for c in creates {
        assert!(!c.contains("--type"), "{c}");
    }
}

#[test]
fn plain_plan_is_exact() {
    let steps = layout::plan(&plain("/dev/sda"), &opts(false)).unwrap();
    assert_eq!(
        lines(&steps),
        vec![
            "wipefs --all /dev/sda",
            "sgdisk --new=1:0:+500M --change-name=1:efi --typecode=1:ef00 --new=2:0:0 --change-name=2:root --typecode=2:8300 /dev/sda",
            "blockdev --rereadpt /dev/sda",
            "wait /dev/sda1 /dev/sda2",
            "mkfs.ext4 -F -L root /dev/sda2",
            "mkfs.vfat -n efi /dev/sda1",
            "mount@/rootfs mount -t ext4 /dev/sda2 /rootfs",
            "fstab /dev/sda2 / ext4 defaults 0 1",
            "mount@/rootfs/boot/efi mount -t vfat /dev/sda1 /rootfs/boot/efi",
            "fstab /dev/sda1 /boot/efi vfat defaults 0 2",
        ]
    );
}

#[test]
fn nvme_partitions_are_named_with_p() {
    let steps = layout::plan(&plain("/dev/nvme0n1"), &opts(false)).unwrap();
    let l = lines(&steps);
    assert_eq!(l[3], "wait /dev/nvme0n1p1 /dev/nvme0n1p2");
    assert_eq!(l[4], "mkfs.ext4 -F -L root /dev/nvme0n1p2");
}

#[test]
fn raid_spares_and_level_default() {
    let mut l = raid1();
    l.raid[0].level = String::new();
    l.raid[0].spares = 1;
    l.raid[0].devices.push("/dev/sdc2".into());
    let steps = lines(&layout::plan(&l, &opts(false)).unwrap());
    assert!(steps.contains(&"mdadm --create /dev/md0 --force --run --homehost any --level 1 --raid-devices 2 --assume-clean --spare-devices 1 --metadata=1.0 /dev/sda2 /dev/sdb2 /dev/sdc2".to_string()), "{steps:#?}");
    l.raid[0].level = "5".into();
    let steps = lines(&layout::plan(&l, &opts(false)).unwrap());
    assert!(steps
        .iter()
        .any(|s| s.contains("--level 5 --raid-devices 2 --spare-devices 1")));
    l.raid[0].spares = 3;
    assert!(layout::plan(&l, &opts(false)).is_err());
}

#[test]
fn swap_and_ext3_and_unknown_formats() {
    let mut l = plain("/dev/sda");
    l.filesystems.push(Filesystem {
        createoptions: vec!["-c".into()],
        ..fs("/dev/sda3", "swap", None, Some("swap"))
    });
    l.filesystems
        .push(fs("/dev/sda4", "ext3", Some("/data"), None));
    l.filesystems.push(fs("/dev/sda5", "none", None, None));
    let steps = lines(&layout::plan(&l, &opts(false)).unwrap());
    assert!(steps.contains(&"mkswap -c -f -L swap /dev/sda3".to_string()));
    assert!(steps.contains(&"mkfs.ext3 -F /dev/sda4".to_string()));
    assert!(steps.contains(&"fstab /dev/sda3 none swap sw 0 0".to_string()));
    assert!(!steps.iter().any(|s| s.contains("sda5")));

    l.filesystems
        .push(fs("/dev/sda6", "btrfs", Some("/x"), None));
    let err = layout::plan(&l, &opts(false)).unwrap_err();
    assert!(err.to_string().contains("/dev/sda6"), "{err}");
    assert!(err.to_string().contains("btrfs"), "{err}");
}

#[test]
fn dropped_mount_options_do_not_reach_mount_but_stay_in_fstab() {
    let opts_in: Vec<String> = "defaults,noatime,x-systemd.automount,comment=foo,private,rw,loop,offset=4,errors=remount-ro"
        .split(',')
        .map(Into::into)
        .collect();
    assert_eq!(
        layout::mount_options(&opts_in),
        vec!["noatime", "rw", "errors=remount-ro"]
    );
    let mut l = plain("/dev/sda");
    l.filesystems[0].mountoptions = opts_in.clone();
    let steps = lines(&layout::plan(&l, &opts(false)).unwrap());
    assert!(steps.contains(
        &"mount@/rootfs mount -o noatime,rw,errors=remount-ro -t ext4 /dev/sda2 /rootfs"
            .to_string()
    ));
    assert!(steps.contains(&format!("fstab /dev/sda2 / ext4 {} 0 1", opts_in.join(","))));
}

#[test]
fn mounts_are_sorted_by_depth() {
    let mut l = plain("/dev/sda");
    l.filesystems = vec![
        fs("/dev/sdc", "ext4", Some("/var/lib/data"), None),
        fs("/dev/sdb", "ext4", Some("/var"), None),
        fs("/dev/sda2", "ext4", Some("/"), None),
    ];
    let steps = layout::plan(&l, &opts(false)).unwrap();
    let mounts: Vec<_> = steps
        .iter()
        .filter_map(|s| match s {
            Step::Mount { mountpoint, .. } => Some(mountpoint.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(
        mounts,
        vec![
            PathBuf::from("/rootfs"),
            PathBuf::from("/rootfs/var"),
            PathBuf::from("/rootfs/var/lib/data")
        ]
    );
}

#[test]
fn special_mounts_in_order() {
    let l = |efi| {
        layout::special_mounts(Path::new("/rootfs"), efi)
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        l(true),
        vec![
            "mkdir -p /rootfs/proc && mount -t proc proc /rootfs/proc",
            "mkdir -p /rootfs/sys && mount -t sysfs sysfs /rootfs/sys",
            "mkdir -p /rootfs/sys/firmware/efi/efivars && mount -t efivarfs efivarfs /rootfs/sys/firmware/efi/efivars",
            "mkdir -p /rootfs/tmp && mount -t tmpfs tmpfs /rootfs/tmp",
            "mkdir -p /rootfs/dev && mount --bind /dev /rootfs/dev",
        ]
    );
    assert_eq!(l(false).len(), 4);
}

#[test]
fn fstab_rendering() {
    let entries = vec![
        FstabEntry {
            spec: "UUID=1111".into(),
            file: "/".into(),
            vfstype: "ext4".into(),
            options: "defaults".into(),
            freq: 0,
            passno: 1,
        },
        FstabEntry {
            spec: "tmpfs".into(),
            file: "/tmp".into(),
            vfstype: "tmpfs".into(),
            options: "defaults,noatime,mode=1777".into(),
            freq: 0,
            passno: 0,
        },
    ];
    assert_eq!(
        layout::render_fstab(&entries, "1.2.3"),
        "# created by metal-hammer: \"1.2.3\"\nUUID=1111 / ext4 defaults 0 1\ntmpfs /tmp tmpfs defaults,noatime,mode=1777 0 0\n"
    );
}

fn request() -> InstallRequest {
    InstallRequest {
        layout: raid1(),
        image_url: "http://images/debian/12/img.tar.lz4".into(),
        machine_uuid: "00000000-0000-0000-0000-000000000001".into(),
        hostname: "machine-1".into(),
        networks: vec![InstallNetwork {
            asn: 4200000001,
            destinationprefixes: vec![],
            ips: vec!["10.0.0.1".into()],
            nat: false,
            networkid: "private-1".into(),
            networktype: "privateprimaryunshared".into(),
            prefixes: vec!["10.0.0.0/22".into()],
            private: true,
            underlay: false,
            vrf: 42,
        }],
        ssh_pub_keys: vec!["ssh-ed25519 AAAA a".into(), "ssh-ed25519 BBBB b".into()],
        user_data: String::new(),
        console: "ttyS1,115200n8".into(),
        console_password: "s3cret-password".into(),
        nics: vec![
            metal_domain::machine::MachineNic {
                mac: "aa:aa:aa:aa:aa:01".into(),
                name: "eth0".into(),
                identifier: "aa:aa:aa:aa:aa:01".into(),
                neighbors: vec![metal_domain::machine::MachineNic {
                    mac: "bb:bb:bb:bb:bb:01".into(),
                    name: "swp1".into(),
                    hostname: "leaf01".into(),
                    ..Default::default()
                }],
                hostname: String::new(),
            },
            metal_domain::machine::MachineNic {
                mac: "aa:aa:aa:aa:aa:02".into(),
                name: "eth1".into(),
                neighbors: vec![metal_domain::machine::MachineNic::default()],
                ..Default::default()
            },
            // metal-hammer reports lo (zero MAC, no neighbours): not a NIC the installer names
            // (its `.link` would match every virtual device, e.g. a firewall's bridge)
            metal_domain::machine::MachineNic {
                mac: "00:00:00:00:00:00".into(),
                name: "lo".into(),
                ..Default::default()
            },
        ],
        dns_servers: vec![metal_domain::partition::DnsServer {
            ip: "1.1.1.1".into(),
        }],
        ntp_servers: vec![metal_domain::partition::NtpServer {
            address: "ntp.example".into(),
        }],
        ..Default::default()
    }
}

#[test]
fn install_yaml_rendering() {
    let now = chrono::DateTime::parse_from_rfc3339("2026-01-02T03:04:05Z")
        .unwrap()
        .to_utc();
    let cfg = install::installer_config(&request(), "abcd-ef", now);
    let yaml = serde_yaml::to_string(&cfg).unwrap();
    let expected = r#"hostname: machine-1
networks:
- asn: 4200000001
  destinationprefixes: []
  ips:
  - 10.0.0.1
  nat: false
  networkid: private-1
  networktype: privateprimaryunshared
  prefixes:
  - 10.0.0.0/22
  private: true
  underlay: false
  vrf: 42
machineuuid: 00000000-0000-0000-0000-000000000001
sshpublickey: |-
  ssh-ed25519 AAAA a
  ssh-ed25519 BBBB b
password: s3cret-password
console: ttyS1,115200n8
timestamp: 2026-01-02T03:04:05Z
nics:
- mac: aa:aa:aa:aa:aa:01
  name: eth0
  identifier: aa:aa:aa:aa:aa:01
  neighbors:
  - mac: bb:bb:bb:bb:bb:01
    name: swp1
    identifier: ''
    neighbors: []
    hostname: leaf01
vpn: null
role: machine
raidenabled: true
root_uuid: abcd-ef
firewall_rules: null
dns_servers:
- ip: 1.1.1.1
ntp_servers:
- address: ntp.example
"#;
    assert_eq!(yaml, expected);
}

#[test]
fn debug_of_a_request_holds_no_secrets() {
    let mut r = request();
    r.user_data = "I2Nsb3VkLWNvbmZpZwpwYXNzd29yZDogdG9wc2VjcmV0Cg==".into();
    let d = format!("{r:?}");
    assert!(!d.contains("s3cret"), "{d}");
    assert!(!d.contains("I2Nsb3Vk"), "{d}");
    assert!(d.contains("machine-1"));
}

#[test]
fn userdata_is_base64_decoded_or_raw() {
    assert_eq!(
        install::decode_userdata("I2Nsb3VkLWNvbmZpZwo="),
        b"#cloud-config\n"
    );
    assert_eq!(
        install::decode_userdata("#cloud-config\nfoo: bar\n"),
        b"#cloud-config\nfoo: bar\n"
    );
}

#[test]
fn legacy_disk_json_names_root_and_efi() {
    let json = install::legacy_disk_json(&plain("/dev/sda"), |d| Some(format!("uuid-of-{d}")));
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["Device"], "/dev/sda");
    assert_eq!(v["Partitions"][0]["Label"], "efi");
    assert_eq!(v["Partitions"][0]["MountPoint"], "/boot/efi");
    assert_eq!(
        v["Partitions"][1]["Properties"]["UUID"],
        "uuid-of-/dev/sda2"
    );
    assert_eq!(v["Partitions"][1]["Filesystem"], "ext4");
}

#[test]
fn a_layout_without_root_is_refused_before_anything_runs() {
    let mut r = request();
    r.layout
        .filesystems
        .retain(|f| f.path.as_deref() != Some("/"));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let err = rt.block_on(install::install(&r)).unwrap_err();
    assert!(matches!(err, install::InstallError::NoRoot), "{err}");
    assert!(!install::primary_disk_touched(&anyhow::Error::from(err)));
}

#[test]
fn bad_format_is_a_plan_error_and_leaves_the_disk_untouched() {
    let mut r = request();
    r.layout.filesystems[1].format = "zfs".into();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let err = rt.block_on(install::install(&r)).unwrap_err();
    assert!(matches!(err, install::InstallError::Plan(_)), "{err}");
    assert!(!install::primary_disk_touched(&anyhow::Error::from(err)));
}
