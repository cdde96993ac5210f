//! Machine issues benchmark: the evaluation behind `POST /v1/machine/issues/evaluate` (§5).
//! Kept in one file: a bench target is one binary, and its fleet generator, the O(n^2) model
//! and the report are used only here and read as one experiment from top to bottom.
//!
//! 1. **Domain**: `metal_domain::issues::evaluate` (and the wire answer) over 1,000, 10,000 and
//!    50,000 simulated machines with a realistic mix (allocated machines and firewalls,
//!    waiting, dead, unknown, crash-looping, failed reclaim, BMC without IP or MAC, outdated
//!    BMC data, BMC addresses shared in pairs, firewall ASNs shared in pairs, machines without
//!    event container, recent errors). Median and p95 of several runs; memory as the peak of
//!    heap bytes above the baseline during one evaluation (a counting global allocator,
//!    `peak_alloc`, in this bench binary) and the process' resident set (`VmRSS`, `VmHWM` of
//!    `/proc/self/status`).
//! 2. **End to end**: signed `POST /v1/machine/issues/evaluate` over loopback HTTP against
//!    metal-api (metal-testkit) with 10,000 such machines stored, on SQLite and PostgreSQL,
//!    plus the same request in-process (`app::issues::evaluate`: load + evaluate, no HTTP).
//! 3. **O(n²) comparison**: a model, written here, of how metal-stack evaluates the two
//!    pairwise issues (`bmc-no-distinct-ip`, `asn-not-unique`): every machine compared with
//!    every other one, with the detail strings it builds. It is not metal-stack's code (that is
//!    Go); it follows its loops, iterating by reference where Go copies each machine value.
//!    Timed against the domain evaluation restricted to those two issue ids, which must flag
//!    the same machines.
//!
//! Settings (environment): `BENCH_BACKENDS` (`sqlite`, `postgres`, default both),
//! `BENCH_HTTP_RUNS` (default 10).
//!
//! Run: `cargo bench -p metal-api --bench issues`

use std::collections::HashMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use metal_domain::event::{EventContainer, EventType, Liveliness, ProvisioningEvent};
use metal_domain::issues::{self, IssueConfig, IssueType, MachineIssuesRequest};
use metal_domain::machine::{
    Allocation, Machine, MachineBios, MachineBlockDevice, MachineFru, MachineHardware, MachineIpmi,
    MachineNetwork, MachineNic, MetalCpu, NetworkKind, PowerMetric, Role,
};
use metal_testkit::{Backend, TestApi};
use peak_alloc::PeakAlloc;

#[global_allocator]
static HEAP: PeakAlloc = PeakAlloc;

const RACKS: usize = 20;

// ---------------------------------------------------------------------------------------
// The simulated fleet
// ---------------------------------------------------------------------------------------

fn splitmix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A draw in 0..1000 for machine `i` and purpose `salt`.
fn draw(i: usize, salt: u64) -> u64 {
    splitmix(i as u64 ^ salt.wrapping_mul(0x2545_F491_4F6C_DD1D)) % 1000
}

/// A UUID-shaped machine id, unique per index (splitmix is a bijection) and in no order.
fn machine_id(i: usize) -> String {
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
enum Kind {
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
    fn of(i: usize) -> Self {
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

    fn label(self) -> &'static str {
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
enum Bmc {
    Ok,
    NoIp,
    NoMac,
    Outdated,
    NeverUpdated,
    SharedIp,
}

impl Bmc {
    fn of(i: usize) -> Self {
        match draw(i, 2) {
            0..10 => Self::NoIp,
            10..15 => Self::NoMac,
            15..45 => Self::Outdated,
            45..50 => Self::NeverUpdated,
            50..60 => Self::SharedIp,
            _ => Self::Ok,
        }
    }

    fn label(self) -> &'static str {
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

fn event(now: DateTime<Utc>, minutes_ago: i64, e: EventType, message: &str) -> ProvisioningEvent {
    ProvisioningEvent {
        time: now - TimeDelta::minutes(minutes_ago),
        event: e,
        message: message.to_string(),
    }
}

/// A provisioning log, newest first: `cycles` earlier install cycles under `head`.
fn log(
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

fn network(
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
fn fleet(n: usize, now: DateTime<Utc>) -> (Vec<Machine>, Vec<EventContainer>) {
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

// ---------------------------------------------------------------------------------------
// Measuring
// ---------------------------------------------------------------------------------------

/// Nearest-rank percentile of sorted durations, in ms.
fn pct(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize].as_secs_f64() * 1000.0
}

fn time_runs<T>(runs: usize, mut f: impl FnMut() -> T) -> Vec<Duration> {
    let mut lat: Vec<Duration> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            black_box(f());
            t.elapsed()
        })
        .collect();
    lat.sort();
    lat
}

/// A `VmRSS`/`VmHWM` line of `/proc/self/status`, in MiB.
fn proc_status_mib(key: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
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

/// Resets `VmHWM` to the current RSS (Linux ≥ 4.0); false when the kernel refuses.
fn reset_hwm() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

fn mib(bytes: usize) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn events_by_id(containers: Vec<EventContainer>) -> HashMap<String, EventContainer> {
    containers.into_iter().map(|c| (c.id.clone(), c)).collect()
}

// ---------------------------------------------------------------------------------------
// A model of metal-stack's O(n²) pairwise checks (not metal-stack's code)
// ---------------------------------------------------------------------------------------

fn is_firewall(m: &Machine) -> bool {
    m.allocation
        .as_ref()
        .is_some_and(|a| a.role == Role::Firewall)
}

/// `bmc-no-distinct-ip` as metal-stack evaluates it for one machine: a scan of the whole set,
/// collecting the other owners of its BMC address, and the detail string when shared.
fn model_bmc_shared(m: &Machine, all: &[Machine]) -> bool {
    if m.ipmi.address.is_empty() {
        return false;
    }
    let mut overlaps: Vec<&str> = Vec::new();
    for other in all {
        if other.id == m.id || other.ipmi.address.is_empty() {
            continue;
        }
        if other.ipmi.address == m.ipmi.address {
            overlaps.push(&other.id);
        }
    }
    if overlaps.is_empty() {
        return false;
    }
    black_box(format!(
        "BMC IP ({}) not unique, shared with {:?}",
        m.ipmi.address, overlaps
    ));
    true
}

/// `asn-not-unique` as metal-stack evaluates it for one machine: for a firewall, a map of its
/// ASNs, a scan of the whole set for other firewalls with one of them, then sorted detail
/// lines.
fn model_asn_shared(m: &Machine, all: &[Machine]) -> bool {
    let Some(alloc) = m.allocation.as_ref().filter(|_| is_firewall(m)) else {
        return false;
    };
    let mut by_asn: HashMap<u64, Vec<&str>> = alloc
        .networks
        .iter()
        .filter(|n| n.asn != 0)
        .map(|n| (n.asn, Vec::new()))
        .collect();
    for other in all {
        if other.id == m.id || !is_firewall(other) {
            continue;
        }
        for n in &other.allocation.as_ref().expect("firewall").networks {
            if n.asn == 0 {
                continue;
            }
            if let Some(v) = by_asn.get_mut(&n.asn) {
                v.push(&other.id);
            }
        }
    }
    let mut asns: Vec<u64> = by_asn.keys().copied().collect();
    asns.sort_unstable();
    let mut overlaps: Vec<String> = asns
        .iter()
        .filter(|a| !by_asn[a].is_empty())
        .map(|a| format!("- ASN ({a}) not unique, shared with {:?}", by_asn[a]))
        .collect();
    if overlaps.is_empty() {
        return false;
    }
    overlaps.sort();
    black_box(overlaps.join("\n"));
    true
}

/// Both pairwise checks over the whole set, each machine against every other one: the
/// number of machines flagged by each. Like metal-stack, a machine without event container
/// is not evaluated (it only gets `no-event-container`) but is still compared against.
fn model_pairwise(all: &[Machine], events: &HashMap<String, EventContainer>) -> (usize, usize) {
    let mut bmc = 0;
    let mut asn = 0;
    for m in all {
        if !events.contains_key(&m.id) {
            continue;
        }
        bmc += usize::from(model_bmc_shared(m, all));
        asn += usize::from(model_asn_shared(m, all));
    }
    (bmc, asn)
}

// ---------------------------------------------------------------------------------------
// Part 1: the domain evaluation
// ---------------------------------------------------------------------------------------

fn domain(now: DateTime<Utc>) {
    let config = IssueConfig::default();
    println!("### 1. Domain evaluation (`metal_domain::issues::evaluate`), one thread\n");
    println!(
        "| machines | runs | evaluate p50 ms | p95 ms | + wire answer p50 ms | p95 ms | µs per machine | with issues | input heap MiB | peak extra heap (evaluate) KiB | answer heap KiB | VmRSS before MiB | VmHWM during MiB |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mut mix = None;
    for (n, runs) in [(1_000usize, 100usize), (10_000, 30), (50_000, 12)] {
        let before = HEAP.current_usage();
        let (machines, containers) = fleet(n, now);
        let events = events_by_id(containers);
        let input = HEAP.current_usage() - before;
        let hwm_reset = reset_hwm();
        let rss_before = proc_status_mib("VmRSS:");
        black_box(issues::evaluate(&machines, &events, now, &config)); // warm-up

        // memory of one evaluation: peak above the baseline, and what the answer keeps
        let base = HEAP.current_usage();
        HEAP.reset_peak_usage();
        let out = issues::evaluate(&machines, &events, now, &config);
        let peak = HEAP.peak_usage() - base;
        let answer = HEAP.current_usage() - base;
        let flagged = out.len();
        if n == 10_000 {
            mix = Some(mix_tables(&machines, &out));
        }
        drop(out);

        let eval = time_runs(runs, || issues::evaluate(&machines, &events, now, &config));
        let wire = time_runs(runs, || {
            issues::responses(issues::evaluate(&machines, &events, now, &config))
        });
        let hwm = proc_status_mib("VmHWM:");
        println!(
            "| {n} | {runs} | {:.2} | {:.2} | {:.2} | {:.2} | {:.3} | {flagged} | {:.1} | {} | {} | {:.0} | {:.0}{} |",
            pct(&eval, 0.5),
            pct(&eval, 0.95),
            pct(&wire, 0.5),
            pct(&wire, 0.95),
            pct(&eval, 0.5) * 1000.0 / n as f64,
            mib(input),
            peak / 1024,
            answer / 1024,
            rss_before,
            hwm,
            if hwm_reset { "" } else { " (not reset)" },
        );
    }
    println!(
        "\nprocess VmHWM after part 1: {:.0} MiB\n",
        proc_status_mib("VmHWM:")
    );

    print!("{}", mix.expect("10,000 evaluated"));
}

/// The mix of a fleet and the issues it yields, as Markdown tables.
fn mix_tables(machines: &[Machine], out: &[(String, Vec<IssueType>)]) -> String {
    use std::fmt::Write;
    let mut kinds: HashMap<Kind, usize> = HashMap::new();
    let mut bmcs: HashMap<Bmc, usize> = HashMap::new();
    for i in 0..machines.len() {
        *kinds.entry(Kind::of(i)).or_default() += 1;
        *bmcs.entry(Bmc::of(i)).or_default() += 1;
    }
    let mut kinds: Vec<_> = kinds.into_iter().collect();
    kinds.sort();
    let mut bmcs: Vec<_> = bmcs.into_iter().collect();
    bmcs.sort();
    let mut s = format!(
        "Mix of the {}-machine fleet (the BMC draw is independent of the kind):\n\n| machines | kind |\n|---:|---|\n",
        machines.len()
    );
    for (k, c) in kinds {
        let _ = writeln!(s, "| {c} | {} |", k.label());
    }
    for (b, c) in bmcs {
        let _ = writeln!(s, "| {c} | {} |", b.label());
    }
    let mut per_issue: HashMap<IssueType, usize> = HashMap::new();
    for (_, ts) in out {
        for t in ts {
            *per_issue.entry(*t).or_default() += 1;
        }
    }
    let _ = write!(
        s,
        "\nIssues found in it ({} machines with at least one):\n\n| issue | machines |\n|---|---:|\n",
        out.len()
    );
    for t in IssueType::ALL {
        let _ = writeln!(
            s,
            "| {} | {} |",
            t.id(),
            per_issue.get(&t).copied().unwrap_or(0)
        );
    }
    s.push('\n');
    s
}

// ---------------------------------------------------------------------------------------
// Part 3: O(n²) model against the domain's counting
// ---------------------------------------------------------------------------------------

fn pairwise(now: DateTime<Utc>) {
    println!("### 3. The two pairwise issues: domain (hash counts) against an O(n²) model of metal-stack's loops (written in this bench)\n");
    println!("| machines | runs | domain, only these two ids: p50 ms | p95 ms | O(n²) model: p50 ms | p95 ms | model / domain | flagged bmc-no-distinct-ip | flagged asn-not-unique |");
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let config = IssueConfig {
        only: vec![IssueType::BmcNoDistinctIp, IssueType::AsnNotUnique],
        ..Default::default()
    };
    for (n, runs) in [(1_000usize, 10usize), (10_000, 5), (50_000, 1)] {
        let (machines, containers) = fleet(n, now);
        let events = events_by_id(containers);
        let got = issues::evaluate(&machines, &events, now, &config);
        let count = |t: IssueType| got.iter().filter(|(_, ts)| ts.contains(&t)).count();
        let (bmc, asn) = (
            count(IssueType::BmcNoDistinctIp),
            count(IssueType::AsnNotUnique),
        );
        let dom = time_runs(10, || issues::evaluate(&machines, &events, now, &config));
        // every model run must flag the same machines as the domain
        let model = time_runs(runs, || {
            assert_eq!(
                model_pairwise(&machines, &events),
                (bmc, asn),
                "model and domain differ"
            )
        });
        println!(
            "| {n} | 10 / {runs} | {:.2} | {:.2} | {:.0} | {:.0} | {:.0}× | {bmc} | {asn} |",
            pct(&dom, 0.5),
            pct(&dom, 0.95),
            pct(&model, 0.5),
            pct(&model, 0.95),
            pct(&model, 0.5) / pct(&dom, 0.5),
        );
    }
    println!();
}

// ---------------------------------------------------------------------------------------
// Part 2: end to end
// ---------------------------------------------------------------------------------------

/// Stores the fleet: (machines, machines without event container, machines with issues,
/// MiB of JSON of the machines and of the event containers).
async fn seed(api: &TestApi, now: DateTime<Utc>, n: usize) -> (usize, usize, usize, (f64, f64)) {
    let (mut machines, mut containers) = fleet(n, now);
    let store = api.store();
    for chunk in machines.chunks_mut(200) {
        let mut tx = store.begin().await.expect("begin");
        metal_store::docs::insert_many(&mut tx, chunk)
            .await
            .expect("machines");
        tx.commit().await.expect("commit");
    }
    for chunk in containers.chunks_mut(200) {
        let mut tx = store.begin().await.expect("begin");
        metal_store::docs::insert_many(&mut tx, chunk)
            .await
            .expect("events");
        tx.commit().await.expect("commit");
    }
    let events = events_by_id(containers);
    let flagged = issues::evaluate(&machines, &events, Utc::now(), &IssueConfig::default()).len();
    let machines_json: usize = machines
        .iter()
        .map(|m| serde_json::to_string(m).expect("json").len())
        .sum();
    let events_json: usize = events
        .values()
        .map(|e| serde_json::to_string(e).expect("json").len())
        .sum();
    (
        machines.len(),
        machines.len() - events.len(),
        flagged,
        (mib(machines_json), mib(events_json)),
    )
}

/// A signed `POST` as metal-stack's clients send it (Metal-View): status and raw body.
async fn post_raw(http: &reqwest::Client, api: &TestApi, path: &str, body: &str) -> (u16, Vec<u8>) {
    let date = Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let salt = format!("benchsalt{}", rand::random::<u32>());
    let mac = metal_util::hmac::hmac_signature(api.keys.view.as_bytes(), &date, "POST", &salt);
    let resp = http
        .post(format!("{}{path}", api.url()))
        .header("Authorization", format!("Metal-View {mac}"))
        .header("X-Date", date)
        .header("X-Data-Salt", salt)
        .header("Content-Type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .expect("request");
    let status = resp.status().as_u16();
    (status, resp.bytes().await.expect("body").to_vec())
}

/// Latency and peak extra heap of each run (the counting allocator sees the whole process:
/// server, client and database driver; one request at a time, so the peak is the request's).
struct Meter {
    lat: Vec<Duration>,
    peak: Vec<usize>,
    t: Instant,
    base: usize,
}

impl Meter {
    fn new() -> Self {
        Self {
            lat: Vec::new(),
            peak: Vec::new(),
            t: Instant::now(),
            base: 0,
        }
    }

    fn start(&mut self) {
        self.base = HEAP.current_usage();
        HEAP.reset_peak_usage();
        self.t = Instant::now();
    }

    fn stop(&mut self) {
        self.lat.push(self.t.elapsed());
        self.peak.push(HEAP.peak_usage().saturating_sub(self.base));
    }

    /// `runs | p50 ms | p95 ms | peak MiB (median)` cells.
    fn cells(mut self) -> String {
        self.lat.sort();
        self.peak.sort();
        format!(
            "{} | {:.1} | {:.1} | {:.1}",
            self.lat.len(),
            pct(&self.lat, 0.5),
            pct(&self.lat, 0.95),
            mib(self.peak[self.peak.len() / 2])
        )
    }
}

async fn end_to_end(backends: &[Backend], runs: usize) {
    let n = 10_000;
    println!("### 2. End to end: `POST /v1/machine/issues/evaluate` with {n} machines stored (signed, loopback, one request at a time)\n");
    println!("| backend | measurement | runs | p50 ms | p95 ms | peak extra heap MiB | answer | machines with issues |");
    println!("|---|---|---:|---:|---:|---:|---:|---:|");
    let mut rss = Vec::new();
    let mut stored_json = (0.0, 0.0);
    for &backend in backends {
        reset_hwm();
        let api = TestApi::start(backend).await.expect("metal-api");
        let t = Instant::now();
        let (stored, no_container, expected, json) = seed(&api, Utc::now(), n).await;
        stored_json = json;
        eprintln!(
            "{backend:?}: seeded {stored} machines in {:.1} s",
            t.elapsed().as_secs_f64()
        );
        let http = reqwest::Client::new();
        let path = "v1/machine/issues/evaluate";
        let (status, body) = post_raw(&http, &api, path, "{}").await; // warm-up
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        let answer: Vec<serde_json::Value> = serde_json::from_slice(&body).expect("json");
        assert_eq!(answer.len(), expected, "HTTP answer and domain differ");
        let size = body.len();
        let mut m = Meter::new();
        for _ in 0..runs {
            m.start();
            let (status, body) = post_raw(&http, &api, path, "{}").await;
            m.stop();
            assert_eq!(status, 200);
            assert_eq!(body.len(), size);
        }
        println!(
            "| {backend:?} | HTTP, whole fleet (`{{}}`) | {} | {:.1} KiB | {} |",
            m.cells(),
            size as f64 / 1024.0,
            answer.len()
        );
        // the same through the app layer: load machines and containers, evaluate; no HTTP
        let app = api.server.app.clone();
        let req = MachineIssuesRequest::default();
        let mut m = Meter::new();
        for _ in 0..runs {
            m.start();
            let got = metal_api::app::issues::evaluate(&app, &req, Utc::now())
                .await
                .expect("evaluate");
            m.stop();
            assert_eq!(got.len(), expected);
        }
        println!(
            "| {backend:?} | in-process `app::issues::evaluate` (load + evaluate) | {} | - | {expected} |",
            m.cells()
        );
        // loading alone: the machines and the event containers, decoded
        let mut m = Meter::new();
        for _ in 0..runs {
            m.start();
            let mut conn = app.store.reader().acquire().await.expect("connection");
            let machines = metal_api::app::machine::matching(&mut conn, &req.query, None)
                .await
                .expect("machines");
            let events = metal_api::app::machine_view::event_containers(&mut conn, &machines)
                .await
                .expect("events");
            m.stop();
            assert_eq!(
                (machines.len(), events.len()),
                (stored, stored - no_container)
            );
        }
        println!(
            "| {backend:?} | in-process load only (machines + event containers, decoded) | {} | - | - |",
            m.cells()
        );
        let filter = r#"{"severity": "critical", "omit": ["no-event-container"]}"#;
        let mut m = Meter::new();
        m.start();
        let (status, body) = post_raw(&http, &api, path, filter).await;
        m.stop();
        assert_eq!(status, 200);
        let critical: Vec<serde_json::Value> = serde_json::from_slice(&body).expect("json");
        println!(
            "| {backend:?} | HTTP, `severity: critical` | {} | {:.1} KiB | {} |",
            m.cells(),
            body.len() as f64 / 1024.0,
            critical.len()
        );
        drop(app);
        rss.push((backend, proc_status_mib("VmHWM:")));
        api.stop().await;
    }
    println!();
    println!(
        "stored documents (as JSON): machines {:.1} MiB, event containers {:.1} MiB",
        stored_json.0, stored_json.1
    );
    for (backend, hwm) in rss {
        println!("process VmHWM during the {backend:?} run (server, client and seeding in one process): {hwm:.0} MiB");
    }
    println!();
}

fn main() {
    let backends: Vec<Backend> = std::env::var("BENCH_BACKENDS")
        .unwrap_or_else(|_| "sqlite,postgres".into())
        .split(',')
        .map(|b| match b.trim() {
            "postgres" => Backend::Postgres,
            _ => Backend::Sqlite,
        })
        .collect();
    let runs: usize = std::env::var("BENCH_HTTP_RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let started = Instant::now();
    let now = Utc::now();
    println!(
        "machine issues evaluation, {} cores\n",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    domain(now);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(end_to_end(&backends, runs));
    drop(rt);
    pairwise(now);
    println!(
        "process VmHWM at the end: {:.0} MiB; total {:.0} s",
        proc_status_mib("VmHWM:"),
        started.elapsed().as_secs_f64()
    );
}
