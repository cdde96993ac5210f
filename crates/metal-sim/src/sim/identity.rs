//! Deterministic identities: the racks with their two Cumulus leaf switches (ports
//! `swp1..swpN`), and the machines with their UUID, NIC MACs, LLDP neighbours and BMC, all
//! derived from the seed and the partition, so that a restarted simulator is the same lab.
//!
//! Machine `k` of a rack is cabled to port `swp<k+1>` of both leaves: `eth0` to leaf 1,
//! `eth1` to leaf 2, which is the mirrored cabling metal-api requires.

use super::config::SimConfig;

/// SplitMix64: a small, well-mixing, fixed function (unlike `rand`'s generators, whose
/// algorithms may change between versions).
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// FNV-1a of a string, to fold the partition into the seed.
fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// A deterministic stream of numbers for one purpose of one object.
#[derive(Debug, Clone)]
pub(crate) struct Derive {
    state: u64,
}

impl Derive {
    pub(crate) fn new(seed: u64, partition: &str, purpose: &str, index: u64) -> Self {
        let mut state = splitmix64(seed ^ fnv1a(partition));
        state = splitmix64(state ^ fnv1a(purpose));
        state = splitmix64(state ^ index);
        Self { state }
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.state = splitmix64(self.state);
        self.state
    }

    /// `n` characters from `alphabet`.
    pub(crate) fn string(&mut self, alphabet: &[u8], n: usize) -> String {
        (0..n)
            .map(|_| {
                let i = (self.next_u64() % alphabet.len() as u64) as usize;
                char::from(alphabet[i])
            })
            .collect()
    }
}

/// A locally administered unicast MAC whose first byte comes from the seed.
fn mac(seed: u64, partition: &str, purpose: &str, tail: [u8; 5]) -> String {
    let h = Derive::new(seed, partition, purpose, 0).next_u64();
    let b0 = ((h & 0xfc) as u8) | 0x02;
    format!(
        "{b0:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        tail[0], tail[1], tail[2], tail[3], tail[4]
    )
}

/// One port of a leaf switch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SwitchPortSpec {
    /// `swp<n>`
    pub name: String,
    pub mac: String,
}

/// A leaf switch as metal-core registers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SwitchSpec {
    /// switch id and hostname (its LLDP system name)
    pub id: String,
    pub rack_id: String,
    pub management_ip: String,
    pub ports: Vec<SwitchPortSpec>,
}

/// A NIC of a machine with the switch port it sees through LLDP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NicSpec {
    /// `eth0`, `eth1`
    pub name: String,
    pub mac: String,
    /// the switch id (LLDP system name)
    pub switch_id: String,
    /// the switch port name (LLDP port description)
    pub port_name: String,
    /// the switch port MAC (LLDP port id)
    pub port_mac: String,
}

/// A simulated machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MachineSpec {
    /// position in the simulator, 0-based
    pub index: usize,
    /// the SMBIOS product UUID, the machine id
    pub id: String,
    pub rack_id: String,
    pub nics: Vec<NicSpec>,
    /// BMC `host:port`
    pub bmc_address: String,
    pub bmc_mac: String,
    pub bmc_password: String,
    pub serial: String,
}

/// The whole lab: switches by rack, then machines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub switches: Vec<SwitchSpec>,
    pub machines: Vec<MachineSpec>,
}

/// How many machines each rack holds: as even as possible, the first racks one more.
fn rack_sizes(machines: usize, racks: usize) -> Vec<usize> {
    let base = machines / racks;
    let extra = machines % racks;
    (0..racks).map(|r| base + usize::from(r < extra)).collect()
}

impl Layout {
    /// The layout of a (validated) configuration.
    pub fn new(c: &SimConfig) -> Self {
        let prefix = c.prefix();
        let p = c.partition.as_str();
        let sizes = rack_sizes(c.machines, c.racks);
        let ports = sizes.iter().copied().max().unwrap_or(0);
        let mut switches = Vec::with_capacity(2 * c.racks);
        let mut machines = Vec::with_capacity(c.machines);
        for (r, &size) in sizes.iter().enumerate() {
            let rack_id = format!("{prefix}rack{:02}", r + 1);
            let leaves: Vec<SwitchSpec> = (1..=2u8)
                .map(|leaf| SwitchSpec {
                    id: format!("{rack_id}-leaf{leaf:02}"),
                    rack_id: rack_id.clone(),
                    management_ip: format!("10.{}.{}.{}", 250 + leaf, (r >> 8) & 0xff, r & 0xff),
                    ports: (1..=ports)
                        .map(|n| SwitchPortSpec {
                            name: format!("swp{n}"),
                            mac: mac(
                                c.seed,
                                p,
                                "switch-port",
                                [leaf, (r >> 8) as u8, r as u8, (n >> 8) as u8, n as u8],
                            ),
                        })
                        .collect(),
                })
                .collect();
            for k in 0..size {
                let index = machines.len();
                let mut d = Derive::new(c.seed, p, "machine", index as u64);
                let mut bytes = [0u8; 16];
                bytes[..8].copy_from_slice(&d.next_u64().to_be_bytes());
                bytes[8..].copy_from_slice(&d.next_u64().to_be_bytes());
                let id = uuid::Builder::from_random_bytes(bytes)
                    .into_uuid()
                    .to_string();
                let i = index as u32;
                let tail = |n: u8| [0, (i >> 16) as u8, (i >> 8) as u8, i as u8, n];
                let nics = leaves
                    .iter()
                    .enumerate()
                    .map(|(j, leaf)| NicSpec {
                        name: format!("eth{j}"),
                        mac: mac(c.seed, p, "machine-nic", tail(j as u8)),
                        switch_id: leaf.id.clone(),
                        port_name: leaf.ports[k].name.clone(),
                        port_mac: leaf.ports[k].mac.clone(),
                    })
                    .collect();
                let serial = d.string(b"0123456789ABCDEFGHJKLMNPRSTUVWXYZ", 12);
                machines.push(MachineSpec {
                    index,
                    id,
                    rack_id: rack_id.clone(),
                    nics,
                    bmc_address: format!(
                        "10.{}.{}.{}:623",
                        (i >> 16) & 0xff,
                        (i >> 8) & 0xff,
                        i & 0xff
                    ),
                    bmc_mac: mac(c.seed, p, "bmc", tail(0xff)),
                    bmc_password: d.string(b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ", 7)
                        + &d.string(b"0123456789", 3),
                    serial,
                });
            }
            switches.extend(leaves);
        }
        Self { switches, machines }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    fn config(machines: usize, racks: usize, seed: u64) -> SimConfig {
        let mut c = SimConfig::new("127.0.0.1:1", "http://127.0.0.1:2/", "k", "fra");
        c.machines = machines;
        c.racks = racks;
        c.seed = seed;
        c
    }

    #[test]
    fn racks_are_filled_evenly() {
        assert_eq!(rack_sizes(6, 2), vec![3, 3]);
        assert_eq!(rack_sizes(7, 3), vec![3, 2, 2]);
        assert_eq!(rack_sizes(1, 1), vec![1]);
    }

    #[test]
    fn layout_is_deterministic_and_unique() {
        let a = Layout::new(&config(7, 3, 42));
        assert_eq!(a, Layout::new(&config(7, 3, 42)));
        let b = Layout::new(&config(7, 3, 43));
        assert_ne!(a.machines[0].id, b.machines[0].id);
        assert_eq!(a.switches.len(), 6);
        assert_eq!(a.switches[0].id, "fra-rack01-leaf01");
        assert_eq!(a.switches[5].id, "fra-rack03-leaf02");
        assert!(a.switches.iter().all(|s| s.ports.len() == 3));
        let ids: BTreeSet<_> = a.machines.iter().map(|m| m.id.clone()).collect();
        assert_eq!(ids.len(), 7);
        let macs: BTreeSet<_> = a
            .machines
            .iter()
            .flat_map(|m| m.nics.iter().map(|n| n.mac.clone()))
            .chain(
                a.switches
                    .iter()
                    .flat_map(|s| s.ports.iter().map(|p| p.mac.clone())),
            )
            .collect();
        assert_eq!(macs.len(), 7 * 2 + 6 * 3);
        for mac in &macs {
            let first = u8::from_str_radix(&mac[..2], 16).unwrap();
            assert_eq!(first & 0x03, 0x02, "locally administered unicast: {mac}");
        }
        // uuid v4 shape
        assert_eq!(
            uuid::Uuid::parse_str(&a.machines[0].id)
                .unwrap()
                .get_version_num(),
            4
        );
    }

    #[test]
    fn machines_are_cabled_to_the_same_port_of_both_leaves() {
        let l = Layout::new(&config(6, 2, 0));
        let m = &l.machines[4];
        assert_eq!(m.rack_id, "fra-rack02");
        assert_eq!(m.nics[0].switch_id, "fra-rack02-leaf01");
        assert_eq!(m.nics[1].switch_id, "fra-rack02-leaf02");
        assert_eq!(m.nics[0].port_name, "swp2");
        assert_eq!(m.nics[1].port_name, "swp2");
        let leaf = l
            .switches
            .iter()
            .find(|s| s.id == "fra-rack02-leaf02")
            .unwrap();
        assert_eq!(leaf.ports[1].mac, m.nics[1].port_mac);
        assert_eq!(m.bmc_password.len(), 10);
    }
}
