//! The routed fabric for real, with every network component of the lab: one Debian guest
//! (Debian's kernel: VRF, 802.1Q, VLAN-aware bridges, VXLAN) holds leaf01, leaf02, the exit
//! router, an external host and three hosts as nodes (`metal_lab::fabric`): a machine and a
//! firewall of project p1 and a machine of project p2, each cabled to both leaves.
//!
//! - metal-core runs on each leaf (eth0 in VRF mgmt) against metal-api in this test and
//!   configures the leaf with ifupdown2 and FRR from metal-api's switch view;
//! - the hosts get their network from os-installer, rendered from the `install.yaml` metal-hammer
//!   writes for their allocations (metal-hammer's own code, from metal-api's answer), and run it
//!   with systemd-networkd, FRR and nftables; droptailer-client ships the firewall's log;
//! - the exit router announces the internet VRF (VNI 104009) with a default route to the
//!   external host.
//!
//! Then, as mini-lab's checks and issue 17 have them: HTTP from the machine to the external
//! host goes machine → leaf VRF → EVPN → firewall (egress rule, SNAT) → EVPN → exit → external,
//! and arrives from the firewall's public address; a public IP of the project on the machine's
//! loopback is reachable from the external host through the ingress rule; a port the egress
//! rules do not allow is dropped; the machine of p2 cannot reach p1's machine; droptailer-server
//! (on the machine) prints the accepted and the dropped connection; `metalctl switch ls` shows
//! both leaves in sync; freeing the machine takes its VRF off both leaves and puts its ports
//! back into the PXE VLAN.
//!
//! What is not here yet (issue 17): the hosts are nodes of the fabric guest, not qemu machines
//! that PXE-boot through the leaves' DHCP relay and install a Debian image; IPv4 only.
//!
//! Privileged (root, qemu, debootstrap); the guest image is shared with metal-core's and
//! os-installer's guest tests and cached.

mod common;

use std::path::Path;
use std::time::Duration;

use common::bin;
use metal_domain::machine::{
    BootInfo, MachineBlockDevice, MachineHardware, MachineNic, MachineResponse,
};
use metal_lab::fabric::{self, Leaf, EXTERNAL_IP, INTERNET_PREFIX, INTERNET_VNI, UPLINK_PORT};
use metal_proto::pki::Ca;
use metal_sim::vm::debian::{DebianGuest, GuestRun, NETWORK};
use metal_sim::vm::{Nic, Vm};
use metal_testkit::{Backend, Caller, TestApi};
use serde_json::{json, Value};

const TOOLS: &[(&str, &str)] = &[
    ("qemu-system-x86_64", "qemu-system-x86 (bookworm-backports)"),
    ("qemu-img", "qemu-utils"),
    ("debootstrap", "debootstrap"),
    ("mkfs.ext4", "e2fsprogs"),
];

/// A host of the fabric: its node name, machine id, switch port on both leaves.
struct Host {
    node: &'static str,
    uuid: &'static str,
    port: u8,
}

const M1: Host = Host {
    node: "m1",
    uuid: "00000000-0000-0000-0000-0000000000a1",
    port: 1,
};
const M2: Host = Host {
    node: "m2",
    uuid: "00000000-0000-0000-0000-0000000000a2",
    port: 2,
};
const FW: Host = Host {
    node: "fw",
    uuid: "00000000-0000-0000-0000-0000000000f1",
    port: 3,
};
const HOSTS: [&Host; 3] = [&M1, &M2, &FW];

impl Host {
    /// The MAC of NIC `lan<nic>` (cabled to leaf `nic + 1`).
    fn mac(&self, nic: u8) -> String {
        format!("52:54:00:b{}:00:{nic:02x}", self.port)
    }
}

/// The guest's script after the library: the nodes, the cables, metal-core on the leaves, the
/// hosts as os-installer configured them; then the checks. `@...@` are filled in.
const SCRIPT: &str = r#"
exec 2>&1
R=/run/metal
diag() {
  for l in leaf01 leaf02; do echo "--- $l metal-core"; grep -v DEBUG $N/$l/metal-core.log | tail -n 15
    echo "--- $l"; on $l vtysh -c 'show bgp vrf all summary' | grep -v '^$'; on $l ip -br link | grep -v '@' ; on $l vtysh -c 'show evpn vni'
    on $l vtysh -c 'show ip route vrf all' | grep -v '^$' | tail -n 30; done
  for h in exit fw m1 m2; do echo "--- $h"; on $h vtysh -c 'show bgp vrf all summary' | grep -v '^$'; on $h ip -br addr
    on $h vtysh -c 'show ip route vrf all' | grep -v '^$' | tail -n 30; done
  on exit vtysh -c 'show bgp l2vpn evpn route type prefix' | tail -n 40
  echo "--- fw networkd"; tail -n 20 $N/fw/networkd.log; echo "--- nft"; on fw nft list ruleset | head -n 60
  echo "--- droptailer"; tail -n 10 $N/fw/dt-client.log; tail -n 10 $N/m1/dt-server.log; dmesg | tail -n 10
}
fail() { echo "FABRIC-FAILED: $*"; diag; exit 1; }
waitfor() { # seconds, description, command
  t=$1; d=$2; shift 2
  # eval, not sh -c: the condition may call the library's functions (on)
  for i in $(seq 1 "$t"); do if eval "$*" >/dev/null 2>&1; then return 0; fi; sleep 1; done
  fail "$d"
}
ms() { echo $(( $(date +%s%N) / 1000000 )); }
t0=$(ms)
sysctl -qw net.netfilter.nf_log_all_netns=1
management || fail "the management network"
exit_node || fail "the exit router"
leaf_base leaf01 @L1_LO@ @L1_MGMT@ || fail "leaf01"
leaf_base leaf02 @L2_LO@ @L2_MGMT@ || fail "leaf02"
for h in m1 m2 fw; do node $h ro || fail "node $h"; done
@CABLES@
frr_start exit || fail "FRR on the exit"
echo "FABRIC-NODES $(( $(ms) - t0 )) ms"

# metal-core on each leaf, in VRF mgmt, as on a Cumulus switch
for l in 1 2; do
  n=leaf0$l
  lo=$(eval echo \$L${l}_LO); mg=$(eval echo \$L${l}_MGMT); asn=$(eval echo \$L${l}_ASN); cidr=$(eval echo \$L${l}_CIDR)
  on $n env METAL_CORE_HMAC_KEY='@KEY@' ip vrf exec mgmt $R/metal-core --grpc-address 10.0.2.2:@GRPC@ \
    --log-level debug run --partition-id fra --rack-id r1 --switch-id $n \
    --metal-api-ip 10.0.2.2 --metal-api-port @PORT@ --management-ip $mg \
    --reconfigure-switch --reconfigure-switch-interval 2s --command-timeout 180s \
    --cidr $cidr --asn $asn --loopback-ip $lo --spine-uplinks swp@UPLINK_PORT@ \
    --management-gateway @MGMT_GW@ --eth0-cidr $mg/@MGMT_LEN@ --metrics-address 127.0.0.1:2112 \
    > $N/$n/metal-core.log 2>&1 &
done

# the hosts: os-installer renders and checks each one's network from its install.yaml;
# networkd, FRR and (on the firewall) nftables run the files
for h in m1 m2 fw; do
  $R/os-installer --config $R/$h.yaml render --out $N/$h/root --check > $N/$h/render.log 2>&1 \
    || { cat $N/$h/render.log; fail "os-installer for $h"; }
  cp -r $N/$h/root/etc/systemd/network/. $N/$h/etc/systemd/network/
  cp $N/$h/root/etc/frr/frr.conf $N/$h/etc/frr/frr.conf; chown frr:frr $N/$h/etc/frr/frr.conf
  on $h /lib/systemd/systemd-networkd > $N/$h/networkd.log 2>&1 &
done
cp -r $N/fw/root/etc/nftables/. $N/fw/etc/nftables/
waitfor 240 "networkd configured the firewall" "on fw ip -br addr show vlan@INTERNET_VNI@ | grep -q @FW_PUBLIC@"
waitfor 240 "networkd configured m1's loopback" "on m1 ip -br addr show lo | grep -q @M1_IP@"
waitfor 240 "networkd configured m2's loopback" "on m2 ip -br addr show lo | grep -q @M2_IP@"
for h in m1 m2 fw; do frr_start $h || fail "FRR on $h"; done
on fw nft -f $N/fw/root/etc/nftables.conf || fail "the firewall's nftables"
echo "FABRIC-HOSTS $(( $(ms) - t0 )) ms"

# droptailer: the server on m1 (the project's network), the client on the firewall in the
# private VRF as os-installer's unit runs it, reading the kernel log
echo "@M1_IP@ droptailer" >> /etc/hosts
mkdir -p /etc/droptailer-client
cp $R/ca.crt /etc/droptailer-client/ca.crt
cp $R/client.crt /etc/droptailer-client/droptailer-client.crt
cp $R/client.key /etc/droptailer-client/droptailer-client.key
on m1 env SERVER_CERTIFICATE=$R/server.crt SERVER_KEY=$R/server.key SERVER_CA_CERTIFICATE=$R/ca.crt \
  $R/droptailer-server > $N/m1/drops.log 2> $N/m1/dt-server.log &
unit=$N/fw/root/etc/systemd/system/droptailer.service
ExecStart=$(sed -n 's/^ExecStart=//p' $unit)
on fw env $(sed -n 's/^Environment="\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' $unit | grep -v PREFIXES | tr '\n' ' ') \
  DROPTAILER_CA_CERTIFICATE=/etc/droptailer-client/ca.crt DROPTAILER_SOURCE=kmsg \
  ${ExecStart%/usr/local/bin/droptailer-client}$R/droptailer-client > $N/fw/dt-client.log 2>&1 &

# services: HTTP on the external host (80 allowed by the egress rules, 8080 not), and the
# machine's service on port 22 (the ingress rule's port)
on external python3 -m http.server 80 --bind @EXTERNAL@ > $N/external/http80.log 2>&1 &
on external python3 -m http.server 8080 --bind @EXTERNAL@ > $N/external/http8080.log 2>&1 &
on m1 python3 -m http.server 22 > $N/m1/http22.log 2>&1 &
on m2 python3 -m http.server 22 > $N/m2/http22.log 2>&1 &
echo "FABRIC-UP $(( $(ms) - t0 )) ms"

# the fabric converges: both leaves configured, the underlay and EVPN up
for l in leaf01 leaf02; do
  waitfor 300 "$l put swp@M1_PORT@ into vrf@M1_VRF@" "on $l ip -d link show swp@M1_PORT@ | grep -q 'master vrf@M1_VRF@ '"
done
echo "FABRIC-LEAVES $(( $(ms) - t0 )) ms"
waitfor 240 "m1's default route (the firewall's, through EVPN)" "on m1 ip route show default | grep -q ."
echo "FABRIC-ROUTED $(( $(ms) - t0 )) ms"

get() { # node url [timeout]
  on "$1" python3 -c "import urllib.request,sys; print(urllib.request.urlopen(sys.argv[1], timeout=float(sys.argv[2])).status)" "$2" "${3:-3}"
}
connects() { # node ip port
  on "$1" python3 -c "import socket,sys; socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=4)" "$2" "$3"
}
# 1. machine -> leaf VRF -> EVPN -> firewall (egress rule, SNAT) -> EVPN -> exit -> external
ok=""
for i in $(seq 1 60); do
  if code=$(get m1 http://@EXTERNAL@/ 3 2>/dev/null); then ok=1; break; fi; sleep 2
done
[ -n "$ok" ] || fail "HTTP from m1 to @EXTERNAL@"
echo "FABRIC-HTTP $code after $(( $(ms) - t0 )) ms"
grep '"GET / ' $N/external/http80.log | sed 's/^/FABRIC-HTTPLOG /'

# 3. a public IP of the project on m1's loopback, reached from the external host (ingress rule)
on m1 ip addr add @PUBLIC_IP@/32 dev lo
ok=""
for i in $(seq 1 60); do
  if code=$(get external http://@PUBLIC_IP@:22/ 3 2>/dev/null); then ok=1; break; fi; sleep 2
done
[ -n "$ok" ] || fail "the external host reaching @PUBLIC_IP@:22"
echo "FABRIC-INGRESS $code after $(( $(ms) - t0 )) ms"
grep '"GET / ' $N/m1/http22.log | sed 's/^/FABRIC-INGRESSLOG /'

# 4. a port the egress rules do not allow; the other project's machine
if connects m1 @EXTERNAL@ 8080 2>/dev/null; then fail "port 8080 is not allowed by the egress rules but connected"; fi
echo "FABRIC-BLOCKED 8080"
# m2 is up (its sessions to both leaves are established), and its packets to m1 and to the
# external host are put on the wire to leaf01 (a route via the leaf's link-local address), so
# it is the leaf's VRF of p2 that has no way there
waitfor 120 "m2's sessions to the leaves" \
  "[ \$(on m2 vtysh -c 'show bgp neighbors json' | grep -o '\"bgpState\":\"Established\"' | wc -l) = 2 ]"
ll=$(on leaf01 ip -6 -o addr show dev swp@M2_PORT@ scope link | sed -n 's/.*inet6 \(fe80::[^/]*\).*/\1/p')
[ -n "$ll" ] || fail "leaf01's link-local address on swp@M2_PORT@"
on m2 ip route add @M1_IP@/32 via inet6 $ll dev lan0 || fail "m2's route to m1 via leaf01"
on m2 ip route add @EXTERNAL@/32 via inet6 $ll dev lan0 || fail "m2's route to the external host via leaf01"
if connects m2 @M1_IP@ 22 2>/dev/null; then fail "m2 (project p2) reached m1 (project p1)"; fi
if connects m2 @EXTERNAL@ 80 2>/dev/null; then fail "m2 (project p2, no firewall) reached the external host"; fi
on leaf01 ip route show vrf vrf@M2_VRF@ | sed 's/^/FABRIC-P2-ROUTE /'
echo "FABRIC-ISOLATED"

# 5. droptailer
waitfor 90 "droptailer printed the accepted and the dropped connection" \
  "grep -q '\"ACTION\":\"accept\"' $N/m1/drops.log && grep -q '\"DPT\":\"8080\"' $N/m1/drops.log"
sed 's/^/FABRIC-DROP /' $N/m1/drops.log
echo "FABRIC-CHECKS-OK"

# 7. the machine freed: its VRF leaves both leaves, its ports go back into the PXE VLAN
for l in leaf01 leaf02; do
  waitfor 300 "$l took swp@M1_PORT@ back into the bridge" "on $l ip -d link show swp@M1_PORT@ | grep -q 'master bridge '"
  waitfor 30 "$l has swp@M1_PORT@ in the PXE VLAN" "on $l bridge vlan show dev swp@M1_PORT@ | grep -q 4000"
  waitfor 60 "$l removed vrf@M1_VRF@" "! on $l ip link show vrf@M1_VRF@"
done
echo "FABRIC-FREED-OK $(( $(ms) - t0 )) ms"
for l in leaf01 leaf02; do grep 'switch reconfigured' $N/$l/metal-core.log | sed "s/^/FABRIC-RUN $l /"; done
echo "FABRIC-DONE"
"#;

fn switch_ports(leaf: Leaf) -> Vec<Value> {
    let mut ports: Vec<u8> = HOSTS.iter().map(|h| h.port).collect();
    ports.push(UPLINK_PORT);
    ports
        .into_iter()
        .map(|p| json!({"name": format!("swp{p}"), "mac": leaf.port_mac(p)}))
        .collect()
}

/// The machine's NICs as metal-hammer registers them: lan<i> cabled to swp<port> of leaf i+1.
fn registration(h: &Host) -> metal_api::app::boot::Registration {
    let nics = Leaf::ALL
        .iter()
        .enumerate()
        .map(|(i, leaf)| MachineNic {
            name: format!("lan{i}"),
            mac: h.mac(i as u8),
            neighbors: vec![MachineNic {
                name: format!("swp{}", h.port),
                mac: leaf.port_mac(h.port),
                hostname: leaf.name(),
                ..Default::default()
            }],
            ..Default::default()
        })
        .collect();
    metal_api::app::boot::Registration {
        uuid: h.uuid.into(),
        partition_id: "fra".into(),
        hardware: MachineHardware {
            cpu_cores: 4,
            memory: 8 << 30,
            disks: vec![MachineBlockDevice {
                name: "/dev/sda".into(),
                size: 100 << 30,
            }],
            nics,
            ..Default::default()
        },
        bios: Default::default(),
        ipmi: Default::default(),
        tags: vec![],
        metal_hammer_version: "test".into(),
    }
}

/// What the test set up in metal-api.
struct Fabric {
    /// the VRFs (= VNIs) of p1's and p2's private networks
    vrf1: u64,
    vrf2: u64,
    m1_ip: String,
    m2_ip: String,
    fw_public: String,
    public_ip: String,
}

/// Master data as mini-lab's: tenant and two projects, partition, the private super network,
/// the underlay, the internet (NAT, default route, VNI of the exit's VRF); the leaves as
/// metal-core registers them; the three hosts registered, allocated (the firewall with
/// mini-lab's rules) and installed; a public IP of p1.
async fn set_up(api: &TestApi) -> Fabric {
    let c = api.admin();
    c.ok(
        "PUT",
        "v1/tenant",
        json!({"meta": {"id": "acme"}, "name": "acme"}),
    )
    .await;
    for p in ["p1", "p2"] {
        c.ok(
            "PUT",
            "v1/project",
            json!({"meta": {"id": p}, "name": p, "tenant_id": "acme"}),
        )
        .await;
    }
    c.ok("PUT", "v1/partition", json!({"id": "fra", "name": "fra", "privatenetworkprefixlength": 24,
        "bootconfig": {"imageurl": "http://images.test/hammer.img", "kernelurl": "http://images.test/vmlinuz", "commandline": "console=ttyS0"}})).await;
    for n in [
        json!({"id": "tenant-super", "partitionid": "fra", "prefixes": ["10.128.0.0/16"],
            "destinationprefixes": [], "privatesuper": true}),
        json!({"id": "underlay", "partitionid": "fra", "prefixes": ["10.0.12.0/22"],
            "destinationprefixes": [], "underlay": true}),
        json!({"id": "internet", "partitionid": "fra", "prefixes": [INTERNET_PREFIX],
            "destinationprefixes": ["0.0.0.0/0"], "nat": true, "vrf": INTERNET_VNI}),
    ] {
        c.ok("PUT", "v1/network", n).await;
    }
    c.ok(
        "PUT",
        "v1/size",
        json!({"id": "n1", "constraints": [{"type": "cores", "min": 4, "max": 4}]}),
    )
    .await;
    c.ok("PUT", "v1/image", json!({"id": "ubuntu-24.04", "url": "http://images.test/u.tar.lz4", "features": ["machine"]})).await;
    c.ok("PUT", "v1/image", json!({"id": "firewall-ubuntu-3.0", "url": "http://images.test/f.tar.lz4", "features": ["firewall"]})).await;
    c.ok("PUT", "v1/filesystemlayout", json!({"id": "default",
        "constraints": {"sizes": ["n1"], "images": {"ubuntu": "*", "firewall-ubuntu": "*"}},
        "disks": [{"device": "/dev/sda", "partitions": [{"number": 1, "size": 0, "gpttype": "8300"}]}],
        "filesystems": [{"path": "/", "device": "/dev/sda1", "format": "ext4"}]})).await;
    let edit = api.client(Caller::Edit);
    for leaf in Leaf::ALL {
        edit.ok(
            "POST",
            "v1/switch/register",
            json!({"id": leaf.name(), "name": leaf.name(),
            "partition_id": "fra", "rack_id": "r1", "nics": switch_ports(leaf),
            "os": {"vendor": "Cumulus", "version": "", "metal_core_version": "test"},
            "management_ip": leaf.management_ip().to_string(), "management_user": "cumulus"}),
        )
        .await;
    }
    let app = &api.server.app;
    for h in HOSTS {
        metal_api::app::boot::register(app, registration(h))
            .await
            .expect("machine registration");
        metal_api::app::boot::set_waiting(app, h.uuid, true)
            .await
            .expect("waiting");
    }
    let mut private = Vec::new();
    for p in ["p1", "p2"] {
        let net = edit
            .ok(
                "POST",
                "v1/network/allocate",
                json!({"partitionid": "fra", "projectid": p, "name": format!("{p}-net")}),
            )
            .await;
        private.push((
            net["id"].as_str().unwrap().to_string(),
            net["vrf"].as_u64().expect("a VRF"),
        ));
    }
    let machine = |h: &Host, project: &str, net: &str| {
        json!({"uuid": h.uuid, "projectid": project, "imageid": "ubuntu-24.04", "name": h.node,
            "hostname": h.node, "networks": [{"networkid": net}]})
    };
    let m1 = edit
        .ok(
            "POST",
            "v1/machine/allocate",
            machine(&M1, "p1", &private[0].0),
        )
        .await;
    let m2 = edit
        .ok(
            "POST",
            "v1/machine/allocate",
            machine(&M2, "p2", &private[1].0),
        )
        .await;
    // mini-lab's rules (spec/network.md §5), IPv4
    let fw = edit.ok("POST", "v1/firewall/allocate", json!({"uuid": FW.uuid, "projectid": "p1",
        "imageid": "firewall-ubuntu-3.0", "name": "fw", "hostname": "fw",
        "tags": [os_installer::config::LOG_ACCEPTED_CONNECTIONS_TAG],
        "networks": [{"networkid": private[0].0}, {"networkid": "internet"}],
        "firewall_rules": {
            "egress": [
                {"comment": "allow http and https", "protocol": "tcp", "ports": [80, 443], "to": ["0.0.0.0/0"]},
                {"comment": "allow dns", "protocol": "tcp", "ports": [53], "to": ["0.0.0.0/0"]},
                {"comment": "allow dns and ntp", "protocol": "udp", "ports": [53, 123], "to": ["0.0.0.0/0"]}],
            "ingress": [
                {"comment": "allow incoming ssh", "protocol": "tcp", "ports": [22],
                 "from": ["203.0.113.0/24"], "to": [INTERNET_PREFIX]},
                {"comment": "allow incoming web", "protocol": "tcp", "ports": [80, 443],
                 "from": ["203.0.113.0/24"], "to": [INTERNET_PREFIX]}]}}))
    .await;
    for h in HOSTS {
        metal_api::app::boot::report(
            app,
            h.uuid,
            Some(BootInfo {
                image_id: "ubuntu-24.04".into(),
                primary_disk: "/dev/sda".into(),
                os_partition: "/dev/sda1".into(),
                ..Default::default()
            }),
            "console-password",
        )
        .await
        .expect("report");
    }
    let ip_of = |m: &Value, network: &str| -> String {
        m["allocation"]["networks"]
            .as_array()
            .and_then(|ns| ns.iter().find(|n| n["networkid"] == network))
            .and_then(|n| n["ips"][0].as_str())
            .unwrap_or_else(|| panic!("no IP in {network}: {m}"))
            .to_string()
    };
    let public = edit.ok("POST",
        "v1/ip/allocate",
        json!({"networkid": "internet", "projectid": "p1", "type": "ephemeral", "name": "m1-public"}),
    )
    .await;
    Fabric {
        vrf1: private[0].1,
        vrf2: private[1].1,
        m1_ip: ip_of(&m1, &private[0].0),
        m2_ip: ip_of(&m2, &private[1].0),
        fw_public: ip_of(&fw, "internet"),
        public_ip: public["ipaddress"].as_str().unwrap().to_string(),
    }
}

/// The `install.yaml` metal-hammer writes for the host, from metal-api's answer.
async fn install_yaml(api: &TestApi, h: &Host) -> String {
    let r = api.admin().get(&format!("v1/machine/{}", h.uuid)).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let m: MachineResponse = serde_json::from_value(r.body).expect("a machine");
    let req = metal_hammer::install::InstallRequest::from_machine(
        &m,
        "console-password",
        "ttyS0,115200n8",
        Path::new("/"),
        Path::new("/tmp"),
    )
    .expect("an install request");
    let cfg = metal_hammer::install::installer_config(&req, "", chrono::Utc::now());
    serde_yaml::to_string(&cfg).unwrap()
}

fn cables() -> String {
    let mut s = String::new();
    for h in HOSTS {
        for (i, leaf) in Leaf::ALL.iter().enumerate() {
            s.push_str(&format!(
                "cable {} swp{} {} {} lan{i} {} || fail \"cabling {}\"\n",
                leaf.name(),
                h.port,
                leaf.port_mac(h.port),
                h.node,
                h.mac(i as u8),
                h.node
            ));
        }
    }
    for (i, leaf) in Leaf::ALL.iter().enumerate() {
        s.push_str(&format!(
            "uplink {} swp{UPLINK_PORT} {} swp{} 52:54:00:e0:00:{:02x} || fail \"the uplink of {}\"\n",
            leaf.name(),
            leaf.port_mac(UPLINK_PORT),
            i + 1,
            i + 1,
            leaf.name()
        ));
    }
    s
}

/// Waits for `marker` on the console (the guest fails with `FABRIC-FAILED`).
fn phase(vm: &mut Vm, marker: &str, timeout: Duration) {
    let took = tokio::task::block_in_place(|| vm.phase(marker, "FABRIC-FAILED", timeout))
        .unwrap_or_else(|e| panic!("{e:#}"));
    eprintln!("{marker} after {took:?}");
}

/// metalctl, in-process, as the admin.
async fn metalctl(api: &TestApi, args: &[&str]) -> String {
    let url = api.url();
    let mut argv = vec!["--api-url", &url, "--hmac", &api.keys.admin];
    argv.extend_from_slice(args);
    metalctl::run_captured(&argv)
        .await
        .unwrap_or_else(|e| panic!("metalctl {args:?}: {e:#}"))
}

fn guest_lines(vm: &Vm, prefix: &str) -> Vec<String> {
    vm.console()
        .lines()
        .into_iter()
        .filter_map(|l| l.text.find(prefix).map(|at| l.text[at..].to_string()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_machine_reaches_the_internet_through_its_firewall() {
    let test = "a_machine_reaches_the_internet_through_its_firewall";
    if !metal_testkit::privileged(test, TOOLS) {
        return;
    }
    let guest = tokio::task::block_in_place(|| DebianGuest::get(&NETWORK)).expect("guest");
    let api = TestApi::start(Backend::Sqlite).await.unwrap();
    let f = set_up(&api).await;

    let ca = Ca::new("droptailer CA").unwrap();
    let server = ca.server("droptailer", &["droptailer"]).unwrap();
    let client = ca.client("fw").unwrap();
    let [l1, l2] = Leaf::ALL;
    let vars = format!(
        "L1_LO={} L1_MGMT={} L1_ASN={} L1_CIDR={}\nL2_LO={} L2_MGMT={} L2_ASN={} L2_CIDR={}\n",
        l1.loopback(),
        l1.management_ip(),
        l1.asn(),
        l1.pxe_cidr(),
        l2.loopback(),
        l2.management_ip(),
        l2.asn(),
        l2.pxe_cidr()
    );
    let script = format!("{}\n{vars}{SCRIPT}", fabric::fabric_sh())
        .replace("@CABLES@", &cables())
        .replace("@UPLINK_PORT@", &UPLINK_PORT.to_string())
        .replace("@L1_LO@", &l1.loopback().to_string())
        .replace("@L1_MGMT@", &l1.management_ip().to_string())
        .replace("@L2_LO@", &l2.loopback().to_string())
        .replace("@L2_MGMT@", &l2.management_ip().to_string())
        .replace("@MGMT_GW@", &fabric::MANAGEMENT_GATEWAY.to_string())
        .replace("@MGMT_LEN@", &fabric::MANAGEMENT_PREFIX_LEN.to_string())
        .replace("@PORT@", &api.server.addr.port().to_string())
        .replace("@GRPC@", &api.server.grpc_addr.port().to_string())
        .replace("@KEY@", &api.keys.edit)
        .replace("@INTERNET_VNI@", &INTERNET_VNI.to_string())
        .replace("@FW_PUBLIC@", &f.fw_public)
        .replace("@M1_IP@", &f.m1_ip)
        .replace("@M2_IP@", &f.m2_ip)
        .replace("@M1_PORT@", &M1.port.to_string())
        .replace("@M2_PORT@", &M2.port.to_string())
        .replace("@M2_VRF@", &f.vrf2.to_string())
        .replace("@M1_VRF@", &f.vrf1.to_string())
        .replace("@EXTERNAL@", &EXTERNAL_IP.to_string())
        .replace("@PUBLIC_IP@", &f.public_ip);
    assert_eq!(fabric::unfilled(&script), None, "a placeholder is left");
    let read = |p: &Path| std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    let mut run = GuestRun::new(&script)
        .file("metal-core", read(&bin("metal-core", "metal-core")), 0o755)
        .file(
            "os-installer",
            read(&bin("os-installer", "os-installer")),
            0o755,
        )
        .file(
            "droptailer-client",
            read(&bin("droptailer", "droptailer-client")),
            0o755,
        )
        .file(
            "droptailer-server",
            read(&bin("droptailer", "droptailer-server")),
            0o755,
        )
        .file("ca.crt", ca.cert_pem(), 0o644)
        .file("server.crt", server.cert, 0o644)
        .file("server.key", server.key, 0o600)
        .file("client.crt", client.cert, 0o644)
        .file("client.key", client.key, 0o600);
    for h in HOSTS {
        run = run.file(
            &format!("{}.yaml", h.node),
            install_yaml(&api, h).await,
            0o600,
        );
    }
    let run = run
        .modules(&["vrf", "8021q", "vxlan", "bridge", "veth", "nf_log_syslog"])
        .hostname("fabric")
        .memory_mib(3072)
        .timeout(Duration::from_secs(1500));
    let dir = tempfile::tempdir().unwrap();
    let mut vm = guest
        .vm(&run, dir.path())
        .unwrap()
        .cpus(2)
        .nic(Nic::user("52:54:00:12:34:56"))
        .start()
        .unwrap();

    phase(&mut vm, "FABRIC-UP", Duration::from_secs(900));
    phase(&mut vm, "FABRIC-ROUTED", Duration::from_secs(600));
    phase(&mut vm, "FABRIC-CHECKS-OK", Duration::from_secs(600));
    let text = guest_lines(&vm, "FABRIC-").join("\n");
    // 1. through the firewall, from its public address
    assert!(text.contains("FABRIC-HTTP 200"), "{text}");
    let http = guest_lines(&vm, "FABRIC-HTTPLOG ");
    assert!(
        http.iter()
            .any(|l| l.starts_with(&format!("FABRIC-HTTPLOG {} ", f.fw_public))),
        "the external host did not see the firewall's address {}: {http:?}",
        f.fw_public
    );
    // 3. the public IP through the ingress rule, from the external host's own address
    assert!(text.contains("FABRIC-INGRESS 200"), "{text}");
    let ingress = guest_lines(&vm, "FABRIC-INGRESSLOG ");
    assert!(
        ingress
            .iter()
            .any(|l| l.starts_with(&format!("FABRIC-INGRESSLOG {EXTERNAL_IP} "))),
        "{ingress:?}"
    );
    // 4.
    assert!(
        text.contains("FABRIC-BLOCKED 8080") && text.contains("FABRIC-ISOLATED"),
        "{text}"
    );
    // 5. droptailer's lines: the accepted HTTP and the dropped 8080, both from m1
    let drops: Vec<Value> = guest_lines(&vm, "FABRIC-DROP ")
        .iter()
        .filter_map(|l| l.find(" {").map(|at| l[at..].trim().to_string()))
        .map(|j| serde_json::from_str(&j).unwrap())
        .collect();
    let found = |action: &str, port: &str| {
        drops
            .iter()
            .any(|v| v["ACTION"] == action && v["DPT"] == port && v["SRC"] == f.m1_ip.as_str())
    };
    assert!(found("accept", "80") && found("drop", "8080"), "{drops:#?}");
    // 6. both leaves in sync without error
    let ls = metalctl(&api, &["switch", "ls", "-o", "wide"]).await;
    for leaf in Leaf::ALL {
        let row = ls
            .lines()
            .find(|l| l.starts_with(&leaf.name()))
            .unwrap_or_else(|| panic!("{} missing: {ls}", leaf.name()));
        assert!(!row.contains("rejected") && !row.contains("error"), "{ls}");
    }
    for leaf in Leaf::ALL {
        let s = api
            .admin()
            .get(&format!("v1/switch/{}", leaf.name()))
            .await
            .body;
        assert!(s["last_sync"]["time"].is_string(), "{s}");
        assert!(s.get("last_sync_error").is_none(), "{s}");
    }
    eprintln!("{ls}");

    // 7. freed
    let r = api
        .client(Caller::Edit)
        .delete(&format!("v1/machine/{}/free", M1.uuid))
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    phase(&mut vm, "FABRIC-DONE", Duration::from_secs(600));
    for l in guest_lines(&vm, "FABRIC-") {
        if !l.starts_with("FABRIC-DROP") {
            eprintln!("{l}");
        }
    }
    let _ = tokio::task::block_in_place(|| vm.wait_exit(Duration::from_secs(120)));
    api.stop().await;
}
