//! Machine search (`MachineSearchQuery`, §3.4): every given field must hold; list fields mean
//! "contains all"; equality everywhere else.

use serde::{Deserialize, Serialize};

use super::Machine;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct MachineFindRequest {
    pub id: Option<String>,
    pub name: Option<String>,
    pub partition_id: Option<String>,
    pub sizeid: Option<String>,
    pub rackid: Option<String>,
    pub tags: Vec<String>,
    pub allocation_name: Option<String>,
    pub allocation_project: Option<String>,
    pub allocation_image_id: Option<String>,
    pub allocation_hostname: Option<String>,
    pub allocation_role: Option<String>,
    pub allocation_succeeded: Option<bool>,
    pub network_ids: Vec<String>,
    pub network_prefixes: Vec<String>,
    pub network_ips: Vec<String>,
    pub network_destination_prefixes: Vec<String>,
    pub network_vrfs: Vec<u64>,
    pub network_asns: Vec<u64>,
    pub hardware_memory: Option<u64>,
    pub hardware_cpu_cores: Option<u64>,
    pub nics_mac_addresses: Vec<String>,
    pub nics_names: Vec<String>,
    pub nics_vrfs: Vec<String>,
    pub nics_neighbor_mac_addresses: Vec<String>,
    pub nics_neighbor_names: Vec<String>,
    pub nics_neighbor_vrfs: Vec<String>,
    pub disk_names: Vec<String>,
    pub disk_sizes: Vec<u64>,
    pub state_value: Option<String>,
    pub ipmi_address: Option<String>,
    pub ipmi_mac_address: Option<String>,
    pub ipmi_user: Option<String>,
    pub ipmi_interface: Option<String>,
    pub fru_chassis_part_number: Option<String>,
    pub fru_chassis_part_serial: Option<String>,
    pub fru_board_mfg: Option<String>,
    pub fru_board_mfg_serial: Option<String>,
    pub fru_board_part_number: Option<String>,
    pub fru_product_manufacturer: Option<String>,
    pub fru_product_part_number: Option<String>,
    pub fru_product_serial: Option<String>,
}

fn eq(want: &Option<String>, have: &str) -> bool {
    want.as_deref().is_none_or(|w| w.is_empty() || w == have)
}

fn all<T: PartialEq>(want: &[T], have: &[T]) -> bool {
    want.iter().all(|w| have.contains(w))
}

impl MachineFindRequest {
    pub fn matches(&self, m: &Machine) -> bool {
        let a = m.allocation.as_ref();
        let alloc = |f: fn(&super::Allocation) -> String| a.map(f).unwrap_or_default();
        let nets = a.map(|a| a.networks.as_slice()).unwrap_or_default();
        let collect = |f: fn(&super::MachineNetwork) -> Vec<String>| {
            nets.iter().flat_map(f).collect::<Vec<_>>()
        };
        let nics = &m.hardware.nics;
        let neighbors: Vec<&super::MachineNic> =
            nics.iter().flat_map(|n| n.neighbors.iter()).collect();
        let fru = &m.ipmi.fru;
        eq(&self.id, &m.id)
            && eq(&self.name, &m.name)
            && eq(&self.partition_id, &m.partitionid)
            && eq(&self.sizeid, &m.sizeid)
            && eq(&self.rackid, &m.rackid)
            && all(&self.tags, &m.tags)
            && eq(&self.allocation_name, &alloc(|a| a.name.clone()))
            && eq(&self.allocation_project, &alloc(|a| a.project.clone()))
            && eq(&self.allocation_image_id, &alloc(|a| a.imageid.clone()))
            && eq(&self.allocation_hostname, &alloc(|a| a.hostname.clone()))
            && eq(&self.allocation_role, &a.map(|a| a.role.as_str().to_string()).unwrap_or_default())
            && self.allocation_succeeded.is_none_or(|s| a.is_some_and(|a| a.succeeded == s))
            && all(&self.network_ids, &collect(|n| vec![n.networkid.clone()]))
            && all(&self.network_prefixes, &collect(|n| n.prefixes.clone()))
            && all(&self.network_ips, &collect(|n| n.ips.clone()))
            && all(&self.network_destination_prefixes, &collect(|n| n.destinationprefixes.clone()))
            && all(&self.network_vrfs, &nets.iter().map(|n| u64::from(n.vrf)).collect::<Vec<_>>())
            && all(&self.network_asns, &nets.iter().map(|n| n.asn).collect::<Vec<_>>())
            && self.hardware_memory.is_none_or(|v| v == m.hardware.memory)
            && self.hardware_cpu_cores.is_none_or(|v| v == u64::from(m.hardware.cpu_cores))
            && all(&self.nics_mac_addresses, &nics.iter().map(|n| n.mac.clone()).collect::<Vec<_>>())
            && all(&self.nics_names, &nics.iter().map(|n| n.name.clone()).collect::<Vec<_>>())
            // machine NICs carry no VRF (only switch ports do), so a VRF filter matches none
            && self.nics_vrfs.is_empty()
            && all(&self.nics_neighbor_mac_addresses, &neighbors.iter().map(|n| n.mac.clone()).collect::<Vec<_>>())
            && all(&self.nics_neighbor_names, &neighbors.iter().map(|n| n.name.clone()).collect::<Vec<_>>())
            && self.nics_neighbor_vrfs.is_empty()
            && all(&self.disk_names, &m.hardware.disks.iter().map(|d| d.name.clone()).collect::<Vec<_>>())
            && all(&self.disk_sizes, &m.hardware.disks.iter().map(|d| d.size).collect::<Vec<_>>())
            && self.state_value.as_deref().is_none_or(|v| v == m.state.value.as_str())
            && eq(&self.ipmi_address, &m.ipmi.address)
            && eq(&self.ipmi_mac_address, &m.ipmi.mac)
            && eq(&self.ipmi_user, &m.ipmi.user)
            && eq(&self.ipmi_interface, &m.ipmi.interface)
            && eq(&self.fru_chassis_part_number, &fru.chassis_part_number)
            && eq(&self.fru_chassis_part_serial, &fru.chassis_part_serial)
            && eq(&self.fru_board_mfg, &fru.board_mfg)
            && eq(&self.fru_board_mfg_serial, &fru.board_mfg_serial)
            && eq(&self.fru_board_part_number, &fru.board_part_number)
            && eq(&self.fru_product_manufacturer, &fru.product_manufacturer)
            && eq(&self.fru_product_part_number, &fru.product_part_number)
            && eq(&self.fru_product_serial, &fru.product_serial)
    }
}

#[cfg(test)]
mod tests {
    use super::super::*;
    use super::*;

    fn machine() -> Machine {
        Machine {
            id: "m1".into(),
            partitionid: "fra".into(),
            sizeid: "c1".into(),
            rackid: "r1".into(),
            tags: vec!["a".into(), "b=c".into()],
            hardware: MachineHardware {
                memory: 1024,
                cpu_cores: 8,
                disks: vec![MachineBlockDevice {
                    name: "/dev/sda".into(),
                    size: 100,
                }],
                nics: vec![MachineNic {
                    mac: "aa:bb".into(),
                    name: "eth0".into(),
                    neighbors: vec![MachineNic {
                        mac: "cc:dd".into(),
                        name: "swp1".into(),
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            },
            allocation: Some(Allocation {
                project: "p1".into(),
                hostname: "web".into(),
                role: Role::Firewall,
                networks: vec![MachineNetwork {
                    networkid: "n1".into(),
                    projectid: "p1".into(),
                    prefixes: vec!["10.0.0.0/24".into()],
                    ips: vec!["10.0.0.1".into()],
                    destinationprefixes: vec![],
                    vrf: 42,
                    asn: 4210000001,
                    nat: false,
                    private: true,
                    underlay: false,
                    networktype: NetworkKind::PrivatePrimaryUnshared,
                    networktypev2: String::new(),
                    nattypev2: String::new(),
                }],
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn every_kind_of_field() {
        let m = machine();
        let q = |f: fn(&mut MachineFindRequest)| {
            let mut r = MachineFindRequest::default();
            f(&mut r);
            r.matches(&m)
        };
        assert!(q(|_| {}));
        assert!(q(|r| r.partition_id = Some("fra".into())));
        assert!(!q(|r| r.partition_id = Some("ams".into())));
        assert!(q(|r| r.tags = vec!["a".into()]));
        assert!(!q(|r| r.tags = vec!["a".into(), "z".into()]));
        assert!(q(|r| r.allocation_role = Some("firewall".into())));
        assert!(!q(|r| r.allocation_role = Some("machine".into())));
        assert!(q(|r| r.network_ips = vec!["10.0.0.1".into()]));
        assert!(q(|r| r.network_vrfs = vec![42]));
        assert!(!q(|r| r.network_asns = vec![1]));
        assert!(q(|r| r.hardware_cpu_cores = Some(8)));
        assert!(q(|r| r.nics_neighbor_mac_addresses = vec!["cc:dd".into()]));
        assert!(q(|r| r.disk_sizes = vec![100]));
        assert!(q(|r| r.state_value = Some(String::new())));
        assert!(!q(|r| r.state_value = Some("LOCKED".into())));
        assert!(!q(|r| r.allocation_succeeded = Some(true)));
    }
}
