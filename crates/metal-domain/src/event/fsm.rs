//! The provisioning state machine (§6.2, since metal-api v0.19): the state is derived from
//! the newest stored event, the incoming event either is a transition of the table (and has
//! that row's effect) or is unexpected (and is still recorded, marked and flagged).
//!
//! Unexpected events are never refused: a machine that skips a step is still reported, and
//! the operator sees `[unexpectedly received in state ...]` in its log, `last_error_event`
//! and, for a restarted provisioning, the crash-loop flag.

use chrono::{DateTime, Utc};

use super::{EventContainer, EventType, Liveliness, ProvisioningEvent, FAILED_RECLAIM_AFTER};
use crate::error::DomainResult;

/// Where a machine is in its provisioning cycle, derived from its newest stored event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProvisioningState {
    /// No event stored yet.
    Initial,
    PXEBooting,
    Preparing,
    Registering,
    Waiting,
    Installing,
    BootingNewKernel,
    PhonedHome,
    PlannedReboot,
    MachineReclaim,
    Crashing,
    /// Only reachable from a stored `Alive` event, which this module never stores; kept so
    /// that such a log (written by an older version) still derives a state.
    Alive,
}

impl ProvisioningState {
    /// The state an event leads to; the state of a log is that of its newest event.
    pub fn after(event: EventType) -> Self {
        match event {
            EventType::PxeBooting => Self::PXEBooting,
            EventType::Preparing => Self::Preparing,
            EventType::Registering => Self::Registering,
            EventType::Waiting => Self::Waiting,
            EventType::Installing => Self::Installing,
            EventType::BootingNewKernel => Self::BootingNewKernel,
            EventType::PhonedHome => Self::PhonedHome,
            EventType::PlannedReboot => Self::PlannedReboot,
            EventType::MachineReclaim => Self::MachineReclaim,
            EventType::Crashed => Self::Crashing,
            EventType::Alive => Self::Alive,
        }
    }

    /// The reference's name of the state, as it appears (lowercased) in the message of an
    /// unexpected event.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Initial => "State Initial",
            Self::PXEBooting => "State PXE Booting",
            Self::Preparing => "State Preparing",
            Self::Registering => "State Registering",
            Self::Waiting => "State Waiting",
            Self::Installing => "State Installing",
            Self::BootingNewKernel => "State Booting New Kernel",
            Self::PhonedHome => "State Phoned Home",
            Self::PlannedReboot => "State Planned Reboot",
            Self::MachineReclaim => "State Machine Reclaim",
            Self::Crashing => "State Crashing",
            Self::Alive => "State Alive",
        }
    }

    /// True while metal-hammer (or the PXE stage before it) runs: the states in which
    /// `Alive` heartbeats and `Crashed` are expected.
    fn in_ramdisk(self) -> bool {
        matches!(
            self,
            Self::Initial
                | Self::PXEBooting
                | Self::Preparing
                | Self::Registering
                | Self::Waiting
                | Self::Installing
                | Self::BootingNewKernel
        )
    }
}

/// What [`EventContainer::apply`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Applied {
    /// The state before the event.
    pub from: ProvisioningState,
    /// The event was a transition of the table; false means it was recorded as unexpected.
    pub expected: bool,
    /// The event was added to the log.
    pub appended: bool,
    /// The container differs from before and must be stored.
    pub changed: bool,
}

/// The effect of a valid transition on the container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Effect {
    /// Append the event.
    Append,
    /// Append and clear `failed_machine_reclaim` (a new provisioning cycle starts).
    AppendResetReclaim,
    /// Append and clear `crash_loop` (the cycle ended in a planned way).
    AppendResetCrashLoop,
    /// Append, set `crash_loop` and remember the event as the last error.
    Crash,
    /// Do not store; only refresh the time and liveliness.
    Heartbeat,
    /// A repeated PXE boot: clear `failed_machine_reclaim`, refresh the time and liveliness.
    RepeatedPxe,
    /// The old OS phones home after a reclaim: swallow, and flag the reclaim as failed once
    /// this goes on for longer than [`FAILED_RECLAIM_AFTER`].
    PhonedHomeAfterReclaim,
}

/// The transition table of §6.2; `None` = invalid transition.
fn transition(from: ProvisioningState, event: EventType) -> Option<Effect> {
    use Effect as F;
    use ProvisioningState as S;
    let restart = matches!(
        from,
        S::PlannedReboot | S::MachineReclaim | S::Crashing | S::Initial
    );
    let effect = match event {
        EventType::PxeBooting if from == S::PXEBooting => F::RepeatedPxe,
        EventType::PxeBooting if restart => F::AppendResetReclaim,
        EventType::Preparing if restart || from == S::PXEBooting => F::AppendResetReclaim,
        EventType::Registering if matches!(from, S::Preparing | S::Initial) => F::Append,
        EventType::Waiting if matches!(from, S::Registering | S::Initial) => F::Append,
        // Registering → Installing: the hammer skips waiting for an allocation by uuid and
        // for a reinstall.
        EventType::Installing if matches!(from, S::Registering | S::Waiting | S::Initial) => {
            F::Append
        }
        EventType::BootingNewKernel if matches!(from, S::Installing | S::Initial) => F::Append,
        EventType::PhonedHome => match from {
            S::BootingNewKernel | S::Initial | S::PlannedReboot => F::AppendResetCrashLoop,
            S::PhonedHome => F::Heartbeat,
            S::MachineReclaim => F::PhonedHomeAfterReclaim,
            _ => return None,
        },
        EventType::PlannedReboot | EventType::MachineReclaim => F::AppendResetCrashLoop,
        EventType::Alive if from.in_ramdisk() => F::Heartbeat,
        EventType::Crashed if from.in_ramdisk() => F::Crash,
        _ => return None,
    };
    Some(effect)
}

impl EventContainer {
    /// The state derived from the newest stored event.
    pub fn state(&self) -> ProvisioningState {
        self.newest().map_or(ProvisioningState::Initial, |e| {
            ProvisioningState::after(e.event)
        })
    }

    /// Records an event received at `now` (server time; the client's timestamp is never
    /// used), following §6.2:
    ///
    /// - a transition of the table has the effect of its row;
    /// - any other event is recorded as unexpected: its message is prefixed with
    ///   `[unexpectedly received in <state lowercase>]` (followed by `: <message>` when there
    ///   is one), it becomes the `last_error_event`, the time and liveliness are refreshed;
    ///   `PXE Booting` and `Preparing` also set `crash_loop` (provisioning restarted midway),
    ///   and every type except `Alive` is appended;
    /// - `Alive` is never stored; the log keeps the newest [`super::MAX_EVENTS`] events.
    ///
    /// The result is validated (§2.2 invariant) before it is kept. If `now` lies before the
    /// newest stored event (a clock behind the one that wrote it), the event is refused with
    /// a 422 and the container is left as it was.
    pub fn apply(
        &mut self,
        event: EventType,
        message: &str,
        now: DateTime<Utc>,
    ) -> DomainResult<Applied> {
        let before = self.clone();
        let from = self.state();
        let mut received = ProvisioningEvent {
            time: now,
            event,
            message: message.to_owned(),
        };
        let effect = transition(from, event);
        let appended = match effect {
            Some(effect) => self.enter(effect, received, now),
            None => {
                let state = from.as_str().to_lowercase();
                received.message = if message.is_empty() {
                    format!("[unexpectedly received in {state}]")
                } else {
                    format!("[unexpectedly received in {state}]: {message}")
                };
                self.refresh(now);
                self.last_error_event = Some(received.clone());
                match event {
                    EventType::Alive => false,
                    EventType::PxeBooting | EventType::Preparing => {
                        self.crash_loop = true;
                        self.push(received)
                    }
                    _ => self.push(received),
                }
            }
        };
        let changed = *self != before;
        if changed {
            if let Err(err) = self.validate() {
                *self = before;
                return Err(err);
            }
            self.trim();
        }
        Ok(Applied {
            from,
            expected: effect.is_some(),
            appended,
            changed,
        })
    }

    /// Applies the effect of a valid transition; returns whether the event was appended.
    fn enter(&mut self, effect: Effect, received: ProvisioningEvent, now: DateTime<Utc>) -> bool {
        match effect {
            Effect::Append => self.push(received),
            Effect::AppendResetReclaim => {
                self.failed_machine_reclaim = false;
                self.push(received)
            }
            Effect::AppendResetCrashLoop => {
                self.crash_loop = false;
                self.push(received)
            }
            Effect::Crash => {
                self.crash_loop = true;
                self.last_error_event = Some(received.clone());
                self.push(received)
            }
            Effect::Heartbeat => {
                self.refresh(now);
                false
            }
            Effect::RepeatedPxe => {
                self.failed_machine_reclaim = false;
                self.refresh(now);
                false
            }
            Effect::PhonedHomeAfterReclaim => {
                if self
                    .last_event_time
                    .is_some_and(|last| now - last > FAILED_RECLAIM_AFTER)
                {
                    self.refresh(now);
                    self.failed_machine_reclaim = true;
                }
                false
            }
        }
    }

    /// Puts the event at the front (newest first), refreshing the time and liveliness.
    fn push(&mut self, event: ProvisioningEvent) -> bool {
        self.refresh(event.time);
        self.events.insert(0, event);
        true
    }

    fn refresh(&mut self, now: DateTime<Utc>) {
        self.last_event_time = Some(now);
        self.liveliness = Liveliness::Alive;
    }
}

#[cfg(test)]
mod tests;
