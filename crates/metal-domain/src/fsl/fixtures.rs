//! Layouts shared by the tests of the fsl submodules.

use serde_json::json;

use super::FilesystemLayout;

pub fn from_json(value: serde_json::Value) -> FilesystemLayout {
    serde_json::from_value(value).unwrap_or_else(|e| panic!("fixture does not decode: {e}"))
}

/// One disk, efi + root + rest, plus a tmpfs (the shape of metal-stack's default layout).
pub fn simple() -> FilesystemLayout {
    from_json(json!({
        "id": "simple",
        "constraints": {"sizes": ["c1-large-x86"], "images": {"ubuntu": ">= 20.04"}},
        "disks": [{"device": "/dev/sda", "wipeonreinstall": true, "partitions": [
            {"number": 1, "label": "efi", "size": 500, "gpttype": "ef00"},
            {"number": 2, "label": "root", "size": 5000, "gpttype": "8300"},
            {"number": 3, "label": "varlib", "size": 0, "gpttype": "8300"}
        ]}],
        "filesystems": [
            {"path": "/boot/efi", "device": "/dev/sda1", "format": "vfat", "label": "efi", "createoptions": ["-F", "32"]},
            {"path": "/", "device": "/dev/sda2", "format": "ext4", "label": "root"},
            {"path": "/var/lib", "device": "/dev/sda3", "format": "ext4"},
            {"path": "/tmp", "device": "tmpfs", "format": "tmpfs", "mountoptions": ["size=1G"]}
        ]
    }))
}

/// Mirrored boot disks with a raid1 root, and two nvme disks in a volume group with a
/// striped and a linear logical volume.
pub fn raid_lvm() -> FilesystemLayout {
    from_json(json!({
        "id": "raid-lvm",
        "constraints": {"sizes": ["s3-large-x86"], "images": {"debian": "*"}},
        "disks": [
            {"device": "/dev/sda", "wipeonreinstall": false, "partitions": [
                {"number": 1, "size": 500, "gpttype": "ef00"},
                {"number": 2, "size": 0, "gpttype": "fd00"}
            ]},
            {"device": "/dev/sdb", "wipeonreinstall": false, "partitions": [
                {"number": 1, "size": 500, "gpttype": "ef00"},
                {"number": 2, "size": 0, "gpttype": "fd00"}
            ]},
            {"device": "/dev/nvme0n1", "wipeonreinstall": true, "partitions": [
                {"number": 1, "size": 0, "gpttype": "8e00"}
            ]},
            {"device": "/dev/nvme1n1", "wipeonreinstall": true, "partitions": []}
        ],
        "raid": [
            {"arrayname": "/dev/md0", "devices": ["/dev/sda2", "/dev/sdb2"], "level": "1", "spares": 0,
             "createoptions": ["--metadata=1.0"]}
        ],
        "volumegroups": [
            {"name": "vg00", "devices": ["/dev/nvme0n1p1", "/dev/nvme1n1"], "tags": []}
        ],
        "logicalvolumes": [
            {"name": "fast", "volumegroup": "vg00", "size": 1024, "lvmtype": "striped"},
            {"name": "rest", "volumegroup": "vg00", "size": 0, "lvmtype": "linear"}
        ],
        "filesystems": [
            {"path": "/boot/efi", "device": "/dev/sda1", "format": "vfat"},
            {"path": "/", "device": "/dev/md0", "format": "ext4"},
            {"path": "/fast", "device": "/dev/vg00/fast", "format": "ext4"},
            {"path": "/data", "device": "/dev/vg00/rest", "format": "ext4"},
            {"device": "/dev/nvme1n1", "format": "none"}
        ]
    }))
}
