//! One lab machine: a qemu VM (q35, OVMF, two virtio NICs first in the boot order, two disks,
//! fixed SMBIOS uuid) and its BMC, OpenIPMI's `ipmi_sim`, on the BMC network.
//!
//! The VM is connected to its BMC through qemu's `ipmi-bmc-extern` device (ipmi_sim's "VM"
//! serial protocol, plus an in-band KCS interface): a chassis power on over IPMI makes ipmi_sim
//! run the machine's `start-vm.sh` (the VM starts), power off makes qemu quit, reset and cycle
//! reset the VM through its firmware (so it PXE-boots again), and the power state metal-bmc
//! reads is whether the VM is connected. Nothing else starts or stops a VM.

use std::path::Path;

use anyhow::Context;
use metal_sim::ipmisim::{emu_commands, lan_conf, SimBmc};
use metal_sim::vm::{BootOrder, Disk, DiskFormat, Firmware, Nic, Vm};

use crate::plan::{MachinePlan, BMC_USER, IPMI_PORT};

pub const MEMORY_MIB: u32 = 768;
/// The firmware's and the installed OS's console (ttyS0).
pub const CONSOLE_LOG: &str = "console.log";
/// metal-hammer's console (ttyS1).
pub const SOL_LOG: &str = "console-ttyS1.log";
pub const DISK_BYTES: u64 = 1024 * 1024 * 1024;

/// The qemu command line of the machine (files in its directory).
pub fn qemu_args(m: &MachinePlan) -> anyhow::Result<Vec<String>> {
    let disks: Vec<Disk> = (0..2)
        .map(|d| Disk::open(&m.dir.join(format!("disk{d}.qcow2")), DiskFormat::Qcow2))
        .collect();
    let mut b = Vm::builder()
        .name(&m.name)
        .memory_mib(MEMORY_MIB)
        .cpus(1)
        .uuid(&m.uuid)
        .firmware(Firmware::Ovmf, BootOrder::NetworkFirst)
        .disks(&disks)
        .allow_reboot()
        .arg("-machine")
        .arg("q35")
        // ttyS1, the serial-over-LAN console of metal-stack's servers: pixie's iPXE script puts
        // the kernel console there (the installed OS and the firmware use ttyS0, console.log)
        .arg("-chardev")
        .arg(&format!(
            "file,id=ser1,path={},append=on",
            m.dir.join(SOL_LOG).display()
        ))
        .arg("-serial")
        .arg("chardev:ser1")
        .arg("-chardev")
        .arg(&format!(
            "socket,id=ipmi0,host=127.0.0.1,port={},reconnect-ms=1000",
            m.bmc_serial_port
        ))
        .arg("-device")
        .arg("ipmi-bmc-extern,id=bmc0,chardev=ipmi0")
        .arg("-device")
        .arg("isa-ipmi-kcs,bmc=bmc0");
    for j in 0..m.taps.len() {
        b = b.nic(Nic::tap(&m.taps[j], &m.macs[j]));
    }
    b.qemu_args(&m.dir)
}

/// Single-quotes a word for `sh`.
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Writes the machine's directory: disks, `start-vm.sh` (qemu, console appended to
/// `console.log`), and ipmi_sim's `lan.conf` and `sim.emu`.
pub fn prepare(m: &MachinePlan, bmc_password: &str) -> anyhow::Result<()> {
    std::fs::create_dir_all(m.dir.join("state"))?;
    for d in 0..2 {
        Disk::create_at(
            &m.dir.join(format!("disk{d}.qcow2")),
            DiskFormat::Qcow2,
            DISK_BYTES,
        )?;
    }
    let qemu = std::env::var("METAL_VM_QEMU").unwrap_or_else(|_| "qemu-system-x86_64".into());
    let args: Vec<String> = qemu_args(m)?.iter().map(|a| quote(a)).collect();
    let console = m.dir.join(CONSOLE_LOG);
    let script = format!(
        "#!/bin/sh\n# started by ipmi_sim on chassis power on\necho \"=== power on $(date -u +%FT%TZ)\" >> {log}\nexec {qemu} {args} </dev/null >> {log} 2>&1\n",
        log = quote(&console.display().to_string()),
        qemu = quote(&qemu),
        args = args.join(" "),
    );
    write_exec(&m.dir.join("start-vm.sh"), &script)?;

    let bmc = sim_bmc(m, bmc_password);
    let power = format!(
        "  serial 15 127.0.0.1 {serial} codec VM ipmb 0x20\n  startcmd \"{start}\"\n  startnow false\n  poweroff_wait 10\n  kill_wait 5\n",
        serial = m.bmc_serial_port,
        start = m.dir.join("start-vm.sh").display(),
    );
    let lan = lan_conf(&m.name, &m.bmc_ip.to_string(), IPMI_PORT, &bmc, &power)?;
    // it holds the BMC password
    let lan_path = m.dir.join("lan.conf");
    metal_util::fs::write_private(&lan_path, lan.as_bytes())
        .map_err(|e| anyhow::anyhow!("writing {}: {e}", lan_path.display()))?;
    std::fs::write(m.dir.join("sim.emu"), emu_commands(&bmc))?;
    Ok(())
}

/// What the machine's BMC tells about it.
pub fn sim_bmc(m: &MachinePlan, password: &str) -> SimBmc {
    let mut b = SimBmc::example(&m.uuid, password, m.index as u8);
    b.user = BMC_USER.into();
    b.product_manufacturer = "metal-lab".into();
    b.board_mfg = "metal-lab".into();
    b
}

/// ipmi_sim's arguments for the machine.
pub fn ipmi_sim_args(m: &MachinePlan) -> Vec<String> {
    let p = |f: &str| m.dir.join(f).display().to_string();
    vec![
        "-c".into(),
        p("lan.conf"),
        "-f".into(),
        p("sim.emu"),
        "-s".into(),
        p("state"),
        "-n".into(),
        "-p".into(),
    ]
}

fn write_exec(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Plan;

    #[test]
    fn the_vm_boots_from_its_nics_first_and_talks_to_its_bmc() {
        // the per-machine copy of OVMF's variable store goes into the machine's directory
        let dir = tempfile::tempdir().unwrap();
        let plan = Plan::new("t", dir.path(), 2).unwrap();
        let m = plan.machine(2);
        std::fs::create_dir_all(&m.dir).unwrap();
        let a = qemu_args(&m).unwrap().join(" ");
        assert!(
            a.contains("-uuid 6c61622d-6d00-4000-8000-000000000002"),
            "{a}"
        );
        assert!(
            a.contains("ifname=m2t0") && a.contains("ifname=m2t1"),
            "{a}"
        );
        assert!(a.contains("mac=52:54:00:6c:02:00,bootindex=1"), "{a}");
        assert!(a.contains("mac=52:54:00:6c:02:01,bootindex=2"), "{a}");
        assert!(a.contains("machines/machine-2/disk0.qcow2"), "{a}");
        assert!(m.dir.join("OVMF_VARS.fd").exists());
        assert!(a.contains("serial=disk1,bootindex=4"), "{a}");
        assert!(
            a.contains("port=9002") && a.contains("ipmi-bmc-extern"),
            "{a}"
        );
        assert!(a.contains("OVMF_CODE") && a.contains("-machine q35"), "{a}");
        assert!(!a.contains("-no-reboot"), "a reset must reboot the VM: {a}");
    }

    #[test]
    fn quoting_survives_the_shell() {
        let q = quote("it's a 'test'");
        let out = std::process::Command::new("sh")
            .args(["-c", &format!("printf %s {q}")])
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "it's a 'test'");
    }
}
