//! What changes a known switch besides registration: an operator's update (description,
//! console command, mode), metal-core's notify after each sync (sync status, port and BGP
//! states), and an operator's port toggle (the desired state metal-core then applies and
//! reports back).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{BgpPortState, PortStatus, Switch, SwitchMode, SwitchOs, SwitchPort, SwitchSync};
use crate::error::{DomainError, DomainResult};

/// `POST /v1/switch` (`v1.SwitchUpdateRequest`). Only `description`, `console_command` and
/// `mode` are taken (absent ones are kept); name, rack, OS and management address are what
/// metal-core registers, and its next registration would overwrite them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct SwitchUpdateRequest {
    pub id: String,
    pub name: Option<String>,
    pub description: Option<String>,
    pub rack_id: Option<String>,
    /// `replace` or `operational` (anything else)
    pub mode: Option<String>,
    pub os: Option<SwitchOs>,
    pub management_ip: Option<String>,
    pub management_user: Option<String>,
    pub console_command: Option<String>,
}

impl SwitchUpdateRequest {
    pub fn apply(&self, s: &mut Switch) -> DomainResult<()> {
        if self.id.is_empty() {
            return Err(DomainError::invalid("id should not be empty"));
        }
        if let Some(d) = &self.description {
            s.description = d.clone();
        }
        if let Some(c) = &self.console_command {
            s.console_command = c.clone();
        }
        if let Some(m) = &self.mode {
            s.mode = SwitchMode::parse(m);
        }
        Ok(())
    }
}

/// `POST /v1/switch/{id}/notify`: metal-core's report after each sync.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct SwitchNotifyRequest {
    /// nanoseconds
    pub sync_duration: i64,
    /// set when the sync failed
    pub error: Option<String>,
    /// port name → `UP`, `DOWN` or `UNKNOWN`; absent from old metal-cores
    pub port_states: Option<BTreeMap<String, String>>,
    /// port name → BGP session; a port left out has none
    pub bgp_port_states: Option<BTreeMap<String, BgpPortState>>,
}

/// `v1.SwitchNotifyResponse`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct SwitchNotifyResponse {
    pub id: String,
    pub name: String,
    pub description: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_sync: Option<SwitchSync>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_sync_error: Option<SwitchSync>,
}

impl SwitchNotifyResponse {
    pub fn new(s: &Switch) -> Self {
        Self {
            id: s.id.clone(),
            name: s.name.clone(),
            description: s.description.clone(),
            last_sync: s.last_sync.clone(),
            last_sync_error: s.last_sync_error.clone(),
        }
    }
}

impl SwitchNotifyRequest {
    /// Records the sync at `now` (as `last_sync_error` when it carries a non-empty error,
    /// else as `last_sync`), and takes the reported port states as actual: a pending desired
    /// state is cleared once reported. Answers the reported port names the switch does not
    /// have (they are only logged).
    pub fn apply(&self, s: &mut Switch, now: DateTime<Utc>) -> DomainResult<Vec<String>> {
        if self.sync_duration < 0 {
            return Err(DomainError::invalid(format!(
                "sync_duration must not be negative, got {}",
                self.sync_duration
            )));
        }
        let error = self.error.as_deref().filter(|e| !e.is_empty());
        let sync = SwitchSync {
            time: now,
            duration: self.sync_duration,
            error: error.map(str::to_string),
        };
        if error.is_some() {
            s.last_sync_error = Some(sync);
        } else {
            s.last_sync = Some(sync);
        }
        let mut unknown = Vec::new();
        if let Some(states) = &self.port_states {
            for (name, state) in states {
                match s.nics.iter_mut().find(|p| &p.name == name) {
                    Some(p) => {
                        p.report(PortStatus::parse(state));
                    }
                    None => unknown.push(name.clone()),
                }
            }
        }
        if let Some(bgp) = &self.bgp_port_states {
            for p in &mut s.nics {
                p.bgp_port_state = bgp.get(&p.name).cloned();
            }
            let more: Vec<String> = bgp
                .keys()
                .filter(|n| !s.nics.iter().any(|p| &p.name == *n) && !unknown.contains(n))
                .cloned()
                .collect();
            unknown.extend(more);
        }
        Ok(unknown)
    }
}

impl SwitchPort {
    /// metal-core reports the port's state: it becomes actual, and a desired state it
    /// matches is done. Whether anything changed.
    pub fn report(&mut self, reported: PortStatus) -> bool {
        let before = (self.actual, self.desired);
        self.actual = reported;
        if self.desired == Some(reported) {
            self.desired = None;
        }
        before != (self.actual, self.desired)
    }

    /// An operator wants the port in `desired`: its admin state from now on, and pending until
    /// reported (nothing pending when it is there already). Whether anything changed.
    pub fn want(&mut self, desired: PortStatus) -> bool {
        let before = (self.desired, self.admin_down);
        self.desired = (self.actual != desired).then_some(desired);
        self.admin_down = desired == PortStatus::Down;
        before != (self.desired, self.admin_down)
    }
}

/// `POST /v1/switch/{id}/port`: `{nic, status: UP|DOWN}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct SwitchPortToggleRequest {
    /// name of the port (case-insensitive)
    pub nic: String,
    /// `UP` or `DOWN`
    pub status: String,
}

impl SwitchPortToggleRequest {
    /// Sets the desired state of a port a machine is connected to. A status other than `UP`
    /// or `DOWN` is 400, an unknown port 404, a port without a machine 422 (toggling uplinks
    /// or empty ports is not what this is for). Whether anything changed.
    pub fn apply(&self, s: &mut Switch) -> DomainResult<bool> {
        let desired = match PortStatus::parse(&self.status) {
            PortStatus::Unknown => {
                return Err(DomainError::invalid(format!(
                    "the status {:?} must be concrete: UP or DOWN",
                    self.status
                )))
            }
            concrete => concrete,
        };
        if self.nic.trim().is_empty() {
            return Err(DomainError::invalid("nic should not be empty"));
        }
        let id = s.id.clone();
        let connected = s
            .connections
            .iter()
            .any(|c| c.nic.name.eq_ignore_ascii_case(&self.nic));
        let Some(port) = s.port_mut(&self.nic) else {
            return Err(DomainError::not_found(format!(
                "the nic {:?} does not exist in switch {id}",
                self.nic
            )));
        };
        if !connected {
            return Err(DomainError::unprocessable(format!(
                "switch {id} does not have a connected machine at port {:?}",
                port.name
            )));
        }
        Ok(port.want(desired))
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Connection, PortRef};
    use super::*;
    use PortStatus::{Down, Unknown, Up};

    fn switch() -> Switch {
        let port = |name: &str| SwitchPort {
            name: name.into(),
            mac: format!("aa:{name}"),
            ..Default::default()
        };
        Switch {
            id: "leaf01".into(),
            nics: vec![port("swp1"), port("swp2")],
            connections: vec![Connection {
                machine_id: "m1".into(),
                nic: PortRef {
                    name: "swp1".into(),
                    mac: "aa:swp1".into(),
                    identifier: String::new(),
                },
            }],
            ..Default::default()
        }
    }

    #[test]
    fn port_state_transitions() {
        // (actual, desired) before, action, (actual, desired) after, changed
        type Case = (
            (PortStatus, Option<PortStatus>),
            Action,
            (PortStatus, Option<PortStatus>),
            bool,
        );
        #[derive(Debug, Clone, Copy)]
        enum Action {
            Report(PortStatus),
            Want(PortStatus),
        }
        use Action::{Report, Want};
        let cases: Vec<Case> = vec![
            ((Unknown, None), Report(Up), (Up, None), true),
            ((Up, None), Report(Up), (Up, None), false),
            ((Up, Some(Down)), Report(Up), (Up, Some(Down)), false),
            ((Up, Some(Down)), Report(Down), (Down, None), true),
            (
                (Up, Some(Down)),
                Report(Unknown),
                (Unknown, Some(Down)),
                true,
            ),
            ((Up, None), Want(Down), (Up, Some(Down)), true),
            ((Up, Some(Down)), Want(Down), (Up, Some(Down)), false),
            ((Up, Some(Down)), Want(Up), (Up, None), true),
            // the link is down already: nothing pending, but the port is admin down now
            ((Down, None), Want(Down), (Down, None), true),
            ((Unknown, None), Want(Up), (Unknown, Some(Up)), true),
        ];
        for (before, action, after, changed) in cases {
            let admin_down = before.1 == Some(Down);
            let mut p = SwitchPort {
                actual: before.0,
                desired: before.1,
                admin_down,
                ..Default::default()
            };
            let c = match action {
                Report(s) => p.report(s),
                Want(s) => p.want(s),
            };
            assert_eq!(
                ((p.actual, p.desired), c),
                (after, changed),
                "{before:?} {action:?}"
            );
            // the admin state is the operator's last wish; a report never changes it
            let want_down = match action {
                Want(s) => s == Down,
                Report(_) => admin_down,
            };
            assert_eq!(p.admin_down, want_down, "{before:?} {action:?}");
        }
    }

    #[test]
    fn notify_records_sync_and_port_states() {
        let mut s = switch();
        s.nics[0].desired = Some(Down);
        let now = Utc::now();
        let mut ports = BTreeMap::new();
        ports.insert("swp1".to_string(), "DOWN".to_string());
        ports.insert("swp2".to_string(), "up".to_string());
        ports.insert("swp9".to_string(), "UP".to_string());
        let mut bgp = BTreeMap::new();
        bgp.insert(
            "swp2".to_string(),
            BgpPortState {
                bgp_state: "Established".into(),
                ..Default::default()
            },
        );
        s.nics[0].bgp_port_state = Some(BgpPortState::default());
        let req = SwitchNotifyRequest {
            sync_duration: 1_500_000_000,
            error: None,
            port_states: Some(ports),
            bgp_port_states: Some(bgp),
        };
        assert_eq!(req.apply(&mut s, now), Ok(vec!["swp9".to_string()]));
        assert_eq!(
            s.last_sync.as_ref().map(|l| (l.time, l.duration)),
            Some((now, 1_500_000_000))
        );
        assert!(s.last_sync_error.is_none());
        assert_eq!((s.nics[0].actual, s.nics[0].desired), (Down, None));
        assert_eq!(s.nics[1].actual, Up);
        assert!(s.nics[0].bgp_port_state.is_none(), "not reported: cleared");
        assert_eq!(
            s.nics[1]
                .bgp_port_state
                .as_ref()
                .map(|b| b.bgp_state.as_str()),
            Some("Established")
        );

        // an error goes to last_sync_error; last_sync stays; old metal-cores send no states
        let failed = SwitchNotifyRequest {
            sync_duration: 5,
            error: Some("frr reload failed".into()),
            ..Default::default()
        };
        let later = now + chrono::Duration::seconds(10);
        assert_eq!(failed.apply(&mut s, later), Ok(vec![]));
        assert_eq!(s.last_sync.as_ref().map(|l| l.time), Some(now));
        assert_eq!(
            s.last_sync_error.as_ref().and_then(|l| l.error.as_deref()),
            Some("frr reload failed")
        );
        assert_eq!(s.nics[1].actual, Up);
        assert!(s.nics[1].bgp_port_state.is_some());
        // an empty error is a success
        let ok = SwitchNotifyRequest {
            error: Some(String::new()),
            ..Default::default()
        };
        ok.apply(&mut s, later).unwrap();
        assert_eq!(s.last_sync.as_ref().map(|l| l.time), Some(later));
        let negative = SwitchNotifyRequest {
            sync_duration: -1,
            ..Default::default()
        };
        assert!(matches!(
            negative.apply(&mut s, later),
            Err(DomainError::InvalidArgument(_))
        ));
    }

    #[test]
    fn toggle_rules() {
        let toggle = |nic: &str, status: &str| {
            let mut s = switch();
            let r = SwitchPortToggleRequest {
                nic: nic.into(),
                status: status.into(),
            }
            .apply(&mut s);
            (r, s.nics[0].desired)
        };
        assert_eq!(toggle("swp1", "DOWN"), (Ok(true), Some(Down)));
        assert_eq!(toggle("SWP1", "down"), (Ok(true), Some(Down)));
        assert_eq!(
            toggle("swp1", "UNKNOWN").0,
            Err(DomainError::invalid(
                "the status \"UNKNOWN\" must be concrete: UP or DOWN"
            ))
        );
        assert_eq!(
            toggle("swp1", "").0,
            Err(DomainError::invalid(
                "the status \"\" must be concrete: UP or DOWN"
            ))
        );
        assert_eq!(
            toggle("", "UP").0,
            Err(DomainError::invalid("nic should not be empty"))
        );
        assert_eq!(
            toggle("swp7", "UP").0,
            Err(DomainError::not_found(
                "the nic \"swp7\" does not exist in switch leaf01"
            ))
        );
        assert_eq!(
            toggle("swp2", "UP").0,
            Err(DomainError::unprocessable(
                "switch leaf01 does not have a connected machine at port \"swp2\""
            ))
        );
    }

    #[test]
    fn update_takes_operator_fields_only() {
        let mut s = switch();
        s.description = "old".into();
        s.console_command = "telnet cs 1".into();
        let req = SwitchUpdateRequest {
            id: "leaf01".into(),
            mode: Some("replace".into()),
            rack_id: Some("r9".into()),
            management_ip: Some("1.2.3.4".into()),
            ..Default::default()
        };
        req.apply(&mut s).unwrap();
        assert_eq!(s.mode, SwitchMode::Replace);
        assert_eq!(
            (s.description.as_str(), s.console_command.as_str()),
            ("old", "telnet cs 1")
        );
        assert_eq!((s.rack_id.as_str(), s.management_ip.as_str()), ("", ""));
        SwitchUpdateRequest {
            id: "leaf01".into(),
            mode: Some("bogus".into()),
            description: Some("new".into()),
            console_command: Some(String::new()),
            ..Default::default()
        }
        .apply(&mut s)
        .unwrap();
        assert_eq!(s.mode, SwitchMode::Operational);
        assert_eq!(
            (s.description.as_str(), s.console_command.as_str()),
            ("new", "")
        );
        assert_eq!(
            SwitchUpdateRequest::default().apply(&mut s),
            Err(DomainError::invalid("id should not be empty"))
        );
    }
}
