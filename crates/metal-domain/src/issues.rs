//! Machine issues (§5): the catalogue of everything that can be wrong with a machine, and
//! its evaluation over a fleet.
//!
//! [`IssueType`] is the closed set of the 13 issue ids with their severity, description and
//! documentation link; [`catalogue`] is the answer of `GET /v1/machine/issues`.
//! [`evaluate`] is the work of `POST /v1/machine/issues/evaluate`: a pure function of the
//! machines, their event containers, the current time and an [`IssueConfig`] (built from the
//! request by [`IssueConfig::from_request`], which rejects unknown ids and severities).
//!
//! The two uniqueness checks (`bmc-no-distinct-ip`, `asn-not-unique`) compare every machine
//! with every other one in the reference (O(n²)); here they count owners per BMC address and
//! per ASN in hash maps first, so the whole evaluation is linear in the fleet plus the sort
//! of the answer by machine id. Only the issue ids are answered (the wire carries no
//! per-machine details), so no per-pair detail strings are built either.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{DomainError, DomainResult};
use crate::event::{EventContainer, EventType, Liveliness};
use crate::machine::{Machine, MachineFindRequest, Role};

/// The default of `last_error_threshold`: errors younger than a week are issues.
pub const DEFAULT_LAST_ERROR_THRESHOLD: TimeDelta = TimeDelta::days(7);

/// BMC data older than this (as reported by metal-bmc) is outdated.
pub const BMC_INFO_OUTDATED_AFTER: TimeDelta = TimeDelta::minutes(20);

/// Where the troubleshooting guide documents each issue; the issue id is the anchor.
pub const REF_URL_BASE: &str = "https://docs.metal-stack.io/stable/installation/troubleshoot/#";

/// How bad an issue is: minor (0) < major (5) < critical (10).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum Severity {
    #[default]
    Minor,
    Major,
    Critical,
}

impl Severity {
    /// The wire string.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Minor => "minor",
            Self::Major => "major",
            Self::Critical => "critical",
        }
    }

    /// The numeric level of the reference (0, 5, 10).
    pub fn level(self) -> u8 {
        match self {
            Self::Minor => 0,
            Self::Major => 5,
            Self::Critical => 10,
        }
    }

    /// Parses `minor`, `major` or `critical`; the empty string means minor (every issue).
    /// Anything else is a 400 naming the value.
    pub fn parse(s: &str) -> DomainResult<Self> {
        match s {
            "" | "minor" => Ok(Self::Minor),
            "major" => Ok(Self::Major),
            "critical" => Ok(Self::Critical),
            other => Err(DomainError::invalid(format!(
                "issue severity {other:?} is unknown, must be one of minor, major, critical"
            ))),
        }
    }
}

/// One of the 13 issue ids of §5, in the reference's evaluation order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum IssueType {
    NoPartition,
    LivelinessDead,
    LivelinessUnknown,
    LivelinessNotAvailable,
    FailedMachineReclaim,
    Crashloop,
    LastEventError,
    BmcWithoutMac,
    BmcWithoutIp,
    BmcInfoOutdated,
    AsnNotUnique,
    BmcNoDistinctIp,
    NoEventContainer,
}

impl IssueType {
    /// Every issue type, in catalogue order (which is also the order of the ids per machine).
    pub const ALL: [IssueType; 13] = [
        Self::NoPartition,
        Self::LivelinessDead,
        Self::LivelinessUnknown,
        Self::LivelinessNotAvailable,
        Self::FailedMachineReclaim,
        Self::Crashloop,
        Self::LastEventError,
        Self::BmcWithoutMac,
        Self::BmcWithoutIp,
        Self::BmcInfoOutdated,
        Self::AsnNotUnique,
        Self::BmcNoDistinctIp,
        Self::NoEventContainer,
    ];

    /// The issue id on the wire.
    pub fn id(self) -> &'static str {
        match self {
            Self::NoPartition => "no-partition",
            Self::LivelinessDead => "liveliness-dead",
            Self::LivelinessUnknown => "liveliness-unknown",
            Self::LivelinessNotAvailable => "liveliness-not-available",
            Self::FailedMachineReclaim => "failed-machine-reclaim",
            Self::Crashloop => "crashloop",
            Self::LastEventError => "last-event-error",
            Self::BmcWithoutMac => "bmc-without-mac",
            Self::BmcWithoutIp => "bmc-without-ip",
            Self::BmcInfoOutdated => "bmc-info-outdated",
            Self::AsnNotUnique => "asn-not-unique",
            Self::BmcNoDistinctIp => "bmc-no-distinct-ip",
            Self::NoEventContainer => "no-event-container",
        }
    }

    /// The severity of §5.
    pub fn severity(self) -> Severity {
        match self {
            Self::LivelinessNotAvailable | Self::LastEventError | Self::AsnNotUnique => {
                Severity::Minor
            }
            Self::FailedMachineReclaim => Severity::Critical,
            _ => Severity::Major,
        }
    }

    /// The human description of the catalogue.
    pub fn description(self) -> &'static str {
        match self {
            Self::NoPartition => "machine with no partition",
            Self::LivelinessDead => "the machine is not sending events anymore",
            Self::LivelinessUnknown => "the machine is not sending LLDP alive messages anymore",
            Self::LivelinessNotAvailable => "the machine liveliness is not available",
            Self::FailedMachineReclaim => {
                "machine phones home but not allocated or machine reclaim failed"
            }
            Self::Crashloop => "machine is in a provisioning crash loop (⭕)",
            Self::LastEventError => "the machine had an error during the provisioning lifecycle",
            Self::BmcWithoutMac => "BMC has no mac address",
            Self::BmcWithoutIp => "BMC has no ip address",
            Self::BmcInfoOutdated => {
                "BMC has not been updated from either metal-bmc or metal-hammer"
            }
            Self::AsnNotUnique => "The ASN is not unique (only impact on firewalls)",
            Self::BmcNoDistinctIp => "BMC IP address is not distinct",
            Self::NoEventContainer => "machine has no event container",
        }
    }

    /// The documentation link: the troubleshooting guide anchored at the id.
    pub fn ref_url(self) -> String {
        format!("{REF_URL_BASE}{}", self.id())
    }

    /// Parses an issue id exactly; anything else is a 400 naming the value.
    pub fn parse(s: &str) -> DomainResult<Self> {
        Self::ALL
            .into_iter()
            .find(|t| t.id() == s)
            .ok_or_else(|| DomainError::invalid(format!("issue type {s:?} is unknown")))
    }
}

impl std::fmt::Display for IssueType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.id())
    }
}

/// One catalogue entry (`v1.MachineIssue`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MachineIssue {
    /// the id of the issue
    pub id: String,
    /// the severity of the issue: minor, major or critical
    pub severity: String,
    /// a description of the issue
    pub description: String,
    /// an issue reference to the issue in metal-stack docs
    pub ref_url: String,
    /// details of the issue (empty in the catalogue)
    pub details: String,
}

impl From<IssueType> for MachineIssue {
    fn from(t: IssueType) -> Self {
        Self {
            id: t.id().to_string(),
            severity: t.severity().as_str().to_string(),
            description: t.description().to_string(),
            ref_url: t.ref_url(),
            details: String::new(),
        }
    }
}

/// The answer of `GET /v1/machine/issues`: every issue type in catalogue order.
pub fn catalogue() -> Vec<MachineIssue> {
    IssueType::ALL.into_iter().map(MachineIssue::from).collect()
}

/// Body of `POST /v1/machine/issues/evaluate` (`v1.MachineIssuesRequest`): the machine
/// search query plus the issue filters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct MachineIssuesRequest {
    // which machines to evaluate (a plain comment: a doc would wrap the schema reference)
    #[serde(flatten)]
    pub query: MachineFindRequest,
    /// a list of machine issues to include (all when empty)
    pub only: Vec<String>,
    /// a list of machine issues to omit (takes precedence over only)
    pub omit: Vec<String>,
    /// filters issues for the given severity and above: minor (default), major, critical
    pub severity: String,
    /// defines the last error threshold in nanoseconds (default 7 days)
    pub last_error_threshold: Option<i64>,
}

/// One machine with issues (`v1.MachineIssueResponse`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MachineIssueResponse {
    /// the machine id that has the given issues
    pub machineid: String,
    /// the list of issues (only issue ids) of this machine
    pub issues: Vec<String>,
}

/// Which issues an evaluation reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssueConfig {
    /// Report only these (all when empty).
    pub only: Vec<IssueType>,
    /// Never report these; wins over `only`.
    pub omit: Vec<IssueType>,
    /// Report only issues of this severity or worse.
    pub severity: Severity,
    /// An error event younger than this is a `last-event-error`.
    pub last_error_threshold: TimeDelta,
}

impl Default for IssueConfig {
    fn default() -> Self {
        Self {
            only: Vec::new(),
            omit: Vec::new(),
            severity: Severity::Minor,
            last_error_threshold: DEFAULT_LAST_ERROR_THRESHOLD,
        }
    }
}

impl IssueConfig {
    /// The filters of a request: unknown issue ids or severities and a negative threshold
    /// are 400; a missing threshold is [`DEFAULT_LAST_ERROR_THRESHOLD`].
    pub fn from_request(req: &MachineIssuesRequest) -> DomainResult<Self> {
        let parse = |ids: &[String]| {
            ids.iter()
                .map(|s| IssueType::parse(s))
                .collect::<DomainResult<Vec<_>>>()
        };
        let last_error_threshold = match req.last_error_threshold {
            None => DEFAULT_LAST_ERROR_THRESHOLD,
            Some(ns) if ns < 0 => {
                return Err(DomainError::invalid(format!(
                    "last_error_threshold must not be negative, got {ns}"
                )))
            }
            Some(ns) => TimeDelta::nanoseconds(ns),
        };
        Ok(Self {
            only: parse(&req.only)?,
            omit: parse(&req.omit)?,
            severity: Severity::parse(&req.severity)?,
            last_error_threshold,
        })
    }

    /// Whether issues of this type are reported: not omitted, in `only` when given, and at
    /// least the requested severity.
    pub fn includes(&self, t: IssueType) -> bool {
        !self.omit.contains(&t)
            && (self.only.is_empty() || self.only.contains(&t))
            && t.severity() >= self.severity
    }
}

/// Owners per BMC address and per firewall ASN over the evaluated set, counted once, so the
/// uniqueness checks are a map lookup per machine.
struct FleetIndex<'a> {
    bmc_owners: HashMap<&'a str, usize>,
    asn_owners: HashMap<u64, usize>,
}

/// The distinct non-zero ASNs of a firewall's allocation (none for other machines).
fn firewall_asns(m: &Machine) -> HashSet<u64> {
    m.allocation
        .as_ref()
        .filter(|a| a.role == Role::Firewall)
        .map(|a| {
            a.networks
                .iter()
                .map(|n| n.asn)
                .filter(|&asn| asn != 0)
                .collect()
        })
        .unwrap_or_default()
}

impl<'a> FleetIndex<'a> {
    fn build(machines: &'a [Machine]) -> Self {
        let mut bmc_owners: HashMap<&str, usize> = HashMap::new();
        let mut asn_owners: HashMap<u64, usize> = HashMap::new();
        for m in machines {
            if !m.ipmi.address.is_empty() {
                *bmc_owners.entry(m.ipmi.address.as_str()).or_default() += 1;
            }
            for asn in firewall_asns(m) {
                *asn_owners.entry(asn).or_default() += 1;
            }
        }
        Self {
            bmc_owners,
            asn_owners,
        }
    }

    fn bmc_shared(&self, m: &Machine) -> bool {
        !m.ipmi.address.is_empty()
            && self
                .bmc_owners
                .get(m.ipmi.address.as_str())
                .is_some_and(|&n| n > 1)
    }

    fn asn_shared(&self, m: &Machine) -> bool {
        firewall_asns(m)
            .into_iter()
            .any(|asn| self.asn_owners.get(&asn).is_some_and(|&n| n > 1))
    }
}

/// Whether a machine with an event container has the issue `t` (every type but
/// `no-event-container`, which is decided by the container's absence).
fn has_issue(
    t: IssueType,
    m: &Machine,
    ec: &EventContainer,
    fleet: &FleetIndex<'_>,
    now: DateTime<Utc>,
    config: &IssueConfig,
) -> bool {
    let newest = ec.newest().map(|e| e.event);
    match t {
        IssueType::NoPartition => m.partitionid.is_empty(),
        IssueType::LivelinessDead => ec.liveliness == Liveliness::Dead,
        IssueType::LivelinessUnknown => ec.liveliness == Liveliness::Unknown,
        // The stored liveliness is always one of Alive, Dead, Unknown (the container does not
        // deserialize otherwise), so this reference issue never fires here.
        IssueType::LivelinessNotAvailable => !matches!(
            ec.liveliness,
            Liveliness::Alive | Liveliness::Dead | Liveliness::Unknown
        ),
        IssueType::FailedMachineReclaim => {
            ec.failed_machine_reclaim
                || (m.allocation.is_none() && newest == Some(EventType::PhonedHome))
        }
        IssueType::Crashloop => ec.crash_loop && newest != Some(EventType::Waiting),
        IssueType::LastEventError => ec.last_error_event.as_ref().is_some_and(|e| {
            config.last_error_threshold > TimeDelta::zero()
                && now - e.time < config.last_error_threshold
        }),
        IssueType::BmcWithoutMac => m.ipmi.mac.is_empty(),
        IssueType::BmcWithoutIp => m.ipmi.address.is_empty(),
        IssueType::BmcInfoOutdated => m
            .ipmi
            .last_updated
            .is_none_or(|t| now - t > BMC_INFO_OUTDATED_AFTER),
        IssueType::AsnNotUnique => fleet.asn_shared(m),
        IssueType::BmcNoDistinctIp => fleet.bmc_shared(m),
        IssueType::NoEventContainer => false,
    }
}

/// Evaluates every machine of the set (§5) and answers the machines with at least one
/// reported issue, sorted by machine id, each with its issue types in catalogue order.
///
/// A machine without an event container in `events` (keyed by machine id) reports only
/// `no-event-container`. The uniqueness issues compare within `machines` only. Cost:
/// O(n) map building and lookups plus the O(n log n) sort.
pub fn evaluate(
    machines: &[Machine],
    events: &HashMap<String, EventContainer>,
    now: DateTime<Utc>,
    config: &IssueConfig,
) -> Vec<(String, Vec<IssueType>)> {
    let fleet = FleetIndex::build(machines);
    let enabled: Vec<IssueType> = IssueType::ALL
        .into_iter()
        .filter(|&t| config.includes(t))
        .collect();
    let mut out: Vec<(String, Vec<IssueType>)> = machines
        .iter()
        .filter_map(|m| {
            let issues: Vec<IssueType> = match events.get(&m.id) {
                None => enabled
                    .iter()
                    .copied()
                    .filter(|&t| t == IssueType::NoEventContainer)
                    .collect(),
                Some(ec) => enabled
                    .iter()
                    .copied()
                    .filter(|&t| has_issue(t, m, ec, &fleet, now, config))
                    .collect(),
            };
            (!issues.is_empty()).then(|| (m.id.clone(), issues))
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// The wire answer of an evaluation.
pub fn responses(evaluated: Vec<(String, Vec<IssueType>)>) -> Vec<MachineIssueResponse> {
    evaluated
        .into_iter()
        .map(|(machineid, issues)| MachineIssueResponse {
            machineid,
            issues: issues.into_iter().map(|t| t.id().to_string()).collect(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::ProvisioningEvent;
    use crate::machine::{Allocation, MachineNetwork, NetworkKind};

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2024-05-01T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    /// A machine without any issue: partition, BMC with mac, address and fresh data.
    fn healthy(id: &str) -> Machine {
        let mut m = Machine {
            id: id.to_string(),
            partitionid: "fra".into(),
            ..Default::default()
        };
        m.ipmi.mac = "aa:bb:cc:dd:ee:ff".into();
        m.ipmi.address = format!(
            "10.0.0.1:{}",
            id.len() * 1000 + id.bytes().map(usize::from).sum::<usize>()
        );
        m.ipmi.last_updated = Some(now() - TimeDelta::minutes(1));
        m
    }

    fn container(id: &str) -> EventContainer {
        let mut ec = EventContainer::new(id);
        ec.events.push(ProvisioningEvent {
            time: now() - TimeDelta::minutes(1),
            event: EventType::Waiting,
            message: String::new(),
        });
        ec.last_event_time = Some(now() - TimeDelta::minutes(1));
        ec
    }

    fn newest(ec: &mut EventContainer, e: EventType) {
        ec.events.insert(
            0,
            ProvisioningEvent {
                time: now(),
                event: e,
                message: String::new(),
            },
        );
    }

    fn firewall(m: &mut Machine, asns: &[u64]) {
        m.allocation = Some(Allocation {
            role: Role::Firewall,
            networks: asns
                .iter()
                .map(|&asn| MachineNetwork {
                    networkid: format!("net-{asn}"),
                    projectid: String::new(),
                    prefixes: Vec::new(),
                    ips: Vec::new(),
                    destinationprefixes: Vec::new(),
                    vrf: 0,
                    asn,
                    nat: false,
                    private: false,
                    underlay: true,
                    networktype: NetworkKind::Underlay,
                    networktypev2: String::new(),
                    nattypev2: String::new(),
                })
                .collect(),
            ..Default::default()
        });
    }

    fn run(
        machines: &[Machine],
        events: &[EventContainer],
        config: &IssueConfig,
    ) -> Vec<(String, Vec<&'static str>)> {
        let events: HashMap<String, EventContainer> =
            events.iter().map(|e| (e.id.clone(), e.clone())).collect();
        evaluate(machines, &events, now(), config)
            .into_iter()
            .map(|(id, ts)| (id, ts.into_iter().map(IssueType::id).collect()))
            .collect()
    }

    /// Issues of one machine with its own container, under the default config.
    fn single(m: Machine, ec: Option<EventContainer>) -> Vec<&'static str> {
        let events: Vec<EventContainer> = ec.into_iter().collect();
        run(&[m], &events, &IssueConfig::default())
            .pop()
            .map(|(_, ts)| ts)
            .unwrap_or_default()
    }

    #[test]
    fn catalogue_lists_all_thirteen_with_docs_anchor() {
        let c = catalogue();
        assert_eq!(c.len(), 13);
        let ids: HashSet<&str> = c.iter().map(|i| i.id.as_str()).collect();
        assert_eq!(ids.len(), 13);
        for i in &c {
            assert_eq!(
                i.ref_url,
                format!(
                    "https://docs.metal-stack.io/stable/installation/troubleshoot/#{}",
                    i.id
                )
            );
            assert!(!i.description.is_empty());
            assert!(i.details.is_empty());
            assert_eq!(IssueType::parse(&i.id).unwrap().id(), i.id);
        }
        let sev = |id: &str| c.iter().find(|i| i.id == id).unwrap().severity.clone();
        assert_eq!(sev("failed-machine-reclaim"), "critical");
        assert_eq!(sev("asn-not-unique"), "minor");
        assert_eq!(sev("last-event-error"), "minor");
        assert_eq!(sev("liveliness-not-available"), "minor");
        assert_eq!(sev("bmc-no-distinct-ip"), "major");
        assert_eq!(
            (
                Severity::Minor.level(),
                Severity::Major.level(),
                Severity::Critical.level()
            ),
            (0, 5, 10)
        );
        assert!(Severity::Minor < Severity::Major && Severity::Major < Severity::Critical);
    }

    #[test]
    fn healthy_machine_has_no_issue() {
        assert!(single(healthy("m"), Some(container("m"))).is_empty());
    }

    #[test]
    fn every_single_machine_issue() {
        type Case = (
            &'static str,
            fn(&mut Machine, &mut EventContainer),
            Vec<&'static str>,
        );
        let cases: Vec<Case> = vec![
            (
                "no partition",
                |m, _| m.partitionid.clear(),
                vec!["no-partition"],
            ),
            (
                "dead",
                |_, e| e.liveliness = Liveliness::Dead,
                vec!["liveliness-dead"],
            ),
            (
                "unknown",
                |_, e| e.liveliness = Liveliness::Unknown,
                vec!["liveliness-unknown"],
            ),
            ("alive", |_, e| e.liveliness = Liveliness::Alive, vec![]),
            (
                "reclaim flag",
                |_, e| e.failed_machine_reclaim = true,
                vec!["failed-machine-reclaim"],
            ),
            (
                "phoned home while free",
                |_, e| newest(e, EventType::PhonedHome),
                vec!["failed-machine-reclaim"],
            ),
            (
                "phoned home while allocated",
                |m, e| {
                    m.allocation = Some(Allocation::default());
                    newest(e, EventType::PhonedHome)
                },
                vec![],
            ),
            (
                "crash loop",
                |_, e| {
                    e.crash_loop = true;
                    newest(e, EventType::Crashed)
                },
                vec!["crashloop"],
            ),
            ("crash loop but waiting", |_, e| e.crash_loop = true, vec![]),
            (
                "crash loop without events",
                |_, e| {
                    e.crash_loop = true;
                    e.events.clear()
                },
                vec!["crashloop"],
            ),
            (
                "recent error",
                |_, e| {
                    e.last_error_event = Some(ProvisioningEvent {
                        time: now() - TimeDelta::days(6),
                        event: EventType::Crashed,
                        message: "kernel panic".into(),
                    })
                },
                vec!["last-event-error"],
            ),
            (
                "old error",
                |_, e| {
                    e.last_error_event = Some(ProvisioningEvent {
                        time: now() - TimeDelta::days(8),
                        event: EventType::Crashed,
                        message: String::new(),
                    })
                },
                vec![],
            ),
            (
                "bmc without mac",
                |m, _| m.ipmi.mac.clear(),
                vec!["bmc-without-mac"],
            ),
            (
                "bmc without ip",
                |m, _| m.ipmi.address.clear(),
                vec!["bmc-without-ip"],
            ),
            (
                "bmc never updated",
                |m, _| m.ipmi.last_updated = None,
                vec!["bmc-info-outdated"],
            ),
            (
                "bmc updated 21 min ago",
                |m, _| m.ipmi.last_updated = Some(now() - TimeDelta::minutes(21)),
                vec!["bmc-info-outdated"],
            ),
            (
                "bmc updated 19 min ago",
                |m, _| m.ipmi.last_updated = Some(now() - TimeDelta::minutes(19)),
                vec![],
            ),
            (
                "several at once, catalogue order",
                |m, e| {
                    m.ipmi = Default::default();
                    m.partitionid.clear();
                    e.liveliness = Liveliness::Dead;
                },
                vec![
                    "no-partition",
                    "liveliness-dead",
                    "bmc-without-mac",
                    "bmc-without-ip",
                    "bmc-info-outdated",
                ],
            ),
        ];
        for (name, change, want) in cases {
            let mut m = healthy("m");
            let mut ec = container("m");
            change(&mut m, &mut ec);
            assert_eq!(single(m, Some(ec)), want, "case {name}");
        }
    }

    #[test]
    fn without_container_only_no_event_container() {
        let mut m = healthy("m");
        m.partitionid.clear();
        m.ipmi = Default::default();
        assert_eq!(single(m, None), vec!["no-event-container"]);
    }

    #[test]
    fn liveliness_not_available_never_fires_for_stored_values() {
        for l in [Liveliness::Alive, Liveliness::Dead, Liveliness::Unknown] {
            let mut ec = container("m");
            ec.liveliness = l;
            assert!(!single(healthy("m"), Some(ec)).contains(&"liveliness-not-available"));
        }
    }

    #[test]
    fn bmc_address_shared_within_the_set() {
        let mut a = healthy("a");
        let mut b = healthy("b");
        let c = healthy("c");
        a.ipmi.address = "10.0.0.9:623".into();
        b.ipmi.address = "10.0.0.9:623".into();
        let mut d = healthy("d");
        d.ipmi.address = "10.0.0.9:624".into(); // the port is part of the address
        let events: Vec<EventContainer> = ["a", "b", "c", "d"].map(container).to_vec();
        let got = run(
            &[b.clone(), a.clone(), c, d],
            &events,
            &IssueConfig::default(),
        );
        assert_eq!(
            got,
            vec![
                ("a".to_string(), vec!["bmc-no-distinct-ip"]),
                ("b".to_string(), vec!["bmc-no-distinct-ip"]),
            ]
        );
        // outside the evaluated set nothing is shared
        assert!(run(&[a], &events, &IssueConfig::default()).is_empty());
        // empty addresses are bmc-without-ip, never "shared"
        let mut e = healthy("e");
        let mut f = healthy("f");
        e.ipmi.address.clear();
        f.ipmi.address.clear();
        let events = [container("e"), container("f")];
        for (_, ts) in run(&[e, f], &events, &IssueConfig::default()) {
            assert_eq!(ts, vec!["bmc-without-ip"]);
        }
    }

    #[test]
    fn asn_shared_between_firewalls_only() {
        let mut f1 = healthy("f1");
        let mut f2 = healthy("f2");
        let mut f3 = healthy("f3");
        let mut f4 = healthy("f4");
        let mut m1 = healthy("m1");
        firewall(&mut f1, &[4200000001, 0]);
        firewall(&mut f2, &[4200000001, 4200000002]);
        firewall(&mut f3, &[4200000003, 4200000003]); // repeated in one firewall: not shared
        firewall(&mut f4, &[0, 0]); // zero is no asn
        firewall(&mut m1, &[4200000003]);
        m1.allocation.as_mut().unwrap().role = Role::Machine;
        let events: Vec<EventContainer> = ["f1", "f2", "f3", "f4", "m1"].map(container).to_vec();
        let got = run(&[f1, f2, f3, f4, m1], &events, &IssueConfig::default());
        assert_eq!(
            got,
            vec![
                ("f1".to_string(), vec!["asn-not-unique"]),
                ("f2".to_string(), vec!["asn-not-unique"]),
            ]
        );
    }

    #[test]
    fn filters_severity_only_omit() {
        let mut m = healthy("m");
        m.ipmi.mac.clear(); // major
        let mut ec = container("m");
        ec.failed_machine_reclaim = true; // critical
        ec.last_error_event = Some(ProvisioningEvent {
            time: now() - TimeDelta::hours(1),
            event: EventType::Crashed,
            message: String::new(),
        }); // minor
        let cfg = |only: &[&str], omit: &[&str], severity: &str, threshold: Option<i64>| {
            IssueConfig::from_request(&MachineIssuesRequest {
                only: only.iter().map(|s| s.to_string()).collect(),
                omit: omit.iter().map(|s| s.to_string()).collect(),
                severity: severity.to_string(),
                last_error_threshold: threshold,
                ..Default::default()
            })
            .unwrap()
        };
        let cases: Vec<(IssueConfig, Vec<&str>)> = vec![
            (
                cfg(&[], &[], "", None),
                vec![
                    "failed-machine-reclaim",
                    "last-event-error",
                    "bmc-without-mac",
                ],
            ),
            (
                cfg(&[], &[], "minor", None),
                vec![
                    "failed-machine-reclaim",
                    "last-event-error",
                    "bmc-without-mac",
                ],
            ),
            (
                cfg(&[], &[], "major", None),
                vec!["failed-machine-reclaim", "bmc-without-mac"],
            ),
            (
                cfg(&[], &[], "critical", None),
                vec!["failed-machine-reclaim"],
            ),
            (
                cfg(&["bmc-without-mac"], &[], "", None),
                vec!["bmc-without-mac"],
            ),
            (
                cfg(
                    &["bmc-without-mac", "last-event-error"],
                    &["bmc-without-mac"],
                    "",
                    None,
                ),
                vec!["last-event-error"],
            ),
            (cfg(&["last-event-error"], &[], "major", None), vec![]),
            (
                cfg(&[], &["failed-machine-reclaim"], "", None),
                vec!["last-event-error", "bmc-without-mac"],
            ),
            // a threshold of 30 minutes makes the one-hour-old error too old; 0 disables it
            (
                cfg(&[], &[], "", Some(30 * 60 * 1_000_000_000)),
                vec!["failed-machine-reclaim", "bmc-without-mac"],
            ),
            (
                cfg(&[], &[], "", Some(0)),
                vec!["failed-machine-reclaim", "bmc-without-mac"],
            ),
        ];
        for (i, (config, want)) in cases.into_iter().enumerate() {
            let got = run(&[m.clone()], &[ec.clone()], &config);
            let got = got.into_iter().next().map(|(_, ts)| ts).unwrap_or_default();
            assert_eq!(got, want, "case {i}");
        }
        // omitting no-event-container silences a machine without container
        assert!(run(
            &[healthy("x")],
            &[],
            &cfg(&[], &["no-event-container"], "", None)
        )
        .is_empty());
    }

    #[test]
    fn config_rejects_unknown_values() {
        let bad = [
            MachineIssuesRequest {
                only: vec!["no-such-issue".into()],
                ..Default::default()
            },
            MachineIssuesRequest {
                omit: vec!["Crashloop".into()],
                ..Default::default()
            },
            MachineIssuesRequest {
                severity: "high".into(),
                ..Default::default()
            },
            MachineIssuesRequest {
                last_error_threshold: Some(-1),
                ..Default::default()
            },
        ];
        for r in bad {
            let err = IssueConfig::from_request(&r).unwrap_err();
            assert!(
                matches!(err, DomainError::InvalidArgument(_)),
                "{r:?}: {err:?}"
            );
        }
        assert_eq!(
            IssueConfig::from_request(&MachineIssuesRequest::default()).unwrap(),
            IssueConfig::default()
        );
    }

    #[test]
    fn request_parses_the_flat_wire_shape() {
        let r: MachineIssuesRequest = serde_json::from_str(
            r#"{"partition_id": "fra", "only": ["crashloop"], "omit": [], "severity": "major", "last_error_threshold": 1000}"#,
        )
        .unwrap();
        assert_eq!(r.query.partition_id.as_deref(), Some("fra"));
        assert_eq!(r.only, vec!["crashloop"]);
        assert_eq!(r.last_error_threshold, Some(1000));
    }

    /// 10,000 machines: the uniqueness checks are counted in maps, so a shared BMC address
    /// flags exactly its three owners and a shared ASN its two firewalls, and the answer is
    /// sorted by id whatever the input order.
    #[test]
    fn ten_thousand_machines() {
        let n = 10_000;
        let mut machines: Vec<Machine> = (0..n)
            .rev()
            .map(|i| {
                let mut m = healthy(&format!("m{i:05}"));
                m.ipmi.address = format!("10.{}.{}.{}:623", i / 65536, i / 256 % 256, i % 256);
                m
            })
            .collect();
        for i in [17, 4242, 9999] {
            machines[n - 1 - i].ipmi.address = "192.168.0.1:623".into();
        }
        for i in [100, 200] {
            firewall(&mut machines[n - 1 - i], &[4210000000]);
        }
        for (k, i) in (300..1300).enumerate() {
            firewall(&mut machines[n - 1 - i], &[4220000000 + k as u64]);
        }
        let events: HashMap<String, EventContainer> = machines
            .iter()
            .map(|m| (m.id.clone(), container(&m.id)))
            .collect();
        let got = evaluate(&machines, &events, now(), &IssueConfig::default());
        assert_eq!(
            got,
            vec![
                ("m00017".to_string(), vec![IssueType::BmcNoDistinctIp]),
                ("m00100".to_string(), vec![IssueType::AsnNotUnique]),
                ("m00200".to_string(), vec![IssueType::AsnNotUnique]),
                ("m04242".to_string(), vec![IssueType::BmcNoDistinctIp]),
                ("m09999".to_string(), vec![IssueType::BmcNoDistinctIp]),
            ]
        );
        // every machine sharing one address: all flagged, still one pass
        for m in &mut machines {
            m.ipmi.address = "192.168.0.1:623".into();
        }
        let config = IssueConfig {
            only: vec![IssueType::BmcNoDistinctIp],
            ..Default::default()
        };
        let got = evaluate(&machines, &events, now(), &config);
        assert_eq!(got.len(), n);
        assert!(got.windows(2).all(|w| w[0].0 < w[1].0));
    }
}
