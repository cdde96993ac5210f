//! Tests of the event types, their wire shapes and the response view.

use chrono::{TimeDelta, TimeZone};
use serde_json::json;

use super::*;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0).unwrap()
}

#[test]
fn event_type_wire_strings() {
    let cases = [
        (EventType::PxeBooting, "PXE Booting"),
        (EventType::Preparing, "Preparing"),
        (EventType::Registering, "Registering"),
        (EventType::Waiting, "Waiting"),
        (EventType::Installing, "Installing"),
        (EventType::BootingNewKernel, "Booting New Kernel"),
        (EventType::PhonedHome, "Phoned Home"),
        (EventType::PlannedReboot, "Planned Reboot"),
        (EventType::MachineReclaim, "Machine Reclaim"),
        (EventType::Crashed, "Crashed"),
        (EventType::Alive, "Alive"),
    ];
    assert_eq!(cases.len(), EventType::ALL.len());
    for (t, s) in cases {
        assert_eq!(t.as_str(), s);
        assert_eq!(t.to_string(), s);
        assert_eq!(EventType::parse(s).unwrap(), t);
        assert_eq!(serde_json::to_value(t).unwrap(), json!(s));
        assert_eq!(serde_json::from_value::<EventType>(json!(s)).unwrap(), t);
        assert!(EventType::ALL.contains(&t));
    }
}

#[test]
fn unknown_event_types_are_refused() {
    for s in [
        "",
        "pxe booting",
        "PXE Booting ",
        "Reset Fail Count",
        "PXEBooting",
    ] {
        let err = EventType::parse(s).unwrap_err();
        match err {
            DomainError::InvalidArgument(m) => assert!(m.contains(&format!("{s:?}")), "{m}"),
            other => panic!("{s:?}: {other:?}"),
        }
        assert!(serde_json::from_value::<EventType>(json!(s)).is_err());
    }
}

#[test]
fn provisioning_event_json() {
    let e = ProvisioningEvent {
        time: t0(),
        event: EventType::PhonedHome,
        message: "hello".into(),
    };
    let v = serde_json::to_value(&e).unwrap();
    assert_eq!(
        v,
        json!({"time": "2024-05-01T12:00:00Z", "event": "Phoned Home", "message": "hello"})
    );
    assert_eq!(serde_json::from_value::<ProvisioningEvent>(v).unwrap(), e);

    let quiet = ProvisioningEvent {
        message: String::new(),
        ..e
    };
    let v = serde_json::to_value(&quiet).unwrap();
    assert_eq!(
        v,
        json!({"time": "2024-05-01T12:00:00Z", "event": "Phoned Home"})
    );
    assert_eq!(
        serde_json::from_value::<ProvisioningEvent>(v).unwrap(),
        quiet
    );
}

#[test]
fn container_json_round_trip() {
    let mut c = EventContainer::new("m1");
    c.apply(EventType::Registering, "", t0()).unwrap();
    c.apply(
        EventType::Crashed,
        "disk gone",
        t0() + TimeDelta::minutes(1),
    )
    .unwrap();
    let v = serde_json::to_value(&c).unwrap();
    assert_eq!(
        v,
        json!({
            "id": "m1",
            "liveliness": "Alive",
            "events": [
                {"time": "2024-05-01T12:01:00Z", "event": "Crashed", "message": "disk gone"},
                {"time": "2024-05-01T12:00:00Z", "event": "Registering"},
            ],
            "last_event_time": "2024-05-01T12:01:00Z",
            "last_error_event": {"time": "2024-05-01T12:01:00Z", "event": "Crashed", "message": "disk gone"},
            "crash_loop": true,
            "failed_machine_reclaim": false,
        })
    );
    assert_eq!(serde_json::from_value::<EventContainer>(v).unwrap(), c);

    // Only id and liveliness are required.
    let minimal: EventContainer =
        serde_json::from_value(json!({"id": "m2", "liveliness": "Dead"})).unwrap();
    assert_eq!(
        minimal,
        EventContainer {
            liveliness: Liveliness::Dead,
            ..EventContainer::new("m2")
        }
    );
}

#[test]
fn new_container_is_alive_and_empty() {
    let c = EventContainer::new("m1");
    assert_eq!(c.id, "m1");
    assert_eq!(c.liveliness, Liveliness::Alive);
    assert!(c.events.is_empty() && c.last_event_time.is_none() && c.last_error_event.is_none());
    assert!(!c.crash_loop && !c.failed_machine_reclaim);
    assert_eq!(c.newest(), None);
}

fn container_with(n: usize) -> EventContainer {
    let mut c = EventContainer::new("m1");
    for i in 0..n {
        c.apply(
            EventType::PlannedReboot,
            &format!("{i}"),
            t0() + TimeDelta::minutes(i as i64),
        )
        .unwrap();
    }
    c
}

#[test]
fn recent_shows_the_newest_n() {
    for (stored, n, want) in [
        (0, 20, 0),
        (5, 20, 5),
        (20, 20, 20),
        (30, 20, 20),
        (30, 3, 3),
    ] {
        let c = container_with(stored);
        let r = recent(&c, n);
        assert_eq!(r.log.len(), want, "{stored} stored, {n} asked");
        let messages: Vec<_> = r.log.iter().map(|e| e.message.clone()).collect();
        let newest_first: Vec<_> = (0..stored)
            .rev()
            .take(want)
            .map(|i| format!("{i}"))
            .collect();
        assert_eq!(messages, newest_first);
        assert_eq!(r.last_event_time, c.last_event_time);
    }
    assert_eq!(RECENT_EVENTS, 20);
}

#[test]
fn recent_copies_the_flags() {
    let mut c = container_with(1);
    c.crash_loop = true;
    c.failed_machine_reclaim = true;
    c.last_error_event = Some(c.events[0].clone());
    let r = recent(&c, RECENT_EVENTS);
    assert!(r.crash_loop && r.failed_machine_reclaim);
    assert_eq!(r.last_error_event, c.last_error_event);
}

#[test]
fn recent_json_uses_the_swagger_names() {
    let c = container_with(1);
    let v = serde_json::to_value(recent(&c, RECENT_EVENTS)).unwrap();
    assert_eq!(
        v,
        json!({
            "log": [{"time": "2024-05-01T12:00:00Z", "event": "Planned Reboot", "message": "0"}],
            "last_event_time": "2024-05-01T12:00:00Z",
            "last_error_event": null,
            "crash_loop": false,
            "failed_machine_reclaim": false,
        })
    );
    // A machine without container.
    assert_eq!(
        serde_json::to_value(MachineRecentProvisioningEvents::default()).unwrap(),
        json!({
            "log": [],
            "last_event_time": null,
            "last_error_event": null,
            "crash_loop": false,
            "failed_machine_reclaim": false,
        })
    );
    let parsed: MachineRecentProvisioningEvents = serde_json::from_value(
        json!({"log": [], "crash_loop": true, "failed_machine_reclaim": false}),
    )
    .unwrap();
    assert!(parsed.crash_loop && parsed.log.is_empty());
}
