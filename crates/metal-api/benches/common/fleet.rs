//! The simulated fleet shared by the benches that need many machines (`issues`, `fleet50k`):
//! deterministic machines and event containers with a realistic mix (allocated machines and
//! firewalls, waiting, dead, unknown, crash-looping, failed reclaim, BMC without IP or MAC,
//! outdated BMC data, BMC addresses and firewall ASNs shared in pairs, machines without event
//! container, recent errors), and storing it through the document layer.
//!
//! Included with `#[path]` by each bench (a bench target is one binary); not every bench uses
//! every item.
#![allow(dead_code)]

use chrono::{DateTime, TimeDelta, Utc};
use metal_domain::event::{EventContainer, EventType, Liveliness, ProvisioningEvent};
use metal_domain::machine::{
    Allocation, Machine, MachineBios, MachineBlockDevice, MachineFru, MachineHardware, MachineIpmi,
    MachineNetwork, MachineNic, MetalCpu, NetworkKind, PowerMetric, Role,
};

const RACKS: usize = 20;

pub fn splitmix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A draw in 0..1000 for machine `i` and purpose `salt`.
pub fn draw(i: usize, salt: u64) -> u64 {
    splitmix(i as u64 ^ salt.wrapping_mul(0x2545_F491_4F6C_DD1D)) % 1000
}

/// A UUID-shaped machine id, unique per index (splitmix is a bijection) and in no order.
pub fn machine_id(i: usize) -> String {
    let h = splitmix(i as u64);
    let l = splitmix(h);
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        h >> 32,
        (h >> 16) & 0xffff,
        h & 0xfff,
        (l >> 52) & 0xfff,
        l & 0xffff_ffff_ffff
    )
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Allocated,
    Firewall,
    Waiting,
    Dead,
    Unknown,
    CrashLoop,
    FailedReclaim,
    NoContainer,
    RecentError,
}

impl Kind {
    /// Per mille of the fleet.
    pub fn of(i: usize) -> Self {
        match draw(i, 1) {
            0..600 => Self::Allocated,
            600..650 => Self::Firewall,
            650..900 => Self::Waiting,
            900..920 => Self::Dead,
            920..930 => Self::Unknown,
            930..945 => Self::CrashLoop,
            945..960 => Self::FailedReclaim,
            960..970 => Self::NoContainer,
            _ => Self::RecentError,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Allocated => "allocated machine (phoned home)",
            Self::Firewall => "allocated firewall (10 % share their ASN in pairs)",
            Self::Waiting => "waiting",
            Self::Dead => "dead (waiting, no event for 2 h)",
            Self::Unknown => "liveliness unknown",
            Self::CrashLoop => "crash-looping",
            Self::FailedReclaim => "failed reclaim (free, phoning home)",
            Self::NoContainer => "no event container",
            Self::RecentError => "waiting, error 2 days ago",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Bmc {
    Ok,
    NoIp,
    NoMac,
    Outdated,
    NeverUpdated,
    SharedIp,
}

impl Bmc {
    pub fn of(i: usize) -> Self {
        match draw(i, 2) {
            0..10 => Self::NoIp,
            10..15 => Self::NoMac,
            15..45 => Self::Outdated,
            45..50 => Self::NeverUpdated,
            50..60 => Self::SharedIp,
            _ => Self::Ok,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Ok => "BMC fine (address, MAC, updated 1 min ago)",
            Self::NoIp => "BMC without IP",
            Self::NoMac => "BMC without MAC",
            Self::Outdated => "BMC info 35 min old",
            Self::NeverUpdated => "BMC info never updated",
            Self::SharedIp => "BMC address shared in pairs",
        }
    }
}

pub fn event(
    now: DateTime<Utc>,
    minutes_ago: i64,
    e: EventType,
    message: &str,
) -> ProvisioningEvent {
    ProvisioningEvent {
        time: now - TimeDelta::minutes(minutes_ago),
        event: e,
        message: message.to_string(),
    }
}

/// A provisioning log, newest first: `cycles` earlier install cycles under `head`.
pub fn log(
    now: DateTime<Utc>,
    start_min: i64,
    head: &[EventType],
    cycles: usize,
) -> Vec<ProvisioningEvent> {
    use EventType::*;
    let install = [
        PhonedHome,
        BootingNewKernel,
        Installing,
        Waiting,
        Registering,
        Preparing,
        PxeBooting,
    ];
    let mut t = start_min;
    let mut out = Vec::new();
    for &e in head.iter().chain(install.iter().cycle().take(cycles * 7)) {
        out.push(event(now, t, e, ""));
        t += 7;
    }
    out
}

pub fn network(
    id: &str,
    kind: NetworkKind,
    asn: u64,
    prefix: &str,
    ip: &str,
    private: bool,
) -> MachineNetwork {
    MachineNetwork {
        networkid: id.to_string(),
        projectid: if private { "p1".into() } else { String::new() },
        prefixes: vec![prefix.to_string()],
        ips: vec![ip.to_string()],
        destinationprefixes: if private {
            Vec::new()
        } else {
            vec!["0.0.0.0/0".into()]
        },
        vrf: if private { 30 } else { 104009 },
        asn,
        nat: !private,
        private,
        underlay: kind == NetworkKind::Underlay,
        networktype: kind,
        networktypev2: kind.as_str().to_string(),
        nattypev2: if private { "none" } else { "ipv4-masquerade" }.into(),
    }
}

/// The simulated fleet: `n` machines and the event containers of those that have one.
pub fn fleet(n: usize, now: DateTime<Utc>) -> (Vec<Machine>, Vec<EventContainer>) {
    let mut shared_bmc = 0usize;
    let mut shared_asn = 0usize;
    let mut machines = Vec::with_capacity(n);
    let mut containers = Vec::with_capacity(n);
    for i in 0..n {
        let id = machine_id(i);
        let kind = Kind::of(i);
        let bmc = Bmc::of(i);
        let mac = |last: usize| {
            format!(
                "b4:96:91:{:02x}:{:02x}:{:02x}",
                i / 65536 % 256,
                i / 256 % 256,
                (i + last) % 256
            )
        };
        let address = match bmc {
            Bmc::NoIp => String::new(),
            Bmc::SharedIp => {
                let k = shared_bmc / 2;
                shared_bmc += 1;
                format!("10.255.{}.{}:623", k / 256, k % 256)
            }
            _ => format!("10.{}.{}.{}:623", 64 + i / 65536, i / 256 % 256, i % 256),
        };
        let last_updated = match bmc {
            Bmc::NeverUpdated => None,
            Bmc::Outdated => Some(now - TimeDelta::minutes(35)),
            _ => Some(now - TimeDelta::minutes(1)),
        };
        let nic = |n: usize| MachineNic {
            mac: mac(n),
            name: format!("lan{n}"),
            identifier: String::new(),
            neighbors: vec![MachineNic {
                mac: format!("0c:42:a1:{:02x}:{:02x}:{:02x}", i % RACKS, n, i % 48),
                name: format!("swp{}s{}", i % 48, n),
                identifier: String::new(),
                neighbors: Vec::new(),
                hostname: format!("r{:02}leaf0{}", i % RACKS, n + 1),
            }],
            hostname: String::new(),
        };
        let asn = 4_200_000_000 + i as u64;
        let allocation = match kind {
            Kind::Allocated => Some(Allocation {
                allocationuuid: machine_id(i + 1_000_000_000),
                creator: "bench@metal-stack.io".into(),
                created: Some(now - TimeDelta::days(30)),
                name: format!("shoot-worker-{i}"),
                hostname: format!("shoot-worker-{i}"),
                project: "p1".into(),
                imageid: "ubuntu-24.04.20241001".into(),
                networks: vec![
                    network(
                        "tenant-1",
                        NetworkKind::PrivatePrimaryUnshared,
                        asn,
                        "10.128.0.0/22",
                        &format!("10.128.{}.{}", i / 256 % 4, i % 256),
                        true,
                    ),
                    network(
                        "internet",
                        NetworkKind::External,
                        asn,
                        "185.1.0.0/16",
                        &format!("185.1.{}.{}", i / 256 % 256, i % 256),
                        false,
                    ),
                ],
                ssh_pub_keys: vec!["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBenchKey bench".into()],
                succeeded: true,
                role: Role::Machine,
                ..Default::default()
            }),
            Kind::Firewall => {
                let asn = if draw(i, 3) < 100 {
                    let k = shared_asn / 2;
                    shared_asn += 1;
                    4_290_000_000 + k as u64
                } else {
                    asn
                };
                Some(Allocation {
                    allocationuuid: machine_id(i + 1_000_000_000),
                    creator: "bench@metal-stack.io".into(),
                    created: Some(now - TimeDelta::days(30)),
                    name: format!("shoot-firewall-{i}"),
                    hostname: format!("shoot-firewall-{i}"),
                    project: "p1".into(),
                    imageid: "firewall-ubuntu-3.0.20241001".into(),
                    networks: vec![
                        network(
                            "underlay",
                            NetworkKind::Underlay,
                            asn,
                            "10.0.0.0/22",
                            &format!("10.0.{}.{}", i / 256 % 4, i % 256),
                            false,
                        ),
                        network(
                            "tenant-1",
                            NetworkKind::PrivatePrimaryUnshared,
                            asn,
                            "10.128.0.0/22",
                            "10.128.0.1",
                            true,
                        ),
                        network(
                            "internet",
                            NetworkKind::External,
                            asn,
                            "185.1.0.0/16",
                            &format!("185.2.{}.{}", i / 256 % 256, i % 256),
                            false,
                        ),
                    ],
                    succeeded: true,
                    role: Role::Firewall,
                    ..Default::default()
                })
            }
            _ => None,
        };
        let waiting = matches!(
            kind,
            Kind::Waiting | Kind::Dead | Kind::Unknown | Kind::RecentError
        );
        machines.push(Machine {
            id: id.clone(),
            partitionid: "fra".into(),
            rackid: format!("rack-{:02}", i % RACKS),
            sizeid: "c1-xlarge-x86".into(),
            waiting,
            hardware: MachineHardware {
                memory: 256 << 30,
                cpu_cores: 32,
                disks: vec![
                    MachineBlockDevice {
                        name: "/dev/nvme0n1".into(),
                        size: 960 << 30,
                    },
                    MachineBlockDevice {
                        name: "/dev/nvme1n1".into(),
                        size: 960 << 30,
                    },
                ],
                nics: vec![nic(0), nic(1)],
                cpus: vec![
                    MetalCpu {
                        vendor: "GenuineIntel".into(),
                        model: "Intel(R) Xeon(R) Silver 4214 CPU @ 2.20GHz".into(),
                        cores: 16,
                        threads: 32,
                    };
                    2
                ],
                gpus: Vec::new(),
            },
            bios: MachineBios {
                version: "2.4.3".into(),
                vendor: "Dell Inc.".into(),
                date: "07/01/2023".into(),
            },
            ipmi: MachineIpmi {
                address,
                mac: if bmc == Bmc::NoMac {
                    String::new()
                } else {
                    mac(2)
                },
                user: "metal".into(),
                password: "secret-bmc-password".into(),
                interface: "lanplus".into(),
                fru: MachineFru {
                    chassis_part_number: "0J1X2Y".into(),
                    chassis_part_serial: format!("CN{i:010}"),
                    board_mfg: "Dell Inc.".into(),
                    board_mfg_serial: format!("BM{i:010}"),
                    board_part_number: "0A1B2C".into(),
                    product_manufacturer: "Dell Inc.".into(),
                    product_part_number: "R640".into(),
                    product_serial: format!("SV{i:08}"),
                },
                bmcversion: "6.10.30.00".into(),
                powerstate: "ON".into(),
                powermetric: Some(PowerMetric {
                    averageconsumedwatts: 212.0,
                    intervalinmin: 1.0,
                    maxconsumedwatts: 340.0,
                    minconsumedwatts: 180.0,
                }),
                powersupplies: Vec::new(),
                last_updated,
            },
            allocation,
            ..Default::default()
        });

        use EventType::*;
        let cycles = 1 + (draw(i, 4) % 3) as usize;
        let mut ec = EventContainer::new(id);
        match kind {
            Kind::NoContainer => continue,
            Kind::Allocated | Kind::Firewall => {
                ec.events = log(now, 1, &[], cycles);
                if draw(i, 5) < 100 {
                    // an old crash, long since recovered: no issue
                    ec.last_error_event = Some(event(now, 60 * 24 * 10, Crashed, "kernel panic"));
                }
            }
            Kind::Waiting | Kind::Unknown => {
                ec.events = log(
                    now,
                    1,
                    &[Waiting, Registering, Preparing, PxeBooting],
                    cycles,
                );
                if kind == Kind::Unknown {
                    ec.liveliness = Liveliness::Unknown;
                }
            }
            Kind::Dead => {
                ec.events = log(now, 120, &[Waiting, Registering, Preparing, PxeBooting], 1);
                ec.liveliness = Liveliness::Dead;
            }
            Kind::CrashLoop => {
                ec.events = log(
                    now,
                    1,
                    &[
                        Crashed, Preparing, PxeBooting, Crashed, Preparing, PxeBooting,
                    ],
                    cycles,
                );
                ec.events[0].message = "kernel panic: VFS unable to mount root fs".into();
                ec.crash_loop = true;
                ec.last_error_event = Some(ec.events[0].clone());
            }
            Kind::FailedReclaim => {
                ec.events = log(now, 1, &[PhonedHome, MachineReclaim], cycles);
                ec.failed_machine_reclaim = draw(i, 6) < 500;
            }
            Kind::RecentError => {
                ec.events = log(
                    now,
                    1,
                    &[Waiting, Registering, Preparing, PxeBooting, Crashed],
                    cycles,
                );
                ec.last_error_event = Some(event(now, 60 * 48, Crashed, "watchdog timeout"));
            }
        }
        ec.last_event_time = ec.events.first().map(|e| e.time);
        containers.push(ec);
    }
    (machines, containers)
}

/// Stores machines and event containers through the document layer, in transactions of 200.
pub async fn store(
    store: &metal_store::Store,
    machines: &mut [Machine],
    containers: &mut [EventContainer],
) -> anyhow::Result<()> {
    for chunk in machines.chunks_mut(200) {
        let mut tx = store.begin().await?;
        metal_store::docs::insert_many(&mut tx, chunk).await?;
        tx.commit().await?;
    }
    for chunk in containers.chunks_mut(200) {
        let mut tx = store.begin().await?;
        metal_store::docs::insert_many(&mut tx, chunk).await?;
        tx.commit().await?;
    }
    Ok(())
}

/// A `VmRSS`/`VmHWM` line of `/proc/<pid>/status` (`self` for this process), in MiB.
pub fn status_mib(pid: &str, key: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}
