//! `metal-core run --reconfigure-switch` on a leaf for real: a qemu guest with Debian's kernel
//! (VRF, 802.1Q, VLAN-aware bridge, VXLAN: what this host's kernel lacks), ifupdown2 and FRR is
//! the switch, `leaf01`; its port swp1 is cabled (veth) to a "machine" network namespace in the
//! guest that runs FRR with a machine's BGP configuration, swp31 to a spine that never answers.
//! eth0 (qemu's user network) is in the management VRF, as on a Cumulus switch, and metal-core
//! runs in it (`ip vrf exec mgmt`) against a real metal-api on this host (10.0.2.2).
//!
//! Against that metal-api, phase by phase (the guest prints `LEAF-<phase>-OK` once its kernel
//! and FRR show the effect; the test then checks metal-api's view and makes the next change):
//! 1. the machine allocated into a project network and installed (metal-hammer's Report): swp1
//!    in `vrf<N>` with SVI and VNI, the BGP session to the machine Established and the machine's
//!    /32 in the leaf's VRF table; metal-core's notify shows the session in metal-api;
//! 2. the machine freed: swp1 back in the PXE VLAN (4000) of the bridge;
//! 3. `metalctl switch port down`: swp1 down (left out of the configuration), reported DOWN;
//!    `port up`: up again;
//! 4. a change FRR rejects (a switch name with spaces, FRR's `hostname` takes one word): not
//!    applied, FRR keeps running the old configuration, the error shows in
//!    `metalctl switch ls -o wide`; the name fixed, the next run succeeds.
//!
//! Privileged (root, qemu, debootstrap); the guest image is built once and cached
//! (metal_sim::vm::debian). The reconcile time of the allocation's run is printed (fetch,
//! render, check, apply; docs/benchmarks.md).

use std::time::{Duration, Instant};

use metal_domain::machine::{BootInfo, MachineBlockDevice, MachineHardware, MachineNic};
use metal_sim::vm::debian::{DebianGuest, GuestRun, NETWORK};
use metal_sim::vm::{Nic, Vm};
use metal_testkit::{Backend, TestApi};
use serde_json::{json, Value};

const TOOLS: &[(&str, &str)] = &[
    ("qemu-system-x86_64", "qemu-system-x86 (bookworm-backports)"),
    ("qemu-img", "qemu-utils"),
    ("debootstrap", "debootstrap"),
    ("mkfs.ext4", "e2fsprogs"),
];

const SWP1_MAC: &str = "52:54:00:aa:00:01";
const SWP31_MAC: &str = "52:54:00:aa:00:31";
const LEAF02_SWP1_MAC: &str = "52:54:00:ab:00:01";
const MACHINE: &str = "00000000-0000-0000-0000-0000000000a1";

/// The guest's script: the switch as its installer leaves it (eth0 in VRF mgmt, FRR running,
/// a loopback), the machine namespace with FRR, metal-core; then it waits for each phase's
/// effect. `@PORT@`, `@GRPC@`, `@KEY@` and `@MIP@` are filled in.
const SCRIPT: &str = r#"exec 2>&1
fail() { echo "LEAF-FAILED: $*"; echo "--- metal-core log"; grep -v DEBUG /tmp/metal-core.log | tail -n 40;
  echo "--- interfaces"; cat /etc/network/interfaces; echo "--- links"; ip -br link;
  echo "--- frr-reload"; tail -n 40 /var/log/frr/frr-reload.log;
  echo "--- frr"; vtysh -c 'show running-config'; vtysh -c 'show bgp vrf all summary'; exit 1; }
waitfor() { # seconds, description, command
  t=$1; d=$2; shift 2
  for i in $(seq 1 "$t"); do if sh -c "$*" >/dev/null 2>&1; then return 0; fi; sleep 1; done
  fail "$d"
}
sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
# the initrd's udev names the NIC by its slot; a switch's management port is eth0
for l in $(ls /sys/class/net); do
  [ "$(cat /sys/class/net/$l/address)" = "52:54:00:12:34:56" ] && [ "$l" != eth0 ] && ip link set "$l" name eth0
done
mkdir -p /etc/network/interfaces.d /run/network
ip netns add machine
ip netns add spine
ip link add swp1 address @SWP1@ type veth peer name lan0 netns machine
ip link add swp31 address @SWP31@ type veth peer name spine0 netns spine
ip -n spine link set spine0 up
cat > /etc/network/interfaces <<'EOF'
auto lo
iface lo inet loopback
    address 10.0.0.11/32

auto eth0
iface eth0
    address 10.0.2.15/24
    gateway 10.0.2.2
    vrf mgmt

auto mgmt
iface mgmt
    address 127.0.0.1/8
    vrf-table auto
EOF
ifreload -a || fail "the installer's interfaces"
sed -i 's/^bgpd=no/bgpd=yes/' /etc/frr/daemons
printf 'frr defaults datacenter\nhostname leaf01\nservice integrated-vtysh-config\n!\n' > /etc/frr/frr.conf
chown frr:frr /etc/frr/frr.conf
/usr/lib/frr/frrinit.sh start >/dev/null || fail "starting FRR"

# the machine: its IP on lo, BGP unnumbered to the leaf, announcing lo
ip -n machine link set lo up
ip -n machine addr add @MIP@/32 dev lo
ip -n machine link set lan0 up
mkdir -p /etc/frr/machine
cat > /etc/frr/machine/frr.conf <<'EOF'
frr defaults datacenter
hostname machine
!
interface lan0
 ipv6 nd ra-interval 6
 no ipv6 nd suppress-ra
exit
!
router bgp 4210000001
 bgp router-id @MIP@
 neighbor TOR peer-group
 neighbor TOR remote-as external
 neighbor TOR timers 2 8
 neighbor lan0 interface peer-group TOR
 address-family ipv4 unicast
  redistribute connected route-map LOOPBACKS
 exit-address-family
exit
!
route-map LOOPBACKS permit 10
 match interface lo
exit
!
EOF
sed -e 's/^bgpd=no/bgpd=yes/' -e 's/^#* *watchfrr_options=.*//' /etc/frr/daemons > /etc/frr/machine/daemons
echo 'watchfrr_options="--netns=machine"' >> /etc/frr/machine/daemons
cp /etc/frr/vtysh.conf /etc/frr/machine/ 2>/dev/null || true
chown -R frr:frr /etc/frr/machine
/usr/lib/frr/frrinit.sh start machine >/dev/null || fail "starting the machine's FRR"

METAL_CORE_HMAC_KEY='@KEY@' ip vrf exec mgmt /run/metal/metal-core --grpc-address 10.0.2.2:@GRPC@ \
  --log-level debug run --partition-id fra --rack-id r1 --switch-id leaf01 \
  --metal-api-ip 10.0.2.2 --metal-api-port @PORT@ --management-ip 10.0.2.15 \
  --reconfigure-switch --reconfigure-switch-interval 2s \
  --cidr 10.255.255.2/24 --asn 4200000011 --loopback-ip 10.0.0.11 --spine-uplinks swp31 \
  --management-gateway 10.0.2.2 --eth0-cidr 10.0.2.15/24 --metrics-address 127.0.0.1:2112 \
  >/tmp/metal-core.log 2>&1 &
echo "LEAF-STARTED"

# 1. allocated: swp1 in the VRF, session up, the machine's /32 in the VRF's table
waitfor 180 "swp1 in vrf@VRF@" "ip -d link show swp1 | grep -q 'master vrf@VRF@ '"
waitfor 20 "the SVI in vrf@VRF@" "ip link show type vlan | grep -q 'master vrf@VRF@ '"
waitfor 20 "vni@VRF@" "ip -d link show vni@VRF@ | grep -q 'vxlan id @VRF@ '"
waitfor 120 "the machine's session Established" \
  "vtysh -c 'show bgp vrf vrf@VRF@ neighbors swp1 json' | grep -q '\"bgpState\":\"Established\"'"
waitfor 60 "@MIP@/32 in vrf@VRF@" "vtysh -c 'show ip route vrf vrf@VRF@ @MIP@/32 json' | grep -q '\"@MIP@/32\"'"
ip route show vrf vrf@VRF@ | grep "@MIP@" | sed 's/^/LEAF-ROUTE: /'
echo "LEAF-ALLOCATED-OK"

# 2. freed: swp1 back in the PXE VLAN
waitfor 120 "swp1 back in the bridge" "ip -d link show swp1 | grep -q 'master bridge '"
waitfor 20 "swp1 in the PXE VLAN" "bridge vlan show dev swp1 | grep -q 4000"
echo "LEAF-FREED-OK"

# 3. port down, and up again
waitfor 120 "swp1 admin down" "! ip link show swp1 | grep -q '[<,]UP[,>]'"
echo "LEAF-PORTDOWN-OK"
waitfor 120 "swp1 up again" "ip link show swp1 | grep -q 'LOWER_UP'"
echo "LEAF-PORTUP-OK"

# 4. the rejected change: FRR keeps its configuration, the next good run succeeds
waitfor 120 "a rejected run" "grep -q 'was rejected, nothing applied' /tmp/metal-core.log"
grep -q '^hostname leaf01$' /etc/frr/frr.conf || fail "the rejected frr.conf was moved into place"
vtysh -c 'show running-config' | grep -q '^hostname leaf01$' || fail "FRR runs another hostname"
# every run writes and checks a new temporary file, and removes it when it is rejected
waitfor 20 "no temporary file stays" "! ls /etc/frr/frr.conf.tmp"
echo "LEAF-REJECTED-OK"
n=$(grep -c 'switch configuration unchanged' /tmp/metal-core.log)
waitfor 120 "a good run after the fix" "[ \$(grep -c 'switch configuration unchanged' /tmp/metal-core.log) -gt $n ]"
ip vrf exec mgmt python3 -c "import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:2112/metrics').read().decode())" \
  | grep '^metal_core' | sed 's/^/LEAF-METRIC: /'
# the runs that changed something, and the last runs with nothing to do (docs/benchmarks.md)
grep 'switch reconfigured' /tmp/metal-core.log | sed 's/^/LEAF-RUN: /'
grep 'switch configuration unchanged' /tmp/metal-core.log | tail -n 3 | sed 's/^/LEAF-RUN: /'
grep -v DEBUG /tmp/metal-core.log | sed 's/^/LEAF-LOG: /'
echo "LEAF-DONE"
"#;

fn leaf(id: &str, name: &str, ports: &[(&str, &str)]) -> Value {
    let nics: Vec<Value> = ports
        .iter()
        .map(|(n, m)| json!({"name": n, "mac": m}))
        .collect();
    json!({"id": id, "name": name, "partition_id": "fra", "rack_id": "r1", "nics": nics,
        "os": {"vendor": "Cumulus", "version": "", "metal_core_version": "test"},
        "management_ip": "10.0.2.15", "management_user": "cumulus"})
}

/// Partition, networks, size, image, project; the leaf pair of rack r1 as metal-core
/// registers it; the machine registered with its neighbours, allocated and installed.
/// Answers the machine's IP and the VRF.
async fn allocated_machine(api: &TestApi) -> (String, u64) {
    let c = api.admin();
    c.ok(
        "PUT",
        "v1/tenant",
        json!({"meta": {"id": "acme"}, "name": "acme"}),
    )
    .await;
    c.ok(
        "PUT",
        "v1/project",
        json!({"meta": {"id": "p1"}, "name": "p1", "tenant_id": "acme"}),
    )
    .await;
    c.ok("PUT", "v1/partition", json!({"id": "fra", "name": "fra", "privatenetworkprefixlength": 24,
        "bootconfig": {"imageurl": "http://images.test/hammer.img", "kernelurl": "http://images.test/vmlinuz", "commandline": "console=ttyS0"}})).await;
    c.ok(
        "PUT",
        "v1/network",
        json!({"id": "tenant-super", "partitionid": "fra", "prefixes": ["10.128.0.0/16"],
        "destinationprefixes": [], "privatesuper": true}),
    )
    .await;
    c.ok(
        "PUT",
        "v1/size",
        json!({"id": "n1", "constraints": [{"type": "cores", "min": 4, "max": 4}]}),
    )
    .await;
    c.ok("PUT", "v1/image", json!({"id": "ubuntu-24.04", "url": "http://images.test/u.tar.lz4", "features": ["machine"]})).await;
    c.ok("PUT", "v1/filesystemlayout", json!({"id": "default", "constraints": {"sizes": ["n1"], "images": {"ubuntu": "*"}},
        "disks": [{"device": "/dev/sda", "partitions": [{"number": 1, "size": 0, "gpttype": "8300"}]}],
        "filesystems": [{"path": "/", "device": "/dev/sda1", "format": "ext4"}]})).await;
    let edit = api.client(metal_testkit::Caller::Edit);
    edit.ok(
        "POST",
        "v1/switch/register",
        leaf(
            "leaf01",
            "leaf01",
            &[("swp1", SWP1_MAC), ("swp31", SWP31_MAC)],
        ),
    )
    .await;
    edit.ok(
        "POST",
        "v1/switch/register",
        leaf("leaf02", "leaf02", &[("swp1", LEAF02_SWP1_MAC)]),
    )
    .await;
    let nic = |name: &str, mac: &str, switch: &str, port_mac: &str| MachineNic {
        name: name.into(),
        mac: mac.into(),
        neighbors: vec![MachineNic {
            name: "swp1".into(),
            mac: port_mac.into(),
            hostname: switch.into(),
            ..Default::default()
        }],
        ..Default::default()
    };
    let app = &api.server.app;
    metal_api::app::boot::register(
        app,
        metal_api::app::boot::Registration {
            uuid: MACHINE.into(),
            partition_id: "fra".into(),
            hardware: MachineHardware {
                cpu_cores: 4,
                memory: 8 << 30,
                disks: vec![MachineBlockDevice {
                    name: "/dev/sda".into(),
                    size: 100 << 30,
                }],
                nics: vec![
                    nic("lan0", "52:54:00:bb:00:01", "leaf01", SWP1_MAC),
                    nic("lan1", "52:54:00:bb:00:02", "leaf02", LEAF02_SWP1_MAC),
                ],
                ..Default::default()
            },
            bios: Default::default(),
            ipmi: Default::default(),
            tags: vec![],
            metal_hammer_version: "test".into(),
        },
    )
    .await
    .expect("machine registration");
    metal_api::app::boot::set_waiting(app, MACHINE, true)
        .await
        .expect("waiting");
    let net = edit
        .ok(
            "POST",
            "v1/network/allocate",
            json!({"partitionid": "fra", "projectid": "p1", "name": "p1-net"}),
        )
        .await;
    let network = net["id"].as_str().unwrap().to_string();
    let vrf = net["vrf"].as_u64().expect("a VRF");
    let m = edit
        .ok(
            "POST",
            "v1/machine/allocate",
            json!({"uuid": MACHINE, "projectid": "p1", "imageid": "ubuntu-24.04",
        "name": "web-1", "hostname": "web-1", "networks": [{"networkid": network}]}),
        )
        .await;
    let ip = m["allocation"]["networks"][0]["ips"][0]
        .as_str()
        .expect("the machine's IP")
        .to_string();
    metal_api::app::boot::report(
        app,
        MACHINE,
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
    (ip, vrf)
}

async fn switch(api: &TestApi) -> Value {
    let r = api.admin().get("v1/switch/leaf01").await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    r.body
}

fn port<'a>(s: &'a Value, name: &str) -> &'a Value {
    s["nics"]
        .as_array()
        .and_then(|n| n.iter().find(|p| p["name"] == name))
        .unwrap_or_else(|| panic!("no port {name} in {s}"))
}

/// Waits for `marker` on the console (the guest fails with `LEAF-FAILED`).
fn phase(vm: &mut Vm, marker: &str, timeout: Duration) {
    let took = tokio::task::block_in_place(|| vm.phase(marker, "LEAF-FAILED", timeout))
        .unwrap_or_else(|e| panic!("{e:#}"));
    eprintln!("{marker} after {took:?}");
}

/// Polls metal-api until `f` holds for the switch document.
async fn until_switch(api: &TestApi, what: &str, f: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let s = switch(api).await;
        if f(&s) {
            return s;
        }
        assert!(Instant::now() < deadline, "{what}: {s:#}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leaf_applies_metal_apis_view() {
    let test = "leaf_applies_metal_apis_view";
    if !metal_testkit::privileged(test, TOOLS) {
        return;
    }
    let guest = tokio::task::block_in_place(|| DebianGuest::get(&NETWORK)).expect("guest");
    let api = TestApi::start(Backend::Sqlite).await.unwrap();
    let (ip, vrf) = allocated_machine(&api).await;
    // what metal-core gets: swp1 in the VRF, with the private network in its filter
    let s = switch(&api).await;
    let p = port(&s, "swp1");
    assert_eq!(p["vrf"], format!("vrf{vrf}"), "{p}");
    assert!(
        p["filter"]["cidrs"]
            .as_array()
            .is_some_and(|c| !c.is_empty()),
        "no filter for the machine's port: {p}"
    );
    let script = SCRIPT
        .replace("@PORT@", &api.server.addr.port().to_string())
        .replace("@GRPC@", &api.server.grpc_addr.port().to_string())
        .replace("@KEY@", &api.keys.edit)
        .replace("@MIP@", &ip)
        .replace("@VRF@", &vrf.to_string())
        .replace("@SWP1@", SWP1_MAC)
        .replace("@SWP31@", SWP31_MAC);
    let core = std::fs::read(env!("CARGO_BIN_EXE_metal-core")).expect("metal-core binary");
    let run = GuestRun::new(&script)
        .file("metal-core", core, 0o755)
        .modules(&["vrf", "8021q", "vxlan", "bridge"])
        .hostname("leaf01")
        .memory_mib(1024)
        .timeout(Duration::from_secs(900));
    let dir = tempfile::tempdir().unwrap();
    let mut vm = guest
        .vm(&run, dir.path())
        .unwrap()
        .nic(Nic::user("52:54:00:12:34:56"))
        .start()
        .unwrap();

    phase(&mut vm, "LEAF-STARTED", Duration::from_secs(300));
    // 1. allocated
    phase(&mut vm, "LEAF-ALLOCATED-OK", Duration::from_secs(400));
    let s = until_switch(&api, "the machine's session and route reported", |s| {
        let b = &port(s, "swp1")["bgp_port_state"];
        b["BgpState"] == "Established" && b["AcceptedPrefixCounter"].as_i64() >= Some(1)
    })
    .await;
    let p = port(&s, "swp1");
    assert_eq!(p["vrf"], format!("vrf{vrf}"));
    assert_eq!(p["actual"], "UP");
    assert_eq!(p["admin_status"], "UP");
    assert_eq!(p["bgp_port_state"]["VrfName"], format!("vrf{vrf}"));
    assert_eq!(p["bgp_port_state"]["PeerGroup"], "MACHINE");
    assert!(s["last_sync"]["time"].is_string(), "{s}");
    assert!(s.get("last_sync_error").is_none(), "{s}");

    // 2. freed
    let r = api
        .client(metal_testkit::Caller::Edit)
        .delete(&format!("v1/machine/{MACHINE}/free"))
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    phase(&mut vm, "LEAF-FREED-OK", Duration::from_secs(200));
    until_switch(&api, "no session on the freed port", |s| {
        port(s, "swp1")["vrf"] == "" && port(s, "swp1").get("bgp_port_state").is_none()
    })
    .await;

    // 3. port down and up, with metalctl
    let out = metalctl(
        &api,
        &["switch", "port", "down", "leaf01", "--port", "swp1"],
    )
    .await;
    assert!(out.contains("DOWN"), "{out}");
    phase(&mut vm, "LEAF-PORTDOWN-OK", Duration::from_secs(200));
    let s = until_switch(&api, "swp1 reported down", |s| {
        port(s, "swp1")["actual"] == "DOWN" && s["connections"][0]["nic"]["actual"] == "DOWN"
    })
    .await;
    assert_eq!(port(&s, "swp1")["admin_status"], "DOWN");
    let detail = metalctl(&api, &["switch", "detail", "leaf01"]).await;
    let row = detail
        .lines()
        .find(|l| l.contains("swp1"))
        .unwrap_or_else(|| panic!("{detail}"));
    assert!(
        row.contains(MACHINE) && row.contains("down") && row.contains("DOWN"),
        "{detail}"
    );
    metalctl(&api, &["switch", "port", "up", "leaf01", "--port", "swp1"]).await;
    phase(&mut vm, "LEAF-PORTUP-OK", Duration::from_secs(200));
    until_switch(&api, "swp1 reported up", |s| {
        port(s, "swp1")["actual"] == "UP" && port(s, "swp1")["admin_status"] == "UP"
    })
    .await;

    // 4. a change FRR rejects
    let edit = api.client(metal_testkit::Caller::Edit);
    let ports = [("swp1", SWP1_MAC), ("swp31", SWP31_MAC)];
    edit.ok(
        "POST",
        "v1/switch/register",
        leaf("leaf01", "leaf01 rack r1", &ports),
    )
    .await;
    let s = until_switch(&api, "the rejection reported", |s| {
        s["last_sync_error"]["error"]
            .as_str()
            .is_some_and(|e| e.contains("rejected"))
    })
    .await;
    let error = s["last_sync_error"]["error"].as_str().unwrap().to_string();
    assert!(
        error.contains("frr.conf") && error.contains("hostname leaf01 rack r1"),
        "{error}"
    );
    let ls = metalctl(&api, &["switch", "ls", "-o", "wide"]).await;
    assert!(ls.contains("rejected"), "{ls}");
    phase(&mut vm, "LEAF-REJECTED-OK", Duration::from_secs(200));
    edit.ok(
        "POST",
        "v1/switch/register",
        leaf("leaf01", "leaf01", &ports),
    )
    .await;
    phase(&mut vm, "LEAF-DONE", Duration::from_secs(200));
    let s = switch(&api).await;
    let (ok_at, err_at) = (
        s["last_sync"]["time"].as_str().unwrap_or_default(),
        s["last_sync_error"]["time"].as_str().unwrap_or_default(),
    );
    assert!(ok_at > err_at, "a good run after the error: {s:#}");
    for l in vm.console().lines() {
        if l.text.contains("LEAF-") {
            eprintln!("{:>8.1?} {}", l.at, l.text);
        }
    }
    let metrics: Vec<String> = vm
        .console()
        .lines()
        .into_iter()
        .filter(|l| l.text.contains("LEAF-METRIC"))
        .map(|l| l.text)
        .collect();
    let failed = metrics
        .iter()
        .find(|l| l.contains("operation=\"switch-reconfiguration\""))
        .unwrap_or_else(|| panic!("{metrics:?}"));
    assert!(!failed.trim_end().ends_with(" 0"), "{failed}");
    assert!(
        metrics
            .iter()
            .any(|l| l.contains("metal_core_last_sync_success_timestamp_seconds")),
        "{metrics:?}"
    );
    let _ = tokio::task::block_in_place(|| vm.wait_exit(Duration::from_secs(120)));
    api.stop().await;
}
