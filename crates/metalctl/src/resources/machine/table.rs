//! The tables of machines and firewalls (agents.md §1.7), the status symbols of the machine
//! table's emoji column (§1.8) and the provisioning event log of `machine logs`.
//!
//! - machine: `ID | <emoji> | LAST EVENT | WHEN | AGE | HOSTNAME | PROJECT | SIZE | IMAGE |
//!   PARTITION | RACK`, the hostname cut to 30 characters; wide: `ID | LAST EVENT | WHEN | AGE |
//!   DESCRIPTION | NAME | HOSTNAME | PROJECT | IPS | SIZE | IMAGE | PARTITION | RACK | STARTED |
//!   TAGS | LOCK/RESERVE`. `WHEN` is the time since the last event, `AGE` and `STARTED` (RFC
//!   3339) come from the allocation, `IPS` are the addresses of all allocation networks,
//!   `LOCK/RESERVE` is `<STATE>:<description>`.
//! - firewall: `ID | AGE | HOSTNAME | PROJECT | NETWORKS | IPS | PARTITION`.
//! - log: `TIME | EVENT | MESSAGE` with RFC 1123 times; the normal table shows the first line
//!   of a message (`...` when more follow), at most 120 characters.
//!
//! Everything takes the current time as a parameter so that the same machines always give the
//! same table.

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use metal_domain::event::ProvisioningEvent;
use metal_domain::machine::{MachineResponse, MachineStateValue};

use crate::output::{humanize, Table};

/// Longest hostname in the normal machine table.
pub const MAX_HOSTNAME: usize = 30;

/// Longest message in the normal log table.
pub const MAX_MESSAGE: usize = 120;

/// Joins the symbols of the emoji column.
const NBSP: &str = "\u{a0}";

/// A condition the emoji column shows, in the order it shows them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// liveliness Dead
    Dead,
    /// liveliness Unknown, or anything else but Alive (also no event log at all)
    Unknown,
    /// state LOCKED: cannot be freed or reinstalled
    Locked,
    /// state RESERVED: skipped by random allocation
    Reserved,
    /// the machine booted back into its old OS after it was freed
    FailedReclaim,
    /// the last error event is younger than the threshold
    LastEventError,
    /// provisioning restarts again and again
    CrashLoop,
}

impl Status {
    /// The name in the STATUS column of the wide ipmi table.
    pub fn name(self) -> &'static str {
        match self {
            Self::Dead => "Dead",
            Self::Unknown => "Unknown",
            Self::Locked => "Locked",
            Self::Reserved => "Reserved",
            Self::FailedReclaim => "FailedReclaim",
            Self::LastEventError => "LastEventErrors",
            Self::CrashLoop => "CrashLoop",
        }
    }

    pub fn symbol(self) -> &'static str {
        match self {
            Self::Dead => "💀",
            Self::Unknown => "❓",
            Self::Locked => "🔒",
            Self::Reserved => "🚧",
            Self::FailedReclaim => "🚑",
            Self::LastEventError => "❗",
            Self::CrashLoop => "⭕",
        }
    }
}

/// The conditions of a machine at `now`: liveliness, state, failed reclaim, a last error event
/// younger than `threshold`, crash loop.
pub fn statuses(m: &MachineResponse, threshold: Duration, now: DateTime<Utc>) -> Vec<Status> {
    let mut out = Vec::new();
    match m.liveliness.as_str() {
        "Alive" => {}
        "Dead" => out.push(Status::Dead),
        _ => out.push(Status::Unknown),
    }
    match m.state.value {
        MachineStateValue::Locked => out.push(Status::Locked),
        MachineStateValue::Reserved => out.push(Status::Reserved),
        MachineStateValue::Available => {}
    }
    if m.events.failed_machine_reclaim {
        out.push(Status::FailedReclaim);
    }
    if m.events
        .last_error_event
        .as_ref()
        .is_some_and(|e| now - e.time < threshold)
    {
        out.push(Status::LastEventError);
    }
    if m.events.crash_loop {
        out.push(Status::CrashLoop);
    }
    out
}

/// The emoji column: the symbols of [`statuses`] joined by non-breaking spaces.
pub fn emojis(m: &MachineResponse, threshold: Duration, now: DateTime<Utc>) -> String {
    statuses(m, threshold, now)
        .iter()
        .map(|s| s.symbol())
        .collect::<Vec<_>>()
        .join(NBSP)
}

/// Cuts `s` to at most `max` characters, ending in `...` when cut (metal-lib's
/// `TruncateEnd`): `abcdefghij` at 7 becomes `abcd...`.
pub fn truncate_end(s: &str, max: usize) -> String {
    const ELLIPSIS: &str = "...";
    let chars: Vec<char> = s.chars().collect();
    if chars.len() <= max {
        return s.to_string();
    }
    if max <= ELLIPSIS.len() {
        return chars[..max].iter().collect();
    }
    let mut out: String = chars[..max - ELLIPSIS.len()].iter().collect();
    out.push_str(ELLIPSIS);
    out
}

/// The name of the newest provisioning event (LAST EVENT).
pub fn last_event(m: &MachineResponse) -> String {
    m.events
        .log
        .first()
        .map(|e| e.event.as_str().to_string())
        .unwrap_or_default()
}

/// How long ago `t` was (WHEN, AGE); empty without a time.
pub fn since(t: Option<DateTime<Utc>>, now: DateTime<Utc>) -> String {
    t.map(|t| humanize::duration(now - t)).unwrap_or_default()
}

/// The addresses of all networks of the allocation, one per line.
fn ips(m: &MachineResponse) -> String {
    m.allocation
        .iter()
        .flat_map(|a| a.networks.iter())
        .flat_map(|n| n.ips.iter().cloned())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The machine table at `now`; a last error event younger than `threshold` is flagged.
pub fn machine_table(
    items: &[MachineResponse],
    wide: bool,
    threshold: Duration,
    now: DateTime<Utc>,
) -> Table {
    let header = if wide {
        vec![
            "ID",
            "LAST EVENT",
            "WHEN",
            "AGE",
            "DESCRIPTION",
            "NAME",
            "HOSTNAME",
            "PROJECT",
            "IPS",
            "SIZE",
            "IMAGE",
            "PARTITION",
            "RACK",
            "STARTED",
            "TAGS",
            "LOCK/RESERVE",
        ]
    } else {
        vec![
            "ID",
            "",
            "LAST EVENT",
            "WHEN",
            "AGE",
            "HOSTNAME",
            "PROJECT",
            "SIZE",
            "IMAGE",
            "PARTITION",
            "RACK",
        ]
    };
    let mut t = Table::new(header);
    for m in items {
        let a = m.allocation.as_ref();
        let text = |f: fn(&metal_domain::machine::MachineAllocationResponse) -> &str| {
            a.map(f).unwrap_or_default().to_string()
        };
        let created = a.and_then(|a| a.created);
        let last_event = last_event(m);
        let when = since(m.events.last_event_time, now);
        let age = since(created, now);
        let size = m.size.as_ref().map(|s| s.id.clone()).unwrap_or_default();
        let partition = m
            .partition
            .as_ref()
            .map(|p| p.id.clone())
            .unwrap_or_default();
        let image = a
            .and_then(|a| a.image.as_ref())
            .map(|i| i.id.clone())
            .unwrap_or_default();
        let hostname = text(|a| &a.hostname);
        let project = text(|a| &a.project);
        let row = if wide {
            let lock = match m.state.value {
                MachineStateValue::Available => String::new(),
                v => format!("{}:{}", v.as_str(), m.state.description),
            };
            vec![
                m.id.clone(),
                last_event,
                when,
                age,
                text(|a| &a.description),
                text(|a| &a.name),
                hostname,
                project,
                ips(m),
                size,
                image,
                partition,
                m.rackid.clone(),
                created
                    .map(|c| c.to_rfc3339_opts(SecondsFormat::Secs, true))
                    .unwrap_or_default(),
                m.tags.join("\n"),
                lock,
            ]
        } else {
            vec![
                m.id.clone(),
                emojis(m, threshold, now),
                last_event,
                when,
                age,
                truncate_end(&hostname, MAX_HOSTNAME),
                project,
                size,
                image,
                partition,
                m.rackid.clone(),
            ]
        };
        t.push(row);
    }
    t
}

/// The firewall table at `now` (the same in wide).
pub fn firewall_table(items: &[MachineResponse], now: DateTime<Utc>) -> Table {
    let mut t = Table::new([
        "ID",
        "AGE",
        "HOSTNAME",
        "PROJECT",
        "NETWORKS",
        "IPS",
        "PARTITION",
    ]);
    for m in items {
        let a = m.allocation.as_ref();
        let networks = a
            .iter()
            .flat_map(|a| a.networks.iter())
            .map(|n| n.networkid.clone())
            .collect::<Vec<_>>()
            .join("\n");
        t.push([
            m.id.clone(),
            since(a.and_then(|a| a.created), now),
            a.map(|a| a.hostname.clone()).unwrap_or_default(),
            a.map(|a| a.project.clone()).unwrap_or_default(),
            networks,
            ips(m),
            m.partition
                .as_ref()
                .map(|p| p.id.clone())
                .unwrap_or_default(),
        ]);
    }
    t
}

/// The provisioning events in the given order.
pub fn log_table(events: &[ProvisioningEvent], wide: bool) -> Table {
    let mut t = Table::new(["TIME", "EVENT", "MESSAGE"]);
    for e in events {
        let message = if wide {
            e.message.clone()
        } else {
            let mut lines = e.message.lines();
            let first = lines.next().unwrap_or_default();
            let first = if lines.next().is_some() {
                format!("{first}...")
            } else {
                first.to_string()
            };
            truncate_end(&first, MAX_MESSAGE)
        };
        t.push([
            e.time.format("%a, %d %b %Y %H:%M:%S UTC").to_string(),
            e.event.as_str().to_string(),
            message,
        ]);
    }
    t
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use chrono::TimeZone;
    use metal_domain::event::{EventType, MachineRecentProvisioningEvents};
    use metal_domain::image::Image;
    use metal_domain::machine::{
        MachineAllocationResponse, MachineNetwork, MachineState, NetworkKind, Role,
    };
    use metal_domain::partition::Partition;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0).unwrap()
    }

    fn event(mins_ago: i64, event: EventType, message: &str) -> ProvisioningEvent {
        ProvisioningEvent {
            time: now() - Duration::minutes(mins_ago),
            event,
            message: message.into(),
        }
    }

    fn network(id: &str, ips: &[&str]) -> MachineNetwork {
        MachineNetwork {
            networkid: id.into(),
            projectid: String::new(),
            prefixes: vec![],
            ips: ips.iter().map(|s| s.to_string()).collect(),
            destinationprefixes: vec![],
            vrf: 0,
            asn: 0,
            nat: false,
            private: false,
            underlay: false,
            networktype: NetworkKind::External,
            networktypev2: String::new(),
            nattypev2: String::new(),
        }
    }

    /// A free, alive machine without problems.
    pub(crate) fn free(id: &str) -> MachineResponse {
        let mut m: MachineResponse = serde_json::from_value(serde_json::json!({
            "id": id, "name": "", "description": "", "partition": null, "rackid": "rack-1",
            "size": null, "hardware": {}, "bios": {}, "state": {}, "ledstate": {}, "tags": [],
            "allocation": null, "liveliness": "Alive", "events": {}, "created": null, "changed": null
        }))
        .unwrap();
        m.partition = Some(Partition {
            id: "fra-equ01".into(),
            ..Default::default()
        });
        m.size = serde_json::from_value(serde_json::json!({"id": "c1-xlarge-x86"})).ok();
        m.events = MachineRecentProvisioningEvents {
            log: vec![event(3, EventType::Waiting, "")],
            last_event_time: Some(now() - Duration::seconds(65)),
            ..Default::default()
        };
        m
    }

    pub(crate) fn allocated(id: &str) -> MachineResponse {
        let mut m = free(id);
        m.events.log.insert(0, event(1, EventType::PhonedHome, ""));
        m.tags = vec!["team=a".into(), "machine.metal-stack.io/rack=rack-1".into()];
        let image: Image = serde_json::from_value(serde_json::json!({
            "id": "ubuntu-22.04.20240101", "expirationDate": "2030-01-01T00:00:00Z"
        }))
        .unwrap();
        m.allocation = Some(MachineAllocationResponse {
            allocationuuid: "u1".into(),
            creator: "a@b".into(),
            created: Some(now() - Duration::days(3) - Duration::hours(4) - Duration::minutes(2)),
            name: "web-1".into(),
            description: "the shop".into(),
            hostname: "a-rather-long-hostname-for-a-web-server".into(),
            project: "p1".into(),
            image: Some(image),
            filesystemlayout: None,
            networks: vec![
                network("tenant", &["10.0.0.1"]),
                network("internet", &["185.1.2.1", "185.1.2.7"]),
            ],
            ssh_pub_keys: vec![],
            user_data: String::new(),
            succeeded: false,
            reinstall: false,
            boot_info: None,
            role: Role::Machine,
            firewall_rules: None,
            dns_servers: vec![],
            ntp_servers: vec![],
        });
        m
    }

    #[test]
    fn machine_rows() {
        let mut reserved = free("m2");
        reserved.state = MachineState {
            value: MachineStateValue::Reserved,
            description: "for the demo".into(),
            ..Default::default()
        };
        let items = [allocated("m1"), reserved];
        let t = machine_table(&items, false, Duration::hours(1), now());
        assert_eq!(
            t.render_plain(true),
            "\
ID      LAST EVENT   WHEN   AGE    HOSTNAME                        PROJECT  SIZE           IMAGE                  PARTITION  RACK
m1      Phoned Home  1m 5s  3d 4h  a-rather-long-hostname-for-...  p1       c1-xlarge-x86  ubuntu-22.04.20240101  fra-equ01  rack-1
m2  🚧  Waiting      1m 5s                                                  c1-xlarge-x86                         fra-equ01  rack-1
"
        );
        assert_eq!(t.header[1], "", "the emoji column has no title");

        let t = machine_table(&items, true, Duration::hours(1), now());
        assert_eq!(
            t.header,
            [
                "ID",
                "LAST EVENT",
                "WHEN",
                "AGE",
                "DESCRIPTION",
                "NAME",
                "HOSTNAME",
                "PROJECT",
                "IPS",
                "SIZE",
                "IMAGE",
                "PARTITION",
                "RACK",
                "STARTED",
                "TAGS",
                "LOCK/RESERVE"
            ]
        );
        assert_eq!(
            t.rows[0],
            [
                "m1",
                "Phoned Home",
                "1m 5s",
                "3d 4h",
                "the shop",
                "web-1",
                "a-rather-long-hostname-for-a-web-server",
                "p1",
                "10.0.0.1\n185.1.2.1\n185.1.2.7",
                "c1-xlarge-x86",
                "ubuntu-22.04.20240101",
                "fra-equ01",
                "rack-1",
                "2024-04-28T07:58:00Z",
                "team=a\nmachine.metal-stack.io/rack=rack-1",
                ""
            ]
        );
        assert_eq!(t.rows[1][15], "RESERVED:for the demo");
        assert_eq!(t.rows[1][3], "", "no age without allocation");
    }

    #[test]
    fn each_status_symbol() {
        let h = Duration::hours(1);
        let one = |f: fn(&mut MachineResponse)| {
            let mut m = free("m");
            f(&mut m);
            emojis(&m, h, now())
        };
        assert_eq!(one(|_| {}), "");
        assert_eq!(one(|m| m.liveliness = "Dead".into()), "💀");
        assert_eq!(one(|m| m.liveliness = "Unknown".into()), "❓");
        assert_eq!(one(|m| m.liveliness = String::new()), "❓", "no event log");
        assert_eq!(one(|m| m.state.value = MachineStateValue::Locked), "🔒");
        assert_eq!(one(|m| m.state.value = MachineStateValue::Reserved), "🚧");
        assert_eq!(one(|m| m.events.failed_machine_reclaim = true), "🚑");
        assert_eq!(one(|m| m.events.crash_loop = true), "⭕");
        assert_eq!(
            one(|m| m.events.last_error_event = Some(event(59, EventType::Crashed, "oops"))),
            "❗"
        );
        assert_eq!(
            one(|m| m.events.last_error_event = Some(event(61, EventType::Crashed, "oops"))),
            "",
            "older than the threshold"
        );
        // all at once, in the order liveliness, state, reclaim, last error, crash loop
        let all = one(|m| {
            m.liveliness = "Dead".into();
            m.state.value = MachineStateValue::Locked;
            m.events.failed_machine_reclaim = true;
            m.events.last_error_event = Some(event(5, EventType::Crashed, ""));
            m.events.crash_loop = true;
        });
        assert_eq!(all, "💀\u{a0}🔒\u{a0}🚑\u{a0}❗\u{a0}⭕");
        let m = free("m");
        let mut err = m.clone();
        err.events.last_error_event = Some(event(90, EventType::Crashed, ""));
        assert_eq!(
            statuses(&err, Duration::hours(2), now()),
            [Status::LastEventError]
        );
        assert!(statuses(&m, Duration::hours(2), now()).is_empty());
    }

    #[test]
    fn firewall_rows() {
        let mut fw = allocated("fw1");
        fw.allocation.as_mut().unwrap().hostname = "fw".into();
        let t = firewall_table(&[fw], now());
        assert_eq!(
            t.render_plain(true),
            "\
ID   AGE    HOSTNAME  PROJECT  NETWORKS  IPS        PARTITION
fw1  3d 4h  fw        p1       tenant    10.0.0.1   fra-equ01
                               internet  185.1.2.1
                                         185.1.2.7
"
        );
    }

    #[test]
    fn log_rows() {
        let long = "x".repeat(130);
        let events = [
            event(10, EventType::PxeBooting, ""),
            event(5, EventType::Crashed, "kernel panic\nstack trace follows"),
            event(1, EventType::Registering, &long),
        ];
        let t = log_table(&events, false);
        assert_eq!(t.header, ["TIME", "EVENT", "MESSAGE"]);
        assert_eq!(t.rows[0][0], "Wed, 01 May 2024 11:50:00 UTC");
        assert_eq!(t.rows[0][1], "PXE Booting");
        assert_eq!(t.rows[1][2], "kernel panic...");
        assert_eq!(t.rows[2][2].chars().count(), MAX_MESSAGE);
        assert!(t.rows[2][2].ends_with("x..."));
        let t = log_table(&events, true);
        assert_eq!(t.rows[1][2], "kernel panic\nstack trace follows");
        assert_eq!(t.rows[2][2], long);
    }

    #[test]
    fn end_truncation() {
        assert_eq!(truncate_end("abcdefghij", 10), "abcdefghij");
        assert_eq!(truncate_end("abcdefghij", 7), "abcd...");
        assert_eq!(truncate_end("abcdefghij", 3), "abc");
        assert_eq!(truncate_end("äöüäöü", 5), "äö...");
    }
}
