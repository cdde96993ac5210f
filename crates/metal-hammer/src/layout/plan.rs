//! The pure half of [`crate::layout`]: a filesystem layout turned into the ordered steps of
//! metal-stack's metal-hammer (§2.12.1 steps 1–6) and the fstab entries. One function per
//! stage ([`gpt_steps`], [`raid_steps`], [`lvm_steps`], [`mkfs_steps`], [`mount_steps`]),
//! [`plan`] chains them; nothing here touches a disk.

use std::path::{Path, PathBuf};

use metal_domain::fsl::{partition_device, FilesystemLayout};

use super::LayoutError;
use crate::exec::Command;

/// The lvm configuration for a ramdisk without udev.
pub const LVM_CONFIG: &str = "devices { obtain_device_list_from_udev = 0 } activation { udev_sync = 0 udev_rules = 0 monitoring = 0 }";

/// The same as a file, for `/etc/lvm/lvmlocal.conf` in the installed image when the ramdisk
/// has none to copy.
pub const LVMLOCAL_CONF: &str = "# written by metal-hammer: no udev during installation\n\
devices {\n\tobtain_device_list_from_udev = 0\n}\n\
activation {\n\tudev_sync = 0\n\tudev_rules = 0\n\tmonitoring = 0\n}\n";

/// Mount options that are fstab-only or not understood by mount(8) and are dropped from `-o`.
pub const DROPPED_MOUNT_OPTIONS: &[&str] = &[
    "defaults",
    "unbindable",
    "runbindable",
    "private",
    "rprivate",
    "slave",
    "rslave",
    "shared",
    "rshared",
    "auto",
    "noauto",
    "comment",
    "loop",
    "offset",
    "sizelimit",
];

/// The RAID resync floor written after creating arrays (KiB/s), as metal-hammer does.
const RAID_SPEED_LIMIT_MIN: &str = "200000000";
const RAID_SPEED_LIMIT_PATH: &str = "/proc/sys/dev/raid/speed_limit_min";

/// What the plan depends on besides the layout.
#[derive(Debug, Clone)]
pub struct PlanOptions {
    /// Where the image's root filesystem is mounted (`/rootfs`).
    pub target: PathBuf,
    /// A reinstall: disks with `wipeonreinstall` get `sgdisk --zap-all`.
    pub reinstall: bool,
}

impl Default for PlanOptions {
    fn default() -> Self {
        Self {
            target: PathBuf::from("/rootfs"),
            reinstall: false,
        }
    }
}

/// One line of `/etc/fstab`; `device` is what `blkid` resolves to the `UUID=` spec (`None`:
/// `spec` is used as is, e.g. `tmpfs`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FstabEntry {
    pub spec: String,
    pub file: String,
    pub vfstype: String,
    pub options: String,
    pub freq: u8,
    pub passno: u8,
}

/// One step of a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// A command that must succeed.
    Run(Command),
    /// `run` unless `probe` succeeds (an LVM object that already exists).
    RunUnless { probe: Command, run: Command },
    /// Wait until these device nodes exist (devtmpfs creates them; there is no udev).
    WaitForDevices(Vec<String>),
    /// Write a kernel tunable; a failure is logged, it only tunes.
    Tune { path: PathBuf, value: String },
    /// Create `mountpoint` and run `command` (a mount) there.
    Mount {
        mountpoint: PathBuf,
        command: Command,
    },
    /// An fstab entry; with a `device`, its spec is `UUID=<blkid of device>`.
    Fstab {
        device: Option<String>,
        entry: FstabEntry,
    },
}

fn lvm_command(sub: &str) -> Command {
    Command::new("lvm", [sub, "--config", LVM_CONFIG])
}

/// Path depth for the mount order: `/` = 0, `/boot` = 1, `/boot/efi` = 2.
fn depth(path: &str) -> usize {
    path.split('/').filter(|c| !c.is_empty()).count()
}

/// The mount options that go to `mount -o`.
pub fn mount_options(options: &[String]) -> Vec<String> {
    options
        .iter()
        .filter(|o| {
            let name = o.split('=').next().unwrap_or(o);
            !DROPPED_MOUNT_OPTIONS.contains(&name) && !name.starts_with("x-")
        })
        .cloned()
        .collect()
}

/// `target` joined with an absolute path inside the image.
pub fn in_target(target: &Path, path: &str) -> PathBuf {
    let rel = path.trim_start_matches('/');
    if rel.is_empty() {
        target.to_path_buf()
    } else {
        target.join(rel)
    }
}

/// The ordered steps for `layout` (§2.12.1 steps 1–5): partitions, RAID, LVM, mkfs, mounts.
/// Nothing is decided while the steps run, so an unusable layout fails here, before any disk
/// is touched.
pub fn plan(layout: &FilesystemLayout, opts: &PlanOptions) -> Result<Vec<Step>, LayoutError> {
    let mut steps = gpt_steps(layout, opts);
    steps.extend(raid_steps(layout)?);
    steps.extend(lvm_steps(layout)?);
    steps.extend(mkfs_steps(layout)?);
    steps.extend(mount_steps(layout, opts));
    Ok(steps)
}

/// Step 1: a GPT per disk (`wipefs`, `sgdisk`, re-read), and the wait for its partitions.
pub fn gpt_steps(layout: &FilesystemLayout, opts: &PlanOptions) -> Vec<Step> {
    let mut steps = Vec::new();
    for disk in &layout.disks {
        steps.push(Step::Run(Command::new("wipefs", ["--all", &disk.device])));
        let mut sgdisk = Command::new("sgdisk", Vec::<String>::new());
        if disk.wipeonreinstall && opts.reinstall {
            sgdisk = sgdisk.arg("--zap-all");
        }
        for p in &disk.partitions {
            let n = p.number;
            sgdisk = if p.size == 0 {
                sgdisk.arg(format!("--new={n}:0:0"))
            } else {
                sgdisk.arg(format!("--new={n}:0:+{}M", p.size))
            };
            if let Some(label) = &p.label {
                sgdisk = sgdisk.arg(format!("--change-name={n}:{label}"));
            }
            if let Some(t) = &p.gpttype {
                sgdisk = sgdisk.arg(format!("--typecode={n}:{t}"));
            }
        }
        steps.push(Step::Run(sgdisk.arg(&disk.device)));
        steps.push(Step::Run(Command::new(
            "blockdev",
            ["--rereadpt", &disk.device],
        )));
        if !disk.partitions.is_empty() {
            steps.push(Step::WaitForDevices(
                disk.partitions
                    .iter()
                    .map(|p| partition_device(&disk.device, p.number))
                    .collect(),
            ));
        }
    }
    steps
}

/// Step 2: the RAID arrays (`mdadm --create`) and the resync floor.
pub fn raid_steps(layout: &FilesystemLayout) -> Result<Vec<Step>, LayoutError> {
    let mut steps = Vec::new();
    for raid in &layout.raid {
        let level = if raid.level.is_empty() {
            "1"
        } else {
            raid.level.as_str()
        };
        let spares = usize::try_from(raid.spares)
            .ok()
            .filter(|s| *s < raid.devices.len())
            .ok_or_else(|| LayoutError::RaidDevices {
                array: raid.arrayname.clone(),
                devices: raid.devices.len(),
                spares: raid.spares,
            })?;
        let raid_devices = (raid.devices.len() - spares).to_string();
        let mut cmd = Command::new(
            "mdadm",
            [
                "--create",
                &raid.arrayname,
                "--force",
                "--run",
                "--homehost",
                "any",
                "--level",
                level,
                "--raid-devices",
                &raid_devices,
            ],
        );
        if level == "0" || level == "1" {
            cmd = cmd.arg("--assume-clean");
        }
        if spares > 0 {
            cmd = cmd.arg("--spare-devices").arg(spares.to_string());
        }
        cmd.args.extend(raid.createoptions.iter().cloned());
        cmd.args.extend(raid.devices.iter().cloned());
        steps.push(Step::Run(cmd));
        steps.push(Step::WaitForDevices(vec![raid.arrayname.clone()]));
    }
    if !layout.raid.is_empty() {
        steps.push(Step::Tune {
            path: PathBuf::from(RAID_SPEED_LIMIT_PATH),
            value: RAID_SPEED_LIMIT_MIN.into(),
        });
    }
    Ok(steps)
}

/// Step 3: volume groups and logical volumes, each created unless it exists.
pub fn lvm_steps(layout: &FilesystemLayout) -> Result<Vec<Step>, LayoutError> {
    let mut steps = Vec::new();
    for vg in &layout.volumegroups {
        let mut create = lvm_command("vgcreate")
            .arg("--verbose")
            .arg("--yes")
            .arg(&vg.name);
        for t in &vg.tags {
            create = create.arg("--addtag").arg(t);
        }
        create.args.extend(vg.devices.iter().cloned());
        steps.push(Step::RunUnless {
            probe: lvm_command("vgs").arg(&vg.name),
            run: create,
        });
    }
    for lv in &layout.logicalvolumes {
        let vg = layout
            .volumegroups
            .iter()
            .find(|vg| vg.name == lv.volumegroup)
            .ok_or_else(|| LayoutError::UnknownVolumeGroup {
                lv: lv.name.clone(),
                vg: lv.volumegroup.clone(),
            })?;
        let pvs = vg.devices.len();
        let mut create = lvm_command("lvcreate")
            .arg("--verbose")
            .arg("--yes")
            .arg("--name")
            .arg(&lv.name)
            .arg("--wipesignatures")
            .arg("y");
        create = if lv.size == 0 {
            create.arg("--extents").arg("100%FREE")
        } else {
            create.arg("--size").arg(format!("{}m", lv.size))
        };
        if pvs >= 2 {
            match lv.lvmtype.as_str() {
                "striped" => {
                    create = create
                        .arg("--type")
                        .arg("striped")
                        .arg("--stripes")
                        .arg(pvs.to_string())
                }
                "raid1" => {
                    create = create
                        .arg("--type")
                        .arg("raid1")
                        .arg("--mirrors")
                        .arg("1")
                        .arg("--nosync")
                }
                _ => {}
            }
        }
        steps.push(Step::RunUnless {
            probe: lvm_command("lvs").arg(format!("{}/{}", vg.name, lv.name)),
            run: create.arg(&vg.name),
        });
        steps.push(Step::WaitForDevices(vec![lv.device()]));
    }
    Ok(steps)
}

/// Step 4: a filesystem (or swap) on every device with a format.
pub fn mkfs_steps(layout: &FilesystemLayout) -> Result<Vec<Step>, LayoutError> {
    let mut steps = Vec::new();
    for fs in &layout.filesystems {
        let label = fs.label.as_deref().filter(|l| !l.is_empty());
        let (program, label_flag, force) = match fs.format.as_str() {
            "" | "none" | "tmpfs" => continue,
            "ext3" => ("mkfs.ext3", "-L", Some("-F")),
            "ext4" => ("mkfs.ext4", "-L", Some("-F")),
            "swap" => ("mkswap", "-L", Some("-f")),
            "vfat" => ("mkfs.vfat", "-n", None),
            other => {
                return Err(LayoutError::UnknownFormat {
                    device: fs.device.clone(),
                    format: other.to_string(),
                })
            }
        };
        let mut cmd = Command::new(program, fs.createoptions.iter().cloned());
        if let Some(f) = force {
            cmd = cmd.arg(f);
        }
        if let Some(l) = label {
            cmd = cmd.arg(label_flag).arg(l);
        }
        steps.push(Step::Run(cmd.arg(&fs.device)));
    }
    Ok(steps)
}

/// Step 5: mounts below the target and fstab entries, by path depth (a stable sort keeps the
/// layout's order per depth); swap only in fstab.
pub fn mount_steps(layout: &FilesystemLayout, opts: &PlanOptions) -> Vec<Step> {
    let mut steps = Vec::new();
    let mut mounted: Vec<_> = layout
        .filesystems
        .iter()
        .filter(|fs| fs.path.as_deref().is_some_and(|p| !p.is_empty()))
        .collect();
    mounted.sort_by_key(|fs| depth(fs.path.as_deref().unwrap_or_default()));
    for fs in mounted {
        let path = fs.path.clone().unwrap_or_default();
        let fstab_options = if fs.mountoptions.is_empty() {
            "defaults".to_string()
        } else {
            fs.mountoptions.join(",")
        };
        match fs.format.as_str() {
            "tmpfs" => steps.push(Step::Fstab {
                device: None,
                entry: FstabEntry {
                    spec: "tmpfs".into(),
                    file: path,
                    vfstype: "tmpfs".into(),
                    options: fstab_options,
                    freq: 0,
                    passno: 0,
                },
            }),
            "swap" | "none" | "" => {}
            format => {
                let mountpoint = in_target(&opts.target, &path);
                let mut cmd = Command::new("mount", Vec::<String>::new());
                let o = mount_options(&fs.mountoptions);
                if !o.is_empty() {
                    cmd = cmd.arg("-o").arg(o.join(","));
                }
                let cmd = cmd
                    .arg("-t")
                    .arg(format)
                    .arg(&fs.device)
                    .arg(mountpoint.to_string_lossy());
                steps.push(Step::Mount {
                    mountpoint,
                    command: cmd,
                });
                steps.push(Step::Fstab {
                    device: Some(fs.device.clone()),
                    entry: FstabEntry {
                        spec: String::new(),
                        passno: if path == "/" { 1 } else { 2 },
                        file: path,
                        vfstype: format.into(),
                        options: fstab_options,
                        freq: 0,
                    },
                });
            }
        }
    }
    // swap partitions are not mounted but belong in fstab to be used
    for fs in layout.filesystems.iter().filter(|fs| fs.format == "swap") {
        steps.push(Step::Fstab {
            device: Some(fs.device.clone()),
            entry: FstabEntry {
                spec: String::new(),
                file: "none".into(),
                vfstype: "swap".into(),
                options: "sw".into(),
                freq: 0,
                passno: 0,
            },
        });
    }
    steps
}

/// The pseudo filesystems the installer needs (§2.12.1 step 6), in mount order. `efivars`:
/// whether `/sys/firmware/efi/efivars` exists on this machine.
pub fn special_mounts(target: &Path, efivars: bool) -> Vec<Step> {
    let mut out = Vec::new();
    let mut add = |fstype: &str, source: &str, path: &str| {
        let mountpoint = in_target(target, path);
        let command = if fstype == "bind" {
            Command::new("mount", ["--bind", source, &mountpoint.to_string_lossy()])
        } else {
            Command::new(
                "mount",
                ["-t", fstype, source, &mountpoint.to_string_lossy()],
            )
        };
        out.push(Step::Mount {
            mountpoint,
            command,
        });
    };
    add("proc", "proc", "/proc");
    add("sysfs", "sysfs", "/sys");
    if efivars {
        add("efivarfs", "efivarfs", "/sys/firmware/efi/efivars");
    }
    add("tmpfs", "tmpfs", "/tmp");
    add("bind", "/dev", "/dev");
    out
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Step::Run(c) => write!(f, "{c}"),
            Step::RunUnless { probe, run } => write!(f, "{probe} || {run}"),
            Step::WaitForDevices(d) => write!(f, "# wait for {}", d.join(" ")),
            Step::Tune { path, value } => write!(f, "echo {value} > {}", path.display()),
            Step::Mount {
                mountpoint,
                command,
            } => write!(f, "mkdir -p {} && {command}", mountpoint.display()),
            Step::Fstab { device, entry } => match device {
                Some(d) => write!(
                    f,
                    "# fstab: UUID=$(blkid -s UUID -o value {d}) {}",
                    entry.tail()
                ),
                None => write!(f, "# fstab: {} {}", entry.spec, entry.tail()),
            },
        }
    }
}

impl FstabEntry {
    fn tail(&self) -> String {
        format!(
            "{} {} {} {} {}",
            self.file, self.vfstype, self.options, self.freq, self.passno
        )
    }
}

/// `/etc/fstab` for these entries (§2.12.6).
pub fn render_fstab(entries: &[FstabEntry], version: &str) -> String {
    let mut out = format!("# created by metal-hammer: \"{version}\"\n");
    for e in entries {
        out.push_str(&format!("{} {}\n", e.spec, e.tail()));
    }
    out
}
