//! The routed fabric of the lab: leaf01, leaf02 and the exit router as Cumulus-style Linux
//! switches, and the hosts behind them, as nodes of one Debian guest (network.md §5 and §7).
//!
//! ```text
//!                    external 203.0.113.100/25 (HTTP 80 and 8080)
//!                        │ ext0
//!                    exit 10.0.0.21 AS 4200000021, vrfInternet = VNI 104009, default → external
//!              swp1 ┌────┴────┐ swp2
//!        swp31 leaf01        leaf02 swp31      (metal-core in each, eth0 in VRF mgmt → metal-api)
//!   swp1 swp2 swp3 │          │ swp1 swp2 swp3
//!     │    │    └──┼── fw ────┼───┘            lanN: NIC N of a host is cabled to leaf N
//!     │    └───────┼── m2 ────┘
//!     └────────────┴── m1
//! ```
//!
//! A node is a network namespace with its own mount and UTS namespace (its hostname is the
//! node's name, which FRR announces to its BGP peers), a container in all but name:
//! `/etc/frr`, `/etc/network`, `/etc/iproute2`, `/etc/systemd/network` and `/etc/nftables` are
//! the node's own, and FRR's, ifupdown2's and networkd's run-time directories are private. So
//! each switch runs metal-core, ifupdown2 and FRR with the paths of a real switch, and each host
//! runs systemd-networkd, FRR and nftables on the files os-installer wrote for it, without any
//! "lab flavour" in either. The shell library [`FABRIC_SH`] makes the nodes and cables; the exit
//! router's configuration is the lab's own ([`exit_frr_conf`]), as mini-lab's is.

use std::net::Ipv4Addr;

/// Where the nodes' files live in the guest (`<NODES>/<node>/...`).
pub const NODES: &str = "/nodes";

/// A leaf of the fabric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Leaf {
    /// 1 or 2
    pub index: u8,
}

impl Leaf {
    pub const ALL: [Leaf; 2] = [Leaf { index: 1 }, Leaf { index: 2 }];

    pub fn name(self) -> String {
        format!("leaf{:02}", self.index)
    }

    pub fn asn(self) -> u32 {
        4_200_000_010 + u32::from(self.index)
    }

    /// Loopback and VTEP address.
    pub fn loopback(self) -> Ipv4Addr {
        Ipv4Addr::new(10, 0, 0, 10 + self.index)
    }

    /// eth0 on the management network, in VRF mgmt.
    pub fn management_ip(self) -> Ipv4Addr {
        Ipv4Addr::new(10, 9, 0, 10 + self.index)
    }

    /// The SVI of the PXE VLAN (metal-core's `--cidr`): each leaf has its own half of
    /// 10.255.255.0/24, as mini-lab's leaves have (10.0.1.1/25 and 10.0.1.128/25), so the DHCP
    /// server answers a relayed request from the range of the relay's `giaddr`, and the reply to
    /// an address of that range is routed back to the leaf that relayed it.
    pub fn pxe_cidr(self) -> String {
        format!("{}/{PXE_PREFIX_LEN}", self.pxe_gateway())
    }

    /// The PXE SVI's address: the relay's `giaddr` and the machines' router while they boot.
    pub fn pxe_gateway(self) -> Ipv4Addr {
        Ipv4Addr::new(10, 255, 255, 1 + self.pxe_base())
    }

    /// The PXE subnet of the leaf (`10.255.255.0/25`, `10.255.255.128/25`).
    pub fn pxe_subnet(self) -> String {
        format!(
            "{}/{PXE_PREFIX_LEN}",
            Ipv4Addr::new(10, 255, 255, self.pxe_base())
        )
    }

    /// pixie's `--dhcp-range` for the machines behind this leaf's relay.
    pub fn dhcp_range(self) -> String {
        let b = self.pxe_base();
        format!(
            "{}-{}/{PXE_PREFIX_LEN},router={}",
            Ipv4Addr::new(10, 255, 255, b + 10),
            Ipv4Addr::new(10, 255, 255, b + 120),
            self.pxe_gateway()
        )
    }

    fn pxe_base(self) -> u8 {
        (self.index - 1) * 128
    }

    /// The MAC of switch port `swp<port>`: 52:54:00:0<leaf>:00:<port>.
    pub fn port_mac(self, port: u8) -> String {
        format!("52:54:00:{:02x}:00:{port:02x}", self.index)
    }
}

/// The prefix length of each leaf's PXE subnet.
pub const PXE_PREFIX_LEN: u8 = 25;

/// The uplink of every leaf, to the exit router: `swp<UPLINK_PORT>`.
pub const UPLINK_PORT: u8 = 31;
/// The management network the leaves' eth0 are on: in the fabric test the guest routes it to
/// metal-api, in the routed lab it is the management server's own address (metal-api, pixie).
pub const MANAGEMENT_GATEWAY: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 1);
pub const MANAGEMENT_PREFIX_LEN: u8 = 24;

pub const EXIT_ASN: u32 = 4_200_000_021;
pub const EXIT_LOOPBACK: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 21);
/// The VNI of the internet VRF on the exit, which the internet network's `vrf` must name.
pub const INTERNET_VNI: u32 = 104_009;
/// The exit's and the external host's segment (documentation range).
pub const EXIT_EXTERNAL_IP: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 1);
pub const EXTERNAL_IP: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 100);
pub const EXTERNAL_PREFIX_LEN: u8 = 25;
/// The internet network's prefix (the firewalls' public addresses and public IPs).
pub const INTERNET_PREFIX: &str = "203.0.113.128/25";

/// The exit router's `frr.conf`: EVPN to the leaves (timers 1 3, as mini-lab's), the internet
/// VRF with a default route to the external host, announced as EVPN type-5 routes.
pub fn exit_frr_conf() -> String {
    let mut s = String::new();
    s.push_str("frr defaults datacenter\nhostname exit\nservice integrated-vtysh-config\n!\n");
    s.push_str(&format!(
        "vrf vrfInternet\n vni {INTERNET_VNI}\n ip route 0.0.0.0/0 {EXTERNAL_IP}\nexit-vrf\n!\n"
    ));
    for port in ["swp1", "swp2"] {
        s.push_str(&format!(
            "interface {port}\n ipv6 nd ra-interval 6\n no ipv6 nd suppress-ra\nexit\n!\n"
        ));
    }
    s.push_str(&format!(
        "router bgp {EXIT_ASN}\n bgp router-id {EXIT_LOOPBACK}\n bgp bestpath as-path multipath-relax\n \
neighbor FABRIC peer-group\n neighbor FABRIC remote-as external\n neighbor FABRIC timers 1 3\n \
neighbor swp1 interface peer-group FABRIC\n neighbor swp2 interface peer-group FABRIC\n !\n \
address-family ipv4 unicast\n  redistribute connected route-map LOOPBACKS\n exit-address-family\n !\n \
address-family l2vpn evpn\n  neighbor FABRIC activate\n  neighbor FABRIC allowas-in 2\n  advertise-all-vni\n \
exit-address-family\nexit\n!\n"
    ));
    s.push_str(&format!(
        "router bgp {EXIT_ASN} vrf vrfInternet\n bgp router-id {EXIT_LOOPBACK}\n !\n \
address-family ipv4 unicast\n  redistribute static\n exit-address-family\n !\n \
address-family l2vpn evpn\n  advertise ipv4 unicast\n exit-address-family\nexit\n!\n"
    ));
    s.push_str("route-map LOOPBACKS permit 10\n match interface lo\nexit\n!\nline vty\n!\n");
    s
}

/// The exit router's `frr.conf` in the routed lab: [`exit_frr_conf`], plus the way between the
/// leaves' PXE relays and the management server: the exit's leg on the management network
/// (`mgmt0`, [`EXIT_MANAGEMENT_IP`]) is announced to the leaves with the loopbacks, and each
/// leaf's PXE subnet is routed to that leaf's loopback (the leaves announce only their
/// loopbacks). So the relays reach pixie, and pixie's replies and the booting machines' traffic
/// reach the relay that asked, through the underlay as in a data centre whose management
/// servers hang off the spines.
pub fn lab_exit_frr_conf() -> String {
    let mut s = exit_frr_conf();
    for leaf in Leaf::ALL {
        s.push_str(&format!(
            "ip route {} {}\n",
            leaf.pxe_subnet(),
            leaf.loopback()
        ));
    }
    s.push_str("!\nroute-map LOOPBACKS permit 20\n match interface mgmt0\nexit\n!\n");
    s
}

/// The exit router's address on the management network (routed lab).
pub const EXIT_MANAGEMENT_IP: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 21);

/// The shell library of the fabric guest (POSIX sh, sourced by the guest's script):
///
/// - `node NAME [ro]`: makes the node (see the module's documentation); `ro` mounts `/sys`
///   read-only in it, which systemd-networkd needs to manage links without udev;
/// - `on NAME CMD...`: runs a command in the node;
/// - `cable NODE_A PORT_A MAC_A NODE_B PORT_B MAC_B`: a veth pair between two nodes;
/// - `uplink LEAF PORT MAC EXIT_PORT EXIT_MAC`: a cable from a leaf to the exit, MTU 9216;
/// - `frr_start NAME`: starts FRR in the node with its `/etc/frr`, and returns once FRR runs
///   that configuration;
/// - `management`: the guest's NIC (qemu's user network, metal-api at 10.0.2.2) and the
///   management bridge the leaves' eth0 are on, masqueraded to the NIC;
/// - `leaf_base NAME LOOPBACK MGMT_IP`: a leaf as its installer leaves it (lo, eth0 in VRF mgmt),
///   applied with ifreload, and FRR started;
/// - `exit_node`: the exit router and the external host;
/// - `lab_management MAC`: (routed lab) the management bridge on the guest's NIC with that MAC,
///   which qemu puts on the lab's management network; no address, no NAT;
/// - `exit_management`: (routed lab) the exit's leg `mgmt0` on the management bridge.
pub const FABRIC_SH: &str = r#"
N=@NODES@
node() {
  n=$1; d=$N/$n
  mkdir -p $d/etc/frr $d/etc/network/interfaces.d $d/etc/iproute2 $d/etc/systemd/network $d/etc/nftables $d/etc/default
  mkdir -p /etc/nftables /etc/systemd/network /etc/network
  cp -a /etc/frr/. $d/etc/frr/
  cp -a /etc/default/. $d/etc/default/
  cp -a /etc/iproute2/. $d/etc/iproute2/
  cp -a /etc/network/. $d/etc/network/
  sed -i -e 's/^bgpd=no/bgpd=yes/' $d/etc/frr/daemons
  # software emulation under load: watchfrr kills a start (and the configuration load) that
  # takes more than 20 s by default
  echo 'watchfrr_options="-T 180 -t 60"' >> $d/etc/frr/daemons
  printf 'frr defaults datacenter\nhostname %s\nservice integrated-vtysh-config\n!\n' "$n" > $d/etc/frr/frr.conf
  chown -R frr:frr $d/etc/frr
  ip netns add $n
  ip -n $n link set lo up
  ip netns exec $n unshare -m -u --propagation private sh -c '
    d=$1; hostname $3
    for p in etc/frr etc/network etc/iproute2 etc/systemd/network etc/nftables etc/default; do mount --bind $d/$p /$p; done
    for p in /run/frr /run/network /run/systemd/netif /var/log/frr /var/tmp/network; do mkdir -p $p; mount -t tmpfs tmpfs $p; done
    chown frr:frr /run/frr /var/log/frr
    mkdir -p /run/systemd/netif/links /run/systemd/netif/leases /run/systemd/netif/lldp
    chown -R systemd-network:systemd-network /run/systemd/netif
    if [ "$2" = ro ]; then mount -o remount,bind,ro /sys; fi
    touch $d/ready
    exec sleep infinity' sh $d "$2" $n > $d/holder.log 2>&1 &
  echo $! > $d/pid
  for i in $(seq 1 100); do [ -f $d/ready ] && return 0; sleep 0.1; done
  echo "node $n did not come up: $(cat $d/holder.log)"; return 1
}
on() { n=$1; shift; [ -f $N/$n/pid ] || { echo "no node $n"; return 1; }; nsenter -t "$(cat $N/$n/pid)" -m -n -u -- "$@"; }
cable() {
  ip link add "$2" address "$3" netns "$1" type veth peer name "$5" address "$6" netns "$4"
  ip -n "$1" link set "$2" up; ip -n "$4" link set "$5" up
}
uplink() { # leaf port mac exit-port exit-mac: a fabric link; it carries VXLAN, so jumbo frames
  # on both ends, as metal-core sets on the leaf's uplink and mini-lab's links have (a machine's
  # full-size frame in VXLAN is 1550 bytes)
  cable "$1" "$2" "$3" exit "$4" "$5" && ip -n "$1" link set "$2" mtu 9216 && ip -n exit link set "$4" mtu 9216
}
frr_start() {
  on "$1" /usr/lib/frr/frrinit.sh start > $N/$1/frr-start.log 2>&1
  # a configuration with BGP is loaded when FRR runs BGP; load it again if not
  grep -q '^router bgp' $N/$1/etc/frr/frr.conf || return 0
  for i in $(seq 1 60); do
    on "$1" vtysh -c 'show running-config' 2>/dev/null | grep -q '^router bgp' && return 0
    [ "$i" = 20 ] && on "$1" vtysh -b >> $N/$1/frr-start.log 2>&1
    sleep 1
  done
  echo "FRR of $1 did not load its configuration: $(tail -n 5 $N/$1/frr-start.log)"; return 1
}
management() {
  nic=""
  for l in $(ls /sys/class/net); do
    [ "$(cat /sys/class/net/$l/address)" = "52:54:00:12:34:56" ] && nic=$l
  done
  [ -n "$nic" ] || { echo "no NIC for the management network"; return 1; }
  ip link set "$nic" up; ip addr add 10.0.2.15/24 dev "$nic"; ip route add default via 10.0.2.2
  ip link add mgmt type bridge; ip addr add @MGMT_GW@/@MGMT_LEN@ dev mgmt; ip link set mgmt up
  sysctl -qw net.ipv4.ip_forward=1
  nft -f - <<EOF
table ip fabric-mgmt {
  chain post { type nat hook postrouting priority 100; oifname "$nic" masquerade; }
}
EOF
}
lab_management() { # mac
  nic=""
  for l in $(ls /sys/class/net); do
    [ "$(cat /sys/class/net/$l/address)" = "$1" ] && nic=$l
  done
  [ -n "$nic" ] || { echo "no NIC with MAC $1 for the management network"; return 1; }
  ip link add mgmt type bridge; ip link set "$nic" master mgmt; ip link set "$nic" up; ip link set mgmt up
}
exit_management() {
  ip link add mgmt0 netns exit type veth peer name mgmt-exit
  ip link set mgmt-exit master mgmt; ip link set mgmt-exit up
  on exit ip addr add @EXIT_MGMT@/@MGMT_LEN@ dev mgmt0 && on exit ip link set mgmt0 up
}
leaf_base() { # name loopback management-ip
  n=$1
  node $n || return 1
  ip link add eth0 netns $n type veth peer name mgmt-$n
  ip link set mgmt-$n master mgmt; ip link set mgmt-$n up
  cat > $N/$n/etc/network/interfaces <<EOF
auto lo
iface lo inet loopback
    address $2/32

auto eth0
iface eth0
    address $3/@MGMT_LEN@
    gateway @MGMT_GW@
    vrf mgmt

auto mgmt
iface mgmt
    address 127.0.0.1/8
    vrf-table auto
EOF
  on $n sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
  on $n ifreload -a > $N/$n/ifreload.log 2>&1 || { cat $N/$n/ifreload.log; return 1; }
  frr_start $n
}
exit_node() {
  node exit || return 1
  node external || return 1
  ip link add ext0 netns exit type veth peer name ext0 netns external
  cat > $N/exit/etc/frr/frr.conf <<'EOF'
@EXIT_FRR@
EOF
  chown frr:frr $N/exit/etc/frr/frr.conf
  on exit sh -e -c '
    sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
    ip addr add @EXIT_LO@/32 dev lo
    ip link add vrfInternet type vrf table 1000; ip link set vrfInternet up
    ip link add bridge type bridge vlan_filtering 1 vlan_default_pvid 0; ip link set bridge up
    bridge vlan add dev bridge vid 1000 self
    ip link add vlanInternet link bridge type vlan id 1000
    ip link set vlanInternet master vrfInternet; ip link set vlanInternet up
    ip link add vniInternet type vxlan id @INTERNET_VNI@ local @EXIT_LO@ dstport 4789 nolearning
    ip link set vniInternet master bridge
    bridge vlan add dev vniInternet vid 1000 pvid untagged
    ip link set vniInternet type bridge_slave neigh_suppress on learning off
    ip link set vniInternet up
    ip link set ext0 master vrfInternet; ip addr add @EXIT_EXT@/@EXT_LEN@ dev ext0; ip link set ext0 up'
  on external sh -e -c '
    ip link set ext0 up; ip addr add @EXTERNAL@/@EXT_LEN@ dev ext0
    ip route add @INTERNET@ via @EXIT_EXT@'
}
"#;

/// [`FABRIC_SH`] with the fabric test's addresses filled in.
pub fn fabric_sh() -> String {
    fabric_sh_with(&exit_frr_conf())
}

/// [`FABRIC_SH`] for the routed lab (the exit with [`lab_exit_frr_conf`]).
pub fn lab_fabric_sh() -> String {
    fabric_sh_with(&lab_exit_frr_conf())
}

fn fabric_sh_with(exit_conf: &str) -> String {
    FABRIC_SH
        .replace("@NODES@", NODES)
        .replace("@MGMT_GW@", &MANAGEMENT_GATEWAY.to_string())
        .replace("@MGMT_LEN@", &MANAGEMENT_PREFIX_LEN.to_string())
        .replace("@EXIT_FRR@", exit_conf.trim_end())
        .replace("@EXIT_MGMT@", &EXIT_MANAGEMENT_IP.to_string())
        .replace("@EXIT_LO@", &EXIT_LOOPBACK.to_string())
        .replace("@INTERNET_VNI@", &INTERNET_VNI.to_string())
        .replace("@EXIT_EXT@", &EXIT_EXTERNAL_IP.to_string())
        .replace("@EXT_LEN@", &EXTERNAL_PREFIX_LEN.to_string())
        .replace("@EXTERNAL@", &EXTERNAL_IP.to_string())
        .replace("@INTERNET@", INTERNET_PREFIX)
}

/// The first `@NAME@` placeholder (upper case and `_`) left in a script, if any; the shell's
/// own `"$@"` is none.
pub fn unfilled(script: &str) -> Option<&str> {
    script.match_indices('@').find_map(|(at, _)| {
        let len = script[at + 1..]
            .find(|c: char| !(c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'))
            .unwrap_or(script.len() - at - 1);
        (len > 0 && script[at + 1 + len..].starts_with('@')).then(|| &script[at..at + len + 2])
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_placeholder_is_filled() {
        let sh = fabric_sh();
        assert_eq!(unfilled(&sh), None, "{sh}");
        assert_eq!(unfilled("a \"$@\" @M1_IP@ b"), Some("@M1_IP@"));
        assert!(sh.contains("vrf vrfInternet\n vni 104009\n ip route 0.0.0.0/0 203.0.113.100"));
    }

    #[test]
    fn leaves_have_their_own_numbers() {
        let [a, b] = Leaf::ALL;
        assert_eq!((a.name(), b.name()), ("leaf01".into(), "leaf02".into()));
        assert_ne!(a.asn(), b.asn());
        assert_eq!(a.port_mac(31), "52:54:00:01:00:1f");
        assert_eq!(b.loopback(), Ipv4Addr::new(10, 0, 0, 12));
    }

    #[test]
    fn each_leaf_relays_from_its_own_pxe_subnet() {
        let [a, b] = Leaf::ALL;
        assert_eq!(a.pxe_cidr(), "10.255.255.1/25");
        assert_eq!(b.pxe_cidr(), "10.255.255.129/25");
        assert_eq!(
            a.dhcp_range(),
            "10.255.255.10-10.255.255.120/25,router=10.255.255.1"
        );
        assert_eq!(
            b.dhcp_range(),
            "10.255.255.138-10.255.255.248/25,router=10.255.255.129"
        );
        let conf = lab_exit_frr_conf();
        assert!(
            conf.contains("ip route 10.255.255.0/25 10.0.0.11\n"),
            "{conf}"
        );
        assert!(
            conf.contains("ip route 10.255.255.128/25 10.0.0.12\n"),
            "{conf}"
        );
        assert_eq!(unfilled(&lab_fabric_sh()), None);
    }

    #[test]
    fn the_exit_config_passes_vtysh() {
        // vtysh -C checks the file the exit router starts with (skipped without FRR installed,
        // except in privileged runs such as CI's; the fabric test runs the file for real)
        let required = std::env::var("METAL_PRIVILEGED_TESTS").as_deref() == Ok("1");
        if metal_util::tool::on_path("vtysh").is_none() && !required {
            eprintln!("vtysh not installed: skipping the check of the exit's frr.conf");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        for conf in [exit_frr_conf(), lab_exit_frr_conf()] {
            let f = dir.path().join("frr.conf");
            std::fs::write(&f, conf).unwrap();
            metal_util::tool::check_file("vtysh", &["-C", "-f"], &f).unwrap();
        }
    }
}
