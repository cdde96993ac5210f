//! The provisioning event log of machines (§2.2, §6.2, §6.4, §6.5): what metal-hammer,
//! pixie, metal-core and metal-api itself report while a machine boots, registers, waits,
//! installs and runs, and what the control plane concludes from it.
//!
//! This module owns the stored per-machine log ([`EventContainer`]), its wire views
//! ([`ProvisioningEvent`], [`MachineRecentProvisioningEvents`]) and the closed value sets
//! ([`EventType`], [`Liveliness`]). The rules live in submodules:
//!
//! - `fsm`: the provisioning state machine that decides, per incoming event, what is
//!   appended, swallowed or flagged ([`EventContainer::apply`]);
//! - `health`: liveliness ([`liveliness`]) and resurrection ([`should_resurrect`]).
//!
//! Everything is pure: the current time is a parameter, so the same inputs always give the
//! same container.
//!
//! The log is kept **newest first**, as the reference stores it and as the `log` of the
//! machine response lists it: `events[0]` is the newest event and decides the current state,
//! trimming keeps a prefix.

mod fsm;
mod health;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{DomainError, DomainResult};

pub use fsm::{Applied, ProvisioningState};
pub use health::{
    liveliness, should_resurrect, Liveliness, DEAD_AFTER, FAILED_RECLAIM_AFTER, RESURRECT_AFTER,
};

/// How many events a container keeps; older ones are dropped when a new one is appended.
pub const MAX_EVENTS: usize = 100;

/// How many of the newest events the machine response shows.
pub const RECENT_EVENTS: usize = 20;

/// What a machine reported; the serde names are the wire strings (agents §2.15).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum EventType {
    #[serde(rename = "PXE Booting")]
    PxeBooting,
    #[serde(rename = "Preparing")]
    Preparing,
    #[serde(rename = "Registering")]
    Registering,
    #[serde(rename = "Waiting")]
    Waiting,
    #[serde(rename = "Installing")]
    Installing,
    #[serde(rename = "Booting New Kernel")]
    BootingNewKernel,
    #[serde(rename = "Phoned Home")]
    PhonedHome,
    #[serde(rename = "Planned Reboot")]
    PlannedReboot,
    #[serde(rename = "Machine Reclaim")]
    MachineReclaim,
    #[serde(rename = "Crashed")]
    Crashed,
    #[serde(rename = "Alive")]
    Alive,
}

impl EventType {
    /// Every event type, in the order of a provisioning cycle followed by the out-of-band ones.
    pub const ALL: [EventType; 11] = [
        Self::PxeBooting,
        Self::Preparing,
        Self::Registering,
        Self::Waiting,
        Self::Installing,
        Self::BootingNewKernel,
        Self::PhonedHome,
        Self::PlannedReboot,
        Self::MachineReclaim,
        Self::Crashed,
        Self::Alive,
    ];

    /// The wire string.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PxeBooting => "PXE Booting",
            Self::Preparing => "Preparing",
            Self::Registering => "Registering",
            Self::Waiting => "Waiting",
            Self::Installing => "Installing",
            Self::BootingNewKernel => "Booting New Kernel",
            Self::PhonedHome => "Phoned Home",
            Self::PlannedReboot => "Planned Reboot",
            Self::MachineReclaim => "Machine Reclaim",
            Self::Crashed => "Crashed",
            Self::Alive => "Alive",
        }
    }

    /// Parses a wire string exactly (case-sensitive, as the reference compares); anything else
    /// is a 400 naming the value.
    pub fn parse(s: &str) -> DomainResult<Self> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| {
                DomainError::invalid(format!("provisioning event type {s:?} is unknown"))
            })
    }
}

impl std::fmt::Display for EventType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One entry of the log (`v1.MachineProvisioningEvent`). `time` is the server time of
/// receipt; a time sent by the client is never used.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProvisioningEvent {
    pub time: DateTime<Utc>,
    pub event: EventType,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
}

/// The stored log of one machine (`event` table, id = machine id, §2.2).
///
/// Invariant (checked by [`EventContainer::validate`] before every store): `events` is newest
/// first with non-increasing times, and `last_event_time` is at least the time of the newest
/// event (it can be later: swallowed events move it without being appended).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EventContainer {
    /// The machine id.
    pub id: String,
    /// As last computed: every received event sets `Alive`, the liveliness job the rest.
    pub liveliness: Liveliness,
    /// Newest first, at most [`MAX_EVENTS`].
    #[serde(default)]
    pub events: Vec<ProvisioningEvent>,
    /// When an event last arrived, stored or swallowed; `None` until the first one.
    #[serde(default)]
    pub last_event_time: Option<DateTime<Utc>>,
    /// The newest crash or unexpected event; never cleared (its age decides whether it is an
    /// issue, §5 `last-event-error`).
    #[serde(default)]
    pub last_error_event: Option<ProvisioningEvent>,
    /// The machine crashed or restarted provisioning unexpectedly and has not since reached
    /// the installed OS, rebooted as planned or been reclaimed.
    #[serde(default)]
    pub crash_loop: bool,
    /// The machine kept phoning home from its old OS for more than
    /// [`FAILED_RECLAIM_AFTER`] after it was freed.
    #[serde(default)]
    pub failed_machine_reclaim: bool,
}

impl EventContainer {
    /// The container of a machine that has not reported anything yet. It starts `Alive`,
    /// as the reference creates it on registration or on the first event.
    pub fn new(machine_id: impl Into<String>) -> Self {
        Self {
            id: machine_id.into(),
            liveliness: Liveliness::Alive,
            events: Vec::new(),
            last_event_time: None,
            last_error_event: None,
            crash_loop: false,
            failed_machine_reclaim: false,
        }
    }

    /// The newest stored event.
    pub fn newest(&self) -> Option<&ProvisioningEvent> {
        self.events.first()
    }

    /// Checks the invariant: times non-increasing from newest to oldest, and
    /// `last_event_time` set and not before the newest event. A container that breaks it
    /// must not be stored (422).
    pub fn validate(&self) -> DomainResult<()> {
        let Some(newest) = self.events.first() else {
            return Ok(());
        };
        if self.last_event_time.is_none_or(|t| newest.time > t) {
            return Err(DomainError::unprocessable(format!(
                "last event time not up to date in provisioning event container for machine {}",
                self.id
            )));
        }
        if self.events.windows(2).any(|w| w[1].time > w[0].time) {
            return Err(DomainError::unprocessable(format!(
                "provisioning event container for machine {} is not chronologically sorted",
                self.id
            )));
        }
        Ok(())
    }

    /// Drops all but the newest [`MAX_EVENTS`] events.
    pub fn trim(&mut self) {
        self.events.truncate(MAX_EVENTS);
    }
}

/// The event part of a machine response (`v1.MachineRecentProvisioningEvents`). A machine
/// without a container gets [`Default`]: an empty log, no times, no flags.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MachineRecentProvisioningEvents {
    /// Newest first.
    #[serde(default)]
    pub log: Vec<ProvisioningEvent>,
    #[serde(default)]
    pub last_event_time: Option<DateTime<Utc>>,
    #[serde(default)]
    pub last_error_event: Option<ProvisioningEvent>,
    #[serde(default)]
    pub crash_loop: bool,
    #[serde(default)]
    pub failed_machine_reclaim: bool,
}

/// The response view of a container with its newest `n` events ([`RECENT_EVENTS`] in the
/// machine response).
pub fn recent(container: &EventContainer, n: usize) -> MachineRecentProvisioningEvents {
    MachineRecentProvisioningEvents {
        log: container.events.iter().take(n).cloned().collect(),
        last_event_time: container.last_event_time,
        last_error_event: container.last_error_event.clone(),
        crash_loop: container.crash_loop,
        failed_machine_reclaim: container.failed_machine_reclaim,
    }
}

#[cfg(test)]
mod tests;
