//! The gauges of metal-metrics-exporter (names, help texts and label names as it serves them)
//! and [`Set`], a fleet metric set under construction. Samples are written straight into
//! prometheus' `MetricFamily` protos: there is no registry to register with per update, a
//! sample can carry a timestamp, and the set is rendered once per update by the same text
//! encoder as the request metrics.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use prometheus::proto::{self, LabelPair, MetricFamily, MetricType};

/// One gauge: its name, help text and label names (in the order the values are given).
#[derive(Debug)]
pub struct Def {
    pub name: &'static str,
    pub help: &'static str,
    pub labels: &'static [&'static str],
}

const fn def(name: &'static str, help: &'static str, labels: &'static [&'static str]) -> Def {
    Def { name, help, labels }
}

const NETWORK_ID: &[&str] = &["networkId"];
const PARTITION_SIZE: &[&str] = &["partition", "size"];
const SWITCH: &[&str] = &["switchname", "partition", "rackid"];
const SWITCH_INTERFACE: &[&str] = &["switchname", "device", "machineid", "partition"];
const MACHINE_ID: &[&str] = &["machineid"];

pub const IMAGE_USED_TOTAL: Def = def(
    "metal_image_used_total",
    "The total number of machines using a image",
    &[
        "imageID",
        "name",
        "classification",
        "created",
        "expirationDate",
        "features",
    ],
);

pub const NETWORK_INFO: Def = def(
    "metal_network_info",
    "Provide information about the network",
    &[
        "networkId",
        "name",
        "projectId",
        "description",
        "partition",
        "vrf",
        "prefixes",
        "destPrefixes",
        "parentNetworkID",
        "isPrivateSuper",
        "useNat",
        "isUnderlay",
        "clusterTag",
    ],
);
pub const NETWORK_IP_USED: Def = def(
    "metal_network_ip_used",
    "The total number of used IPs of the network",
    NETWORK_ID,
);
pub const NETWORK_IP_AVAILABLE: Def = def(
    "metal_network_ip_available",
    "The total number of available IPs of the network",
    NETWORK_ID,
);
pub const NETWORK_PREFIX_USED: Def = def(
    "metal_network_prefix_used",
    "The total number of used prefixes of the network",
    NETWORK_ID,
);
pub const NETWORK_PREFIX_AVAILABLE: Def = def(
    "metal_network_prefix_available",
    "The total number of available prefixes of the network",
    NETWORK_ID,
);

pub const CAPACITY_TOTAL: Def = def(
    "metal_partition_capacity_total",
    "The total number of machines in the partition",
    PARTITION_SIZE,
);
pub const CAPACITY_ALLOCATED: Def = def(
    "metal_partition_capacity_allocated",
    "The capacity of allocated machines in the partition",
    PARTITION_SIZE,
);
pub const CAPACITY_WAITING: Def = def(
    "metal_partition_capacity_waiting",
    "The total number of waiting machines in the partition",
    PARTITION_SIZE,
);
pub const CAPACITY_FREE: Def = def(
    "metal_partition_capacity_free",
    "(DEPRECATED) The total number of allocatable machines in the partition, use metal_partition_capacity_allocatable",
    PARTITION_SIZE,
);
pub const CAPACITY_ALLOCATABLE: Def = def(
    "metal_partition_capacity_allocatable",
    "The total number of waiting allocatable machines in the partition",
    PARTITION_SIZE,
);
pub const CAPACITY_FAULTY: Def = def(
    "metal_partition_capacity_faulty",
    "The capacity of faulty machines in the partition",
    PARTITION_SIZE,
);
pub const CAPACITY_RESERVATIONS_TOTAL: Def = def(
    "metal_partition_capacity_reservations_total",
    "The sum of capacity reservations in the partition",
    PARTITION_SIZE,
);
pub const CAPACITY_RESERVATIONS_USED: Def = def(
    "metal_partition_capacity_reservations_used",
    "The sum of used capacity reservations in the partition",
    PARTITION_SIZE,
);
// metal-metrics-exporter describes this one as "faulty machines", a copy-paste slip
pub const CAPACITY_PHONED_HOME: Def = def(
    "metal_partition_capacity_phoned_home",
    "The total number of machines in the partition whose last event is a phone home",
    PARTITION_SIZE,
);
pub const CAPACITY_UNAVAILABLE: Def = def(
    "metal_partition_capacity_unavailable",
    "The total number of unavailable machines in the partition",
    PARTITION_SIZE,
);
pub const CAPACITY_OTHER: Def = def(
    "metal_partition_capacity_other",
    "The total number of machines in an other state in the partition",
    PARTITION_SIZE,
);

pub const PROJECT_INFO: Def = def(
    "metal_project_info",
    "Provide information about metal projects",
    &["projectId", "name", "tenantId"],
);

pub const SWITCH_INFO: Def = def(
    "metal_switch_info",
    "Provide information about the switch",
    &[
        "switchname",
        "partition",
        "rackid",
        "metalCoreVersion",
        "osVendor",
        "osVersion",
        "managementIP",
    ],
);
pub const SWITCH_METAL_CORE_UP: Def = def(
    "metal_switch_metal_core_up",
    "1 when the metal-core is up, otherwise 0",
    SWITCH,
);
pub const SWITCH_SYNC_FAILED: Def = def(
    "metal_switch_sync_failed",
    "1 when the switch sync is failing, otherwise 0",
    SWITCH,
);
pub const SWITCH_SYNC_DURATIONS_MS: Def = def(
    "metal_switch_sync_durations_ms",
    "The duration of the syncs in milliseconds",
    SWITCH,
);
pub const SWITCH_INTERFACE_INFO: Def = def(
    "metal_switch_interface_info",
    "Provide information about the switch interfaces",
    SWITCH_INTERFACE,
);
pub const SWITCH_INTERFACE_BGP_ESTABLISHED: Def = def(
    "metal_switch_interface_bgp_established_timestamp",
    "Provide the unix timestamp since BGP is established on the interfaces (0 if not established)",
    SWITCH_INTERFACE,
);

pub const MACHINE_ALLOCATION_INFO: Def = def(
    "metal_machine_allocation_info",
    "Provide information about the machine allocation",
    &[
        "machineid",
        "partition",
        "machinename",
        "clusterTag",
        "primaryASN",
        "role",
        "state",
        "imageId",
    ],
);
pub const MACHINE_ISSUES_INFO: Def = def(
    "metal_machine_issues_info",
    "Provide general information on issues that are evaluated by the metal-api",
    &["issueid", "description", "severity", "refurl"],
);
pub const MACHINE_ISSUES: Def = def(
    "metal_machine_issues",
    "Provide information on machine issues",
    &["machineid", "issueid"],
);
pub const MACHINE_POWER_USAGE: Def = def(
    "metal_machine_power_usage",
    "Provide information about the machine power usage in watts",
    MACHINE_ID,
);
pub const MACHINE_POWER_STATE: Def = def(
    "metal_machine_power_state",
    "Provide information about the machine power state (1 ON, 0 OFF, -1 other)",
    MACHINE_ID,
);
pub const MACHINE_POWER_SUPPLIES_TOTAL: Def = def(
    "metal_machine_power_supplies_total",
    "Provide information about the total number of power supplies",
    MACHINE_ID,
);
pub const MACHINE_POWER_SUPPLIES_HEALTHY: Def = def(
    "metal_machine_power_supplies_healthy",
    "Provide information about the number of healthy power supplies",
    MACHINE_ID,
);
pub const MACHINE_HARDWARE_INFO: Def = def(
    "metal_machine_hardware_info",
    "Provide information about the machine",
    &[
        "machineid",
        "partition",
        "size",
        "bmcVersion",
        "biosVersion",
        "chassisPartNumber",
        "chassisPartSerial",
        "boardMfg",
        "boardMfgSerial",
        "boardPartNumber",
        "productManufacturer",
        "productPartNumber",
        "productSerial",
    ],
);

/// Every gauge of the set.
pub const ALL: [&Def; 32] = [
    &IMAGE_USED_TOTAL,
    &NETWORK_INFO,
    &NETWORK_IP_USED,
    &NETWORK_IP_AVAILABLE,
    &NETWORK_PREFIX_USED,
    &NETWORK_PREFIX_AVAILABLE,
    &CAPACITY_TOTAL,
    &CAPACITY_ALLOCATED,
    &CAPACITY_WAITING,
    &CAPACITY_FREE,
    &CAPACITY_ALLOCATABLE,
    &CAPACITY_FAULTY,
    &CAPACITY_RESERVATIONS_TOTAL,
    &CAPACITY_RESERVATIONS_USED,
    &CAPACITY_PHONED_HOME,
    &CAPACITY_UNAVAILABLE,
    &CAPACITY_OTHER,
    &PROJECT_INFO,
    &SWITCH_INFO,
    &SWITCH_METAL_CORE_UP,
    &SWITCH_SYNC_FAILED,
    &SWITCH_SYNC_DURATIONS_MS,
    &SWITCH_INTERFACE_INFO,
    &SWITCH_INTERFACE_BGP_ESTABLISHED,
    &MACHINE_ALLOCATION_INFO,
    &MACHINE_ISSUES_INFO,
    &MACHINE_ISSUES,
    &MACHINE_POWER_USAGE,
    &MACHINE_POWER_STATE,
    &MACHINE_POWER_SUPPLIES_TOTAL,
    &MACHINE_POWER_SUPPLIES_HEALTHY,
    &MACHINE_HARDWARE_INFO,
];

/// A metric set under construction: the families that have samples, by name.
#[derive(Debug, Default)]
pub struct Set {
    families: BTreeMap<&'static str, MetricFamily>,
    samples: usize,
}

impl Set {
    /// Adds a sample of `def` with the label values in the order of `def.labels`.
    pub fn gauge(&mut self, def: &'static Def, value: f64, labels: &[&str]) {
        self.push(def, value, labels, None);
    }

    /// Adds a sample that carries the time it was observed.
    pub fn gauge_at(&mut self, def: &'static Def, value: f64, labels: &[&str], at: DateTime<Utc>) {
        self.push(def, value, labels, Some(at.timestamp_millis()));
    }

    fn push(&mut self, def: &'static Def, value: f64, labels: &[&str], at_ms: Option<i64>) {
        debug_assert_eq!(
            def.labels.len(),
            labels.len(),
            "label values of {}",
            def.name
        );
        let family = self.families.entry(def.name).or_insert_with(|| {
            let mut f = MetricFamily::default();
            f.set_name(def.name.to_string());
            f.set_help(def.help.to_string());
            f.set_field_type(MetricType::GAUGE);
            f
        });
        let mut gauge = proto::Gauge::default();
        gauge.set_value(value);
        let mut metric = proto::Metric::from_gauge(gauge);
        metric.set_label(
            def.labels
                .iter()
                .zip(labels)
                .map(|(name, value)| {
                    let mut pair = LabelPair::default();
                    pair.set_name(name.to_string());
                    pair.set_value(value.to_string());
                    pair
                })
                .collect(),
        );
        if let Some(ms) = at_ms {
            metric.set_timestamp_ms(ms);
        }
        family.mut_metric().push(metric);
        self.samples += 1;
    }

    /// How many samples the set holds.
    pub fn len(&self) -> usize {
        self.samples
    }

    /// The text exposition, families by name, samples in the order they were added.
    pub fn render(self) -> prometheus::Result<String> {
        let families: Vec<MetricFamily> = self.families.into_values().collect();
        prometheus::TextEncoder::new().encode_to_string(&families)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid_name(s: &str) -> bool {
        let mut chars = s.chars();
        chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
    }

    #[test]
    fn names_and_labels_are_valid_and_unique() {
        let mut names: Vec<&str> = ALL.iter().map(|d| d.name).collect();
        for d in ALL {
            assert!(valid_name(d.name), "{}", d.name);
            assert!(d.name.starts_with("metal_"), "{}", d.name);
            assert!(!d.help.is_empty(), "{}", d.name);
            for l in d.labels {
                assert!(valid_name(l) && !l.starts_with("__"), "{}: {l}", d.name);
            }
            let mut labels = d.labels.to_vec();
            labels.sort_unstable();
            labels.dedup();
            assert_eq!(labels.len(), d.labels.len(), "{}", d.name);
        }
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ALL.len());
    }

    #[test]
    fn renders_gauges_with_escaped_labels_and_timestamps() {
        let mut set = Set::default();
        assert_eq!(set.len(), 0);
        set.gauge(&PROJECT_INFO, 1.0, &["p1", "say \"hi\"\n", "acme"]);
        let at = DateTime::parse_from_rfc3339("2024-05-01T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        set.gauge_at(
            &SWITCH_SYNC_DURATIONS_MS,
            1500.0,
            &["leaf01", "fra", "r1"],
            at,
        );
        assert_eq!(set.len(), 2);
        let text = set.render().unwrap();
        assert!(text.contains("# TYPE metal_project_info gauge\n"), "{text}");
        assert!(
            text.contains(
                r#"metal_project_info{projectId="p1",name="say \"hi\"\n",tenantId="acme"} 1"#
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "metal_switch_sync_durations_ms{switchname=\"leaf01\",partition=\"fra\",rackid=\"r1\"} 1500 1714564800000\n"
            ),
            "{text}"
        );
        // families by name
        assert!(text.find("metal_project_info").unwrap() < text.find("metal_switch").unwrap());
    }

    #[test]
    fn an_empty_set_renders_nothing() {
        assert_eq!(Set::default().render().unwrap(), "");
    }
}
