//! The firewall datapath for real: a qemu guest with Debian's kernel (VRF, 802.1Q, VLAN-aware
//! bridge, VXLAN, nftables logging: what this host's kernel lacks) is the firewall. os-installer
//! configures it from the golden firewall's `install.yaml` (private network, internet with NAT,
//! another project's shared network, the allocation's rules, accepted connections logged);
//! systemd-networkd, FRR and nftables then run the files it wrote, unchanged.
//!
//! The test stands in for the fabric, which it does not have (no leaf, no exit router): a
//! "tenant" namespace is cabled to the firewall's bridge as an access port of the private
//! network's VLAN, an "internet" namespace (203.0.113.100, an HTTP server on ports 80 and 8080)
//! as one of the internet VLAN; the routes EVPN would carry (the machine's /32 in the private
//! VRF, the exit's default route in the internet VRF) are given to the VRFs' BGP as static
//! routes. Then:
//! - HTTP from the tenant to 203.0.113.100:80 succeeds and arrives from the firewall's public
//!   address 185.1.2.1 (route leaking from the internet VRF, the egress rule, SNAT);
//! - port 8080, which the egress rules do not allow, is dropped;
//! - droptailer-client on the firewall (in the private VRF, as os-installer's unit runs it;
//!   source `/dev/kmsg`, the guest has no journald) ships the nftables log lines over mutual TLS
//!   to droptailer-server in the tenant namespace, which prints an accepted line for port 80 and
//!   a dropped one for port 8080 with the fields of metal-stack's example.
//!
//! Privileged (root, qemu, debootstrap); the guest image is built once and cached.

use std::path::{Path, PathBuf};
use std::time::Duration;

use metal_proto::pki::Ca;
use metal_sim::vm::debian::{DebianGuest, GuestRun, NETWORK};

const TOOLS: &[(&str, &str)] = &[
    ("qemu-system-x86_64", "qemu-system-x86 (bookworm-backports)"),
    ("qemu-img", "qemu-utils"),
    ("debootstrap", "debootstrap"),
    ("mkfs.ext4", "e2fsprogs"),
];

const SCRIPT: &str = r#"exec 2>&1
R=/run/metal
fail() { echo "FW-FAILED: $*"; echo "--- networkd"; tail -n 40 /tmp/networkd.log;
  echo "--- bridge"; bridge vlan show; echo "--- links"; ip -o link | cut -c1-110; ip -br addr;
  echo "--- routes"; ip route show vrf vrf3981; ip route show vrf vrf104009; echo "--- frr"; vtysh -c 'show bgp vrf all summary';
  vtysh -c 'show ip route vrf all'; vtysh -c 'show bgp vrf vrf3981 ipv4 unicast 0.0.0.0/0'; vtysh -c 'show ip nht vrf all';
  vtysh -c 'show bgp vrf vrf104009 ipv4 unicast 0.0.0.0/0'; echo "--- nft"; nft list ruleset | head -n 80; echo "--- droptailer"; tail -n 20 /tmp/dt-client.log;
  tail -n 20 /tmp/dt-server.log; dmesg | tail -n 20; exit 1; }
waitfor() { # seconds, description, command
  t=$1; d=$2; shift 2
  for i in $(seq 1 "$t"); do if sh -c "$*" >/dev/null 2>&1; then return 0; fi; sleep 1; done
  fail "$d"
}
sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1

# the firewall's image: os-installer writes its network from install.yaml and checks it
mkdir -p /etc/metal
cp $R/install.yaml /etc/metal/install.yaml
start=$(date +%s%N)
$R/os-installer --only "write hostname" --only "write /etc/hosts" --only "configure network" \
  --only "deploy systemd services" || fail "os-installer"
echo "FW-INSTALLED $(( ($(date +%s%N) - start) / 1000000 )) ms"

# what systemd would start: networkd, FRR, nftables (the guest's PID 1 is not systemd).
# lan0/lan1 stand for the NICs udev would have renamed by MAC, with the MTU of the .link files
ip link add lan0 mtu 9216 type dummy; ip link add lan1 mtu 9216 type dummy
mkdir -p /run/systemd/netif/links /run/systemd/netif/leases /run/systemd/netif/lldp
chown -R systemd-network:systemd-network /run/systemd/netif
# without udev, networkd configures links only where /sys is read-only (as in a container):
# it runs in its own mount namespace with /sys bound read-only
unshare -m sh -c 'mount -o remount,bind,ro /sys && exec /lib/systemd/systemd-networkd' > /tmp/networkd.log 2>&1 &
waitfor 60 "networkd made the VRFs, SVIs and VXLANs" 'ip link show vlan3981 && ip link show vlan104009 && ip link show vni104009 && ip -br addr show vlan104009 | grep -q 185.1.2.1'
ip -d link show vrf3981 | grep -q 'vrf table 1001' || fail "vrf3981 has table 1001"
ip -d link show vni3981 | grep -q 'vxlan id 3981' || fail "vni3981 is VNI 3981"
bridge vlan show dev vni3981 | grep -q '1001 PVID' || fail "vni3981 carries VLAN 1001"
echo "FW-NETWORK-OK"
/usr/lib/frr/frrinit.sh start > /tmp/frr.log 2>&1 || fail "FRR"
nft -f /etc/nftables.conf || fail "nftables"
echo "FW-SERVICES-OK"

# the stand-ins for the fabric: access ports of the bridge, routes EVPN would carry
ip netns add tenant; ip netns add inet
ip link add tp type veth peer name th; ip link set th netns tenant
ip link set tp master bridge; bridge vlan add dev tp vid 1001 pvid untagged; ip link set tp up
ip link add ip0 type veth peer name ih; ip link set ih netns inet
ip link set ip0 master bridge; bridge vlan add dev ip0 vid 1002 pvid untagged; ip link set ip0 up
ip netns exec tenant sh -c 'ip link set lo up; ip link set th up; ip addr add 10.0.16.2/32 dev th;
  ip route add 10.0.16.1/32 dev th; ip route add default via 10.0.16.1 dev th'
ip netns exec inet sh -c 'ip link set lo up; ip link set ih up; ip route add 185.1.2.0/24 dev ih;
  ip addr add 203.0.113.100/32 dev lo; sysctl -qw net.ipv4.conf.ih.proxy_arp=1'
# the exit's default route, as an interface route (EVPN's next hop would be the exit's VTEP):
# the stand-in answers ARP for the internet (proxy ARP)
vtysh -c 'conf t' -c 'vrf vrf104009' -c 'ip route 0.0.0.0/0 vlan104009' -c 'exit-vrf' \
  -c 'vrf vrf3981' -c 'ip route 10.0.16.2/32 vlan3981' -c 'exit-vrf' \
  -c 'router bgp 4200003080 vrf vrf104009' -c 'address-family ipv4 unicast' -c 'redistribute static' -c 'exit-address-family' -c 'exit' \
  -c 'router bgp 4200003080 vrf vrf3981' -c 'address-family ipv4 unicast' -c 'redistribute static' > /dev/null || fail "stand-in routes"
waitfor 60 "the internet's default route leaked into the private VRF" 'ip route show vrf vrf3981 | grep -q "^default"'
waitfor 60 "the machine's route leaked into the internet VRF" 'ip route show vrf vrf104009 | grep -q "10.0.16.2"'
ip route show vrf vrf3981 | sed 's/^/FW-ROUTE vrf3981 /'
ip route show vrf vrf104009 | sed 's/^/FW-ROUTE vrf104009 /'

# droptailer: the server in the tenant's network, the client on the firewall in the private VRF
echo "10.0.16.2 droptailer" >> /etc/hosts
mkdir -p /etc/droptailer-client
cp $R/ca.crt /etc/droptailer-client/ca.crt
cp $R/client.crt /etc/droptailer-client/droptailer-client.crt
cp $R/client.key /etc/droptailer-client/droptailer-client.key
ip netns exec tenant env SERVER_CERTIFICATE=$R/server.crt SERVER_KEY=$R/server.key SERVER_CA_CERTIFICATE=$R/ca.crt \
  $R/droptailer-server > /tmp/drops.log 2> /tmp/dt-server.log &
waitfor 30 "droptailer server listening" 'grep -q listening /tmp/dt-server.log'
# as os-installer's unit starts it, with /dev/kmsg as source
ExecStart=$(sed -n 's/^ExecStart=//p' /etc/systemd/system/droptailer.service)
env $(sed -n 's/^Environment="\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' /etc/systemd/system/droptailer.service | grep -v PREFIXES | tr '\n' ' ') \
  DROPTAILER_CA_CERTIFICATE=/etc/droptailer-client/ca.crt DROPTAILER_SOURCE=kmsg \
  ${ExecStart%/usr/local/bin/droptailer-client}$R/droptailer-client > /tmp/dt-client.log 2>&1 &
waitfor 30 "droptailer client reading" 'grep -q reading /tmp/dt-client.log'

# the flows
ip netns exec inet python3 -m http.server 80 --bind 203.0.113.100 > /tmp/http80.log 2>&1 &
ip netns exec inet python3 -m http.server 8080 --bind 203.0.113.100 > /tmp/http8080.log 2>&1 &
waitfor 30 "http servers" 'ip netns exec inet ss -ltn | grep -q ":8080"'
code=$(ip netns exec tenant python3 -c 'import urllib.request; print(urllib.request.urlopen("http://203.0.113.100/", timeout=10).status)') || fail "HTTP to the internet"
echo "FW-HTTP $code"
grep '"GET / ' /tmp/http80.log | sed 's/^/FW-HTTPLOG /'
if ip netns exec tenant python3 -c 'import socket; socket.create_connection(("203.0.113.100", 8080), timeout=5)' 2>/dev/null; then
  fail "port 8080 is not allowed by the egress rules but connected"
fi
echo "FW-BLOCKED 8080"
waitfor 60 "droptailer printed the accepted and the dropped connection" 'grep -q "\"ACTION\":\"accept\"" /tmp/drops.log && grep -q "\"DPT\":\"8080\"" /tmp/drops.log'
sed 's/^/FW-DROP /' /tmp/drops.log
echo "FW-DONE"
"#;

/// Where cargo put this package's binary and so the workspace's others.
fn bin(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_BIN_EXE_os-installer"))
        .parent()
        .unwrap();
    let path = dir.join(name);
    if !path.is_file() {
        // `cargo test -p os-installer` alone does not build droptailer's binaries
        let status = std::process::Command::new(env!("CARGO"))
            .args(["build", "-p", "droptailer", "--bins"])
            .status()
            .unwrap();
        assert!(status.success(), "cargo build -p droptailer");
    }
    assert!(path.is_file(), "{} missing", path.display());
    path
}

#[test]
fn a_firewall_routes_filters_snats_and_reports() {
    if !metal_sim::gate::privileged("a_firewall_routes_filters_snats_and_reports", TOOLS) {
        return;
    }
    let guest = DebianGuest::get(&NETWORK).expect("guest");
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/firewall/install.yaml");
    let ca = Ca::new("droptailer CA").unwrap();
    let server = ca.server("droptailer", &["droptailer"]).unwrap();
    let client = ca.client("fw01").unwrap();
    let read = |p: &Path| std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    let run = GuestRun::new(SCRIPT)
        .file("install.yaml", read(&golden), 0o600)
        .file(
            "os-installer",
            read(Path::new(env!("CARGO_BIN_EXE_os-installer"))),
            0o755,
        )
        .file("droptailer-client", read(&bin("droptailer-client")), 0o755)
        .file("droptailer-server", read(&bin("droptailer-server")), 0o755)
        .file("ca.crt", ca.cert_pem(), 0o644)
        .file("server.crt", server.cert, 0o644)
        .file("server.key", server.key, 0o600)
        .file("client.crt", client.cert, 0o644)
        .file("client.key", client.key, 0o600)
        .modules(&["vrf", "8021q", "vxlan", "bridge", "dummy", "nf_log_syslog"])
        .hostname("fw01")
        .memory_mib(1024)
        .timeout(Duration::from_secs(900));
    let out = guest.run(&run).expect("guest run");
    let text = out.text();
    let lines: Vec<&str> = text.lines().collect();
    for l in &lines {
        if l.starts_with("FW-") {
            eprintln!("{l}");
        }
    }
    assert!(!text.contains("FW-FAILED"), "{text}");
    assert_eq!(out.exit_code, 0, "{text}");
    assert!(
        text.contains("FW-NETWORK-OK") && text.contains("FW-DONE"),
        "{text}"
    );
    // HTTP went through, from the firewall's public address (SNAT)
    assert!(text.contains("FW-HTTP 200"), "{text}");
    let http = lines
        .iter()
        .find(|l| l.starts_with("FW-HTTPLOG "))
        .unwrap_or_else(|| panic!("no request logged:\n{text}"));
    assert!(http.starts_with("FW-HTTPLOG 185.1.2.1 "), "{http}");
    assert!(text.contains("FW-BLOCKED 8080"), "{text}");
    // droptailer's lines: `<timestamp> <JSON>` with the fields of metal-stack's example
    let drops: Vec<serde_json::Value> = lines
        .iter()
        .filter_map(|l| l.strip_prefix("FW-DROP "))
        .map(|l| {
            let (ts, json) = l.split_at(l.find(" {").unwrap_or_else(|| panic!("{l}")));
            assert!(ts.ends_with(" +0000 UTC"), "{l}");
            let v: serde_json::Value = serde_json::from_str(json.trim()).unwrap();
            assert_eq!(v["timestamp"], ts, "{l}");
            v
        })
        .collect();
    let accepted = drops
        .iter()
        .find(|v| v["ACTION"] == "accept" && v["DPT"] == "80")
        .unwrap_or_else(|| panic!("no accepted line for port 80: {drops:#?}"));
    let dropped = drops
        .iter()
        .find(|v| v["ACTION"] == "drop" && v["DPT"] == "8080")
        .unwrap_or_else(|| panic!("no dropped line for port 8080: {drops:#?}"));
    for v in [accepted, dropped] {
        for key in [
            "DST", "ID", "IN", "LEN", "OUT", "PREC", "PROTO", "SPT", "SRC", "TOS", "TTL",
        ] {
            assert!(v.get(key).is_some(), "{key} missing: {v}");
        }
        assert_eq!(v["SRC"], "10.0.16.2", "{v}");
        assert_eq!(v["DST"], "203.0.113.100", "{v}");
        assert_eq!(v["PROTO"], "TCP", "{v}");
        assert_eq!(v["SYN"], "", "{v}");
    }
    if let Some(l) = lines.iter().find(|l| l.starts_with("FW-INSTALLED")) {
        eprintln!("os-installer in the guest (TCG): {l}");
    }
}
