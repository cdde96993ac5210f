//! Hardware discovery from `/sys`, `/proc` and DMI (the register payload), and the BMC through
//! ipmitool when the machine has one (`/dev/ipmi0`).
//!
//! Every path is read below a root (normally `/`) so tests can describe a machine with a
//! directory tree.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use metal_proto::api::v1 as pb;

#[derive(Debug, Clone)]
pub struct Discovery {
    root: PathBuf,
}

impl Default for Discovery {
    fn default() -> Self {
        Self::new("/")
    }
}

fn read_trim(p: &Path) -> Option<String> {
    std::fs::read_to_string(p)
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// Block devices that are not disks of the machine.
fn ignored_block_device(name: &str) -> bool {
    ["ram", "loop", "zram", "sr", "fd", "md", "dm-", "nbd"]
        .iter()
        .any(|p| name.starts_with(p))
}

/// A MAC address as `aa:bb:cc:dd:ee:ff`, or None.
fn valid_mac(s: &str) -> Option<String> {
    let s = s.trim().to_ascii_lowercase();
    let parts: Vec<&str> = s.split(':').collect();
    (parts.len() == 6
        && parts
            .iter()
            .all(|p| p.len() == 2 && p.chars().all(|c| c.is_ascii_hexdigit())))
    .then_some(s)
}

impl Discovery {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel.trim_start_matches('/'))
    }

    /// The machine id: the SMBIOS product uuid, else the product serial if it is a uuid.
    pub fn machine_uuid(&self) -> anyhow::Result<String> {
        for f in [
            "sys/class/dmi/id/product_uuid",
            "sys/class/dmi/id/product_serial",
        ] {
            if let Some(v) = read_trim(&self.path(f)) {
                if let Ok(u) = uuid::Uuid::parse_str(&v) {
                    return Ok(u.to_string());
                }
            }
        }
        anyhow::bail!(
            "no machine uuid: neither the DMI product uuid nor the product serial is a uuid"
        )
    }

    /// Total memory in bytes (`MemTotal` of /proc/meminfo).
    pub fn memory(&self) -> anyhow::Result<u64> {
        let s =
            std::fs::read_to_string(self.path("proc/meminfo")).context("reading /proc/meminfo")?;
        s.lines()
            .find_map(|l| {
                let rest = l.strip_prefix("MemTotal:")?;
                let kb: u64 = rest.trim().trim_end_matches("kB").trim().parse().ok()?;
                Some(kb * 1024)
            })
            .context("no MemTotal in /proc/meminfo")
    }

    /// One entry per physical package, from /proc/cpuinfo.
    pub fn cpus(&self) -> anyhow::Result<Vec<pb::MachineCpu>> {
        let s =
            std::fs::read_to_string(self.path("proc/cpuinfo")).context("reading /proc/cpuinfo")?;
        // package id → (vendor, model, cores, threads)
        let mut packages: BTreeMap<String, pb::MachineCpu> = BTreeMap::new();
        for block in s.split("\n\n").filter(|b| b.contains("processor")) {
            let field = |name: &str| {
                block.lines().find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    (k.trim() == name).then(|| v.trim().to_string())
                })
            };
            let id = field("physical id").unwrap_or_else(|| "0".into());
            let e = packages.entry(id).or_insert_with(|| pb::MachineCpu {
                vendor: field("vendor_id").unwrap_or_default(),
                model: field("model name").unwrap_or_default(),
                cores: field("cpu cores").and_then(|c| c.parse().ok()).unwrap_or(0),
                threads: 0,
            });
            e.threads += 1;
        }
        let mut cpus: Vec<_> = packages.into_values().collect();
        for c in &mut cpus {
            if c.cores == 0 {
                c.cores = c.threads;
            }
        }
        anyhow::ensure!(!cpus.is_empty(), "no processors in /proc/cpuinfo");
        Ok(cpus)
    }

    /// Disks: every block device but ram, loop and virtual ones, with its size in bytes.
    pub fn disks(&self) -> anyhow::Result<Vec<pb::MachineBlockDevice>> {
        let dir = self.path("sys/block");
        let mut disks = Vec::new();
        for e in std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))? {
            let name = e?.file_name().to_string_lossy().to_string();
            if ignored_block_device(&name) {
                continue;
            }
            let sectors: u64 = read_trim(&dir.join(&name).join("size"))
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            disks.push(pb::MachineBlockDevice {
                name: format!("/dev/{name}"),
                size: sectors * 512,
            });
        }
        disks.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(disks)
    }

    /// Network interfaces with a MAC address; `lo` always (with the zero MAC), as metal-hammer.
    pub fn nics(&self) -> anyhow::Result<Vec<pb::MachineNic>> {
        let dir = self.path("sys/class/net");
        let mut nics = Vec::new();
        for e in std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))? {
            let name = e?.file_name().to_string_lossy().to_string();
            let Some(mac) = read_trim(&dir.join(&name).join("address")).and_then(|m| valid_mac(&m))
            else {
                continue;
            };
            nics.push(pb::MachineNic {
                mac,
                name,
                ..Default::default()
            });
        }
        if !nics.iter().any(|n| n.name == "lo") {
            nics.push(pb::MachineNic {
                mac: "00:00:00:00:00:00".into(),
                name: "lo".into(),
                ..Default::default()
            });
        }
        nics.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(nics)
    }

    /// NVIDIA display controllers on the PCI bus (what metal-stack reports as GPUs).
    pub fn gpus(&self) -> Vec<pb::MachineGpu> {
        let dir = self.path("sys/bus/pci/devices");
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return Vec::new();
        };
        let mut gpus = Vec::new();
        for e in entries.flatten() {
            let p = e.path();
            let vendor = read_trim(&p.join("vendor")).unwrap_or_default();
            let class = read_trim(&p.join("class")).unwrap_or_default();
            if vendor == "0x10de" && class.starts_with("0x03") {
                gpus.push(pb::MachineGpu {
                    vendor: "NVIDIA Corporation".into(),
                    model: read_trim(&p.join("device")).unwrap_or_default(),
                });
            }
        }
        gpus
    }

    pub fn bios(&self) -> anyhow::Result<pb::MachineBios> {
        let f = |n: &str| read_trim(&self.path(&format!("sys/class/dmi/id/{n}")));
        Ok(pb::MachineBios {
            version: f("bios_version").context("no BIOS version in DMI")?,
            vendor: f("bios_vendor").unwrap_or_default(),
            date: f("bios_date").unwrap_or_default(),
        })
    }

    /// The board vendor (`sys_vendor`), e.g. `QEMU` for virtual machines.
    pub fn vendor(&self) -> String {
        read_trim(&self.path("sys/class/dmi/id/sys_vendor")).unwrap_or_default()
    }

    pub fn hardware(&self) -> anyhow::Result<pb::MachineHardware> {
        let cpus = self.cpus()?;
        Ok(pb::MachineHardware {
            memory: self.memory()?,
            cpu_cores: cpus.iter().map(|c| c.cores).sum(),
            disks: self.disks()?,
            nics: self.nics()?,
            gpus: self.gpus(),
            cpus,
        })
    }

    /// Whether the machine has a local BMC interface.
    pub fn has_bmc(&self) -> bool {
        ["dev/ipmi0", "dev/ipmi/0", "dev/ipmidev/0"]
            .iter()
            .any(|p| self.path(p).exists())
    }
}

/// `Key : value` lines of ipmitool's output.
pub fn ipmitool_fields(out: &str) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    for l in out.lines() {
        if let Some((k, v)) = l.split_once(':') {
            let k = k.trim();
            if !k.is_empty() {
                m.entry(k.to_string())
                    .or_insert_with(|| v.trim().to_string());
            }
        }
    }
    m
}

/// The BMC's identity as metal-hammer reports it, from `ipmitool lan print`, `bmc info` and
/// `fru` (run against the local interface). User and password are filled in by the caller.
pub fn ipmi_from_ipmitool(lan: &str, bmc_info: &str, fru: &str) -> anyhow::Result<pb::MachineIpmi> {
    let lan = ipmitool_fields(lan);
    let ip = lan
        .get("IP Address")
        .filter(|ip| !ip.is_empty() && ip.as_str() != "0.0.0.0")
        .context("the BMC has no IP address (ipmitool lan print)")?;
    let info = ipmitool_fields(bmc_info);
    let fru = ipmitool_fields(fru);
    let f = |k: &str| fru.get(k).cloned().filter(|v| !v.is_empty());
    Ok(pb::MachineIpmi {
        address: format!("{ip}:623"),
        mac: lan.get("MAC Address").cloned().unwrap_or_default(),
        interface: "lanplus".into(),
        bmc_version: info.get("Firmware Revision").cloned().unwrap_or_default(),
        fru: Some(pb::MachineFru {
            chassis_part_number: f("Chassis Part Number"),
            chassis_part_serial: f("Chassis Serial"),
            board_mfg: f("Board Mfg"),
            board_mfg_serial: f("Board Serial"),
            board_part_number: f("Board Part Number"),
            product_manufacturer: f("Product Manufacturer"),
            product_part_number: f("Product Part Number"),
            product_serial: f("Product Serial"),
        }),
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, rel: &str, content: &str) {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
    }

    fn machine() -> tempfile::TempDir {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        write(
            r,
            "sys/class/dmi/id/product_uuid",
            "9C1BB07E-5D7A-4E20-9E3B-4D3C3E0F0A01\n",
        );
        write(
            r,
            "sys/class/dmi/id/bios_version",
            "1.16.3-debian-1.16.3-2\n",
        );
        write(r, "sys/class/dmi/id/bios_vendor", "SeaBIOS\n");
        write(r, "sys/class/dmi/id/bios_date", "04/01/2014\n");
        write(r, "sys/class/dmi/id/sys_vendor", "QEMU\n");
        write(
            r,
            "proc/meminfo",
            "MemTotal:         503424 kB\nMemFree: 1 kB\n",
        );
        let cpu = |n: u32, pkg: u32| {
            format!(
                "processor\t: {n}\nvendor_id\t: GenuineIntel\nmodel name\t: Intel Xeon\nphysical id\t: {pkg}\ncpu cores\t: 2\n"
            )
        };
        write(
            r,
            "proc/cpuinfo",
            &[
                cpu(0, 0),
                cpu(1, 0),
                cpu(2, 0),
                cpu(3, 0),
                cpu(4, 1),
                cpu(5, 1),
            ]
            .join("\n"),
        );
        write(r, "sys/block/vda/size", "2097152\n");
        write(r, "sys/block/vdb/size", "4194304\n");
        write(r, "sys/block/ram0/size", "8192\n");
        write(r, "sys/block/loop0/size", "0\n");
        write(r, "sys/class/net/eth0/address", "52:54:00:AA:00:01\n");
        write(r, "sys/class/net/eth1/address", "52:54:00:aa:00:02\n");
        write(r, "sys/class/net/sit0/address", "00:00:00:00\n");
        write(r, "sys/bus/pci/devices/0000:00:02.0/vendor", "0x10de\n");
        write(r, "sys/bus/pci/devices/0000:00:02.0/class", "0x030000\n");
        write(r, "sys/bus/pci/devices/0000:00:02.0/device", "0x2330\n");
        write(r, "sys/bus/pci/devices/0000:00:03.0/vendor", "0x1af4\n");
        write(r, "sys/bus/pci/devices/0000:00:03.0/class", "0x020000\n");
        t
    }

    #[test]
    fn discovers_a_machine() {
        let t = machine();
        let d = Discovery::new(t.path());
        assert_eq!(
            d.machine_uuid().unwrap(),
            "9c1bb07e-5d7a-4e20-9e3b-4d3c3e0f0a01"
        );
        let hw = d.hardware().unwrap();
        assert_eq!(hw.memory, 503_424 * 1024);
        assert_eq!(hw.cpus.len(), 2);
        assert_eq!((hw.cpus[0].cores, hw.cpus[0].threads), (2, 4));
        assert_eq!((hw.cpus[1].cores, hw.cpus[1].threads), (2, 2));
        assert_eq!(hw.cpu_cores, 4);
        let disks: Vec<_> = hw.disks.iter().map(|d| (d.name.as_str(), d.size)).collect();
        assert_eq!(disks, [("/dev/vda", 1 << 30), ("/dev/vdb", 2 << 30)]);
        let nics: Vec<_> = hw
            .nics
            .iter()
            .map(|n| (n.name.as_str(), n.mac.as_str()))
            .collect();
        assert_eq!(
            nics,
            [
                ("eth0", "52:54:00:aa:00:01"),
                ("eth1", "52:54:00:aa:00:02"),
                ("lo", "00:00:00:00:00:00")
            ]
        );
        assert_eq!(hw.gpus.len(), 1);
        assert_eq!(d.bios().unwrap().vendor, "SeaBIOS");
        assert_eq!(d.vendor(), "QEMU");
        assert!(!d.has_bmc());
    }

    #[test]
    fn missing_dmi_is_an_error() {
        let t = tempfile::tempdir().unwrap();
        let d = Discovery::new(t.path());
        assert!(d.machine_uuid().is_err());
        assert!(d.bios().unwrap_err().to_string().contains("BIOS"));
    }

    #[test]
    fn ipmitool_output() {
        let lan = "Set in Progress         : Set Complete\nIP Address Source       : DHCP Address\nIP Address              : 10.1.0.7\nMAC Address             : 02:00:00:00:00:07\n";
        let info = "Device ID                 : 32\nFirmware Revision         : 1.74\n";
        let fru = "FRU Device Description : Builtin FRU Device (ID 0)\n Board Mfg             : Supermicro\n Board Serial          : BS1\n Product Serial        : PS1\n";
        let i = ipmi_from_ipmitool(lan, info, fru).unwrap();
        assert_eq!(i.address, "10.1.0.7:623");
        assert_eq!(i.mac, "02:00:00:00:00:07");
        assert_eq!(i.bmc_version, "1.74");
        let fru = i.fru.unwrap();
        assert_eq!(fru.board_mfg.as_deref(), Some("Supermicro"));
        assert_eq!(fru.product_serial.as_deref(), Some("PS1"));
        assert_eq!(fru.chassis_part_number, None);
        assert!(ipmi_from_ipmitool("IP Address : 0.0.0.0\n", "", "").is_err());
    }
}
