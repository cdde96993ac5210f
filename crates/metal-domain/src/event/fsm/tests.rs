//! Tests of the provisioning state machine: every (state, event) pair against the table of
//! §6.2 written out below, the invalid-transition variants, the failed-reclaim rule,
//! trimming and chronological validation.

use chrono::{TimeDelta, TimeZone};

use super::*;
use crate::error::DomainError;
use crate::event::MAX_EVENTS;
use EventType as E;
use ProvisioningState as S;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0).unwrap()
}

fn min(n: i64) -> TimeDelta {
    TimeDelta::minutes(n)
}

const ALL_STATES: [S; 12] = [
    S::Initial,
    S::PXEBooting,
    S::Preparing,
    S::Registering,
    S::Waiting,
    S::Installing,
    S::BootingNewKernel,
    S::PhonedHome,
    S::PlannedReboot,
    S::MachineReclaim,
    S::Crashing,
    S::Alive,
];

/// The stored event that puts a container into `state` (`None` for Initial).
fn event_for(state: S) -> Option<EventType> {
    match state {
        S::Initial => None,
        S::PXEBooting => Some(E::PxeBooting),
        S::Preparing => Some(E::Preparing),
        S::Registering => Some(E::Registering),
        S::Waiting => Some(E::Waiting),
        S::Installing => Some(E::Installing),
        S::BootingNewKernel => Some(E::BootingNewKernel),
        S::PhonedHome => Some(E::PhonedHome),
        S::PlannedReboot => Some(E::PlannedReboot),
        S::MachineReclaim => Some(E::MachineReclaim),
        S::Crashing => Some(E::Crashed),
        S::Alive => Some(E::Alive),
    }
}

/// A container in `state` whose only event (if any) arrived at t0, with the given flags and
/// a liveliness the FSM would never write, so that a refresh is visible.
fn container_in(state: S, flags: bool) -> EventContainer {
    let mut c = EventContainer::new("m1");
    c.liveliness = Liveliness::Dead;
    c.crash_loop = flags;
    c.failed_machine_reclaim = flags;
    if let Some(event) = event_for(state) {
        c.events.push(ProvisioningEvent {
            time: t0(),
            event,
            message: String::new(),
        });
        c.last_event_time = Some(t0());
    }
    assert_eq!(c.state(), state);
    c
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Flag {
    Keep,
    Set,
    Clear,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Expect {
    /// Valid: appended with the client message, flags as given, `last_error_event` set if
    /// `error`.
    Append {
        crash_loop: Flag,
        failed: Flag,
        error: bool,
    },
    /// Valid: not stored, time and liveliness refreshed.
    Swallow { failed: Flag },
    /// Valid: nothing changes (Phoned Home shortly after Machine Reclaim).
    Unchanged,
    /// Not in the table.
    Invalid,
}

/// §6.2, written out row by row independently of the implementation.
fn table(state: S, event: EventType) -> Expect {
    let append = Expect::Append {
        crash_loop: Flag::Keep,
        failed: Flag::Keep,
        error: false,
    };
    let append_reset_reclaim = Expect::Append {
        crash_loop: Flag::Keep,
        failed: Flag::Clear,
        error: false,
    };
    let append_reset_crash = Expect::Append {
        crash_loop: Flag::Clear,
        failed: Flag::Keep,
        error: false,
    };
    let rows: &[(EventType, &[S], Expect)] = &[
        (
            E::PxeBooting,
            &[S::PlannedReboot, S::MachineReclaim, S::Crashing, S::Initial],
            append_reset_reclaim,
        ),
        (
            E::PxeBooting,
            &[S::PXEBooting],
            Expect::Swallow {
                failed: Flag::Clear,
            },
        ),
        (
            E::Preparing,
            &[
                S::PXEBooting,
                S::PlannedReboot,
                S::MachineReclaim,
                S::Crashing,
                S::Initial,
            ],
            append_reset_reclaim,
        ),
        (E::Registering, &[S::Preparing, S::Initial], append),
        (E::Waiting, &[S::Registering, S::Initial], append),
        (
            E::Installing,
            &[S::Registering, S::Waiting, S::Initial],
            append,
        ),
        (E::BootingNewKernel, &[S::Installing, S::Initial], append),
        (
            E::PhonedHome,
            &[S::BootingNewKernel, S::Initial, S::PlannedReboot],
            append_reset_crash,
        ),
        (
            E::PhonedHome,
            &[S::PhonedHome],
            Expect::Swallow { failed: Flag::Keep },
        ),
        (E::PhonedHome, &[S::MachineReclaim], Expect::Unchanged),
        (E::PlannedReboot, &ALL_STATES, append_reset_crash),
        (E::MachineReclaim, &ALL_STATES, append_reset_crash),
        (
            E::Alive,
            &[
                S::PXEBooting,
                S::Preparing,
                S::Registering,
                S::Waiting,
                S::Installing,
                S::BootingNewKernel,
                S::Initial,
            ],
            Expect::Swallow { failed: Flag::Keep },
        ),
        (
            E::Crashed,
            &[
                S::PXEBooting,
                S::Preparing,
                S::Registering,
                S::Waiting,
                S::Installing,
                S::BootingNewKernel,
                S::Initial,
            ],
            Expect::Append {
                crash_loop: Flag::Set,
                failed: Flag::Keep,
                error: true,
            },
        ),
    ];
    let mut found = rows
        .iter()
        .filter(|(e, from, _)| *e == event && from.contains(&state))
        .map(|(_, _, expect)| *expect);
    let expect = found.next().unwrap_or(Expect::Invalid);
    assert!(found.next().is_none(), "{state:?} + {event}: two rows");
    expect
}

fn flag(before: bool, f: Flag) -> bool {
    match f {
        Flag::Keep => before,
        Flag::Set => true,
        Flag::Clear => false,
    }
}

#[test]
fn every_state_and_event_follows_the_table() {
    let now = t0() + min(1);
    let mut checked = 0;
    for state in ALL_STATES {
        for event in EventType::ALL {
            for flags in [false, true] {
                let before = container_in(state, flags);
                let mut c = before.clone();
                let ctx = format!("{state:?} + {event} (flags {flags})");
                let applied = c
                    .apply(event, "msg", now)
                    .unwrap_or_else(|e| panic!("{ctx}: {e}"));
                assert_eq!(applied.from, state, "{ctx}");
                let expect = table(state, event);
                let refreshed = || {
                    assert_eq!(c.last_event_time, Some(now), "{ctx}: time");
                    assert_eq!(c.liveliness, Liveliness::Alive, "{ctx}: liveliness");
                };
                match expect {
                    Expect::Append {
                        crash_loop,
                        failed,
                        error,
                    } => {
                        let stored = ProvisioningEvent {
                            time: now,
                            event,
                            message: "msg".into(),
                        };
                        assert_eq!(c.events.len(), before.events.len() + 1, "{ctx}");
                        assert_eq!(c.events[0], stored, "{ctx}");
                        assert_eq!(c.events[1..], before.events[..], "{ctx}");
                        refreshed();
                        assert_eq!(c.crash_loop, flag(flags, crash_loop), "{ctx}: crash_loop");
                        assert_eq!(
                            c.failed_machine_reclaim,
                            flag(flags, failed),
                            "{ctx}: failed reclaim"
                        );
                        let want_error = error.then_some(stored);
                        assert_eq!(c.last_error_event, want_error, "{ctx}: error");
                        assert!(applied.expected && applied.appended && applied.changed);
                    }
                    Expect::Swallow { failed } => {
                        assert_eq!(c.events, before.events, "{ctx}");
                        refreshed();
                        assert_eq!(c.crash_loop, flags, "{ctx}: crash_loop");
                        assert_eq!(
                            c.failed_machine_reclaim,
                            flag(flags, failed),
                            "{ctx}: failed reclaim"
                        );
                        assert_eq!(c.last_error_event, None, "{ctx}");
                        assert!(applied.expected && !applied.appended && applied.changed);
                    }
                    Expect::Unchanged => {
                        assert_eq!(c, before, "{ctx}");
                        assert!(applied.expected && !applied.appended && !applied.changed);
                    }
                    Expect::Invalid => {
                        let marked = ProvisioningEvent {
                            time: now,
                            event,
                            message: format!(
                                "[unexpectedly received in {}]: msg",
                                state.as_str().to_lowercase()
                            ),
                        };
                        refreshed();
                        assert_eq!(c.last_error_event.as_ref(), Some(&marked), "{ctx}");
                        if event == E::Alive {
                            assert_eq!(c.events, before.events, "{ctx}: alive stored");
                        } else {
                            assert_eq!(c.events.len(), before.events.len() + 1, "{ctx}");
                            assert_eq!(c.events[0], marked, "{ctx}");
                        }
                        let restart = matches!(event, E::PxeBooting | E::Preparing);
                        assert_eq!(c.crash_loop, flags || restart, "{ctx}: crash_loop");
                        assert_eq!(c.failed_machine_reclaim, flags, "{ctx}: failed reclaim");
                        assert!(!applied.expected && applied.changed, "{ctx}");
                        assert_eq!(applied.appended, event != E::Alive, "{ctx}");
                    }
                }
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 12 * 11 * 2);
}

#[test]
fn valid_transitions_per_event() {
    // The number of source states per event, read off the table; guards the table above
    // against a row lost in editing.
    let cases = [
        (E::PxeBooting, 5),
        (E::Preparing, 5),
        (E::Registering, 2),
        (E::Waiting, 2),
        (E::Installing, 3),
        (E::BootingNewKernel, 2),
        (E::PhonedHome, 5),
        (E::PlannedReboot, 12),
        (E::MachineReclaim, 12),
        (E::Alive, 7),
        (E::Crashed, 7),
    ];
    for (event, n) in cases {
        let valid = ALL_STATES
            .into_iter()
            .filter(|s| table(*s, event) != Expect::Invalid)
            .count();
        assert_eq!(valid, n, "{event}");
        let implemented = ALL_STATES
            .into_iter()
            .filter(|s| transition(*s, event).is_some())
            .count();
        assert_eq!(implemented, n, "{event}");
    }
}

#[test]
fn unexpected_event_messages() {
    let now = t0() + min(1);
    let cases = [
        (
            S::Registering,
            E::Preparing,
            "",
            "[unexpectedly received in state registering]",
        ),
        (
            S::PhonedHome,
            E::PxeBooting,
            "",
            "[unexpectedly received in state phoned home]",
        ),
        (
            S::BootingNewKernel,
            E::Waiting,
            "hammer restarted",
            "[unexpectedly received in state booting new kernel]: hammer restarted",
        ),
        (
            S::PXEBooting,
            E::Registering,
            "x",
            "[unexpectedly received in state pxe booting]: x",
        ),
        (
            S::Crashing,
            E::Crashed,
            "again",
            "[unexpectedly received in state crashing]: again",
        ),
        (
            S::MachineReclaim,
            E::Alive,
            "",
            "[unexpectedly received in state machine reclaim]",
        ),
        (
            S::Alive,
            E::Waiting,
            "",
            "[unexpectedly received in state alive]",
        ),
    ];
    for (state, event, message, want) in cases {
        let mut c = container_in(state, false);
        let applied = c.apply(event, message, now).unwrap();
        assert!(!applied.expected, "{state:?} + {event}");
        let error = c.last_error_event.as_ref().unwrap();
        assert_eq!(error.message, want);
        assert_eq!(error.event, event);
        assert_eq!(error.time, now);
    }
}

#[test]
fn unexpected_restart_sets_crash_loop_and_appends() {
    for event in [E::PxeBooting, E::Preparing] {
        let mut c = container_in(S::Waiting, false);
        c.apply(event, "", t0() + min(1)).unwrap();
        assert!(c.crash_loop, "{event}");
        assert_eq!(c.events.len(), 2, "{event}");
        assert_eq!(c.state(), S::after(event));
    }
    // Other unexpected events are appended without touching the crash loop.
    let mut c = container_in(S::Waiting, false);
    c.apply(E::BootingNewKernel, "", t0() + min(1)).unwrap();
    assert!(!c.crash_loop);
    assert_eq!(c.events.len(), 2);
    assert_eq!(c.state(), S::BootingNewKernel);
}

#[test]
fn alive_is_never_stored() {
    for state in ALL_STATES {
        let mut c = container_in(state, false);
        let before = c.events.clone();
        let applied = c.apply(E::Alive, "", t0() + min(1)).unwrap();
        assert_eq!(c.events, before, "{state:?}");
        assert!(!applied.appended, "{state:?}");
        assert_eq!(c.last_event_time, Some(t0() + min(1)), "{state:?}");
    }
}

#[test]
fn phoned_home_after_reclaim_flags_failed_reclaim_after_five_minutes() {
    let mut c = container_in(S::MachineReclaim, false);
    // Exactly five minutes: still swallowed without a trace.
    let before = c.clone();
    let applied = c.apply(E::PhonedHome, "", t0() + min(5)).unwrap();
    assert_eq!(c, before);
    assert!(!applied.changed);

    // Later: flagged, time and liveliness refreshed, still not stored.
    let late = t0() + min(5) + TimeDelta::nanoseconds(1);
    let applied = c.apply(E::PhonedHome, "", late).unwrap();
    assert!(applied.changed && !applied.appended && applied.expected);
    assert!(c.failed_machine_reclaim);
    assert_eq!(c.last_event_time, Some(late));
    assert_eq!(c.liveliness, Liveliness::Alive);
    assert_eq!(c.events, before.events);
    assert_eq!(c.state(), S::MachineReclaim);

    // The window restarts from the refreshed time.
    let before = c.clone();
    c.apply(E::PhonedHome, "", late + min(1)).unwrap();
    assert_eq!(c, before);

    // A new provisioning cycle clears the flag.
    c.apply(E::PxeBooting, "", late + min(2)).unwrap();
    assert!(!c.failed_machine_reclaim);
}

#[test]
fn phoned_home_after_reclaim_without_time_is_ignored() {
    // A log written without last_event_time (never by this module) cannot start the window.
    let mut c = container_in(S::MachineReclaim, false);
    c.last_event_time = None;
    let before = c.clone();
    let applied = c.apply(E::PhonedHome, "", t0() + min(60)).unwrap();
    assert_eq!(c, before);
    assert!(!applied.changed);
}

#[test]
fn a_full_cycle_and_a_crash_loop() {
    let mut c = EventContainer::new("m1");
    let steps = [
        (E::PxeBooting, true),
        (E::PxeBooting, false),
        (E::Alive, false),
        (E::Preparing, true),
        (E::Registering, true),
        (E::Waiting, true),
        (E::Alive, false),
        (E::Installing, true),
        (E::Crashed, true),
        (E::Preparing, true),
        (E::Registering, true),
        (E::Installing, true),
        (E::BootingNewKernel, true),
    ];
    for (i, (event, appended)) in steps.into_iter().enumerate() {
        let applied = c.apply(event, "", t0() + min(i as i64)).unwrap();
        assert!(applied.expected, "step {i}: {event}");
        assert_eq!(applied.appended, appended, "step {i}: {event}");
    }
    // Crashed → Preparing is a valid restart; the crash loop stays until the OS phones home.
    assert!(c.crash_loop);
    assert_eq!(
        c.last_error_event.as_ref().map(|e| e.event),
        Some(E::Crashed)
    );
    c.apply(E::PhonedHome, "", t0() + min(20)).unwrap();
    assert!(!c.crash_loop);
    c.apply(E::PhonedHome, "", t0() + min(21)).unwrap();
    let log: Vec<_> = c.events.iter().map(|e| e.event).collect();
    assert_eq!(
        log,
        [
            E::PhonedHome,
            E::BootingNewKernel,
            E::Installing,
            E::Registering,
            E::Preparing,
            E::Crashed,
            E::Installing,
            E::Waiting,
            E::Registering,
            E::Preparing,
            E::PxeBooting,
        ]
    );
    assert_eq!(c.last_event_time, Some(t0() + min(21)));
    // The error is never cleared by later good events.
    assert_eq!(
        c.last_error_event.as_ref().map(|e| e.event),
        Some(E::Crashed)
    );
    c.validate().unwrap();
}

fn container_with(n: usize) -> EventContainer {
    let mut c = EventContainer::new("m1");
    // Newest first: event i happened i minutes before t0.
    c.events = (0..n)
        .map(|i| ProvisioningEvent {
            time: t0() - min(i as i64),
            event: E::PlannedReboot,
            message: format!("{i}"),
        })
        .collect();
    c.last_event_time = Some(t0());
    c
}

#[test]
fn trims_to_the_newest_hundred() {
    for (n, want) in [(0, 1), (98, 99), (99, 100), (100, 100), (150, 100)] {
        let mut c = container_with(n);
        let applied = c.apply(E::PlannedReboot, "new", t0() + min(1)).unwrap();
        assert!(applied.appended);
        assert_eq!(c.events.len(), want, "{n} events before");
        assert_eq!(c.events[0].message, "new");
        if n > 0 {
            assert_eq!(c.events[1].message, "0");
            assert_eq!(
                c.events[want - 1].message,
                format!("{}", want - 2),
                "the oldest kept"
            );
        }
    }
    assert_eq!(MAX_EVENTS, 100);
}

#[test]
fn any_write_trims_an_overlong_log() {
    // A log longer than the limit (written by an older version) is trimmed by the next
    // write, even one that appends nothing.
    let mut c = container_with(150);
    c.events[0].event = E::PhonedHome;
    let applied = c.apply(E::PhonedHome, "", t0() + min(1)).unwrap();
    assert!(applied.changed && !applied.appended);
    assert_eq!(c.events.len(), 100);
}

#[test]
fn equal_times_are_chronological() {
    let mut c = container_with(3);
    c.apply(E::PlannedReboot, "", t0()).unwrap();
    assert_eq!(c.events.len(), 4);
    assert_eq!(c.events[0].time, c.events[1].time);
}

#[test]
fn refuses_a_time_before_the_newest_event() {
    let cases = [
        // appended at a time before the newest event
        (E::PlannedReboot, S::PlannedReboot),
        // swallowed, moving last_event_time before the newest event
        (E::Alive, S::Waiting),
        (E::PhonedHome, S::PhonedHome),
        // unexpected
        (E::Waiting, S::PhonedHome),
    ];
    for (event, state) in cases {
        let mut c = container_in(state, false);
        let before = c.clone();
        let err = c
            .apply(event, "", t0() - TimeDelta::seconds(1))
            .unwrap_err();
        assert!(
            matches!(err, DomainError::Unprocessable(ref m) if m.contains("m1")),
            "{state:?} + {event}: {err:?}"
        );
        assert_eq!(c, before, "{state:?} + {event}: left unchanged");
    }
}

#[test]
fn validate_checks_order_and_last_event_time() {
    assert!(EventContainer::new("m1").validate().is_ok());
    assert!(container_with(5).validate().is_ok());

    let mut unsorted = container_with(5);
    unsorted.events.swap(1, 3);
    let err = unsorted.validate().unwrap_err();
    assert!(matches!(err, DomainError::Unprocessable(ref m) if m.contains("chronologically")));

    let mut missing = container_with(1);
    missing.last_event_time = None;
    let err = missing.validate().unwrap_err();
    assert!(matches!(err, DomainError::Unprocessable(ref m) if m.contains("last event time")));

    let mut stale = container_with(1);
    stale.last_event_time = Some(t0() - TimeDelta::seconds(1));
    assert!(stale.validate().is_err());

    // last_event_time later than the newest event is fine (swallowed events).
    let mut later = container_with(1);
    later.last_event_time = Some(t0() + min(10));
    assert!(later.validate().is_ok());
}

#[test]
fn state_is_derived_from_the_newest_event() {
    for event in EventType::ALL {
        let mut c = container_with(2);
        c.events[0].event = event;
        c.events[1].event = E::Waiting;
        assert_eq!(c.state(), S::after(event), "{event}");
    }
    assert_eq!(EventContainer::new("m1").state(), S::Initial);
}
