//! The switch configuration as data: a pure, deterministic function of the switch document
//! (`GET /v1/switch/{id}`), metal-core's settings and the VLAN ids the kernel already maps.
//! The renderers (`crate::render`) turn it into files; nothing here does I/O.
//!
//! - [`classify`]: the role of each port;
//! - [`vlan`]: the switch-local VLAN id of each tenant VRF;
//! - [`filter`]: BGP filters (prefix lists, route maps) of firewall ports and VRFs.

pub mod classify;
pub mod filter;
pub mod vlan;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use metal_domain::switch::SwitchResponse;

use crate::settings::Settings;
use filter::Filter;
use vlan::KernelVlans;

/// The network operating system the configuration is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub enum Flavor {
    /// Cumulus-style Linux: ifupdown2 and FRR
    Cumulus,
    /// SONiC: CONFIG_DB and FRR
    Sonic,
}

impl Flavor {
    /// The VRF of VNI `n`: `vrf<n>`; SONiC wants VRF names to start with `Vrf`.
    pub fn vrf_name(self, vni: u32) -> String {
        match self {
            Self::Cumulus => format!("vrf{vni}"),
            Self::Sonic => format!("Vrf{vni}"),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Cumulus => "cumulus",
            Self::Sonic => "sonic",
        }
    }
}

impl fmt::Display for Flavor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a switch document cannot be turned into a configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("port {port}: VRF {vrf:?} is neither \"\", \"default\" nor vrf<VNI>")]
    Vrf { port: String, vrf: String },
    #[error("port {port}: filter CIDR {cidr:?} is not a prefix")]
    Cidr { port: String, cidr: String },
    #[error("port {port}: filter VNI {vni:?} is not a VXLAN id (1-16777215)")]
    Vni { port: String, vni: String },
    #[error("no free VLAN id in 1001-2000 for VNI {vni}")]
    NoFreeVlan { vni: u32 },
    #[error("PXE VLAN id {0} is within 1001-2000, the VLAN ids of tenant VRFs")]
    PxeVlanInVrfRange(u16),
}

/// A firewall port: BGP unnumbered in the default VRF (peer group FIREWALL) with its filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Firewall {
    pub port: String,
    pub filter: Filter,
}

/// A tenant VRF with its L3VNI, switch-local VLAN, machine ports and filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vrf {
    /// `vrf<vni>` (SONiC: `Vrf<vni>`)
    pub name: String,
    pub vni: u32,
    pub vlan: u16,
    pub ports: Vec<String>,
    pub filter: Filter,
}

/// Everything the renderers need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SwitchConfig {
    pub flavor: Flavor,
    /// the switch's hostname
    pub name: String,
    pub settings: Settings,
    /// spine uplinks, in the order of the settings
    pub underlay: Vec<String>,
    /// ports in the PXE VLAN, by name
    pub unprovisioned: Vec<String>,
    /// additional bridge ports, in the order of the settings
    pub blade: Vec<String>,
    /// by port name
    pub firewalls: BTreeMap<String, Firewall>,
    /// by VRF name (`vrf104001` before `vrf30`, as metal-core's templates order them)
    pub vrfs: BTreeMap<String, Vrf>,
    /// ports an operator set admin down
    pub down: BTreeSet<String>,
}

impl SwitchConfig {
    /// The configuration of `doc` on a switch with `settings` whose kernel has `kernel`.
    pub fn build(
        doc: &SwitchResponse,
        settings: &Settings,
        kernel: &KernelVlans,
        flavor: Flavor,
    ) -> Result<Self, ConfigError> {
        if vlan::VRF_VLANS.contains(&settings.pxe_vlan) {
            return Err(ConfigError::PxeVlanInVrfRange(settings.pxe_vlan));
        }
        let c = classify::classify(&doc.nics, settings)?;
        let vnis: BTreeSet<u32> = c.vrfs.keys().copied().collect();
        let reserved = |v: u16| {
            v == settings.pxe_vlan
                || settings
                    .additional_bridge_vids
                    .iter()
                    .any(|r| r.contains(v))
        };
        let vlans = vlan::allocate(&vnis, kernel, reserved)?;
        let mut firewalls = BTreeMap::new();
        for (port, fw) in c.firewalls {
            let cidrs = filter::parse_cidrs(&port, &fw.cidrs)?;
            let vnis = filter::parse_vnis(&port, &fw.vnis)?;
            let filter = Filter::assemble(&format!("fw-{port}"), &cidrs, &vnis);
            firewalls.insert(port.clone(), Firewall { port, filter });
        }
        let mut vrfs = BTreeMap::new();
        for (vni, v) in c.vrfs {
            let name = flavor.vrf_name(vni);
            let port = v.ports.last().cloned().unwrap_or_default();
            let cidrs = filter::compact(&filter::parse_cidrs(&port, &v.cidrs)?);
            let filter = Filter::assemble(&name, &cidrs, &[]);
            let vrf = Vrf {
                name: name.clone(),
                vni,
                vlan: vlans[&vni],
                ports: v.ports,
                filter,
            };
            vrfs.insert(name, vrf);
        }
        let name = if doc.name.is_empty() {
            doc.id.clone()
        } else {
            doc.name.clone()
        };
        Ok(Self {
            flavor,
            name,
            settings: settings.clone(),
            underlay: c.underlay,
            unprovisioned: c.unprovisioned,
            blade: c.blade,
            firewalls,
            vrfs,
            down: c.down,
        })
    }

    /// The configuration without the admin-down ports (what the Cumulus renderer writes: a port
    /// left out is taken down by `ifreload`). A VRF whose ports are all down stays, without
    /// neighbours; a firewall port that is down goes with its filter.
    pub fn without_down_ports(&self) -> Self {
        let up = |ports: &[String]| -> Vec<String> {
            ports
                .iter()
                .filter(|p| !self.down.contains(*p))
                .cloned()
                .collect()
        };
        let mut c = self.clone();
        c.underlay = up(&self.underlay);
        c.unprovisioned = up(&self.unprovisioned);
        c.blade = up(&self.blade);
        c.firewalls.retain(|port, _| !self.down.contains(port));
        for vrf in c.vrfs.values_mut() {
            vrf.ports = up(&vrf.ports);
        }
        c
    }

    /// The bridge's VLANs: the PXE VLAN, each VRF's (in VRF order), the additional ones.
    pub fn bridge_vids(&self) -> Vec<String> {
        let mut v = vec![self.settings.pxe_vlan.to_string()];
        v.extend(self.vrfs.values().map(|t| t.vlan.to_string()));
        v.extend(
            self.settings
                .additional_bridge_vids
                .iter()
                .map(ToString::to_string),
        );
        v
    }
}

#[cfg(test)]
mod tests {
    use metal_domain::switch::{BgpFilter, PortStatus, SwitchNic};

    use super::*;

    fn nic(name: &str, vrf: &str, cidrs: &[&str], vnis: &[&str]) -> SwitchNic {
        SwitchNic {
            name: name.into(),
            vrf: vrf.into(),
            filter: (!cidrs.is_empty() || !vnis.is_empty()).then(|| BgpFilter {
                cidrs: cidrs.iter().map(|c| c.to_string()).collect(),
                vnis: vnis.iter().map(|c| c.to_string()).collect(),
            }),
            actual: PortStatus::Up,
            ..Default::default()
        }
    }

    fn doc(nics: Vec<SwitchNic>) -> SwitchResponse {
        SwitchResponse {
            id: "leaf01".into(),
            nics,
            ..Default::default()
        }
    }

    fn settings() -> Settings {
        Settings::new("10.255.255.2/24".parse().unwrap())
    }

    #[test]
    fn vrfs_and_firewalls_with_their_filters() {
        let d = doc(vec![
            nic("swp1", "vrf30", &["10.0.1.0/24", "10.0.0.0/24"], &[]),
            nic("swp2", "vrf104001", &["fd00::/64", "10.1.0.0/16"], &[]),
            nic(
                "swp3",
                "default",
                &["10.0.2.1/32", "10.0.2.1/32"],
                &["104001"],
            ),
        ]);
        let c =
            SwitchConfig::build(&d, &settings(), &KernelVlans::default(), Flavor::Sonic).unwrap();
        assert_eq!(c.name, "leaf01");
        // names order the VRFs; VNIs order the VLAN allocation
        let vrfs: Vec<_> = c
            .vrfs
            .values()
            .map(|v| (v.name.as_str(), v.vni, v.vlan))
            .collect();
        assert_eq!(vrfs, [("Vrf104001", 104001, 1002), ("Vrf30", 30, 1001)]);
        // VRF CIDRs compacted, firewall CIDRs as given
        let p = &c.vrfs["Vrf30"].filter.prefix_lists;
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].name, "Vrf30-in-prefixes");
        assert_eq!(p[0].prefixes, ["10.0.0.0/23".parse().unwrap()]);
        let names: Vec<_> = c.vrfs["Vrf104001"]
            .filter
            .route_maps
            .iter()
            .map(|r| r.name.as_str())
            .collect();
        assert_eq!(names, ["Vrf104001-in", "Vrf104001-in6"]);
        let fw = &c.firewalls["swp3"].filter;
        assert_eq!(fw.prefix_lists[0].prefixes.len(), 2);
        assert_eq!(fw.route_maps.last().unwrap().name, "fw-swp3-vni");
        assert_eq!(c.bridge_vids(), ["4000", "1002", "1001"]);
    }

    #[test]
    fn pxe_vlan_inside_the_vrf_range_is_refused() {
        let mut s = settings();
        s.pxe_vlan = 1500;
        let got = SwitchConfig::build(&doc(vec![]), &s, &KernelVlans::default(), Flavor::Cumulus);
        assert_eq!(got, Err(ConfigError::PxeVlanInVrfRange(1500)));
        s.pxe_vlan = 2001;
        assert!(
            SwitchConfig::build(&doc(vec![]), &s, &KernelVlans::default(), Flavor::Cumulus).is_ok()
        );
    }

    #[test]
    fn additional_bridge_vlans_are_not_given_to_vrfs() {
        let mut s = settings();
        s.additional_bridge_vids = vec!["1001-1003".parse().unwrap()];
        let d = doc(vec![nic("swp1", "vrf5", &[], &[])]);
        let c = SwitchConfig::build(&d, &s, &KernelVlans::default(), Flavor::Cumulus).unwrap();
        assert_eq!(c.vrfs["vrf5"].vlan, 1004);
        assert_eq!(c.bridge_vids(), ["4000", "1004", "1001-1003"]);
    }

    #[test]
    fn down_ports_leave_every_list_but_their_vrf_stays() {
        let mut d = doc(vec![
            nic("swp1", "", &[], &[]),
            nic("swp2", "vrf5", &["10.0.0.0/24"], &[]),
            nic("swp3", "default", &["10.0.2.1/32"], &[]),
            nic("swp4", "", &[], &[]),
        ]);
        for n in &mut d.nics {
            if n.name != "swp4" {
                n.actual = PortStatus::Down;
            }
        }
        let c =
            SwitchConfig::build(&d, &settings(), &KernelVlans::default(), Flavor::Cumulus).unwrap();
        assert_eq!(c.down.len(), 3);
        let up = c.without_down_ports();
        assert_eq!(up.unprovisioned, ["swp4"]);
        assert!(up.firewalls.is_empty());
        assert!(up.vrfs["vrf5"].ports.is_empty());
        assert!(!up.vrfs["vrf5"].filter.is_empty());
        assert_eq!(up.underlay, ["swp31", "swp32"]);
    }

    #[test]
    fn bad_documents_name_the_port() {
        let d = doc(vec![nic(
            "swp9",
            "default",
            &["10.0.0.0/8", "nonsense"],
            &[],
        )]);
        let got = SwitchConfig::build(&d, &settings(), &KernelVlans::default(), Flavor::Cumulus);
        assert_eq!(
            got.unwrap_err().to_string(),
            "port swp9: filter CIDR \"nonsense\" is not a prefix"
        );
    }
}
