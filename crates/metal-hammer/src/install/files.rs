//! The files metal-hammer writes into the image for its installer (`/etc/metal/install.yaml`,
//! `userdata`, the legacy `disk.json`, `/etc/lvm/lvmlocal.conf`), and the one it reads back
//! (`/etc/metal/boot-info.yaml`) with the kernel and initrd it names.

use std::path::{Path, PathBuf};

use metal_domain::fsl::FilesystemLayout;
use metal_util::fs::write_private;
pub use os_installer::config::{BootInfoFile, InstallConfig as InstallerConfig};

use super::{write_err, BootInfo, InstallError, InstallRequest};
use crate::layout;

/// Where the ramdisk keeps its lvm configuration (copied into images that have `/etc/lvm`).
const RAMDISK_LVMLOCAL: &str = "/etc/lvm/lvmlocal.conf";

/// The installer's view of `req` (`/etc/metal/install.yaml`, §2.12.3), with the root
/// filesystem's UUID and a timestamp.
pub fn installer_config(
    req: &InstallRequest,
    root_uuid: &str,
    timestamp: chrono::DateTime<chrono::Utc>,
) -> InstallerConfig {
    InstallerConfig {
        hostname: req.hostname.clone(),
        networks: req.networks.clone(),
        machineuuid: req.machine_uuid.clone(),
        sshpublickey: req.ssh_pub_keys.join("\n"),
        password: req.console_password.clone(),
        console: req.console.clone(),
        timestamp: timestamp.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        // only NICs with neighbours, all of which have a MAC (§2.12.3): not `lo`, whose zero
        // MAC would make the installer's `.link` match every virtual device
        nics: req
            .nics
            .iter()
            .filter(|n| !n.neighbors.is_empty() && n.neighbors.iter().all(|nb| !nb.mac.is_empty()))
            .cloned()
            .collect(),
        vpn: req.vpn.clone(),
        role: req.role.clone(),
        raidenabled: !req.layout.raid.is_empty(),
        root_uuid: root_uuid.into(),
        firewall_rules: req.firewall_rules.clone(),
        dns_servers: req.dns_servers.clone(),
        ntp_servers: req.ntp_servers.clone(),
        log_accepted_connections: req.log_accepted_connections,
    }
}

/// Writes `/etc/metal/install.yaml`, `/etc/metal/userdata`, `/etc/metal/disk.json` and, if the
/// image has `/etc/lvm`, `/etc/lvm/lvmlocal.conf` into `req.target`.
pub fn write_metal_files(
    req: &InstallRequest,
    root_uuid: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), InstallError> {
    let dir = req.target.join("etc/metal");
    std::fs::create_dir_all(&dir).map_err(write_err(&dir))?;
    let yaml = serde_yaml::to_string(&installer_config(req, root_uuid, now))
        .map_err(|e| std::io::Error::other(e.to_string()))
        .map_err(write_err(&dir))?;
    // the console password and the userdata are for root only
    let path = dir.join("install.yaml");
    write_private(&path, yaml.as_bytes()).map_err(write_err(&path))?;
    if !req.user_data.is_empty() {
        let path = dir.join("userdata");
        write_private(&path, &decode_userdata(&req.user_data)).map_err(write_err(&path))?;
    }
    let disk_json = dir.join("disk.json");
    std::fs::write(
        &disk_json,
        legacy_disk_json(&req.layout, |d| layout::fs_uuid(d).ok()),
    )
    .map_err(write_err(&disk_json))?;
    let lvm_dir = req.target.join("etc/lvm");
    if lvm_dir.is_dir() {
        let conf = std::fs::read_to_string(RAMDISK_LVMLOCAL)
            .unwrap_or_else(|_| layout::LVMLOCAL_CONF.to_string());
        let path = lvm_dir.join("lvmlocal.conf");
        std::fs::write(&path, conf).map_err(write_err(&path))?;
    }
    Ok(())
}

/// Userdata as written to the image: base64-decoded, or as given if it is not base64.
pub fn decode_userdata(user_data: &str) -> Vec<u8> {
    use base64::Engine;
    let compact: String = user_data.split_whitespace().collect();
    base64::engine::general_purpose::STANDARD
        .decode(compact.as_bytes())
        .unwrap_or_else(|_| user_data.as_bytes().to_vec())
}

/// Legacy `/etc/metal/disk.json`: the first disk and its partitions labelled root, efi or
/// varlib with their mount point, format and filesystem UUID (`uuid_of` = blkid).
pub fn legacy_disk_json(
    layout: &FilesystemLayout,
    uuid_of: impl Fn(&str) -> Option<String>,
) -> String {
    let Some(disk) = layout.disks.first() else {
        return "{}".into();
    };
    let partitions: Vec<serde_json::Value> = disk
        .partitions
        .iter()
        .filter(|p| matches!(p.label.as_deref(), Some("root" | "efi" | "varlib")))
        .map(|p| {
            let dev = disk.partition_device(p.number);
            let fs = layout.filesystems.iter().find(|f| f.device == dev);
            let mut props = serde_json::Map::new();
            if let Some(uuid) = uuid_of(&dev) {
                props.insert("UUID".into(), uuid.into());
            }
            serde_json::json!({
                "Label": p.label,
                "Number": p.number,
                "Device": dev,
                "MountPoint": fs.and_then(|f| f.path.clone()).unwrap_or_default(),
                "Filesystem": fs.map(|f| f.format.clone()).unwrap_or_default(),
                "GPTType": p.gpttype.clone().unwrap_or_default(),
                "Size": p.size,
                "Properties": props,
            })
        })
        .collect();
    serde_json::json!({ "Device": disk.device, "Partitions": partitions }).to_string()
}

/// Reads `/etc/metal/boot-info.yaml` in `target`.
pub fn read_boot_info(target: &Path) -> Result<BootInfoFile, InstallError> {
    let path = target.join("etc/metal/boot-info.yaml");
    let text = std::fs::read_to_string(&path).map_err(|e| InstallError::BootInfo {
        path: path.clone(),
        source: Box::new(e),
    })?;
    serde_yaml::from_str(&text).map_err(|e| InstallError::BootInfo {
        path,
        source: Box::new(e),
    })
}

/// Reads the boot info and copies kernel and initrd from `target` into `workdir`.
pub fn copy_boot_files(target: &Path, workdir: &Path) -> Result<BootInfo, InstallError> {
    let file = read_boot_info(target)?;
    std::fs::create_dir_all(workdir).map_err(write_err(workdir))?;
    let copy = |inner: &str| -> Result<PathBuf, InstallError> {
        let src = layout::in_target(target, inner);
        let name = src
            .file_name()
            .map(PathBuf::from)
            .unwrap_or_else(|| "kernel".into());
        let dst = workdir.join(name);
        std::fs::copy(&src, &dst).map_err(|e| InstallError::BootInfo {
            path: src.clone(),
            source: Box::new(e),
        })?;
        Ok(dst)
    };
    if file.kernel.is_empty() {
        return Err(InstallError::BootInfo {
            path: target.join("etc/metal/boot-info.yaml"),
            source: "no kernel given".into(),
        });
    }
    let kernel = copy(&file.kernel)?;
    let initrd = if file.initrd.is_empty() {
        None
    } else {
        Some(copy(&file.initrd)?)
    };
    Ok(BootInfo {
        kernel,
        initrd,
        cmdline: file.cmdline,
        bootloader_id: file.bootloader_id,
        kernel_in_image: file.kernel,
        initrd_in_image: file.initrd,
        primary_disk: String::new(),
        os_partition: String::new(),
    })
}
