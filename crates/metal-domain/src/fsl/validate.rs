//! The rules for one filesystem layout (§4.9). Unknown enum values are checked first and
//! come back as 422; every other broken rule is a 400. Each message names the disk,
//! partition, array, volume group, logical volume or filesystem at fault.
//!
//! Where the reference indexes partitions by number (and crashes on numbers above the
//! partition count, or accepts two "rest of disk" partitions), the numbers here must be
//! exactly 1..=N, each once, and only partition N may have size 0.

use std::collections::BTreeSet;

use super::{FilesystemLayout, FilesystemLayoutConstraints, Format, GptType, LvmType, RaidLevel};
use crate::error::{DomainError, DomainResult};
use crate::sic::validate_image_constraints;

/// Prefixes a message with where it happened, keeping the error kind.
fn within(context: &str, e: DomainError) -> DomainError {
    match e {
        DomainError::InvalidArgument(m) => DomainError::InvalidArgument(format!("{context}: {m}")),
        DomainError::Unprocessable(m) => DomainError::Unprocessable(format!("{context}: {m}")),
        DomainError::NotFound(m) => DomainError::NotFound(format!("{context}: {m}")),
        DomainError::Conflict(m) => DomainError::Conflict(format!("{context}: {m}")),
    }
}

fn invalid(msg: String) -> DomainResult<()> {
    Err(DomainError::InvalidArgument(msg))
}

impl FilesystemLayout {
    /// Validates this layout on its own (§4.9 "validate a single layout").
    pub fn validate(&self) -> DomainResult<()> {
        if self.id.is_empty() {
            return invalid("filesystemlayout id is required".into());
        }
        self.check_enums()?;
        validate_constraints(&self.constraints)?;
        let mut provided = BTreeSet::new();
        self.validate_disks(&mut provided)?;
        self.validate_raids(&mut provided)?;
        self.validate_volume_groups_and_lvs(&mut provided)?;
        self.validate_filesystems(&provided)
    }

    /// Unknown gpttype, raid level, lvmtype or format: 422.
    fn check_enums(&self) -> DomainResult<()> {
        for disk in &self.disks {
            for p in &disk.partitions {
                if let Some(gpt) = &p.gpttype {
                    GptType::parse(gpt).map_err(|e| {
                        within(&format!("disk {} partition {}", disk.device, p.number), e)
                    })?;
                }
            }
        }
        for raid in &self.raid {
            RaidLevel::parse(&raid.level)
                .map_err(|e| within(&format!("raid {}", raid.arrayname), e))?;
        }
        for lv in &self.logicalvolumes {
            LvmType::parse(&lv.lvmtype)
                .map_err(|e| within(&format!("logicalvolume {}", lv.device()), e))?;
        }
        for fs in &self.filesystems {
            Format::parse(&fs.format)
                .map_err(|e| within(&format!("filesystem on {}", fs.device), e))?;
        }
        Ok(())
    }

    fn validate_disks(&self, provided: &mut BTreeSet<String>) -> DomainResult<()> {
        for disk in &self.disks {
            let dev = &disk.device;
            if dev.is_empty() {
                return invalid("disk device must not be empty".into());
            }
            if !provided.insert(dev.clone()) {
                return invalid(format!("disk {dev} is given more than once"));
            }
            let count = disk.partitions.len();
            let mut numbers = BTreeSet::new();
            for p in &disk.partitions {
                let n = p.number;
                if n == 0 || usize::from(n) > count {
                    return invalid(format!(
                        "disk {dev} partition number {n} is out of range, the {count} partitions must be numbered 1 to {count}"
                    ));
                }
                if !numbers.insert(n) {
                    return invalid(format!(
                        "disk {dev} partition number {n} is given more than once"
                    ));
                }
                if p.size == 0 && usize::from(n) != count {
                    return invalid(format!(
                        "disk {dev} partition {n} has size 0 (rest of the disk), only the last partition {count} may"
                    ));
                }
                provided.insert(disk.partition_device(n));
            }
        }
        Ok(())
    }

    fn validate_raids(&self, provided: &mut BTreeSet<String>) -> DomainResult<()> {
        for raid in &self.raid {
            let name = &raid.arrayname;
            if name.is_empty() {
                return invalid("raid arrayname must not be empty".into());
            }
            if raid.devices.is_empty() {
                return invalid(format!("raid {name} has no devices"));
            }
            for device in &raid.devices {
                if !provided.contains(device) {
                    return invalid(format!(
                        "raid {name}: device {device} is not provided by a disk or partition of this layout"
                    ));
                }
            }
            if raid.spares < 0 {
                return invalid(format!(
                    "raid {name}: spares must not be negative, got {}",
                    raid.spares
                ));
            }
            if !provided.insert(name.clone()) {
                return invalid(format!(
                    "raid {name}: the arrayname is already used by another device"
                ));
            }
        }
        Ok(())
    }

    fn validate_volume_groups_and_lvs(&self, provided: &mut BTreeSet<String>) -> DomainResult<()> {
        let mut groups: Vec<(&str, usize)> = Vec::new();
        for vg in &self.volumegroups {
            let name = &vg.name;
            if name.is_empty() || name.contains('/') {
                return invalid(format!(
                    "volumegroup name {name:?} must be a plain name without \"/\""
                ));
            }
            if groups.iter().any(|(n, _)| n == name) {
                return invalid(format!("volumegroup {name} is given more than once"));
            }
            if vg.devices.is_empty() {
                return invalid(format!("volumegroup {name} has no devices"));
            }
            for device in &vg.devices {
                if !provided.contains(device) {
                    return invalid(format!(
                        "volumegroup {name}: device {device} is not provided by a disk, partition or raid of this layout"
                    ));
                }
            }
            groups.push((name, vg.devices.len()));
        }
        let last = self.logicalvolumes.len().saturating_sub(1);
        for (i, lv) in self.logicalvolumes.iter().enumerate() {
            let (name, vg) = (&lv.name, &lv.volumegroup);
            if name.is_empty() || name.contains('/') {
                return invalid(format!(
                    "logicalvolume name {name:?} in volumegroup {vg} must be a plain name without \"/\""
                ));
            }
            if lv.size == 0 && i != last {
                return invalid(format!(
                    "logicalvolume {name} in volumegroup {vg} has size 0 (rest of the volumegroup), only the last logicalvolume may"
                ));
            }
            let Some(&(_, devices)) = groups.iter().find(|(n, _)| n == vg) else {
                return invalid(format!(
                    "logicalvolume {name}: volumegroup {vg} is not defined in this layout"
                ));
            };
            let lvm_type = LvmType::parse(&lv.lvmtype)?;
            if matches!(lvm_type, LvmType::Striped | LvmType::Raid1) && devices < 2 {
                return invalid(format!(
                    "logicalvolume {name} is {} and needs a volumegroup with at least 2 devices, {vg} has {devices}",
                    lvm_type.as_str()
                ));
            }
            if !provided.insert(lv.device()) {
                return invalid(format!(
                    "logicalvolume {} is given more than once",
                    lv.device()
                ));
            }
        }
        Ok(())
    }

    fn validate_filesystems(&self, provided: &BTreeSet<String>) -> DomainResult<()> {
        for fs in &self.filesystems {
            let what = match &fs.path {
                Some(path) => format!("filesystem {path} on {}", fs.device),
                None => format!("filesystem on {}", fs.device),
            };
            if Format::parse(&fs.format)? == Format::Tmpfs {
                continue;
            }
            if !provided.contains(&fs.device) {
                return invalid(format!(
                    "{what}: device {} is not provided by a disk, partition, raid or logicalvolume of this layout",
                    fs.device
                ));
            }
            if let Some(option) = fs
                .createoptions
                .iter()
                .find(|o| o.chars().any(char::is_whitespace))
            {
                return invalid(format!(
                    "{what}: createoption {option:?} contains whitespace, give each option as its own entry"
                ));
            }
        }
        Ok(())
    }
}

/// Images as in §4.8 (no os `*`, strict constraint shape); sizes without `*`, empty names or
/// duplicates.
fn validate_constraints(c: &FilesystemLayoutConstraints) -> DomainResult<()> {
    validate_image_constraints(&c.images).map_err(|e| within("filesystemlayout constraints", e))?;
    let mut seen = BTreeSet::new();
    for size in &c.sizes {
        if size.is_empty() || size.contains('*') {
            return invalid(format!(
                "filesystemlayout constraints: size {size:?} must be a size id, wildcards are not allowed"
            ));
        }
        if !seen.insert(size) {
            return invalid(format!(
                "filesystemlayout constraints: size {size} is given more than once"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{raid_lvm, simple};
    use super::super::{Filesystem, VolumeGroup};
    use super::*;

    type Mutation = fn(&mut FilesystemLayout);

    #[test]
    fn fixtures_are_valid() {
        simple().validate().unwrap();
        raid_lvm().validate().unwrap();
    }

    #[test]
    fn unknown_enum_values_are_unprocessable() {
        let cases: [(Mutation, &str); 4] = [
            (
                |l| l.disks[0].partitions[0].gpttype = Some("ef01".into()),
                "disk /dev/sda partition 1: gpttype \"ef01\" is not supported, must be one of ef00, 8300, 8e00, fd00",
            ),
            (|l| l.raid[0].level = "5".into(), "raid /dev/md0: raid level \"5\" is not supported, must be one of 0, 1"),
            (
                |l| l.logicalvolumes[0].lvmtype = "mirror".into(),
                "logicalvolume /dev/vg00/fast: lvmtype \"mirror\" is not supported",
            ),
            (
                |l| l.filesystems[1].format = "xfs".into(),
                "filesystem on /dev/md0: filesystem format \"xfs\" is not supported, must be one of vfat, ext3, ext4, swap, tmpfs, none",
            ),
        ];
        for (mutate, msg) in cases {
            let mut layout = raid_lvm();
            mutate(&mut layout);
            let err = layout.validate().expect_err(msg);
            assert!(
                matches!(&err, DomainError::Unprocessable(m) if m.starts_with(msg)),
                "{msg}: {err:?}"
            );
        }
    }

    #[test]
    fn single_layout_rules() {
        let cases: Vec<(Mutation, &str)> = vec![
            (|l| l.id.clear(), "filesystemlayout id is required"),
            // disks and partitions
            (|l| l.disks[0].device.clear(), "disk device must not be empty"),
            (|l| l.disks[1].device = "/dev/sda".into(), "disk /dev/sda is given more than once"),
            (
                |l| l.disks[0].partitions[1].number = 1,
                "disk /dev/sda partition number 1 is given more than once",
            ),
            (
                |l| l.disks[0].partitions[0].number = 0,
                "disk /dev/sda partition number 0 is out of range, the 2 partitions must be numbered 1 to 2",
            ),
            (
                // the reference indexes by number and panics here
                |l| l.disks[0].partitions[1].number = 5,
                "disk /dev/sda partition number 5 is out of range, the 2 partitions must be numbered 1 to 2",
            ),
            (
                |l| l.disks[0].partitions[0].size = 0,
                "disk /dev/sda partition 1 has size 0 (rest of the disk), only the last partition 2 may",
            ),
            (
                // numbers 1..N in any order: partition 2 listed first keeps its rest-of-disk role,
                // but a variable partition 1 is still refused
                |l| {
                    l.disks[0].partitions.reverse();
                    l.disks[0].partitions[1].size = 0;
                },
                "disk /dev/sda partition 1 has size 0 (rest of the disk), only the last partition 2 may",
            ),
            // raid
            (|l| l.raid[0].arrayname.clear(), "raid arrayname must not be empty"),
            (|l| l.raid[0].devices.clear(), "raid /dev/md0 has no devices"),
            (
                |l| l.raid[0].devices[1] = "/dev/sdc2".into(),
                "raid /dev/md0: device /dev/sdc2 is not provided by a disk or partition of this layout",
            ),
            (|l| l.raid[0].spares = -1, "raid /dev/md0: spares must not be negative, got -1"),
            (
                |l| l.raid[0].arrayname = "/dev/sda1".into(),
                "raid /dev/sda1: the arrayname is already used by another device",
            ),
            // volume groups
            (|l| l.volumegroups[0].name = "/dev/vg00".into(), "volumegroup name \"/dev/vg00\" must be a plain name"),
            (|l| l.volumegroups[0].devices.clear(), "volumegroup vg00 has no devices"),
            (
                |l| l.volumegroups[0].devices[0] = "/dev/nvme0n1p2".into(),
                "volumegroup vg00: device /dev/nvme0n1p2 is not provided by a disk, partition or raid of this layout",
            ),
            (
                // no `p` infix on nvme: the partition device does not exist
                |l| l.volumegroups[0].devices[0] = "/dev/nvme0n11".into(),
                "volumegroup vg00: device /dev/nvme0n11 is not provided",
            ),
            (
                |l| {
                    let vg = l.volumegroups[0].clone();
                    l.volumegroups.push(vg);
                },
                "volumegroup vg00 is given more than once",
            ),
            // logical volumes
            (
                |l| l.logicalvolumes[0].size = 0,
                "logicalvolume fast in volumegroup vg00 has size 0 (rest of the volumegroup), only the last logicalvolume may",
            ),
            (|l| l.logicalvolumes[1].volumegroup = "vg01".into(), "logicalvolume rest: volumegroup vg01 is not defined"),
            (
                |l| l.volumegroups[0].devices.truncate(1),
                "logicalvolume fast is striped and needs a volumegroup with at least 2 devices, vg00 has 1",
            ),
            (
                |l| {
                    l.volumegroups[0].devices.truncate(1);
                    l.logicalvolumes[0].lvmtype = "raid1".into();
                },
                "logicalvolume fast is raid1 and needs a volumegroup with at least 2 devices, vg00 has 1",
            ),
            (|l| l.logicalvolumes[1].name = "fast".into(), "logicalvolume /dev/vg00/fast is given more than once"),
            (|l| l.logicalvolumes[1].name = "a/b".into(), "logicalvolume name \"a/b\" in volumegroup vg00"),
            // filesystems
            (
                |l| l.filesystems[2].device = "/dev/vg00/slow".into(),
                "filesystem /fast on /dev/vg00/slow: device /dev/vg00/slow is not provided",
            ),
            (
                |l| l.filesystems[4].device = "/dev/nvme2n1".into(),
                "filesystem on /dev/nvme2n1: device /dev/nvme2n1 is not provided",
            ),
            (
                |l| l.filesystems[1].createoptions = vec!["-L root".into()],
                "filesystem / on /dev/md0: createoption \"-L root\" contains whitespace",
            ),
            // constraints
            (
                |l| {
                    l.constraints.images.insert("*".into(), "*".into());
                },
                "filesystemlayout constraints: image os \"*\" is not allowed",
            ),
            (
                |l| {
                    l.constraints.images.insert("ubuntu".into(), ">=20.04".into());
                },
                "filesystemlayout constraints: image constraint for os \"ubuntu\": version constraint \">=20.04\" is invalid",
            ),
            (
                |l| l.constraints.sizes.push("c1-*".into()),
                "filesystemlayout constraints: size \"c1-*\" must be a size id, wildcards are not allowed",
            ),
            (|l| l.constraints.sizes.push(String::new()), "filesystemlayout constraints: size \"\" must be a size id"),
            (
                |l| l.constraints.sizes.push("s3-large-x86".into()),
                "filesystemlayout constraints: size s3-large-x86 is given more than once",
            ),
        ];
        for (mutate, msg) in cases {
            let mut layout = raid_lvm();
            mutate(&mut layout);
            let err = layout.validate().expect_err(msg);
            assert!(
                matches!(&err, DomainError::InvalidArgument(m) if m.starts_with(msg)),
                "{msg}: {err:?}"
            );
        }
    }

    #[test]
    fn accepted_variants() {
        let cases: Vec<Mutation> = vec![
            // partitions may be listed in any order
            |l| l.disks[0].partitions.swap(0, 1),
            // all partitions fixed size
            |l| l.disks[0].partitions[1].size = 100,
            // gpttype is optional
            |l| l.disks[0].partitions[0].gpttype = None,
            // any supported format
            |l| l.filesystems[4].format = "ext4".into(),
            // a filesystem need not be mounted
            |l| l.filesystems[2].path = None,
            // tmpfs needs no provided device
            |l| {
                l.filesystems.push(Filesystem {
                    path: Some("/run".into()),
                    device: "tmpfs".into(),
                    format: "tmpfs".into(),
                    ..Default::default()
                });
            },
            // raid0 and linear volumes on a single device
            |l| {
                l.raid[0].level = "0".into();
                l.volumegroups[0].devices.truncate(1);
                l.logicalvolumes[0].lvmtype = "linear".into();
            },
            // a volume group on the raid array
            |l| {
                l.filesystems.retain(|f| f.device != "/dev/md0");
                l.volumegroups.push(VolumeGroup {
                    name: "vgraid".into(),
                    devices: vec!["/dev/md0".into()],
                    tags: vec!["root".into()],
                });
            },
            // development layout
            |l| l.constraints = FilesystemLayoutConstraints::default(),
            // single-token createoptions
            |l| l.filesystems[1].createoptions = vec!["-L".into(), "root".into()],
        ];
        for (i, mutate) in cases.into_iter().enumerate() {
            let mut layout = raid_lvm();
            mutate(&mut layout);
            layout
                .validate()
                .unwrap_or_else(|e| panic!("case {i}: {e}"));
        }
    }

    #[test]
    fn nvme_partitions_use_the_p_infix() {
        let mut layout = simple();
        layout.disks[0].device = "/dev/nvme0n1".into();
        for fs in &mut layout.filesystems {
            fs.device = fs.device.replace("/dev/sda", "/dev/nvme0n1p");
        }
        layout.validate().unwrap();
        layout.filesystems[0].device = "/dev/nvme0n11".into();
        assert!(layout.validate().is_err());
    }
}
