//! Pieces of filesystem layouts shared by the plan tests (host) and the VM install tests.

#![allow(dead_code)]

use metal_domain::fsl::{DiskPartition, Filesystem};

pub fn part(number: u8, label: &str, size: u64, gpttype: &str) -> DiskPartition {
    DiskPartition {
        number,
        label: Some(label.into()),
        size,
        gpttype: Some(gpttype.into()),
    }
}

pub fn fs(device: &str, format: &str, path: Option<&str>, label: Option<&str>) -> Filesystem {
    Filesystem {
        device: device.into(),
        format: format.into(),
        path: path.map(String::from),
        label: label.map(String::from),
        ..Default::default()
    }
}

/// metal-stack's tmpfs `/tmp` with its mount options and the given size (e.g. `64M`).
pub fn tmpfs_tmp(size: &str) -> Filesystem {
    Filesystem {
        mountoptions: [
            "defaults",
            "noatime",
            "nosuid",
            "nodev",
            "noexec",
            "mode=1777",
        ]
        .into_iter()
        .map(String::from)
        .chain([format!("size={size}")])
        .collect(),
        ..fs("tmpfs", "tmpfs", Some("/tmp"), None)
    }
}
