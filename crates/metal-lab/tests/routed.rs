//! The routed lab (`metal-lab up --routed --debian-images`) for real: the leaves are
//! Cumulus-style switches in the fabric guest (ifupdown2, FRR, metal-core with
//! `--reconfigure-switch`, the ISC DHCP relay, LLDP), with the exit router and an external
//! host; three qemu machines are cabled to both leaves and PXE-boot through the leaves' relays.
//! mini-lab's end-to-end checks then run on installed Debian machines:
//!
//! - `up` returns with both leaves configured and in sync, `metal-lab status` shows their BGP
//!   sessions, `metal-lab exec` runs commands in the fabric's nodes;
//! - power on → Waiting, where every lease pixie gave is in a leaf's PXE subnet (relayed);
//! - with `metalctl`, as the README's walk-through: a firewall (`firewall-debian-3.1`,
//!   mini-lab's rules from `examples/firewall-rules.yaml`, accepted connections logged) and a
//!   machine (`debian-12.1`) of the lab's project, and a machine of a second project, all
//!   installed by metal-hammer and phoned home; the ports of the machine move into its VRF on
//!   both leaves, and `metalctl switch ls` shows both leaves in sync without error;
//! - (1) HTTP from the machine to the external host, through leaf VRF, EVPN, the firewall's
//!   egress rule and SNAT, and the exit: the external host saw the firewall's public address;
//! - (2) IPv6: the lab is IPv4 only (docs/fabric.md says why);
//! - (3) a public IP of the internet network on the machine's loopback is reached from the
//!   external host on SSH (the ingress rule);
//! - (4) a port the egress rules do not allow (8080) is blocked; the second project's machine
//!   reaches neither the first project's machine nor the internet;
//! - (5) droptailer's server (on the machine) received the firewall's accepted and dropped lines;
//! - (7) freeing the machine takes its VRF off the leaves, its ports back into the PXE VLAN, and
//!   it PXE-boots through the relay and waits again.
//!
//! Last, `down` leaves nothing behind. The machines are reached with `metal-lab ssh` (the lab's
//! key, root through `sudo` with the console password metal-api hands out).
//!
//! Privileged (root, qemu, debootstrap); the fabric guest's image and the Debian root are
//! cached.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{bin, down_leaves_nothing, metal_lab, up, Up};
use metal_lab::cycle::{marks, marks_of, wait_for_event, wait_for_event_of};
use metal_lab::fabric::{EXTERNAL_IP, INTERNET_PREFIX};
use metal_lab::lab::State;
use metal_proto::pki::Ca;
use serde_json::Value;

const TOOLS: &[(&str, &str)] = &[
    ("ip", "iproute2"),
    ("ipmi_sim", "openipmi"),
    ("qemu-system-x86_64", "qemu-system-x86"),
    ("debootstrap", "debootstrap"),
    ("mkfs.ext4", "e2fsprogs"),
    ("busybox", "busybox-static"),
    ("mdadm", "mdadm"),
    ("lz4", "lz4"),
    ("ssh", "openssh-client"),
    ("strip", "binutils"),
    ("/usr/share/OVMF/OVMF_CODE_4M.fd", "ovmf"),
];

/// How long a machine may take to get anywhere: installs under TCG on two cores.
const LIMIT: Duration = Duration::from_secs(1200);

/// `metal-lab exec node -- argv`: (exit code, stdout, stderr).
fn exec(name: &str, dir: &Path, node: &str, argv: &[&str]) -> (i32, String, String) {
    let mut args = vec!["exec", node, "--"];
    args.extend_from_slice(argv);
    text(metal_lab(name, dir, &args))
}

fn text(out: Output) -> (i32, String, String) {
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Polls `metal-lab exec` until the command's output satisfies `ok`.
async fn until_exec(
    name: &str,
    dir: &Path,
    node: &str,
    argv: &[&str],
    limit: Duration,
    ok: impl Fn(&str) -> bool,
) -> String {
    let deadline = Instant::now() + limit;
    loop {
        let (code, out, err) = exec(name, dir, node, argv);
        if code == 0 && ok(&out) {
            return out;
        }
        assert!(
            Instant::now() < deadline,
            "{node}: {argv:?} did not get there in {limit:?}; last: {code} {out} {err}"
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

/// Single quotes for a POSIX shell.
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// A lab machine's installed OS, reached with `metal-lab ssh`.
struct Host<'a> {
    name: &'a str,
    dir: &'a Path,
    hostname: &'static str,
    /// the console password (metal-api's), for `sudo`
    password: String,
}

impl Host<'_> {
    /// Runs `script` in the user's login shell (`metal`), `stdin` on its standard input.
    fn sh(&self, script: &str, stdin: &[u8]) -> (i32, String, String) {
        let mut child = Command::new(env!("CARGO_BIN_EXE_metal-lab"))
            .args(["--name", self.name, "--dir"])
            .arg(self.dir)
            .args(["ssh", self.hostname, "--", script])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("metal-lab ssh");
        let mut input = child.stdin.take().unwrap();
        input.write_all(stdin).unwrap();
        drop(input);
        text(child.wait_with_output().unwrap())
    }

    /// Runs `script` as root (`sudo` with the console password), `stdin` after the password.
    fn root(&self, script: &str, stdin: &[u8]) -> (i32, String, String) {
        let mut input = format!("{}\n", self.password).into_bytes();
        input.extend_from_slice(stdin);
        self.sh(&format!("sudo -S -p '' sh -c {}", quote(script)), &input)
    }

    /// `root`, which must succeed.
    fn must(&self, script: &str, stdin: &[u8]) -> String {
        let (code, out, err) = self.root(script, stdin);
        assert_eq!(code, 0, "{}: {script}: {out}{err}", self.hostname);
        out
    }

    /// Polls `script` (as `metal`) until it succeeds; its output.
    async fn until(&self, what: &str, script: &str, limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        loop {
            let (code, out, err) = self.sh(script, b"");
            if code == 0 {
                return out;
            }
            assert!(
                Instant::now() < deadline,
                "{}: {what} not within {limit:?}; last: {code} {out}{err}",
                self.hostname
            );
            tokio::time::sleep(Duration::from_secs(3)).await;
        }
    }
}

/// A TCP connection from a host's shell to `ip:port` with a 4 s timeout (python3, which the
/// Debian images and the fabric's nodes have); prints the first bytes the peer sends.
fn connect_script(ip: &str, port: u16) -> String {
    format!(
        "python3 -c \"import socket; s=socket.create_connection(('{ip}', {port}), timeout=4); s.settimeout(4); print(s.recv(64).decode(errors='replace'))\""
    )
}

/// An HTTP GET with a 4 s timeout; prints the status.
fn get_script(url: &str) -> String {
    format!(
        "python3 -c \"import urllib.request; print(urllib.request.urlopen('{url}', timeout=4).status)\""
    )
}

/// `metalctl` against the lab, as `eval "$(metal-lab env)"` sets it up.
fn metalctl(state: &State, args: &[&str]) -> String {
    let mut c = Command::new(bin("metalctl", "metalctl"));
    for line in state.env().lines() {
        let (k, v) = line
            .trim_start_matches("export ")
            .split_once('=')
            .expect("an export line");
        c.env(k, v);
    }
    let out = c.args(args).output().expect("metalctl");
    let (code, stdout, stderr) = text(out);
    assert_eq!(code, 0, "metalctl {}: {stdout}{stderr}", args.join(" "));
    stdout
}

fn examples(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples")
        .join(file)
}

/// The machine's addresses in a network of its allocation.
fn ips(m: &Value, network: &str) -> Vec<String> {
    m["allocation"]["networks"]
        .as_array()
        .and_then(|ns| ns.iter().find(|n| n["networkid"] == network))
        .and_then(|n| n["ips"].as_array())
        .map(|ips| {
            ips.iter()
                .filter_map(|i| i.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenant_machines_reach_the_internet_through_their_firewall_in_the_routed_lab() {
    let test = "tenant_machines_reach_the_internet_through_their_firewall_in_the_routed_lab";
    if !metal_testkit::privileged(test, TOOLS) {
        return;
    }
    let Up {
        name,
        dir,
        guard,
        out,
        took,
        tmp: _tmp,
    } = up("mlr", &["--routed", "--debian-images", "--machines", "3"]);
    let up_log = String::from_utf8_lossy(&out.stderr).into_owned();
    eprintln!("{up_log}up --routed --debian-images took {took:?}");
    let state = State::load(&dir).unwrap();
    assert!(state.routed);
    let plan = state.plan().unwrap();
    let c = state.client().unwrap();
    let get = |path: String| {
        let c = c.clone();
        async move {
            c.request::<(), Value>(metal_client::Method::GET, &path, None)
                .await
                .unwrap_or_else(|e| panic!("GET {path}: {e}"))
        }
    };

    // up returned with both leaves configured by metal-core and in sync
    for leaf in ["leaf01", "leaf02"] {
        let s = get(format!("v1/switch/{leaf}")).await;
        assert!(s["last_sync"]["time"].is_string(), "{s}");
        assert!(s.get("last_sync_error").is_none(), "{s}");
        // the relay metal-core rendered points at pixie on the management server
        let (code, relay, err) = exec(&name, &dir, leaf, &["cat", "/etc/default/isc-dhcp-relay"]);
        assert_eq!(code, 0, "{err}");
        assert!(relay.contains("SERVERS=\"10.9.0.1\""), "{relay}");
        assert!(relay.contains("-id vlan4000 -iu swp31"), "{relay}");
        let (code, _, err) = exec(
            &name,
            &dir,
            leaf,
            &["sh", "-c", "kill -0 $(cat /run/network/dhcrelay.pid)"],
        );
        assert_eq!(code, 0, "{leaf}: no relay running: {err}");
    }
    // exec: output, exit codes, refusals
    let (code, out, _) = exec(
        &name,
        &dir,
        "leaf01",
        &["ip", "-br", "link", "show", "swp31"],
    );
    assert_eq!(code, 0);
    assert!(out.starts_with("swp31"), "{out}");
    assert_eq!(exec(&name, &dir, "exit", &["sh", "-c", "exit 7"]).0, 7);
    let (code, _, err) = exec(&name, &dir, "nosuch", &["true"]);
    assert_ne!(code, 0);
    assert!(err.contains("is neither a node of the fabric"), "{err}");
    let mut wrong = state.clone();
    wrong.exec_token = "0".repeat(48);
    let e = metal_lab::exec::capture(&wrong, "leaf01", &["true"])
        .unwrap_err()
        .to_string();
    assert!(e.contains("wrong exec token"), "{e}");

    // status: the switches' sync and their BGP sessions to the exit
    let out = metal_lab(&name, &dir, &["status"]);
    let status = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{status}");
    for leaf in ["leaf01", "leaf02"] {
        assert!(
            status.lines().any(|l| l.starts_with(&format!(
                "{leaf}\tdefault\tswp31\texit\tl2VpnEvpn\tEstablished"
            ))),
            "{status}"
        );
    }
    eprintln!("{status}");

    // power on → Waiting, every DHCP request through the relays
    let t = Instant::now();
    for m in plan.all_machines() {
        metal_lab::lab::power(&c, &m.uuid, "on").await.unwrap();
    }
    let to_waiting = wait_for_event(&c, &plan, "Waiting", &[], LIMIT)
        .await
        .unwrap();
    eprintln!("power on → Waiting (PXE through the relays): {to_waiting:?}");
    let leases: Vec<Value> =
        serde_json::from_slice(&std::fs::read(dir.join("pixie/leases.json")).unwrap()).unwrap();
    for m in plan.all_machines() {
        for mac in &m.macs {
            let l = leases
                .iter()
                .find(|l| l["mac"].as_str() == Some(mac.as_str()) && l["bound"] == true)
                .unwrap_or_else(|| panic!("no lease for {mac}: {leases:?}"));
            assert!(l["ip"].as_str().unwrap().starts_with("10.255.255."), "{l}");
        }
    }

    // master data beyond the lab's: a second project with its own network
    let p2 = serde_json::json!({"meta": {"id": "lab-project-2"}, "name": "lab-project-2",
        "tenant_id": metal_lab::seed::TENANT, "description": "the isolation check's project"});
    let p2_file = dir.join("p2.json");
    std::fs::write(&p2_file, p2.to_string()).unwrap();
    metalctl(
        &state,
        &["project", "create", "-f", p2_file.to_str().unwrap()],
    );
    let net2: Value = serde_json::from_str(&metalctl(
        &state,
        &[
            "network",
            "allocate",
            "--name",
            "p2-net",
            "--partition",
            "lab",
            "--project",
            "lab-project-2",
            "-o",
            "json",
        ],
    ))
    .unwrap();
    let net2 = net2["id"].as_str().unwrap().to_string();

    // the README's walk-through: a firewall and a machine of the project, a machine of p2
    let key = format!("@{}.pub", metal_lab::ssh::key_path(&dir).display());
    let rules = examples("firewall-rules.yaml");
    let [fw_m, m1_m, m2_m] = [plan.machine(1), plan.machine(2), plan.machine(3)];
    let mk = marks(&c, &plan).await.unwrap();
    let t_alloc = Instant::now();
    metalctl(
        &state,
        &[
            "firewall",
            "create",
            "-I",
            &fw_m.uuid,
            "-H",
            "fw",
            "-i",
            "firewall-debian-3.1",
            "-P",
            metal_lab::seed::PROJECT,
            "--networks",
            &format!("{},{}", metal_lab::seed::INTERNET, state.private_network),
            "--filesystemlayout",
            "default",
            "-p",
            &key,
            "--firewall-rules-file",
            rules.to_str().unwrap(),
            "--tags",
            "firewall.metal-stack.io/log-accepted-connections=true",
        ],
    );
    for (m, host, project, network) in [
        (
            &m1_m,
            "m1",
            metal_lab::seed::PROJECT,
            &state.private_network,
        ),
        (&m2_m, "m2", "lab-project-2", &net2),
    ] {
        metalctl(
            &state,
            &[
                "machine",
                "create",
                "-I",
                &m.uuid,
                "-H",
                host,
                "-i",
                "debian-12.1",
                "-P",
                project,
                "--networks",
                network,
                "--filesystemlayout",
                "default",
                "-p",
                &key,
            ],
        );
    }
    let phoned = wait_for_event(&c, &plan, "Phoned Home", &mk, LIMIT)
        .await
        .unwrap();
    eprintln!("allocation → Phoned Home (three Debian installs at once): {phoned:?}");

    let fw = metal_lab::cycle::machine(&c, &fw_m.uuid).await.unwrap();
    let m1 = metal_lab::cycle::machine(&c, &m1_m.uuid).await.unwrap();
    let fw_public = ips(&fw, metal_lab::seed::INTERNET)[0].clone();
    let m1_ip = ips(&m1, &state.private_network)[0].clone();
    let vrf = m1["allocation"]["networks"][0]["vrf"]
        .as_u64()
        .expect("a VRF");
    let host = |hostname: &'static str, m: &metal_lab::plan::MachinePlan| Host {
        name: &name,
        dir: &dir,
        hostname,
        password: metalctl(
            &state,
            &[
                "machine",
                "consolepassword",
                &m.uuid,
                "--reason",
                "the routed lab's test",
            ],
        )
        .trim()
        .to_string(),
    };
    let (fw_h, m1_h, m2_h) = (host("fw", &fw_m), host("m1", &m1_m), host("m2", &m2_m));

    // the machine's ports are in its VRF on both leaves; the switches are in sync
    let port = &m1_m.switch_port;
    for leaf in ["leaf01", "leaf02"] {
        until_exec(
            &name,
            &dir,
            leaf,
            &["ip", "-d", "link", "show", port],
            LIMIT,
            |o| o.contains(&format!("master vrf{vrf} ")),
        )
        .await;
    }
    let switches = get("v1/switch".into()).await;
    for s in switches.as_array().unwrap() {
        let nic = s["nics"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["name"] == port.as_str())
            .unwrap();
        assert_eq!(nic["vrf"], format!("vrf{vrf}"), "{s}");
    }
    // 6. metalctl switch ls: both leaves synced, no error (the wide table's Last Error column
    // shows sync errors of the last 7 days and ports that are down but should be up)
    let ls = metalctl(&state, &["switch", "ls", "-o", "wide"]);
    for leaf in ["leaf01", "leaf02"] {
        let row = ls
            .lines()
            .find(|l| l.starts_with(leaf))
            .unwrap_or_else(|| panic!("{leaf} not in\n{ls}"));
        assert!(
            !row.contains(" ago: ") && !row.contains("but should be"),
            "{ls}"
        );
    }
    eprintln!("{ls}");

    // 1. machine → leaf VRF → EVPN → firewall (egress rule, SNAT) → EVPN → exit → external
    let http = get_script(&format!("http://{EXTERNAL_IP}/"));
    let status = m1_h
        .until(
            "HTTP to the external host through the firewall",
            &http,
            LIMIT,
        )
        .await;
    assert_eq!(status.trim(), "200");
    let first_http = t_alloc.elapsed();
    eprintln!("allocation → first HTTP through the firewall: {first_http:?}");
    let (_, log80, _) = exec(
        &name,
        &dir,
        "external",
        &["cat", "/nodes/external/http80.log"],
    );
    assert!(
        log80
            .lines()
            .any(|l| l.starts_with(&format!("{fw_public} ")) && l.contains("\"GET / ")),
        "the external host did not see the firewall's address {fw_public}:\n{log80}"
    );

    // 5 (set up first, so that it sees what follows): droptailer's server on m1, in the
    // project's network; the firewall's client (os-installer's unit) ships to it
    let ca = Ca::new("droptailer CA").unwrap();
    let server = ca.server("droptailer", &["droptailer"]).unwrap();
    let client = ca.client("fw").unwrap();
    // without its debug sections: it crosses an emulated NIC
    let stripped = dir.join("droptailer-server");
    let status = Command::new("strip")
        .arg("--strip-debug")
        .arg("-o")
        .arg(&stripped)
        .arg(bin("droptailer", "droptailer-server"))
        .status()
        .unwrap();
    assert!(status.success());
    let server_bin = std::fs::read(&stripped).unwrap();
    let (code, out, err) = m1_h.sh(
        "cat > droptailer-server && chmod +x droptailer-server",
        &server_bin,
    );
    assert_eq!(code, 0, "{out}{err}");
    for (file, pem) in [
        ("ca.crt", ca.cert_pem()),
        ("server.crt", server.cert.clone()),
        ("server.key", server.key.clone()),
    ] {
        let (code, out, err) = m1_h.sh(&format!("umask 077; cat > {file}"), pem.as_bytes());
        assert_eq!(code, 0, "{out}{err}");
    }
    let (code, out, err) = m1_h.sh(
        "SERVER_CERTIFICATE=server.crt SERVER_KEY=server.key SERVER_CA_CERTIFICATE=ca.crt \
         nohup ./droptailer-server > drops.log 2> droptailer-server.log < /dev/null &",
        b"",
    );
    assert_eq!(code, 0, "{out}{err}");
    fw_h.must("mkdir -p /etc/droptailer-client", b"");
    for (file, pem) in [
        ("ca.crt", ca.cert_pem()),
        ("droptailer-client.crt", client.cert.clone()),
        ("droptailer-client.key", client.key.clone()),
    ] {
        fw_h.must(
            &format!("umask 077; cat > /etc/droptailer-client/{file}"),
            pem.as_bytes(),
        );
    }
    fw_h.must(
        &format!(
            "echo 'DROPTAILER_CA_CERTIFICATE=/etc/droptailer-client/ca.crt' > /etc/default/droptailer-client && \
             echo '{m1_ip} droptailer' >> /etc/hosts && systemctl restart droptailer"
        ),
        b"",
    );

    // 3. a public IP of the project on m1's loopback, reached from the external host on SSH
    // (announced by m1, accepted by the leaves, leaked into the internet VRF by the firewall,
    // let in by the ingress rule)
    let ip: Value = serde_json::from_str(&metalctl(
        &state,
        &[
            "network",
            "ip",
            "create",
            "--network",
            metal_lab::seed::INTERNET,
            "--project",
            metal_lab::seed::PROJECT,
            "--name",
            "m1-public",
            "-o",
            "json",
        ],
    ))
    .unwrap();
    let public = ip["ipaddress"].as_str().unwrap().to_string();
    assert!(
        public.starts_with(INTERNET_PREFIX.split(".128/").next().unwrap()),
        "{public}"
    );
    m1_h.must(&format!("ip addr add {public}/32 dev lo"), b"");
    let banner = until_exec(
        &name,
        &dir,
        "external",
        &["sh", "-c", &connect_script(&public, 22)],
        Duration::from_secs(180),
        |o| o.starts_with("SSH-2.0-"),
    )
    .await;
    eprintln!("the external host reached {public}:22: {}", banner.trim());

    // 4. 8080 is not in the egress rules; p2's machine reaches neither p1 nor the internet
    let (code, out, _) = m1_h.sh(&connect_script(&EXTERNAL_IP.to_string(), 8080), b"");
    assert_ne!(
        code, 0,
        "port 8080 is not allowed by the egress rules but connected: {out}"
    );
    // the second HTTP request after droptailer started: an accepted line
    let (code, out, err) = m1_h.sh(&http, b"");
    assert_eq!(code, 0, "{out}{err}");
    // m2's packets are put on the wire to leaf01 (routes via the leaf's link-local address),
    // so it is the leaf's VRF of p2 that has no way there
    let (_, ll, _) = exec(
        &name,
        &dir,
        "leaf01",
        &[
            "ip",
            "-6",
            "-o",
            "addr",
            "show",
            "dev",
            &m2_m.switch_port,
            "scope",
            "link",
        ],
    );
    let ll = ll
        .split_whitespace()
        .skip_while(|w| *w != "inet6")
        .nth(1)
        .and_then(|a| a.split('/').next())
        .unwrap_or_else(|| panic!("leaf01's link-local address on {}: {ll}", m2_m.switch_port))
        .to_string();
    m2_h.must(
        &format!(
            "ip route replace {m1_ip}/32 via inet6 {ll} dev lan0 && \
             ip route replace {EXTERNAL_IP}/32 via inet6 {ll} dev lan0"
        ),
        b"",
    );
    let (code, out, _) = m2_h.sh(&connect_script(&m1_ip, 22), b"");
    assert_ne!(
        code, 0,
        "m2 (project 2) reached m1 (the lab's project): {out}"
    );
    let (code, out, _) = m2_h.sh(&get_script(&format!("http://{EXTERNAL_IP}/")), b"");
    assert_ne!(
        code, 0,
        "m2 (project 2, no firewall) reached the external host: {out}"
    );

    // 5. droptailer's server printed the accepted HTTP and the dropped 8080, both from m1
    let drops = m1_h
        .until(
            "droptailer's accepted and dropped lines",
            "grep -q '\"DPT\":\"8080\"' drops.log && grep -q '\"DPT\":\"80\"' drops.log && cat drops.log",
            Duration::from_secs(180),
        )
        .await;
    // each line: the time, then the entry as JSON
    let found = |action: &str, port: &str| {
        drops.lines().any(|l| {
            l.find(" {")
                .and_then(|at| serde_json::from_str::<Value>(l[at..].trim()).ok())
                .is_some_and(|v| {
                    v["ACTION"] == action && v["DPT"] == port && v["SRC"] == m1_ip.as_str()
                })
        })
    };
    assert!(found("accept", "80") && found("drop", "8080"), "{drops}");
    eprintln!("droptailer:\n{drops}");

    // 7. freed: the ports go back into the PXE VLAN, the machine PXE-boots through the relay
    let only_m1 = [m1_m.clone()];
    let mk = marks_of(&c, &only_m1).await.unwrap();
    let t_free = Instant::now();
    metalctl(&state, &["machine", "rm", &m1_m.uuid]);
    for leaf in ["leaf01", "leaf02"] {
        until_exec(
            &name,
            &dir,
            leaf,
            &["bridge", "vlan", "show", "dev", port],
            LIMIT,
            |o| o.contains("4000"),
        )
        .await;
        until_exec(&name, &dir, leaf, &["ip", "link"], LIMIT, |o| {
            !o.contains(&format!("vrf{vrf}:"))
        })
        .await;
    }
    wait_for_event_of(&c, &only_m1, "Waiting", &mk, LIMIT)
        .await
        .unwrap();
    eprintln!(
        "free → Waiting again: {:?}; whole cycle {:?}",
        t_free.elapsed(),
        t.elapsed()
    );

    down_leaves_nothing(guard);
}
