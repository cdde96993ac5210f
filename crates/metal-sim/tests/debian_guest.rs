//! The Debian guest of the switch and firewall datapath (network.md §6): built once with
//! debootstrap and cached, it boots Debian's kernel and has what the host kernel lacks: VRF
//! devices, a VLAN-filtering bridge with an SVI, VXLAN, all inside a network namespace, and
//! FRR 8.4 started for that namespace (`vtysh -N`), whose `vtysh -C` checks a configuration.
//! Privileged (root, qemu, debootstrap, the Debian archive); the first run builds the image
//! (about 3 minutes), later runs boot it in about 20 s.

use std::time::Duration;

use metal_sim::vm::debian::{DebianGuest, GuestRun, NETWORK};

const TOOLS: &[(&str, &str)] = &[
    ("qemu-system-x86_64", "qemu-system-x86 (bookworm-backports)"),
    ("qemu-img", "qemu-utils"),
    ("debootstrap", "debootstrap"),
    ("mkfs.ext4", "e2fsprogs"),
];

/// A leaf-like FRR configuration: BGP unnumbered towards a port, EVPN, a tenant VRF.
const FRR_CONF: &str = "frr defaults datacenter
hostname leaf01
!
vrf vrf104001
 vni 104001
exit-vrf
!
router bgp 4200000001
 bgp router-id 10.0.0.11
 neighbor FABRIC peer-group
 neighbor FABRIC remote-as external
 neighbor swp31 interface peer-group FABRIC
 address-family l2vpn evpn
  neighbor FABRIC activate
  advertise-all-vni
 exit-address-family
!
router bgp 4200000001 vrf vrf104001
 address-family ipv4 unicast
  redistribute connected
 exit-address-family
!
ipv6 prefix-list vrf104001-in6-prefixes permit fd00:10::/64 le 128
!
line vty
!
";

const SCRIPT: &str = r#"set -e
ip netns add leaf01
ip -n leaf01 link add vrf104001 type vrf table 1001
ip -n leaf01 link add bridge type bridge vlan_filtering 1
ip -n leaf01 link add vni104001 type vxlan id 104001 local 10.0.0.11 dstport 4789 nolearning
ip -n leaf01 link set vni104001 master bridge
bridge -n leaf01 vlan add dev vni104001 vid 1001 pvid untagged
bridge -n leaf01 vlan add dev bridge vid 1001 self
ip -n leaf01 link add link bridge name vlan1001 type vlan id 1001
ip -n leaf01 link set vlan1001 master vrf104001
for l in vrf104001 bridge vni104001 vlan1001; do ip -n leaf01 link set $l up; done
ip -n leaf01 -d link show vlan1001 | grep -q 'vlan protocol 802.1Q id 1001'
ip -n leaf01 -d link show bridge | grep -q 'vlan_filtering 1'
echo "datapath ok"
vtysh -C -f /run/metal/frr.conf
echo "vtysh -C ok"
if printf 'router bgp 1\n neighbor x remote-as\n' > /tmp/bad.conf && vtysh -C -f /tmp/bad.conf >/dev/null 2>&1; then
  echo "a broken configuration passed"; exit 1
fi
echo "broken configuration refused"
mkdir -p /etc/frr/leaf01
cp /run/metal/frr.conf /etc/frr/leaf01/frr.conf
sed -e 's/^bgpd=no/bgpd=yes/' -e 's/^#* *watchfrr_options=.*//' /etc/frr/daemons > /etc/frr/leaf01/daemons
echo 'watchfrr_options="--netns=leaf01"' >> /etc/frr/leaf01/daemons
cp /etc/frr/vtysh.conf /etc/frr/leaf01/ 2>/dev/null || true
chown -R frr:frr /etc/frr/leaf01
/usr/lib/frr/frrinit.sh start leaf01 >/dev/null
for i in $(seq 1 60); do
  # zebra of leaf01 sees the namespace's VRF device; bgpd runs the configuration
  if vtysh -N leaf01 -c 'show vrf' 2>/dev/null | grep -q '^vrf vrf104001 id [0-9]' \
    && vtysh -N leaf01 -c 'show bgp summary' 2>/dev/null | grep -q 'BGP router identifier 10.0.0.11'; then
    echo "frr answers in leaf01"; exit 0
  fi
  sleep 1
done
vtysh -N leaf01 -c 'show vrf' || true
vtysh -N leaf01 -c 'show bgp summary' || true
exit 1
"#;

#[test]
fn the_network_guest_has_the_datapath_and_frr() {
    if !metal_sim::privileged("the_network_guest_has_the_datapath_and_frr", TOOLS) {
        return;
    }
    let guest = DebianGuest::get(&NETWORK).unwrap();
    let run = GuestRun::new(SCRIPT)
        .hostname("fabric")
        .file("frr.conf", FRR_CONF, 0o644)
        .modules(&["vrf", "8021q", "vxlan", "bridge"])
        .timeout(Duration::from_secs(600));
    let out = guest.run(&run).unwrap();
    let text = out.text();
    assert_eq!(out.exit_code, 0, "{text}");
    for want in [
        "datapath ok",
        "vtysh -C ok",
        "broken configuration refused",
        "frr answers in leaf01",
    ] {
        assert!(out.contains(want), "{want:?} missing:\n{text}");
    }
    eprintln!(
        "guest ready after {:?}, run took {:?}",
        out.ready_after, out.total
    );
}
