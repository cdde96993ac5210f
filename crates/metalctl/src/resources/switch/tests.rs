//! Tests of `metalctl switch`: the status dot rules, the table columns, port states and the
//! command line.

use chrono::{Duration, TimeZone, Utc};
use clap::Parser;
use metal_domain::partition::Partition;
use metal_domain::switch::{
    PortStatus, SwitchConnection, SwitchMode, SwitchNic, SwitchOs, SwitchResponse, SwitchSync,
};

use super::*;
use crate::cli::{Cli, Command};

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0).unwrap()
}

fn sync(ago: Duration, took: Duration, error: Option<&str>) -> Option<SwitchSync> {
    Some(SwitchSync {
        time: now() - ago,
        duration: took.num_nanoseconds().unwrap(),
        error: error.map(str::to_string),
    })
}

fn nic(name: &str, actual: PortStatus) -> SwitchNic {
    SwitchNic {
        name: name.into(),
        actual,
        ..Default::default()
    }
}

/// A switch synced 10 s ago in 2 s, with m1 on swp1 (port and connection in the given states).
fn switch(desired: PortStatus, actual: PortStatus) -> SwitchResponse {
    SwitchResponse {
        id: "leaf01".into(),
        rack_id: "r1".into(),
        partition: Partition {
            id: "fra".into(),
            ..Default::default()
        },
        os: Some(SwitchOs {
            vendor: "SONiC".into(),
            version: "ec202111".into(),
            metal_core_version: "v0.9.1 (1d5e42e), tags/v0.9.1-0-g1d5e42e, go1.20.5".into(),
        }),
        management_ip: "10.1.0.1".into(),
        nics: vec![nic("swp1", desired), nic("swp2", PortStatus::Unknown)],
        connections: vec![SwitchConnection {
            nic: nic("swp1", actual),
            machine_id: "m1".into(),
        }],
        last_sync: sync(Duration::seconds(10), Duration::seconds(2), None),
        ..Default::default()
    }
}

#[test]
fn status_dot_rules() {
    use PortStatus::{Down, Up};
    let s = Duration::seconds;
    let m = Duration::minutes;
    let healthy = || switch(Up, Up);
    let with = |f: &dyn Fn(&mut SwitchResponse)| {
        let mut sw = healthy();
        f(&mut sw);
        sw
    };
    let cases: Vec<(&str, SwitchResponse, Option<Dot>, &str)> = vec![
        ("recent and quick", healthy(), Some(Dot::Green), ""),
        ("never synced", with(&|sw| sw.last_sync = None), None, ""),
        (
            "a minute ago",
            with(&|sw| sw.last_sync = sync(m(1), s(2), None)),
            Some(Dot::Yellow),
            "",
        ),
        (
            "ten minutes ago",
            with(&|sw| sw.last_sync = sync(m(10), s(2), None)),
            Some(Dot::Red),
            "",
        ),
        (
            "took 20 s",
            with(&|sw| sw.last_sync = sync(s(5), s(20), None)),
            Some(Dot::Yellow),
            "",
        ),
        (
            "took 30 s",
            with(&|sw| sw.last_sync = sync(s(5), s(30), None)),
            Some(Dot::Red),
            "",
        ),
        (
            "connected port down",
            switch(Down, Down),
            Some(Dot::Yellow),
            "\"swp1\" is DOWN",
        ),
        (
            "port down but should be up",
            switch(Up, Down),
            Some(Dot::Yellow),
            "\"swp1\" is DOWN but should be UP",
        ),
        (
            "error newer than the last sync",
            with(&|sw| sw.last_sync_error = sync(s(5), s(1), Some("frr failed"))),
            Some(Dot::Red),
            "5s ago: frr failed",
        ),
        (
            "error older than the last sync",
            with(&|sw| sw.last_sync_error = sync(m(5), s(1), Some("frr failed"))),
            Some(Dot::Green),
            "5m ago: frr failed",
        ),
        (
            "error older than a week is not shown",
            with(&|sw| sw.last_sync_error = sync(Duration::days(8), s(1), Some("old"))),
            Some(Dot::Green),
            "",
        ),
        (
            "only an error",
            with(&|sw| {
                sw.last_sync = None;
                sw.last_sync_error = sync(s(5), s(1), Some("boom"));
            }),
            Some(Dot::Red),
            "5s ago: boom",
        ),
        (
            "replace mode",
            with(&|sw| sw.mode = SwitchMode::Replace),
            Some(Dot::Red),
            "",
        ),
    ];
    for (name, sw, dot, error) in cases {
        let st = status(&sw, now());
        assert_eq!((st.dot, st.last_error.as_str()), (dot, error), "{name}");
    }
}

#[test]
fn durations_as_go_prints_them() {
    for (nanos, want) in [
        (0, "0s"),
        (400_000, "0s"),
        (250_000_000, "250ms"),
        (1_500_000_000, "1.5s"),
        (2_004_400_000, "2.004s"),
        (123_000_000_000, "2m3s"),
        (3_661_000_000_000, "1h1m1s"),
    ] {
        assert_eq!(go_duration(nanos), want, "{nanos}");
    }
}

#[test]
fn table_columns() {
    let mut sonic = switch(PortStatus::Up, PortStatus::Up);
    let mut cumulus = switch(PortStatus::Up, PortStatus::Up);
    cumulus.id = "leaf02".into();
    cumulus.os = Some(SwitchOs {
        vendor: "Cumulus".into(),
        ..Default::default()
    });
    cumulus.last_sync = None;
    sonic.last_sync_error = sync(
        Duration::minutes(3),
        Duration::seconds(1),
        Some("frr failed"),
    );
    let items = [sonic, cumulus];
    let t = table_at(&items, false, false, now());
    assert_eq!(
        t.render_plain(true),
        "ID      PARTITION  RACK  OS  STATUS  LAST SYNC\n\
         leaf01  fra        r1    🦔  ●       10s ago\n\
         leaf02  fra        r1    🐢\n"
    );
    let t = table_at(&items, true, false, now());
    assert_eq!(
        t.header,
        [
            "ID",
            "PARTITION",
            "RACK",
            "OS",
            "METALCORE",
            "IP",
            "MODE",
            "LAST SYNC",
            "SYNC DURATION",
            "LAST ERROR"
        ]
    );
    assert_eq!(
        t.rows[0],
        [
            "leaf01",
            "fra",
            "r1",
            "SONiC (ec202111)",
            "v0.9.1 (1d5e42e)",
            "10.1.0.1",
            "operational",
            "10s ago",
            "2s",
            "3m ago: frr failed"
        ]
    );
    assert_eq!(t.rows[1][3], "Cumulus");
    let coloured = table_at(&items[..1], false, true, now());
    assert_eq!(coloured.rows[0][4], "\x1b[32m●\x1b[0m");
}

#[test]
fn port_states_and_requests() {
    let sw = switch(PortStatus::Down, PortStatus::Up);
    let p = port_state(&sw, "SWP1").unwrap();
    assert_eq!(
        (
            p.port.as_str(),
            p.desired.as_str(),
            p.actual.as_str(),
            p.machine_id.as_str()
        ),
        ("swp1", "DOWN", "UP", "m1")
    );
    let free = port_state(&sw, "swp2").unwrap();
    assert_eq!(
        (free.actual.as_str(), free.machine_id.as_str()),
        ("UNKNOWN", "")
    );
    assert!(port_state(&sw, "swp9").is_err());
    let u = SwitchResource::to_update(&sw);
    assert_eq!(u.mode.as_deref(), Some("operational"));
    assert!(u.management_ip.is_none() && u.os.is_none());
    let c = SwitchResource::to_create(&sw);
    assert_eq!((c.partition_id.as_str(), c.nics.len()), ("fra", 2));
    assert_eq!(switch_path("a/b"), "v1/switch/a%2Fb");
}

fn parse(args: &[&str]) -> Command {
    crate::cli::try_parse(args).unwrap().command
}

#[test]
fn command_line() {
    let Command::Switch(SwitchCmd::List(l)) =
        parse(&["sw", "ls", "--partition", "fra", "--os-vendor", "SONiC"])
    else {
        panic!("not switch list");
    };
    assert_eq!(l.to_find().partitionid.as_deref(), Some("fra"));
    assert_eq!(l.to_find().osvendor.as_deref(), Some("SONiC"));
    assert!(matches!(
        parse(&["switch", "rm", "leaf01", "--force"]),
        Command::Switch(SwitchCmd::Delete { force: true, .. })
    ));
    assert!(matches!(
        parse(&["switch", "port", "down", "leaf01", "--port", "swp1"]),
        Command::Switch(SwitchCmd::Port(PortCmd::Down(PortArgs { ref port, .. }))) if port == "swp1"
    ));
    assert!(matches!(
        parse(&["switch", "replace", "leaf01"]),
        Command::Switch(SwitchCmd::Replace { ref id }) if id == "leaf01"
    ));
    for bad in [
        vec!["switch", "port", "up", "leaf01"],
        vec!["switch", "create", "-f", "x.yaml"],
        vec!["switch", "delete"],
    ] {
        assert!(
            Cli::try_parse_from(std::iter::once("metalctl").chain(bad.iter().copied())).is_err(),
            "{bad:?}"
        );
    }
}

#[test]
fn detail_rows_per_port() {
    use metal_domain::switch::{BgpFilter, BgpPortState};
    let mut s = switch(PortStatus::Down, PortStatus::Up);
    s.nics[0].vrf = "vrf104001".into();
    s.nics[0].admin_status = Some("DOWN".into());
    s.nics[0].filter = Some(BgpFilter {
        cidrs: vec!["10.0.0.0/22".into(), "212.1.2.3/32".into()],
        vnis: vec![],
    });
    s.nics[0].bgp_port_state = Some(BgpPortState {
        bgp_state: "Established".into(),
        ..Default::default()
    });
    let rows = port_details(&[s]);
    assert_eq!(rows.len(), 2);
    let r = &rows[0];
    assert_eq!(
        (
            r.switch.as_str(),
            r.port.as_str(),
            r.machine_id.as_str(),
            r.vrf.as_str()
        ),
        ("leaf01", "swp1", "m1", "vrf104001")
    );
    // desired: the pending state the nic shows; actual: the connection's reported state
    assert_eq!(
        (
            r.admin.as_str(),
            r.desired.as_str(),
            r.actual.as_str(),
            r.bgp.as_str()
        ),
        ("down", "DOWN", "UP", "Established")
    );
    assert_eq!(rows[1].machine_id, "");
    let t = detail_table(&rows, false);
    let text = t.render_plain(true);
    assert!(text.contains("10.0.0.0/22 212.1.2.3/32"), "{text}");
    assert!(!text.contains("Established"), "{text}");
    assert!(detail_table(&rows, true)
        .render_plain(true)
        .contains("Established"));
    let cli = Cli::try_parse_from(["metalctl", "switch", "detail", "leaf01"]).unwrap();
    assert!(matches!(
        cli.command,
        Command::Switch(SwitchCmd::Detail(SwitchDetailArgs { id: Some(_), .. }))
    ));
}
