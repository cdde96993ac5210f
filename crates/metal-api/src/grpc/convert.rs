//! Conversions between the gRPC messages (`metal_proto::api::v1`) and the domain types.

use metal_domain::machine::{
    BootInfo, MachineBios, MachineBlockDevice, MachineFru, MachineHardware, MachineIpmi,
    MachineNic, MetalCpu, MetalGpu,
};
use metal_proto::api::v1 as pb;

pub fn nic(n: pb::MachineNic) -> MachineNic {
    MachineNic {
        mac: n.mac,
        name: n.name,
        identifier: n.identifier,
        neighbors: n.neighbors.into_iter().map(nic).collect(),
        hostname: n.hostname,
    }
}

pub fn hardware(h: pb::MachineHardware) -> MachineHardware {
    MachineHardware {
        memory: h.memory,
        cpu_cores: h.cpu_cores,
        disks: h
            .disks
            .into_iter()
            .map(|d| MachineBlockDevice {
                name: d.name,
                size: d.size,
            })
            .collect(),
        nics: h.nics.into_iter().map(nic).collect(),
        cpus: h
            .cpus
            .into_iter()
            .map(|c| MetalCpu {
                vendor: c.vendor,
                model: c.model,
                cores: c.cores,
                threads: c.threads,
            })
            .collect(),
        gpus: h
            .gpus
            .into_iter()
            .map(|g| MetalGpu {
                vendor: g.vendor,
                model: g.model,
            })
            .collect(),
    }
}

pub fn bios(b: pb::MachineBios) -> MachineBios {
    MachineBios {
        version: b.version,
        vendor: b.vendor,
        date: b.date,
    }
}

pub fn ipmi(i: pb::MachineIpmi) -> MachineIpmi {
    let f = i.fru.unwrap_or_default();
    MachineIpmi {
        address: i.address,
        mac: i.mac,
        user: i.user,
        password: i.password,
        interface: i.interface,
        fru: MachineFru {
            chassis_part_number: f.chassis_part_number.unwrap_or_default(),
            chassis_part_serial: f.chassis_part_serial.unwrap_or_default(),
            board_mfg: f.board_mfg.unwrap_or_default(),
            board_mfg_serial: f.board_mfg_serial.unwrap_or_default(),
            board_part_number: f.board_part_number.unwrap_or_default(),
            product_manufacturer: f.product_manufacturer.unwrap_or_default(),
            product_part_number: f.product_part_number.unwrap_or_default(),
            product_serial: f.product_serial.unwrap_or_default(),
        },
        bmcversion: i.bmc_version,
        powerstate: i.power_state,
        powermetric: None,
        powersupplies: Vec::new(),
        last_updated: None,
    }
}

pub fn boot_info_in(b: pb::BootInfo) -> BootInfo {
    BootInfo {
        image_id: b.image_id,
        primary_disk: b.primary_disk,
        os_partition: b.os_partition,
        initrd: b.initrd,
        cmdline: b.cmdline,
        kernel: b.kernel,
        bootloaderid: b.bootloader_id,
    }
}

pub fn boot_info_out(b: BootInfo) -> pb::BootInfo {
    pb::BootInfo {
        image_id: b.image_id,
        primary_disk: b.primary_disk,
        os_partition: b.os_partition,
        initrd: b.initrd,
        cmdline: b.cmdline,
        kernel: b.kernel,
        bootloader_id: b.bootloaderid,
    }
}
