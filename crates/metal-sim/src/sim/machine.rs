//! One simulated machine: pixie's PXE calls, then metal-hammer (Preparing, SuperUserPassword,
//! Registering, Register with hardware and LLDP neighbours, the reinstall check over REST,
//! Waiting and the Wait stream, Installing, Report, Booting New Kernel) with its Alive ticker,
//! then the installed OS, until the machine is rebooted into PXE (after a free, a reinstall or
//! a crash) or the simulator stops.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Instant;

use metal_proto::api::v1 as pb;
use metal_proto::api::v1::boot_service_client::BootServiceClient;
use tokio::sync::watch;
use tokio::time::MissedTickBehavior;
use tonic::transport::Channel;
use tonic::Code;

use super::config::SimConfig;
use super::identity::{Derive, MachineSpec};
use super::state::{Phase, Shared};

/// Resolves when the simulator stops (or is dropped).
pub(crate) async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// The life of machine `idx` until the simulator stops.
pub(crate) async fn run(shared: Arc<Shared>, idx: usize, mut stop: watch::Receiver<bool>) {
    let c = &shared.config;
    let delay = c
        .start_spread
        .mul_f64(idx as f64 / shared.layout.machines.len() as f64);
    tokio::select! {
        _ = stopped(&mut stop) => return,
        _ = tokio::time::sleep(delay) => {}
    }
    loop {
        shared.update(idx, |s| {
            s.boots += 1;
            s.allocation_uuid = None;
            s.installed_at = None;
        });
        let crashed = tokio::select! {
            biased;
            _ = stopped(&mut stop) => return,
            _ = shared.reboot_signal(idx).notified() => {
                tracing::debug!(machine = shared.machine(idx).id, "rebooting into PXE");
                continue;
            }
            r = life(&shared, idx) => {
                let Err(e) = r;
                e
            }
        };
        tracing::warn!(
            machine = shared.machine(idx).id,
            error = crashed,
            "metal-hammer crashed"
        );
        shared.update(idx, |s| {
            s.phase = Phase::Crashed;
            s.crashes += 1;
            s.last_error = Some(crashed.clone());
        });
        // metal-hammer reports the crash, sleeps and reboots
        tokio::select! {
            _ = stopped(&mut stop) => return,
            _ = shared.reboot_signal(idx).notified() => {}
            _ = async {
                shared.event(idx, "Crashed", crashed).await;
                tokio::time::sleep(c.crash_reboot_delay).await;
            } => {}
        }
    }
}

/// From power-on to the installed OS, which then runs until it is rebooted; returns only with
/// the error that crashed metal-hammer.
async fn life(shared: &Shared, idx: usize) -> Result<Infallible, String> {
    let c = &shared.config;
    let spec = shared.machine(idx);
    tokio::time::sleep(c.boot_duration).await;

    // pixie
    shared.set_phase(idx, Phase::PxeBooting);
    let boot = BootServiceClient::new(shared.channel(idx));
    let dhcp = pb::BootServiceDhcpRequest {
        uuid: spec.id.clone(),
    };
    call(shared, "Dhcp", &boot, |mut b| {
        let req = dhcp.clone();
        async move { b.dhcp(req).await }
    })
    .await?;
    let req = pb::BootServiceBootRequest {
        mac: spec.nics[0].mac.clone(),
        partition_id: c.partition.clone(),
    };
    let kernel = call(shared, "Boot", &boot, |mut b| {
        let req = req.clone();
        async move { b.boot(req).await }
    })
    .await?
    .kernel;
    tracing::debug!(machine = spec.id, kernel, "PXE boot");

    // metal-hammer, with its Alive ticker
    let allocation_uuid = tokio::select! {
        r = hammer(shared, idx, &boot) => r?,
        never = alive(shared, idx) => match never {},
    };
    shared.update(idx, |s| {
        s.phase = Phase::BootingNewKernel;
        s.allocation_uuid = Some(allocation_uuid);
        s.installed_at = Some((Instant::now(), chrono::Utc::now()));
    });
    tracing::debug!(machine = spec.id, "installed");
    // the installed OS runs until the machine is rebooted; metal-core phones home for it
    std::future::pending().await
}

/// A unary boot service call, retried while transient; other failures crash metal-hammer.
async fn call<T, F, Fut>(
    shared: &Shared,
    what: &str,
    client: &BootServiceClient<Channel>,
    f: F,
) -> Result<T, String>
where
    F: Fn(BootServiceClient<Channel>) -> Fut,
    Fut: std::future::Future<Output = Result<tonic::Response<T>, tonic::Status>>,
{
    shared
        .retry(what, || f(client.clone()))
        .await
        .map(tonic::Response::into_inner)
        .map_err(|s| format!("{what}: {}: {}", s.code(), s.message()))
}

/// metal-hammer's run: returns the allocation uuid it installed.
async fn hammer(
    shared: &Shared,
    idx: usize,
    boot: &BootServiceClient<Channel>,
) -> Result<String, String> {
    let c = &shared.config;
    let spec = shared.machine(idx);
    shared.set_phase(idx, Phase::Preparing);
    shared
        .event(
            idx,
            "Preparing",
            format!("starting metal-hammer version:{}", c.hammer_version),
        )
        .await;
    call(shared, "SuperUserPassword", boot, |mut b| async move {
        b.super_user_password(pb::BootServiceSuperUserPasswordRequest {})
            .await
    })
    .await?;

    shared.set_phase(idx, Phase::Registering);
    shared.event(idx, "Registering", "start registering").await;
    let reg = registration(spec, c);
    let registered = call(shared, "Register", boot, |mut b| {
        let req = reg.clone();
        async move { b.register(req).await }
    })
    .await?;
    tracing::debug!(
        machine = spec.id,
        size = registered.size,
        partition = registered.partition_id,
        "registered"
    );

    let machine = shared
        .retry_rest("get machine", || shared.rest.get_machine(&spec.id))
        .await
        .map_err(|e| format!("reading the machine: {e}"))?;
    let reinstall = machine.allocation.as_ref().is_some_and(|a| a.reinstall);
    if !reinstall {
        wait(shared, idx, boot).await?;
    }

    let machine = shared
        .retry_rest("get machine", || shared.rest.get_machine(&spec.id))
        .await
        .map_err(|e| format!("reading the allocation: {e}"))?;
    let allocation = machine
        .allocation
        .ok_or_else(|| "the Wait stream ended but the machine is not allocated".to_string())?;
    shared.set_phase(idx, Phase::Installing);
    shared.event(idx, "Installing", "start installation").await;
    tokio::time::sleep(c.install_duration).await;

    let image_id = allocation
        .image
        .as_ref()
        .map(|i| i.id.clone())
        .unwrap_or_default();
    let os_partition = allocation
        .filesystemlayout
        .as_ref()
        .and_then(|l| {
            l.filesystems
                .iter()
                .find(|f| f.path.as_deref() == Some("/"))
                .map(|f| f.device.clone())
        })
        .unwrap_or_else(|| "/dev/sda1".to_string());
    let boots = shared.status(idx).boots;
    let mut d = Derive::new(
        c.seed,
        &c.partition,
        "console-password",
        ((idx as u64) << 32) ^ boots,
    );
    let console_password = d.string(
        b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
        16,
    );
    let os = image_id.split('-').next().unwrap_or("metal").to_string();
    let report = pb::BootServiceReportRequest {
        uuid: spec.id.clone(),
        console_password,
        boot_info: Some(pb::BootInfo {
            image_id,
            primary_disk: "/dev/sda".into(),
            os_partition: os_partition.clone(),
            initrd: "/boot/initrd.img".into(),
            cmdline: format!(
                "console=ttyS0,115200n8 root={os_partition} init=/sbin/init net.ifnames=0 biosdevname=0"
            ),
            kernel: "/boot/vmlinuz".into(),
            bootloader_id: format!("metal-{os}"),
        }),
        success: true,
        message: "installation succeeded".into(),
    };
    call(shared, "Report", boot, |mut b| {
        let req = report.clone();
        async move { b.report(req).await }
    })
    .await?;
    shared
        .event(idx, "Booting New Kernel", "booting into distro kernel")
        .await;
    Ok(allocation.allocationuuid)
}

/// `Waiting`, then the Wait stream until it ends (allocated); a broken stream is reopened
/// after [`SimConfig::wait_retry`] as metal-hammer does.
async fn wait(
    shared: &Shared,
    idx: usize,
    boot: &BootServiceClient<Channel>,
) -> Result<(), String> {
    let spec = shared.machine(idx);
    shared.event(idx, "Waiting", "waiting for allocation").await;
    let req = pb::BootServiceWaitRequest {
        machine_id: spec.id.clone(),
    };
    loop {
        let failure = match boot.clone().wait(req.clone()).await {
            Ok(resp) => {
                shared.set_phase(idx, Phase::Waiting);
                let mut stream = resp.into_inner();
                loop {
                    match stream.message().await {
                        Ok(Some(_keepalive)) => {}
                        Ok(None) => return Ok(()),
                        Err(s) => break s,
                    }
                }
            }
            Err(s) => s,
        };
        if failure.code() == Code::Unimplemented
            || failure.message().contains("failed to verify certificate")
        {
            return Err(format!("Wait: {}: {}", failure.code(), failure.message()));
        }
        tracing::debug!(machine = spec.id, error = %failure, "Wait failed, reopening");
        tokio::time::sleep(shared.config.wait_retry).await;
    }
}

/// metal-hammer's Alive ticker.
async fn alive(shared: &Shared, idx: usize) -> Infallible {
    let every = shared.config.alive_interval;
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        shared
            .event(idx, "Alive", format!("still alive at: {now}"))
            .await;
    }
}

/// The Register request of a machine: hardware with both NICs and their LLDP neighbours,
/// BIOS, BMC.
pub(crate) fn registration(spec: &MachineSpec, c: &SimConfig) -> pb::BootServiceRegisterRequest {
    let hw = &c.hardware;
    let nics = spec
        .nics
        .iter()
        .map(|n| pb::MachineNic {
            mac: n.mac.clone(),
            name: n.name.clone(),
            neighbors: vec![pb::MachineNic {
                mac: n.port_mac.clone(),
                name: n.port_name.clone(),
                hostname: n.switch_id.clone(),
                identifier: n.port_mac.clone(),
                neighbors: vec![],
            }],
            hostname: String::new(),
            identifier: String::new(),
        })
        .collect();
    let gpus = hw
        .gpu
        .iter()
        .flat_map(|g| {
            (0..g.count).map(|_| pb::MachineGpu {
                vendor: g.vendor.clone(),
                model: g.model.clone(),
            })
        })
        .collect();
    pb::BootServiceRegisterRequest {
        uuid: spec.id.clone(),
        hardware: Some(pb::MachineHardware {
            memory: hw.memory_bytes(),
            cpu_cores: hw.cores,
            disks: vec![pb::MachineBlockDevice {
                name: "/dev/sda".into(),
                size: hw.disk_bytes(),
            }],
            nics,
            cpus: vec![pb::MachineCpu {
                vendor: "GenuineIntel".into(),
                model: format!("Intel(R) Xeon(R) Simulated {}-Core Processor", hw.cores),
                cores: hw.cores,
                threads: hw.cores * 2,
            }],
            gpus,
        }),
        bios: Some(pb::MachineBios {
            version: "3.4".into(),
            vendor: "American Megatrends Inc.".into(),
            date: "12/03/2021".into(),
        }),
        ipmi: Some(pb::MachineIpmi {
            address: spec.bmc_address.clone(),
            mac: spec.bmc_mac.clone(),
            user: "metal".into(),
            password: spec.bmc_password.clone(),
            interface: "lanplus".into(),
            fru: Some(pb::MachineFru {
                chassis_part_number: Some("CSE-217BHQ+-R2K22BP2".into()),
                chassis_part_serial: Some(format!("C217{}", spec.serial)),
                board_mfg: Some("Supermicro".into()),
                board_mfg_serial: Some(format!("HM{}", spec.serial)),
                board_part_number: Some("X11DPT-B".into()),
                product_manufacturer: Some("Supermicro".into()),
                product_part_number: Some("SYS-2029BT-HNTR".into()),
                product_serial: Some(spec.serial.clone()),
            }),
            bmc_version: "1.74.11".into(),
            power_state: "ON".into(),
        }),
        tags: vec![],
        metal_hammer_version: c.hammer_version.clone(),
        partition_id: c.partition.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::config::GpuSpec;
    use super::super::identity::Layout;
    use super::*;

    #[test]
    fn registration_reports_hardware_and_neighbours() {
        let mut c = SimConfig::new("127.0.0.1:1", "http://127.0.0.1:2/", "k", "fra");
        c.hardware.gpu = Some(GpuSpec {
            vendor: "NVIDIA Corporation".into(),
            model: "AD102GL [RTX 6000 Ada Generation]".into(),
            count: 2,
        });
        let layout = Layout::new(&c);
        let r = registration(&layout.machines[1], &c);
        let hw = r.hardware.unwrap();
        assert_eq!(hw.memory, 64 << 30);
        assert_eq!(hw.cpu_cores, 4);
        assert_eq!(hw.disks[0].size, 100 << 30);
        assert_eq!(hw.gpus.len(), 2);
        assert_eq!(hw.nics.len(), 2);
        assert_eq!(hw.nics[0].neighbors[0].hostname, "fra-rack01-leaf01");
        assert_eq!(hw.nics[1].neighbors[0].hostname, "fra-rack01-leaf02");
        assert_eq!(hw.nics[0].neighbors[0].name, "swp2");
        assert_eq!(r.partition_id, "fra");
    }
}
