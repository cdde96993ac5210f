//! From the loaded fleet to the metric set: one function per collector of
//! metal-metrics-exporter (images, networks, partitions, projects, switches, machines). Pure:
//! the capacity is `app::capacity::capacity_of` and the issues `metal_domain::issues::evaluate`,
//! the same code the REST endpoints answer with.

use std::collections::HashMap;

use chrono::{DateTime, TimeDelta, Utc};
use metal_domain::event::EventContainer;
use metal_domain::image::Image;
use metal_domain::issues::{self, IssueConfig, IssueType};
use metal_domain::machine::{Machine, MachineStateValue};
use metal_domain::network::Network;
use metal_domain::partition::Partition;
use metal_domain::project::Project;
use metal_domain::reservation::SizeReservation;
use metal_domain::switch::{Switch, SwitchResponse, SwitchSync};

use super::families::{self as f, Set};

/// The tag (machines) and label (networks) holding the id of the Kubernetes cluster.
const CLUSTER_ID_TAG: &str = "cluster.metal-stack.io/id";
/// The machine tag holding the ASN of the allocation's private network.
const PRIMARY_ASN_TAG: &str = "machine.metal-stack.io/network.primary.asn";
/// metal-metrics-exporter reads issues with this last-error threshold.
const LAST_ERROR_THRESHOLD: TimeDelta = TimeDelta::hours(1);
/// A metal-core that has not reported for longer is down.
const METAL_CORE_SILENT: TimeDelta = TimeDelta::minutes(1);
const NOT_ALLOCATED: &str = "NOTALLOCATED";

/// Everything the fleet metrics are computed from, read from the store.
#[derive(Debug, Default)]
pub struct Fleet {
    /// with `usedby` filled in
    pub images: Vec<Image>,
    /// with `usage` filled in
    pub networks: Vec<Network>,
    pub partitions: Vec<Partition>,
    pub reservations: Vec<SizeReservation>,
    pub projects: Vec<Project>,
    pub switches: Vec<Switch>,
    pub machines: Vec<Machine>,
    /// by machine id
    pub events: HashMap<String, EventContainer>,
}

/// The whole metric set of the fleet at `now`.
pub fn collect(fleet: &Fleet, now: DateTime<Utc>) -> Set {
    let mut set = Set::default();
    images(&mut set, &fleet.images);
    networks(&mut set, &fleet.networks);
    partitions(&mut set, fleet);
    projects(&mut set, &fleet.projects);
    switches(&mut set, &fleet.switches, now);
    machines(&mut set, fleet, now);
    set
}

fn unix(t: Option<DateTime<Utc>>) -> String {
    t.map(|t| t.timestamp().to_string()).unwrap_or_default()
}

fn images(set: &mut Set, images: &[Image]) {
    for i in images {
        let features: Vec<&str> = i.features.iter().map(|f| f.as_str()).collect();
        let used = i.usedby.as_ref().map_or(0, Vec::len);
        set.gauge(
            &f::IMAGE_USED_TOTAL,
            used as f64,
            &[
                &i.id,
                &i.name,
                i.classification.as_str(),
                &unix(i.created),
                &unix(Some(i.expiration_date)),
                &features.join(","),
            ],
        );
    }
}

fn networks(set: &mut Set, networks: &[Network]) {
    for n in networks {
        let cluster = n.labels.get(CLUSTER_ID_TAG).map_or("", String::as_str);
        set.gauge(
            &f::NETWORK_INFO,
            1.0,
            &[
                &n.id,
                &n.name,
                &n.projectid,
                &n.description,
                &n.partitionid,
                &n.vrf.to_string(),
                &n.prefixes.join(","),
                &n.destinationprefixes.join(","),
                &n.parentnetworkid,
                &n.privatesuper.to_string(),
                &n.nat.to_string(),
                &n.underlay.to_string(),
                cluster,
            ],
        );
        let u = &n.usage;
        let id = [n.id.as_str()];
        set.gauge(&f::NETWORK_IP_USED, u.used_ips as f64, &id);
        set.gauge(&f::NETWORK_IP_AVAILABLE, u.available_ips as f64, &id);
        set.gauge(&f::NETWORK_PREFIX_USED, u.used_prefixes as f64, &id);
        set.gauge(
            &f::NETWORK_PREFIX_AVAILABLE,
            u.available_prefixes as f64,
            &id,
        );
    }
}

fn partitions(set: &mut Set, fleet: &Fleet) {
    let capacity = crate::app::capacity::capacity_of(
        &fleet.partitions,
        &fleet.machines,
        &fleet.events,
        &fleet.reservations,
        None,
    );
    for p in &capacity {
        for s in &p.servers {
            let labels = [p.id.as_str(), s.size.as_str()];
            for (def, value) in [
                (&f::CAPACITY_TOTAL, s.total),
                (&f::CAPACITY_ALLOCATED, s.allocated),
                (&f::CAPACITY_WAITING, s.waiting),
                (&f::CAPACITY_FREE, s.allocatable),
                (&f::CAPACITY_ALLOCATABLE, s.allocatable),
                (&f::CAPACITY_FAULTY, s.faulty),
                (&f::CAPACITY_RESERVATIONS_TOTAL, s.reservations),
                (&f::CAPACITY_RESERVATIONS_USED, s.usedreservations),
                (&f::CAPACITY_PHONED_HOME, s.phoned_home),
                (&f::CAPACITY_UNAVAILABLE, s.unavailable),
                (&f::CAPACITY_OTHER, s.other),
            ] {
                set.gauge(def, value as f64, &labels);
            }
        }
    }
}

fn projects(set: &mut Set, projects: &[Project]) {
    for p in projects {
        set.gauge(&f::PROJECT_INFO, 1.0, &[&p.meta.id, &p.name, &p.tenant_id]);
    }
}

/// What the last reports of a switch's metal-core say: `(up, failed, newest report)`. The
/// newest report is the last sync or the last failed one, whichever is newer.
pub fn sync_status<'a>(
    last_sync: Option<&'a SwitchSync>,
    last_error: Option<&'a SwitchSync>,
    now: DateTime<Utc>,
) -> (bool, bool, Option<&'a SwitchSync>) {
    let failed = match (last_sync, last_error) {
        (_, None) => false,
        (None, Some(_)) => true,
        (Some(ok), Some(err)) => err.time > ok.time,
    };
    let newest = if failed { last_error } else { last_sync };
    let up = newest.is_some_and(|s| now - s.time <= METAL_CORE_SILENT);
    (up, failed, newest)
}

fn switches(set: &mut Set, switches: &[Switch], now: DateTime<Utc>) {
    let flag = |b: bool| if b { 1.0 } else { 0.0 };
    for s in switches {
        let name = if s.name.is_empty() { &s.id } else { &s.name };
        let labels = [name.as_str(), s.partition_id.as_str(), s.rack_id.as_str()];
        let os = s.os.clone().unwrap_or_default();
        // "v0.9.1 (1d5e42ea), tags/v0.9.1-0-g1d5e42e, go1.20.5" is shown as "v0.9.1 (1d5e42ea)"
        let core_version = os.metal_core_version.split(',').next().unwrap_or_default();
        set.gauge(
            &f::SWITCH_INFO,
            1.0,
            &[
                labels[0],
                labels[1],
                labels[2],
                core_version,
                &os.vendor,
                &os.version,
                &s.management_ip,
            ],
        );
        let (up, failed, newest) =
            sync_status(s.last_sync.as_ref(), s.last_sync_error.as_ref(), now);
        set.gauge(&f::SWITCH_METAL_CORE_UP, flag(up), &labels);
        set.gauge(&f::SWITCH_SYNC_FAILED, flag(failed), &labels);
        if let Some(sync) = newest {
            let ms = (sync.duration / 1_000_000) as f64;
            set.gauge_at(&f::SWITCH_SYNC_DURATIONS_MS, ms, &labels, sync.time);
        }
        // the response carries each connection's port with its BGP state
        let view = SwitchResponse::new(s, None, &Default::default());
        for c in &view.connections {
            let iface = [
                name.as_str(),
                c.nic.name.as_str(),
                c.machine_id.as_str(),
                s.partition_id.as_str(),
            ];
            set.gauge(&f::SWITCH_INTERFACE_INFO, 1.0, &iface);
            let established = c
                .nic
                .bgp_port_state
                .as_ref()
                .map_or(0, |b| b.bgp_timer_up_established);
            set.gauge(
                &f::SWITCH_INTERFACE_BGP_ESTABLISHED,
                established as f64,
                &iface,
            );
        }
    }
}

/// The value of a `key=value` tag.
fn tag<'a>(tags: &'a [String], key: &str) -> Option<&'a str> {
    tags.iter()
        .filter_map(|t| t.split_once('='))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v)
}

/// The gauge value of a BMC power state.
pub fn power_state(s: &str) -> f64 {
    match s {
        "ON" => 1.0,
        "OFF" => 0.0,
        _ => -1.0,
    }
}

fn machines(set: &mut Set, fleet: &Fleet, now: DateTime<Utc>) {
    for t in IssueType::ALL {
        set.gauge(
            &f::MACHINE_ISSUES_INFO,
            1.0,
            &[t.id(), t.description(), t.severity().as_str(), &t.ref_url()],
        );
    }
    let config = IssueConfig {
        last_error_threshold: LAST_ERROR_THRESHOLD,
        ..Default::default()
    };
    let found: HashMap<String, Vec<IssueType>> =
        issues::evaluate(&fleet.machines, &fleet.events, now, &config)
            .into_iter()
            .collect();
    for m in &fleet.machines {
        allocation_info(set, m);
        let has = found.get(&m.id).map_or(&[][..], Vec::as_slice);
        for t in IssueType::ALL {
            let value = if has.contains(&t) { 1.0 } else { 0.0 };
            set.gauge(&f::MACHINE_ISSUES, value, &[&m.id, t.id()]);
        }
        bmc(set, m);
    }
}

fn allocation_info(set: &mut Set, m: &Machine) {
    let state = match m.state.value {
        MachineStateValue::Available => "AVAILABLE",
        other => other.as_str(),
    };
    let (name, cluster, asn, role, image) = match &m.allocation {
        None => (
            NOT_ALLOCATED,
            NOT_ALLOCATED,
            NOT_ALLOCATED,
            "",
            NOT_ALLOCATED,
        ),
        Some(a) => (
            a.hostname.as_str(),
            tag(&m.tags, CLUSTER_ID_TAG).unwrap_or(NOT_ALLOCATED),
            tag(&m.tags, PRIMARY_ASN_TAG).unwrap_or(NOT_ALLOCATED),
            a.role.as_str(),
            a.imageid.as_str(),
        ),
    };
    set.gauge(
        &f::MACHINE_ALLOCATION_INFO,
        1.0,
        &[
            &m.id,
            &m.partitionid,
            name,
            cluster,
            asn,
            role,
            state,
            image,
        ],
    );
}

/// The BMC gauges of a machine, for what its BMC reported.
fn bmc(set: &mut Set, m: &Machine) {
    let ipmi = &m.ipmi;
    let id = [m.id.as_str()];
    if !ipmi.powerstate.is_empty() {
        set.gauge(&f::MACHINE_POWER_STATE, power_state(&ipmi.powerstate), &id);
    }
    if !ipmi.powersupplies.is_empty() {
        let healthy = ipmi
            .powersupplies
            .iter()
            .filter(|p| p.status.health == "OK")
            .count();
        set.gauge(
            &f::MACHINE_POWER_SUPPLIES_TOTAL,
            ipmi.powersupplies.len() as f64,
            &id,
        );
        set.gauge(&f::MACHINE_POWER_SUPPLIES_HEALTHY, healthy as f64, &id);
    }
    if let Some(p) = &ipmi.powermetric {
        set.gauge(
            &f::MACHINE_POWER_USAGE,
            f64::from(p.averageconsumedwatts),
            &id,
        );
    }
    let fru = &ipmi.fru;
    let bios_known = m.bios != Default::default();
    let fru_known = *fru != Default::default();
    if bios_known && fru_known {
        let size = if m.sizeid.is_empty() {
            "UNKNOWN"
        } else {
            &m.sizeid
        };
        set.gauge(
            &f::MACHINE_HARDWARE_INFO,
            1.0,
            &[
                &m.id,
                &m.partitionid,
                size,
                &ipmi.bmcversion,
                &m.bios.version,
                &fru.chassis_part_number,
                &fru.chassis_part_serial,
                &fru.board_mfg,
                &fru.board_mfg_serial,
                &fru.board_part_number,
                &fru.product_manufacturer,
                &fru.product_part_number,
                &fru.product_serial,
            ],
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    /// (last sync, last error) -> (up, failed, duration of the newest report in ms)
    type Case<'a> = (
        Option<&'a SwitchSync>,
        Option<&'a SwitchSync>,
        (bool, bool, Option<i64>),
    );

    fn sync(t: &str, ms: i64) -> SwitchSync {
        SwitchSync {
            time: at(t),
            duration: ms * 1_000_000,
            error: None,
        }
    }

    #[test]
    fn switch_sync_status() {
        let now = at("2024-05-01T12:00:00Z");
        let ok = sync("2024-05-01T11:59:30Z", 100);
        let old = sync("2024-05-01T11:50:00Z", 200);
        let err = sync("2024-05-01T11:59:50Z", 300);
        let table: [Case<'_>; 6] = [
            (None, None, (false, false, None)),
            (Some(&ok), None, (true, false, Some(100))),
            (Some(&old), None, (false, false, Some(200))),
            (Some(&ok), Some(&err), (true, true, Some(300))),
            (Some(&ok), Some(&old), (true, false, Some(100))),
            (None, Some(&old), (false, true, Some(200))),
        ];
        for (s, e, want) in table {
            let (up, failed, newest) = sync_status(s, e, now);
            let got = (up, failed, newest.map(|n| n.duration / 1_000_000));
            assert_eq!(got, want, "sync {s:?} error {e:?}");
        }
    }

    #[test]
    fn power_states() {
        for (s, want) in [
            ("ON", 1.0),
            ("OFF", 0.0),
            ("", -1.0),
            ("on", -1.0),
            ("UNKNOWN", -1.0),
        ] {
            assert_eq!(power_state(s), want, "{s:?}");
        }
    }

    #[test]
    fn tags_by_key() {
        let tags: Vec<String> = [
            "cluster.metal-stack.io/id/namespace/service=c1/default/web",
            "cluster.metal-stack.io/id=c1",
            "machine.metal-stack.io/network.primary.asn=4200000001",
            "novalue",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(tag(&tags, CLUSTER_ID_TAG), Some("c1"));
        assert_eq!(tag(&tags, PRIMARY_ASN_TAG), Some("4200000001"));
        assert_eq!(tag(&tags, "novalue"), None);
    }

    #[test]
    fn an_empty_fleet_has_only_the_issue_catalogue() {
        let set = collect(&Fleet::default(), at("2024-05-01T12:00:00Z"));
        assert_eq!(set.len(), IssueType::ALL.len());
    }

    #[test]
    fn every_machine_gets_every_issue() {
        let fleet = Fleet {
            machines: vec![
                Machine {
                    id: "m1".into(),
                    ..Default::default()
                },
                Machine {
                    id: "m2".into(),
                    partitionid: "fra".into(),
                    ..Default::default()
                },
            ],
            ..Default::default()
        };
        let text = collect(&fleet, at("2024-05-01T12:00:00Z"))
            .render()
            .unwrap();
        let issues = text
            .lines()
            .filter(|l| l.starts_with("metal_machine_issues{"))
            .count();
        assert_eq!(issues, 2 * IssueType::ALL.len(), "{text}");
        // neither has an event container: that is the only issue reported
        assert!(text
            .contains("metal_machine_issues{machineid=\"m1\",issueid=\"no-event-container\"} 1\n"));
        assert!(
            text.contains("metal_machine_issues{machineid=\"m1\",issueid=\"no-partition\"} 0\n")
        );
        assert!(text.contains(
            "metal_machine_allocation_info{machineid=\"m2\",partition=\"fra\",machinename=\"NOTALLOCATED\",clusterTag=\"NOTALLOCATED\",primaryASN=\"NOTALLOCATED\",role=\"\",state=\"AVAILABLE\",imageId=\"NOTALLOCATED\"} 1\n"
        ), "{text}");
        // no BMC report: no power or hardware gauges
        assert!(!text.contains("metal_machine_power"), "{text}");
        assert!(!text.contains("metal_machine_hardware_info"), "{text}");
    }
}
