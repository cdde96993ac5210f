//! Filesystem layouts (§2.8, §4.9, MEP-8): how metal-hammer partitions, assembles (mdadm,
//! LVM) and formats the disks of a machine. This module owns the entity (wire shape of
//! `v1.FilesystemLayoutResponse` plus created/changed) and its requests; the rules live in
//! submodules:
//!
//! - `enums`: the closed value sets (gpt type, format, raid level, lvm type);
//! - `validate`: the rules for one layout;
//! - `select`: rules over all layouts (collisions, auto-selection) and the hardware match.
//!
//! Enum-valued fields are strings on the wire so that an unknown value is reported by the
//! rules (422, as the reference does) instead of failing JSON decoding.

mod enums;
#[cfg(test)]
mod fixtures;
mod select;
mod validate;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{DomainError, DomainResult};

pub use enums::{Format, GptType, LvmType, RaidLevel};
pub use select::{from, validate_set, validate_with};

/// Which sizes and images a layout is chosen for; both empty = a development layout that is
/// only used when asked for by id.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct FilesystemLayoutConstraints {
    pub sizes: Vec<String>,
    /// os → version constraint, in the strict stored shape of §4.8.
    pub images: BTreeMap<String, String>,
}

/// One partition of a disk (`v1.DiskPartition`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct DiskPartition {
    /// 1..=N within its disk.
    pub number: u8,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// MiB; 0 = the rest of the disk (only the last partition).
    pub size: u64,
    /// One of [`GptType`] (`ef00`, `8300`, `8e00`, `fd00`); `""` when not given (the disk
    /// tool's default), as the reference requires the field.
    #[serde(with = "crate::wire::or_default")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, default = ""))]
    pub gpttype: Option<String>,
}

/// A disk and the partitions to create on it (`v1.Disk`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct Disk {
    /// e.g. `/dev/sda`, `/dev/nvme0n1`.
    pub device: String,
    pub partitions: Vec<DiskPartition>,
    pub wipeonreinstall: bool,
}

impl Disk {
    /// The device name of partition `number`: `<disk><n>`, or `<disk>p<n>` on nvme disks.
    pub fn partition_device(&self, number: u8) -> String {
        partition_device(&self.device, number)
    }
}

/// `<disk><n>`, or `<disk>p<n>` when the disk path starts with `/dev/nvme`.
pub fn partition_device(disk: &str, number: u8) -> String {
    if disk.starts_with("/dev/nvme") {
        format!("{disk}p{number}")
    } else {
        format!("{disk}{number}")
    }
}

/// An mdadm array (`v1.Raid`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct Raid {
    /// The resulting device, e.g. `/dev/md0`.
    pub arrayname: String,
    pub devices: Vec<String>,
    /// One of [`RaidLevel`] (`0`, `1`).
    pub level: String,
    pub createoptions: Vec<String>,
    pub spares: i32,
}

/// An LVM volume group (`v1.VolumeGroup`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct VolumeGroup {
    /// Without `/dev/`.
    pub name: String,
    pub devices: Vec<String>,
    pub tags: Vec<String>,
}

/// An LVM logical volume (`v1.LogicalVolume`), device `/dev/<volumegroup>/<name>`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct LogicalVolume {
    pub name: String,
    pub volumegroup: String,
    /// MiB; 0 = the rest of the volume group (only the last logical volume).
    pub size: u64,
    /// One of [`LvmType`] (`linear`, `striped`, `raid1`).
    pub lvmtype: String,
}

impl LogicalVolume {
    pub fn device(&self) -> String {
        format!("/dev/{}/{}", self.volumegroup, self.name)
    }
}

/// A filesystem to create and maybe mount (`v1.Filesystem`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct Filesystem {
    /// Mount point; absent = not mounted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    pub device: String,
    /// One of [`Format`] (`vfat`, `ext3`, `ext4`, `swap`, `tmpfs`, `none`).
    pub format: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    pub mountoptions: Vec<String>,
    pub createoptions: Vec<String>,
}

/// A filesystem layout (`v1.FilesystemLayoutResponse` plus created/changed).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct FilesystemLayout {
    pub id: String,
    pub name: String,
    pub description: String,
    pub constraints: FilesystemLayoutConstraints,
    pub disks: Vec<Disk>,
    pub raid: Vec<Raid>,
    pub volumegroups: Vec<VolumeGroup>,
    pub logicalvolumes: Vec<LogicalVolume>,
    pub filesystems: Vec<Filesystem>,
    pub created: Option<DateTime<Utc>>,
    pub changed: Option<DateTime<Utc>>,
}

/// Body of `PUT /v1/filesystemlayout`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct FilesystemLayoutCreateRequest {
    pub id: String,
    pub name: Option<String>,
    pub description: Option<String>,
    pub constraints: FilesystemLayoutConstraints,
    pub disks: Vec<Disk>,
    pub raid: Vec<Raid>,
    pub volumegroups: Vec<VolumeGroup>,
    pub logicalvolumes: Vec<LogicalVolume>,
    pub filesystems: Vec<Filesystem>,
}

/// Body of `POST /v1/filesystemlayout`: the layout is replaced as a whole (constraints,
/// disks, raid, volume groups, logical volumes, filesystems); name and description change
/// only when given.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct FilesystemLayoutUpdateRequest {
    pub id: String,
    pub name: Option<String>,
    pub description: Option<String>,
    pub constraints: FilesystemLayoutConstraints,
    pub disks: Vec<Disk>,
    pub raid: Vec<Raid>,
    pub volumegroups: Vec<VolumeGroup>,
    pub logicalvolumes: Vec<LogicalVolume>,
    pub filesystems: Vec<Filesystem>,
}

/// Body of `POST /v1/filesystemlayout/try`: which layout would a size and image get?
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct FilesystemLayoutTryRequest {
    pub size: String,
    pub image: String,
}

/// Body of `POST /v1/filesystemlayout/matches`: does a layout fit a machine's disks?
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct FilesystemLayoutMatchRequest {
    /// Machine id.
    pub machine: String,
    /// Filesystem layout id.
    pub filesystemlayout: String,
}

impl FilesystemLayout {
    /// Builds and validates (§4.9, single layout) a new layout from a create request.
    pub fn from_create(req: &FilesystemLayoutCreateRequest) -> DomainResult<Self> {
        let layout = Self {
            id: req.id.clone(),
            name: req.name.clone().unwrap_or_default(),
            description: req.description.clone().unwrap_or_default(),
            constraints: req.constraints.clone(),
            disks: req.disks.clone(),
            raid: req.raid.clone(),
            volumegroups: req.volumegroups.clone(),
            logicalvolumes: req.logicalvolumes.clone(),
            filesystems: req.filesystems.clone(),
            created: None,
            changed: None,
        };
        layout.validate()?;
        Ok(layout)
    }

    /// Replaces the layout by the update (name and description only when given) and
    /// validates it; nothing changes when it fails.
    pub fn apply_update(&mut self, req: &FilesystemLayoutUpdateRequest) -> DomainResult<()> {
        if req.id != self.id {
            return Err(DomainError::invalid(format!(
                "filesystemlayout update for {:?} applied to {:?}",
                req.id, self.id
            )));
        }
        let next = Self {
            id: self.id.clone(),
            name: req.name.clone().unwrap_or_else(|| self.name.clone()),
            description: req
                .description
                .clone()
                .unwrap_or_else(|| self.description.clone()),
            constraints: req.constraints.clone(),
            disks: req.disks.clone(),
            raid: req.raid.clone(),
            volumegroups: req.volumegroups.clone(),
            logicalvolumes: req.logicalvolumes.clone(),
            filesystems: req.filesystems.clone(),
            created: self.created,
            changed: self.changed,
        };
        next.validate()?;
        *self = next;
        Ok(())
    }

    /// True for a development layout (no sizes and no images): never chosen automatically.
    pub fn is_development(&self) -> bool {
        self.constraints.sizes.is_empty() && self.constraints.images.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::fixtures::{from_json, raid_lvm, simple};
    use super::*;

    #[test]
    fn partition_device_names() {
        let cases = [
            ("/dev/sda", 1, "/dev/sda1"),
            ("/dev/vda", 12, "/dev/vda12"),
            ("/dev/nvme0n1", 1, "/dev/nvme0n1p1"),
            ("/dev/nvme10n2", 3, "/dev/nvme10n2p3"),
            ("/dev/md0", 1, "/dev/md01"),
        ];
        for (disk, n, want) in cases {
            assert_eq!(partition_device(disk, n), want);
        }
        assert_eq!(raid_lvm().logicalvolumes[0].device(), "/dev/vg00/fast");
    }

    #[test]
    fn wire_shape() {
        let layout = simple();
        let v = serde_json::to_value(&layout).unwrap();
        assert_eq!(v["filesystems"][0]["path"], "/boot/efi");
        assert!(v["filesystems"][1]
            .get("createoptions")
            .is_some_and(|o| o == &json!([])));
        assert!(
            v["filesystems"][3].get("label").is_none(),
            "absent label is omitted"
        );
        assert_eq!(
            v["disks"][0]["partitions"][0],
            json!({"number": 1, "label": "efi", "size": 500, "gpttype": "ef00"})
        );
        assert_eq!(
            v["constraints"],
            json!({"sizes": ["c1-large-x86"], "images": {"ubuntu": ">= 20.04"}})
        );
        for key in ["raid", "volumegroups", "logicalvolumes"] {
            assert_eq!(v[key], json!([]), "{key}");
        }
        assert!(v["created"].is_null() && v["changed"].is_null());
        assert_eq!(from_json(v), layout);
    }

    #[test]
    fn requests_decode_partial_json() {
        let req: FilesystemLayoutCreateRequest =
            serde_json::from_value(json!({"id": "x", "constraints": {"images": {}}})).unwrap();
        assert_eq!(req.id, "x");
        assert!(req.disks.is_empty() && req.constraints.sizes.is_empty());
        let req: FilesystemLayoutTryRequest =
            serde_json::from_value(json!({"size": "s", "image": "i"})).unwrap();
        assert_eq!((req.size.as_str(), req.image.as_str()), ("s", "i"));
        let req: FilesystemLayoutMatchRequest =
            serde_json::from_value(json!({"machine": "m", "filesystemlayout": "f"})).unwrap();
        assert_eq!(
            (req.machine.as_str(), req.filesystemlayout.as_str()),
            ("m", "f")
        );
    }

    fn create_request(layout: &FilesystemLayout) -> FilesystemLayoutCreateRequest {
        FilesystemLayoutCreateRequest {
            id: layout.id.clone(),
            name: Some("name".into()),
            description: None,
            constraints: layout.constraints.clone(),
            disks: layout.disks.clone(),
            raid: layout.raid.clone(),
            volumegroups: layout.volumegroups.clone(),
            logicalvolumes: layout.logicalvolumes.clone(),
            filesystems: layout.filesystems.clone(),
        }
    }

    #[test]
    fn create_validates() {
        let layout = FilesystemLayout::from_create(&create_request(&raid_lvm())).unwrap();
        assert_eq!(
            (layout.name.as_str(), layout.description.as_str()),
            ("name", "")
        );
        assert!(!layout.is_development());
        let mut bad = create_request(&raid_lvm());
        bad.filesystems[0].format = "zfs".into();
        assert!(matches!(
            FilesystemLayout::from_create(&bad),
            Err(DomainError::Unprocessable(_))
        ));
        bad = create_request(&raid_lvm());
        bad.id.clear();
        assert_eq!(
            FilesystemLayout::from_create(&bad),
            Err(DomainError::invalid("filesystemlayout id is required"))
        );
    }

    #[test]
    fn update_replaces_the_layout() {
        let mut layout = FilesystemLayout::from_create(&create_request(&raid_lvm())).unwrap();
        let source = simple();
        let req = FilesystemLayoutUpdateRequest {
            id: layout.id.clone(),
            name: None,
            description: Some("now simple".into()),
            constraints: FilesystemLayoutConstraints::default(),
            disks: source.disks.clone(),
            raid: vec![],
            volumegroups: vec![],
            logicalvolumes: vec![],
            filesystems: source.filesystems.clone(),
        };
        layout.apply_update(&req).unwrap();
        assert_eq!(
            (layout.name.as_str(), layout.description.as_str()),
            ("name", "now simple")
        );
        assert_eq!(layout.disks, source.disks);
        assert!(layout.raid.is_empty() && layout.is_development());

        let before = layout.clone();
        let mut bad = req.clone();
        bad.filesystems[0].device = "/dev/sdz1".into();
        assert!(layout.apply_update(&bad).is_err());
        assert_eq!(layout, before, "a failed update changes nothing");
        let other = FilesystemLayoutUpdateRequest {
            id: "other".into(),
            ..req
        };
        assert!(layout.apply_update(&other).is_err());
    }
}
