//! The routed lab's fabric (`metal-lab up --routed`): one Debian guest (Debian's kernel has the
//! VRF, 802.1Q and VLAN-aware bridge support the host lacks) whose nodes are leaf01 and leaf02
//! (ifupdown2, FRR, metal-core with `--reconfigure-switch`, the ISC DHCP relay, LLDP), the exit
//! router and the external host, as [`crate::fabric`] builds them. The lab's qemu machines are
//! cabled to the leaves' switch ports through host bridges (LLDP passes), the guest's
//! management NIC is on the lab's management network with metal-api and pixie.
//!
//! A machine waiting in the PXE VLAN broadcasts DHCP; the leaf's relay (`dhcrelay`, configured
//! by metal-core from `--dhcp-relay-servers`) forwards it through the uplink and the exit to
//! pixie, with the leaf's PXE SVI as `giaddr`; pixie answers from that leaf's range
//! ([`Leaf::dhcp_range`]) and the exit routes the reply back to the leaf
//! ([`fabric::lab_exit_frr_conf`]). iPXE, the kernel, metal-hammer's ramdisk, metal-api and the
//! OS image are all reached the same way: machine → leaf SVI → underlay → exit → management.
//!
//! The guest prints `FABRIC-READY` when the nodes run, and `FABRIC-FAILED: <why>` before it
//! powers off when a step fails; `metal-lab up` waits for either. A small command service in
//! the guest (`exec-server.py`, on [`EXEC_IP`]) runs `metal-lab exec <node> -- <command>` in a
//! node; it takes requests only with the lab's exec token.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use metal_sim::vm::debian::{DebianGuest, GuestRun};
use metal_sim::vm::Nic;

use crate::fabric::{self, Leaf, UPLINK_PORT};
use crate::plan::{Plan, API_PORT, GRPC_PORT, MGMT_IP, PARTITION};
use crate::seed;

/// All PXE subnets of the leaves (the management server's route to them, through the exit).
pub const PXE_SUPERNET: &str = "10.255.255.0/24";
/// The guest's management NIC.
pub const GUEST_MGMT_MAC: &str = "52:54:00:12:34:56";
/// The command service's address on the management network.
pub const EXEC_IP: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 20);
pub const EXEC_PORT: u16 = 7070;
/// The fabric guest's memory: three FRR instances, two metal-cores, ifupdown2 runs.
pub const MEMORY_MIB: u32 = 2048;
/// The nodes `metal-lab exec` reaches in the guest.
pub const NODES: [&str; 4] = ["leaf01", "leaf02", "exit", "external"];

/// What the guest needs from the lab.
#[derive(Debug, Clone)]
pub struct FabricParams {
    pub machines: usize,
    /// metal-core's HMAC key (edit)
    pub hmac_edit: String,
    pub exec_token: String,
    /// metal-core's phone-home interval in seconds
    pub phone_home_interval: u64,
}

/// The guest's script: the library of [`fabric::lab_fabric_sh`], then the lab's nodes.
pub fn script(p: &FabricParams) -> String {
    let mut ports = String::new();
    for i in 1..=p.machines {
        for leaf in Leaf::ALL {
            ports.push_str(&format!(
                "port {} {} swp{i} || fail \"switch port swp{i} of {}\"\n",
                leaf.name(),
                leaf.port_mac(i as u8),
                leaf.name()
            ));
        }
    }
    let (mut leaves, mut agents) = (String::new(), String::new());
    for (j, leaf) in Leaf::ALL.iter().enumerate() {
        leaves.push_str(&format!(
            "leaf_base {n} {lo} {mg} || fail {n}\n\
             uplink {n} swp{UPLINK_PORT} {mac} swp{e} 52:54:00:e0:00:{e:02x} || fail \"the uplink of {n}\"\n",
            n = leaf.name(),
            lo = leaf.loopback(),
            mg = leaf.management_ip(),
            mac = leaf.port_mac(UPLINK_PORT),
            e = j + 1,
        ));
        agents.push_str(&format!(
            "uplink_address {n} {lo}\nleaf_agents {n} {lo} {mg} {asn} {cidr}\n",
            n = leaf.name(),
            lo = leaf.loopback(),
            mg = leaf.management_ip(),
            asn = leaf.asn(),
            cidr = leaf.pxe_cidr(),
        ));
    }
    let switch_ports: Vec<String> = (1..=p.machines).map(|i| format!("swp{i}")).collect();
    let body = LAB_SCRIPT
        .replace("@PORTS@", &ports)
        .replace("@LEAVES@", &leaves)
        .replace("@AGENTS@", &agents)
        .replace("@SWITCH_PORTS@", &switch_ports.join(","))
        .replace("@GUEST_MAC@", GUEST_MGMT_MAC)
        .replace("@EXEC_IP@", &EXEC_IP.to_string())
        .replace("@EXEC_PORT@", &EXEC_PORT.to_string())
        .replace("@MGMT_IP@", &MGMT_IP.to_string())
        .replace("@MGMT_LEN@", &fabric::MANAGEMENT_PREFIX_LEN.to_string())
        .replace("@API_PORT@", &API_PORT.to_string())
        .replace("@GRPC_PORT@", &GRPC_PORT.to_string())
        .replace("@PARTITION@", PARTITION)
        .replace("@RACK@", seed::RACK)
        .replace("@INTERVAL@", &p.phone_home_interval.to_string())
        .replace("@UPLINK_PORT@", &UPLINK_PORT.to_string())
        .replace("@EXTERNAL@", &fabric::EXTERNAL_IP.to_string());
    format!("{}\n{body}", fabric::lab_fabric_sh())
}

/// The run's script after the library. Secrets are files of the run (`/run/metal/...`), never
/// on a command line.
const LAB_SCRIPT: &str = r#"
exec 2>&1
R=/run/metal
fail() { echo "FABRIC-FAILED: $*"; for f in $N/*/*.log; do echo "--- $f"; tail -n 20 $f; done; exit 1; }
ms() { echo $(( $(date +%s%N) / 1000000 )); }
t0=$(ms)
port() { # leaf mac name: the guest's NIC with that MAC becomes the leaf's switch port
  nic=""
  for l in $(ls /sys/class/net); do
    [ "$(cat /sys/class/net/$l/address)" = "$2" ] && nic=$l
  done
  [ -n "$nic" ] || { echo "no NIC with MAC $2"; return 1; }
  ip link set "$nic" netns "$1" && ip -n "$1" link set "$nic" name "$3" && ip -n "$1" link set "$3" up
}
uplink_address() { # name loopback: a local addition to the leaf's interfaces (metal-core's file
  # sources interfaces.d/*.intf): the loopback address on the unnumbered uplink, as Cumulus
  # configures unnumbered interfaces. ISC dhcrelay discards packets that arrive on an interface
  # without an IPv4 address, and pixie's replies to the relay arrive on the uplink.
  printf 'auto swp@UPLINK_PORT@\niface swp@UPLINK_PORT@\n    address %s/32\n' $2 > $N/$1/etc/network/interfaces.d/uplink.intf
}
leaf_agents() { # name loopback management-ip asn cidr: LLDP and metal-core, as on a Cumulus leaf
  on $1 $R/metal-lldpd --interface @SWITCH_PORTS@ --system-name $1 \
    --description "metal-lab leaf switch" > $N/$1/lldpd.log 2>&1 &
  on $1 env METAL_CORE_HMAC_KEY="$(cat $R/hmac-edit)" ip vrf exec mgmt $R/metal-core \
    --grpc-address @MGMT_IP@:@GRPC_PORT@ run --partition-id @PARTITION@ --rack-id @RACK@ \
    --switch-id $1 --metal-api-ip @MGMT_IP@ --metal-api-port @API_PORT@ --management-ip $3 \
    --interval-secs @INTERVAL@ --reconfigure-switch --reconfigure-switch-interval 5s \
    --command-timeout 180s --cidr $5 --asn $4 --loopback-ip $2 --spine-uplinks swp@UPLINK_PORT@ \
    --management-gateway @MGMT_IP@ --eth0-cidr $3/@MGMT_LEN@ --metrics-address 127.0.0.1:2112 \
    --dhcp-relay-servers @MGMT_IP@ --dhcp-relay-restart-command "sh $R/relay-restart" \
    > $N/$1/metal-core.log 2>&1 &
}
sysctl -qw net.netfilter.nf_log_all_netns=1
lab_management @GUEST_MAC@ || fail "the management network"
ip addr add @EXEC_IP@/@MGMT_LEN@ dev mgmt
exit_node || fail "the exit router"
exit_management || fail "the exit's management leg"
@LEAVES@
@PORTS@
frr_start exit || fail "FRR on the exit"
@AGENTS@
# the external host's services: HTTP on 80 (in mini-lab's egress rules) and on 8080 (not)
on external python3 -m http.server 80 --bind @EXTERNAL@ > $N/external/http80.log 2>&1 &
on external python3 -m http.server 8080 --bind @EXTERNAL@ > $N/external/http8080.log 2>&1 &
python3 $R/exec-server.py @EXEC_IP@ @EXEC_PORT@ $R/exec-token $N > /nodes/exec-server.log 2>&1 &
echo "FABRIC-READY $(( $(ms) - t0 )) ms"
while :; do sleep 3600; done
"#;

/// The relay's restart, as `systemctl restart isc-dhcp-relay` does it on a switch: reads the
/// defaults file metal-core wrote and (re)starts `dhcrelay` with it. Runs in the leaf's node
/// (metal-core's child); `ip vrf exec default` leaves the management VRF metal-core runs in, so
/// the relay forwards through the underlay.
pub const RELAY_RESTART: &str = r#"#!/bin/sh
. /etc/default/isc-dhcp-relay
pf=/run/network/dhcrelay.pid
if [ -f $pf ]; then kill "$(cat $pf)" 2>/dev/null; rm -f $pf; sleep 0.5; fi
ip vrf exec default /usr/sbin/dhcrelay -d -4 --no-pid $OPTIONS $SERVERS \
  < /dev/null > /run/network/dhcrelay.log 2>&1 &
echo $! > $pf
"#;

/// The guest's command service for `metal-lab exec`: one JSON request line
/// (`{"token", "node", "argv"}`), then frames of `kind` (1 byte), length (4 bytes, big endian)
/// and data: 1 stdout, 2 stderr, 3 the exit code (decimal), 4 a refusal or error.
pub const EXEC_SERVER_PY: &str = r#"
import hmac, json, os, socketserver, struct, subprocess, sys, threading

ADDR, PORT, TOKEN_FILE, NODES = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
with open(TOKEN_FILE) as f:
    TOKEN = f.read().strip().encode()


class Handler(socketserver.StreamRequestHandler):
    def frame(self, kind, data):
        with self.lock:
            self.wfile.write(struct.pack(">BI", kind, len(data)) + data)
            self.wfile.flush()

    def handle(self):
        self.lock = threading.Lock()
        try:
            req = json.loads(self.rfile.readline(1 << 20))
            token, node, argv = str(req["token"]).encode(), str(req["node"]), req["argv"]
        except (ValueError, KeyError, TypeError):
            return self.frame(4, b"bad request")
        if not hmac.compare_digest(token, TOKEN):
            return self.frame(4, b"wrong exec token")
        if not (isinstance(argv, list) and argv and all(isinstance(a, str) for a in argv)):
            return self.frame(4, b"no command")
        pidfile = os.path.join(NODES, node, "pid")
        if "/" in node or node.startswith(".") or not os.path.isfile(pidfile):
            return self.frame(4, ("no node %r in the fabric" % node).encode())
        with open(pidfile) as f:
            pid = f.read().strip()
        try:
            p = subprocess.Popen(["nsenter", "-t", pid, "-m", "-n", "-u", "--"] + argv,
                                 stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE)
        except OSError as e:
            return self.frame(4, str(e).encode())

        def pump(src, kind):
            for chunk in iter(lambda: src.read1(65536), b""):
                self.frame(kind, chunk)

        pumps = [threading.Thread(target=pump, args=(p.stdout, 1)),
                 threading.Thread(target=pump, args=(p.stderr, 2))]
        for t in pumps:
            t.start()
        for t in pumps:
            t.join()
        self.frame(3, str(p.wait()).encode())


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


Server((ADDR, PORT), Handler).serve_forever()
"#;

/// The run: the script, the binaries the nodes run and the lab's secrets as files.
pub fn guest_run(p: &FabricParams, bin_dir: &Path) -> anyhow::Result<GuestRun> {
    let read = |name: &str| -> anyhow::Result<Vec<u8>> {
        let path = bin_dir.join(name);
        std::fs::read(&path).with_context(|| format!("reading {}", path.display()))
    };
    Ok(GuestRun::new(&script(p))
        .file("metal-core", read("metal-core")?, 0o755)
        .file("metal-lldpd", read("metal-lldpd")?, 0o755)
        .file("relay-restart", RELAY_RESTART, 0o755)
        .file("exec-server.py", EXEC_SERVER_PY, 0o644)
        .file("hmac-edit", p.hmac_edit.clone(), 0o600)
        .file("exec-token", p.exec_token.clone(), 0o600)
        .modules(&["vrf", "8021q", "vxlan", "bridge", "veth", "nf_log_syslog"])
        .hostname("fabric")
        .memory_mib(MEMORY_MIB)
        .timeout(std::time::Duration::from_secs(24 * 3600)))
}

/// The fabric guest's qemu command line (without the binary): its files and overlay in `dir`,
/// the management NIC and one NIC per machine and leaf, all taps of the hosts namespace.
pub fn qemu_args(
    guest: &DebianGuest,
    run: &GuestRun,
    plan: &Plan,
    dir: &Path,
) -> anyhow::Result<Vec<String>> {
    if !plan.routed {
        bail!("the fabric guest belongs to a routed lab");
    }
    std::fs::create_dir_all(dir)?;
    let mut b = guest
        .vm(run, dir)?
        .cpus(2)
        .nic(Nic::tap(crate::net::FABRIC_MGMT_TAP, GUEST_MGMT_MAC).romfile(""));
    for m in plan.all_machines() {
        for (j, leaf) in Leaf::ALL.iter().enumerate() {
            b = b.nic(Nic::tap(&m.fabric_taps[j], &leaf.port_mac(m.index as u8)).romfile(""));
        }
    }
    b.qemu_args(dir)
}

/// Where the fabric guest's files live in the lab directory.
pub fn guest_dir(plan: &Plan) -> PathBuf {
    plan.dir.join("fabric")
}

/// The fabric guest's console log (the daemon's log).
pub fn console_log(plan: &Plan) -> PathBuf {
    plan.log_dir().join("fabric.log")
}

/// What the console says about the guest so far: `Ok(true)` ready, `Ok(false)` not yet, an
/// error with the guest's reason once it failed.
pub fn readiness(console: &str) -> anyhow::Result<bool> {
    if let Some(at) = console.find("FABRIC-FAILED:") {
        let why: String = console[at..]
            .lines()
            .take(40)
            .collect::<Vec<_>>()
            .join("\n");
        bail!("the fabric guest failed: {why}");
    }
    Ok(console.contains("FABRIC-READY"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> FabricParams {
        FabricParams {
            machines: 2,
            hmac_edit: "secret-key".into(),
            exec_token: "secret-token".into(),
            phone_home_interval: 5,
        }
    }

    #[test]
    fn the_script_is_complete_and_holds_no_secret() {
        let s = script(&params());
        assert_eq!(fabric::unfilled(&s), None);
        assert!(!s.contains("secret-key") && !s.contains("secret-token"));
        for port in [
            "port leaf01 52:54:00:01:00:01 swp1",
            "port leaf02 52:54:00:02:00:02 swp2",
        ] {
            assert!(s.contains(port), "{port}");
        }
        assert!(s.contains("leaf_agents leaf02 10.0.0.12 10.9.0.12 4200000012 10.255.255.129/25"));
        assert!(s.contains("--dhcp-relay-servers 10.9.0.1"));
        assert!(s.contains("--interface swp1,swp2 "));
        // sh accepts it
        let out = std::process::Command::new("sh")
            .args(["-n", "-c", &s])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    #[test]
    fn failure_is_reported_with_the_reason() {
        assert!(!readiness("booting\nVM-READY").unwrap());
        assert!(readiness("x\nFABRIC-READY 1000 ms\n").unwrap());
        let e = readiness("FABRIC-FAILED: leaf01\nifreload: error\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("leaf01") && e.contains("ifreload"), "{e}");
    }

    #[test]
    fn the_relay_restart_is_valid_sh() {
        let out = std::process::Command::new("sh")
            .args(["-n", "-c", RELAY_RESTART])
            .output()
            .unwrap();
        assert!(out.status.success());
    }
}
