//! LLDP neighbours (codec and raw sockets in `metal-lldp`) in the shape metal-api registers.

pub use metal_lldp::*;
use metal_proto::api::v1 as pb;

/// A neighbour as reported to metal-api: port id as MAC and identifier, port description as
/// name, system name as hostname.
pub fn neighbor_nic(n: &Neighbor) -> pb::MachineNic {
    pb::MachineNic {
        mac: n.port_id.clone(),
        identifier: n.port_id.clone(),
        name: n.port_description.clone(),
        hostname: n.system_name.clone(),
        neighbors: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn neighbour_as_registered() {
        let mac = [0x52, 0x54, 0, 0xaa, 0, 1];
        let (n, _) = parse_frame(&build_frame(mac, "leaf01", "switch", 120)).unwrap();
        let nic = neighbor_nic(&n);
        assert_eq!(nic.identifier, "52:54:00:aa:00:01");
        assert_eq!(nic.mac, nic.identifier);
        assert_eq!(nic.hostname, "leaf01");
    }
}
