//! The lab's names and addresses, derived from its name and machine count alone, so that `up`,
//! `status` and `down` (also after a crash, without any state file) agree on them.
//!
//! ```text
//!  <name>-hosts                 <name>-leaf01 / -leaf02           <name>-mgmt
//!  qemu machine-i ──tap mItJ─┐  swpI ─┐                          ┌ leaf01 ┐
//!    (ipmi_sim per machine)  bridge mIbJ ─veth mIvJ══ swpI   br0 ═ up0 ══┤        ├ bridge pxe 10.0.0.1/24:
//!                                     (LLDP passes)   (metal-core,        └ leaf02 ┘  metal-api, pixie,
//!  bmc 10.1.0.(10+i)/24 ═══════════════ veth ═══════════ lldpd)         bmcnet 10.1.0.1/24: metal-bmc
//! ```
//! Every address lives inside the lab's namespaces; the host only gets a loopback listener
//! (`metal-lab forward`) in front of metal-api's REST port.
//!
//! A routed lab (`up --routed`, [`Plan::routed`]) has no leaf namespaces: the leaves are nodes
//! of the fabric guest ([`crate::routed`]), and each machine NIC's cable bridge joins the
//! machine's tap with a tap of the fabric guest (`fItJ`) instead of a veth into a leaf.
//!
//! ```text
//!  <name>-hosts                                               <name>-mgmt
//!  qemu machine-i ─tap mItJ─ bridge mIbJ ─tap fItJ─┐          bridge pxe 10.9.0.1/24: metal-api,
//!                                                  qemu fabric   pixie (relayed DHCP), images;
//!                            bridge fabmb ─tap fabm┘ (leaves,    route 10.255.255.0/24 via the
//!                              └ veth fabv ══════════ exit)      exit's leg 10.9.0.21
//! ```

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use anyhow::bail;

/// The partition of the lab.
pub const PARTITION: &str = "lab";
/// pixie, metal-api and the image server on the provisioning bridge (the management server:
/// the fabric's management gateway, so the routed lab's leaves reach it on eth0).
pub const MGMT_IP: Ipv4Addr = crate::fabric::MANAGEMENT_GATEWAY;
pub const PXE_PREFIX_LEN: u8 = crate::fabric::MANAGEMENT_PREFIX_LEN;
/// Addresses pixie leases to the machines' NICs (bridged lab; the routed lab's come from the
/// leaves' PXE subnets, [`crate::fabric::Leaf::dhcp_range`]).
pub const DHCP_FIRST: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 100);
pub const DHCP_LAST: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 199);
/// metal-bmc's address on the BMC network.
pub const BMC_NET_IP: Ipv4Addr = Ipv4Addr::new(10, 1, 0, 1);
pub const API_PORT: u16 = 8080;
pub const GRPC_PORT: u16 = 50051;
pub const METRICS_PORT: u16 = 2112;
pub const IMAGES_PORT: u16 = 8081;
pub const IPMI_PORT: u16 = 623;
/// The factory account of every simulated BMC.
pub const BMC_USER: &str = "ADMIN";
pub const LEAVES: usize = 2;
pub const MAX_MACHINES: usize = 32;
/// Machines of a routed lab: each one is a busy core under software emulation, beside the
/// fabric guest's two.
pub const MAX_ROUTED_MACHINES: usize = 8;

/// One lab: its name (prefix of its namespaces), directory and size.
#[derive(Debug, Clone)]
pub struct Plan {
    pub name: String,
    pub dir: PathBuf,
    pub machines: usize,
    /// leaves in the fabric guest (see the module's documentation)
    pub routed: bool,
}

/// What belongs to one machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MachinePlan {
    /// 1-based
    pub index: usize,
    pub name: String,
    pub uuid: String,
    /// one MAC per NIC; NIC j is cabled to leaf j
    pub macs: [String; LEAVES],
    /// tap device qemu opens, per NIC (in the hosts namespace)
    pub taps: [String; LEAVES],
    /// the bridge joining tap and cable, per NIC (in the hosts namespace)
    pub cable_bridges: [String; LEAVES],
    /// the host end of the cable, per NIC (in the hosts namespace)
    pub cable_ends: [String; LEAVES],
    /// routed lab: the fabric guest's tap cabled to NIC j (in the hosts namespace)
    pub fabric_taps: [String; LEAVES],
    /// the switch port the NIC is cabled to, in leaf j
    pub switch_port: String,
    pub bmc_ip: Ipv4Addr,
    /// ipmi_sim's VM serial port (loopback of the hosts namespace), qemu connects to it
    pub bmc_serial_port: u16,
    pub dir: PathBuf,
}

impl Plan {
    pub fn new(name: &str, dir: &Path, machines: usize) -> anyhow::Result<Plan> {
        validate_name(name)?;
        if machines == 0 || machines > MAX_MACHINES {
            bail!("--machines must be between 1 and {MAX_MACHINES}, got {machines}");
        }
        Ok(Plan {
            name: name.to_string(),
            dir: dir.to_path_buf(),
            machines,
            routed: false,
        })
    }

    /// The plan of a routed lab (at most [`MAX_ROUTED_MACHINES`] machines).
    pub fn routed(mut self, routed: bool) -> anyhow::Result<Plan> {
        if routed && self.machines > MAX_ROUTED_MACHINES {
            bail!(
                "--machines must be between 1 and {MAX_ROUTED_MACHINES} in a routed lab, got {}",
                self.machines
            );
        }
        self.routed = routed;
        Ok(self)
    }

    pub fn ns_mgmt(&self) -> String {
        format!("{}-mgmt", self.name)
    }

    pub fn ns_hosts(&self) -> String {
        format!("{}-hosts", self.name)
    }

    /// Leaf `j` (0-based) is `leaf01`, `leaf02`.
    pub fn leaf_name(j: usize) -> String {
        format!("leaf{:02}", j + 1)
    }

    pub fn ns_leaf(&self, j: usize) -> String {
        format!("{}-{}", self.name, Self::leaf_name(j))
    }

    /// Every namespace of the lab, in creation order.
    pub fn namespaces(&self) -> Vec<String> {
        let mut v = vec![self.ns_mgmt(), self.ns_hosts()];
        if !self.routed {
            v.extend((0..LEAVES).map(|j| self.ns_leaf(j)));
        }
        v
    }

    /// The address of leaf `j` on the provisioning network (metal-core reaches metal-api).
    pub fn leaf_ip(j: usize) -> Ipv4Addr {
        crate::fabric::Leaf::ALL[j].management_ip()
    }

    pub fn machine(&self, index: usize) -> MachinePlan {
        let i = index;
        let nic = |j: usize| format!("52:54:00:6c:{i:02x}:{j:02x}");
        MachinePlan {
            index: i,
            name: format!("machine-{i}"),
            uuid: machine_uuid(i),
            macs: [nic(0), nic(1)],
            taps: [format!("m{i}t0"), format!("m{i}t1")],
            cable_bridges: [format!("m{i}b0"), format!("m{i}b1")],
            cable_ends: [format!("m{i}v0"), format!("m{i}v1")],
            fabric_taps: [format!("f{i}t0"), format!("f{i}t1")],
            switch_port: format!("swp{i}"),
            bmc_ip: Ipv4Addr::new(10, 1, 0, 10 + i as u8),
            bmc_serial_port: 9000 + i as u16,
            dir: self.dir.join("machines").join(format!("machine-{i}")),
        }
    }

    pub fn all_machines(&self) -> Vec<MachinePlan> {
        (1..=self.machines).map(|i| self.machine(i)).collect()
    }

    /// The switch ports of every leaf (the same names on both).
    pub fn switch_ports(&self) -> Vec<String> {
        self.all_machines()
            .into_iter()
            .map(|m| m.switch_port)
            .collect()
    }

    pub fn run_dir(&self) -> PathBuf {
        self.dir.join("run")
    }

    pub fn log_dir(&self) -> PathBuf {
        self.dir.join("log")
    }

    /// Kernel, metal-hammer ramdisk and OS image, served over HTTP inside the lab.
    pub fn files_dir(&self) -> PathBuf {
        self.dir.join("files")
    }

    pub fn state_file(&self) -> PathBuf {
        self.dir.join("lab.json")
    }

    /// metal-api's REST URL inside the lab.
    pub fn api_url() -> String {
        format!("http://{MGMT_IP}:{API_PORT}/")
    }

    pub fn grpc_addr() -> String {
        format!("{MGMT_IP}:{GRPC_PORT}")
    }
}

/// `6c61622d-…` ("lab-"), the machine's index in the last group.
pub fn machine_uuid(index: usize) -> String {
    format!("6c61622d-6d00-4000-8000-{index:012x}")
}

/// Namespace names are `<name>-mgmt` and the like: a short lowercase word.
pub fn validate_name(name: &str) -> anyhow::Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 12
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if !ok {
        bail!("the lab name must be 1 to 12 lowercase letters or digits, starting with a letter; got {name:?}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_fit_interface_limits_and_are_unique() {
        let p = Plan::new("mlab", Path::new("/tmp/x"), MAX_MACHINES).unwrap();
        let mut names = std::collections::BTreeSet::new();
        for m in p.all_machines() {
            for n in m
                .taps
                .iter()
                .chain(&m.cable_bridges)
                .chain(&m.cable_ends)
                .chain(&m.fabric_taps)
                .chain([&m.switch_port])
            {
                assert!(n.len() <= 15, "{n}");
                if n != &m.switch_port {
                    assert!(names.insert(n.clone()), "{n} twice");
                }
            }
            assert_eq!(m.macs.len(), 2);
            assert_ne!(m.macs[0], m.macs[1]);
        }
        let m = p.machine(32);
        assert_eq!(m.bmc_ip, Ipv4Addr::new(10, 1, 0, 42));
        assert_eq!(m.macs[1], "52:54:00:6c:20:01");
        assert_eq!(
            p.namespaces(),
            ["mlab-mgmt", "mlab-hosts", "mlab-leaf01", "mlab-leaf02"]
        );
    }

    #[test]
    fn uuids_are_uuids() {
        let u = machine_uuid(2);
        assert_eq!(u, "6c61622d-6d00-4000-8000-000000000002");
        assert_eq!(u.len(), 36);
    }

    #[test]
    fn bad_names_and_sizes_are_refused() {
        for n in ["", "Lab", "1lab", "a-b", "averyverylongname"] {
            let e = Plan::new(n, Path::new("/x"), 1).unwrap_err().to_string();
            assert!(e.contains("lab name"), "{n}: {e}");
        }
        let e = Plan::new("lab", Path::new("/x"), 0)
            .unwrap_err()
            .to_string();
        assert!(e.contains("--machines"), "{e}");
        assert!(Plan::new("lab", Path::new("/x"), 33).is_err());
        let e = Plan::new("lab", Path::new("/x"), 9)
            .unwrap()
            .routed(true)
            .unwrap_err()
            .to_string();
        assert!(e.contains("routed"), "{e}");
        let routed = Plan::new("mlab", Path::new("/x"), 8)
            .unwrap()
            .routed(true)
            .unwrap();
        assert_eq!(routed.namespaces(), ["mlab-mgmt", "mlab-hosts"]);
    }
}
