//! Conclusions from the time of the last event: liveliness (§6.4, the `machine-liveliness`
//! job, every minute) and resurrection of dead or wrongly reclaimed machines (§6.5, the
//! `resurrect-machines` job, hourly). Both compare against a `now` passed in.

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use super::EventContainer;
use crate::error::{DomainError, DomainResult};

/// A machine without events for longer than this is no longer alive.
pub const DEAD_AFTER: TimeDelta = TimeDelta::minutes(5);

/// A free machine dead for longer than this is freed again (PXE boot + reset).
pub const RESURRECT_AFTER: TimeDelta = TimeDelta::hours(1);

/// `Phoned Home` still arriving this long after `Machine Reclaim` means the machine booted
/// back into its old OS (§9 item 5).
pub const FAILED_RECLAIM_AFTER: TimeDelta = TimeDelta::minutes(5);

/// Whether a machine still reports (`liveliness` of the machine response; the response
/// shows `""` for a machine without container).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Liveliness {
    Alive,
    Dead,
    Unknown,
}

impl Liveliness {
    /// The wire string.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Alive => "Alive",
            Self::Dead => "Dead",
            Self::Unknown => "Unknown",
        }
    }

    /// Parses `Alive`, `Dead` or `Unknown`; anything else is a 400 naming the value.
    pub fn parse(s: &str) -> DomainResult<Self> {
        match s {
            "Alive" => Ok(Self::Alive),
            "Dead" => Ok(Self::Dead),
            "Unknown" => Ok(Self::Unknown),
            other => Err(DomainError::invalid(format!(
                "liveliness {other:?} is unknown, must be one of Alive, Dead, Unknown"
            ))),
        }
    }
}

impl std::fmt::Display for Liveliness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The liveliness of a machine at `now` (§6.4): more than [`DEAD_AFTER`] without any event
/// makes it `Unknown` when allocated (its OS may simply not run the LLDP daemon that phones
/// home) and `Dead` when free; otherwise `Alive`. A container that never received an event
/// keeps the liveliness it has.
pub fn liveliness(container: &EventContainer, allocated: bool, now: DateTime<Utc>) -> Liveliness {
    match container.last_event_time {
        None => container.liveliness,
        Some(last) if now - last > DEAD_AFTER => {
            if allocated {
                Liveliness::Unknown
            } else {
                Liveliness::Dead
            }
        }
        Some(_) => Liveliness::Alive,
    }
}

/// Whether the resurrection job frees the machine at `now` (§6.5): only free, unlocked
/// machines that received at least one event, and then when they have been silent (dead)
/// for more than [`RESURRECT_AFTER`] or their reclaim failed.
///
/// Deadness is computed from `last_event_time`, not read from the stored liveliness, so the
/// answer does not depend on whether the liveliness job ran. A locked machine is never
/// resurrected (the reference tries and fails on the lock); a caller that wants to report
/// locked machines asks again with `locked = false`.
pub fn should_resurrect(
    container: &EventContainer,
    allocated: bool,
    locked: bool,
    now: DateTime<Utc>,
) -> bool {
    if allocated || locked {
        return false;
    }
    let Some(last) = container.last_event_time else {
        return false;
    };
    now - last > RESURRECT_AFTER || container.failed_machine_reclaim
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0).unwrap()
    }

    fn container(last: Option<DateTime<Utc>>, stored: Liveliness, failed: bool) -> EventContainer {
        EventContainer {
            liveliness: stored,
            last_event_time: last,
            failed_machine_reclaim: failed,
            ..EventContainer::new("m1")
        }
    }

    #[test]
    fn liveliness_boundaries() {
        let s = TimeDelta::seconds;
        let m = TimeDelta::minutes;
        // (silence, allocated, stored, expected)
        let cases = [
            (s(0), false, Liveliness::Dead, Liveliness::Alive),
            (m(5) - s(1), false, Liveliness::Dead, Liveliness::Alive),
            (m(5), false, Liveliness::Dead, Liveliness::Alive),
            (m(5), true, Liveliness::Unknown, Liveliness::Alive),
            (
                m(5) + TimeDelta::nanoseconds(1),
                false,
                Liveliness::Alive,
                Liveliness::Dead,
            ),
            (m(5) + s(1), false, Liveliness::Alive, Liveliness::Dead),
            (m(5) + s(1), true, Liveliness::Alive, Liveliness::Unknown),
            (m(600), true, Liveliness::Dead, Liveliness::Unknown),
            (m(600), false, Liveliness::Unknown, Liveliness::Dead),
        ];
        for (silence, allocated, stored, want) in cases {
            let c = container(Some(t0()), stored, false);
            assert_eq!(
                liveliness(&c, allocated, t0() + silence),
                want,
                "silence {silence}, allocated {allocated}"
            );
        }
    }

    #[test]
    fn liveliness_without_events_keeps_the_stored_value() {
        for stored in [Liveliness::Alive, Liveliness::Dead, Liveliness::Unknown] {
            for allocated in [false, true] {
                let c = container(None, stored, false);
                assert_eq!(liveliness(&c, allocated, t0() + TimeDelta::days(9)), stored);
            }
        }
    }

    #[test]
    fn resurrection_boundaries() {
        let h = TimeDelta::hours;
        let ns = TimeDelta::nanoseconds;
        // (last event, failed reclaim, allocated, locked, silence, expected)
        let cases = [
            (Some(t0()), false, false, false, h(1), false),
            (Some(t0()), false, false, false, h(1) + ns(1), true),
            (Some(t0()), false, false, false, h(30), true),
            (Some(t0()), false, true, false, h(30), false),
            (Some(t0()), false, false, true, h(30), false),
            (Some(t0()), true, false, false, TimeDelta::zero(), true),
            (Some(t0()), true, true, false, h(30), false),
            (Some(t0()), true, false, true, TimeDelta::zero(), false),
            (None, true, false, false, h(30), false),
            (None, false, false, false, h(30), false),
        ];
        for (last, failed, allocated, locked, silence, want) in cases {
            let c = container(last, Liveliness::Dead, failed);
            assert_eq!(
                should_resurrect(&c, allocated, locked, t0() + silence),
                want,
                "last {last:?}, failed {failed}, allocated {allocated}, locked {locked}, silence {silence}"
            );
        }
    }

    #[test]
    fn resurrection_reads_the_time_not_the_stored_liveliness() {
        // Stored Alive (the liveliness job has not run), silent for two hours: resurrected.
        let c = container(Some(t0()), Liveliness::Alive, false);
        assert!(should_resurrect(
            &c,
            false,
            false,
            t0() + TimeDelta::hours(2)
        ));
        // Stored Dead but an event 10 minutes ago: not (yet) resurrected.
        let c = container(Some(t0()), Liveliness::Dead, false);
        assert!(!should_resurrect(
            &c,
            false,
            false,
            t0() + TimeDelta::minutes(10)
        ));
    }

    #[test]
    fn liveliness_wire_strings() {
        for (l, s) in [
            (Liveliness::Alive, "Alive"),
            (Liveliness::Dead, "Dead"),
            (Liveliness::Unknown, "Unknown"),
        ] {
            assert_eq!(l.as_str(), s);
            assert_eq!(Liveliness::parse(s).unwrap(), l);
            assert_eq!(serde_json::to_value(l).unwrap(), serde_json::json!(s));
            assert_eq!(
                serde_json::from_value::<Liveliness>(serde_json::json!(s)).unwrap(),
                l
            );
        }
        let err = Liveliness::parse("alive").unwrap_err();
        assert!(matches!(err, DomainError::InvalidArgument(ref m) if m.contains("\"alive\"")));
        assert!(Liveliness::parse("").is_err());
    }
}
