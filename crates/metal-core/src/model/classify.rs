//! Which role each port of the switch document plays (agents.md §4.4, network.md §2.1).
//!
//! - in `SPINE_UPLINKS`: underlay, taken from the settings; the document's entry is skipped
//!   entirely (not even its admin state);
//! - in `ADDITIONAL_BRIDGE_PORTS`: blade port, taken from the settings; only its admin state
//!   counts;
//! - `vrf == ""`: unprovisioned, an access port of the PXE VLAN;
//! - `vrf == "default"`: a firewall, BGP unnumbered in the default VRF with its filter;
//! - `vrf == "vrf<N>"`: a machine port in tenant VRF N (L3VNI N), BGP unnumbered in the VRF.
//!
//! A port an operator set down is remembered in `down`: its `admin_status` says so, or, from a
//! metal-api without that field, its `actual` state (which shows the desired one while it is
//! pending).

use std::collections::{BTreeMap, BTreeSet};

use metal_domain::switch::{PortStatus, SwitchNic};

use super::ConfigError;
use crate::settings::Settings;

/// The role of one port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortClass {
    Underlay,
    Blade,
    Unprovisioned,
    Firewall,
    Vrf(u32),
}

/// The VNI of a VRF named `vrf<N>` (1 to 2^24-1).
pub fn vni_of(vrf: &str) -> Option<u32> {
    let digits = vrf.strip_prefix("vrf")?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok().filter(|n| (1..1 << 24).contains(n))
}

/// The role of `nic` on a switch with these settings.
pub fn class_of(nic: &SwitchNic, settings: &Settings) -> Result<PortClass, ConfigError> {
    let name = nic.name.as_str();
    if settings.spine_uplinks.iter().any(|p| p == name) {
        return Ok(PortClass::Underlay);
    }
    if settings.additional_bridge_ports.iter().any(|p| p == name) {
        return Ok(PortClass::Blade);
    }
    match nic.vrf.as_str() {
        "" => Ok(PortClass::Unprovisioned),
        "default" => Ok(PortClass::Firewall),
        vrf => vni_of(vrf)
            .map(PortClass::Vrf)
            .ok_or_else(|| ConfigError::Vrf {
                port: name.to_string(),
                vrf: vrf.to_string(),
            }),
    }
}

/// A firewall port's filter as the document gives it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FirewallPort {
    pub cidrs: Vec<String>,
    pub vnis: Vec<String>,
}

/// The ports of a tenant VRF and its CIDRs (those of its last port with a filter).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VrfPorts {
    pub ports: Vec<String>,
    pub cidrs: Vec<String>,
}

/// The ports of the switch by role.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Classified {
    pub underlay: Vec<String>,
    pub blade: Vec<String>,
    pub unprovisioned: Vec<String>,
    pub firewalls: BTreeMap<String, FirewallPort>,
    pub vrfs: BTreeMap<u32, VrfPorts>,
    pub down: BTreeSet<String>,
}

/// Whether an operator set the port down: its `admin_status` (`down`), or, from a metal-api
/// that does not send one, its `actual` state, which shows the pending desired state.
pub fn admin_down(nic: &SwitchNic) -> bool {
    match &nic.admin_status {
        Some(a) => a.eq_ignore_ascii_case("down"),
        None => nic.actual == PortStatus::Down,
    }
}

/// Sorts the ports by name (as metal-api lists them: `swp10` before `swp2`), keeps the first of
/// a name given twice, and gives each its role.
pub fn classify(nics: &[SwitchNic], settings: &Settings) -> Result<Classified, ConfigError> {
    let mut sorted: Vec<&SwitchNic> = nics.iter().collect();
    sorted.sort_by(|a, b| a.name.cmp(&b.name));
    sorted.dedup_by(|b, a| a.name == b.name);
    let mut c = Classified {
        underlay: settings.spine_uplinks.clone(),
        blade: settings.additional_bridge_ports.clone(),
        ..Default::default()
    };
    for nic in sorted {
        let class = class_of(nic, settings)?;
        if class == PortClass::Underlay {
            continue;
        }
        if admin_down(nic) {
            c.down.insert(nic.name.clone());
        }
        let filter = nic.filter.clone().unwrap_or_default();
        match class {
            PortClass::Underlay | PortClass::Blade => {}
            PortClass::Unprovisioned => c.unprovisioned.push(nic.name.clone()),
            PortClass::Firewall => {
                c.firewalls.insert(
                    nic.name.clone(),
                    FirewallPort {
                        cidrs: filter.cidrs,
                        vnis: filter.vnis,
                    },
                );
            }
            PortClass::Vrf(vni) => {
                let vrf = c.vrfs.entry(vni).or_default();
                vrf.ports.push(nic.name.clone());
                if nic.filter.is_some() {
                    vrf.cidrs = filter.cidrs;
                }
            }
        }
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use metal_domain::switch::BgpFilter;

    use super::*;

    fn nic(name: &str, vrf: &str, actual: PortStatus) -> SwitchNic {
        SwitchNic {
            name: name.into(),
            vrf: vrf.into(),
            actual,
            ..Default::default()
        }
    }

    fn settings() -> Settings {
        let mut s = Settings::new("10.255.255.2/24".parse().unwrap());
        s.additional_bridge_ports = vec!["swp7".into(), "swp8".into()];
        s
    }

    #[test]
    fn classes() {
        let s = settings();
        for (name, vrf, want) in [
            ("swp31", "vrf104001", Ok(PortClass::Underlay)),
            ("swp32", "", Ok(PortClass::Underlay)),
            ("swp7", "vrf104001", Ok(PortClass::Blade)),
            ("swp1", "", Ok(PortClass::Unprovisioned)),
            ("swp2", "default", Ok(PortClass::Firewall)),
            ("swp3", "vrf104001", Ok(PortClass::Vrf(104001))),
            ("swp3", "vrf30", Ok(PortClass::Vrf(30))),
            ("swp4", "Vrf104001", Err(())),
            ("swp4", "vrf", Err(())),
            ("swp4", "vrf0", Err(())),
            ("swp4", "vrf+1", Err(())),
            ("swp4", "vrf16777216", Err(())),
            ("swp4", "internet", Err(())),
        ] {
            let got = class_of(&nic(name, vrf, PortStatus::Up), &s).map_err(|_| ());
            assert_eq!(got, want, "{name} {vrf:?}");
        }
        let err = class_of(&nic("swp4", "internet", PortStatus::Up), &s).unwrap_err();
        assert_eq!(
            err.to_string(),
            "port swp4: VRF \"internet\" is neither \"\", \"default\" nor vrf<VNI>"
        );
    }

    #[test]
    fn ports_by_role_sorted_by_name_with_admin_state() {
        let s = settings();
        let filter = |cidrs: &[&str]| {
            Some(BgpFilter {
                cidrs: cidrs.iter().map(|c| c.to_string()).collect(),
                vnis: vec![],
            })
        };
        let mut nics = vec![
            nic("swp2", "", PortStatus::Up),
            nic("swp10", "", PortStatus::Unknown),
            nic("swp31", "", PortStatus::Down),
            nic("swp8", "", PortStatus::Down),
            nic("swp3", "default", PortStatus::Down),
            nic("swp5", "vrf104001", PortStatus::Up),
            nic("swp4", "vrf104001", PortStatus::Up),
            nic("swp2", "vrf9", PortStatus::Up),
        ];
        nics[5].filter = filter(&["10.0.0.0/24"]);
        nics[6].filter = filter(&["10.9.0.0/24"]);
        let c = classify(&nics, &s).unwrap();
        assert_eq!(c.underlay, ["swp31", "swp32"]);
        assert_eq!(c.blade, ["swp7", "swp8"]);
        assert_eq!(c.unprovisioned, ["swp10", "swp2"]);
        assert_eq!(c.firewalls.keys().collect::<Vec<_>>(), ["swp3"]);
        assert_eq!(c.vrfs.len(), 1);
        // the last port of the VRF with a filter decides its CIDRs (swp5 after swp4)
        assert_eq!(
            c.vrfs[&104001],
            VrfPorts {
                ports: vec!["swp4".into(), "swp5".into()],
                cidrs: vec!["10.0.0.0/24".into()],
            }
        );
        // uplinks never count as down; blade ports do
        assert_eq!(c.down.iter().collect::<Vec<_>>(), ["swp3", "swp8"]);
        // with an admin status, a link that is down is not an admin-down port, and the
        // admin status decides
        nics[3].admin_status = Some("up".into());
        nics[4].admin_status = Some("UP".into());
        nics[0].admin_status = Some("down".into());
        let c = classify(&nics, &s).unwrap();
        assert_eq!(c.down.iter().collect::<Vec<_>>(), ["swp2"]);
    }
}
