//! Network namespaces, veth links and child processes for the netboot tests, each removed
//! again by a Drop guard (also when a test fails). Names carry the pid and a counter so that
//! tests run in parallel.

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

static SEQ: AtomicU32 = AtomicU32::new(0);

/// A unique short tag for names (interface names have at most 15 bytes).
pub fn tag() -> String {
    let n = SEQ.fetch_add(1, Ordering::SeqCst);
    format!("{}{}", std::process::id() % 100_000, n)
}

/// Runs a command to success, returning its stdout.
pub fn sh(args: &[&str]) -> String {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("running {args:?}: {e}"));
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A network namespace, deleted on drop together with the links into it from the test's
/// namespace (deleted explicitly: a namespace the kernel keeps alive a little longer would
/// otherwise leave them behind).
pub struct Netns {
    pub name: String,
    root_links: std::cell::RefCell<Vec<String>>,
}

impl Netns {
    pub fn new(name: String) -> Self {
        sh(&["ip", "netns", "add", &name]);
        let ns = Self {
            name,
            root_links: Default::default(),
        };
        ns.run(&["ip", "link", "set", "lo", "up"]);
        ns
    }

    /// `ip netns exec <ns> args...` to success.
    pub fn run(&self, args: &[&str]) -> String {
        let mut v = vec!["ip", "netns", "exec", &self.name];
        v.extend_from_slice(args);
        sh(&v)
    }

    /// A command running in the namespace.
    pub fn command(&self, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name, program]);
        c
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        for link in self.root_links.borrow().iter() {
            let _ = Command::new("ip").args(["link", "del", link]).status();
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

/// A veth pair from `a` (name `an`, address `aip`) to `b`; `None` namespace = the test's own.
pub fn veth(
    a: Option<&Netns>,
    an: &str,
    aip: Option<&str>,
    b: &Netns,
    bn: &str,
    bip: Option<&str>,
) {
    sh(&["ip", "link", "add", an, "type", "veth", "peer", "name", bn]);
    sh(&["ip", "link", "set", bn, "netns", &b.name]);
    if let Some(a) = a {
        sh(&["ip", "link", "set", an, "netns", &a.name]);
    }
    let exec_a = |args: &[&str]| match a {
        Some(ns) => {
            ns.run(args);
        }
        None => {
            sh(args);
        }
    };
    if let Some(ip) = aip {
        exec_a(&["ip", "addr", "add", ip, "dev", an]);
    }
    exec_a(&["ip", "link", "set", an, "up"]);
    if let Some(ip) = bip {
        b.run(&["ip", "addr", "add", ip, "dev", bn]);
    }
    b.run(&["ip", "link", "set", bn, "up"]);
}

/// A link from the test's namespace into `ns`, so that processes in `ns` reach metal-api and
/// the test reaches pixie. Returns (our address, the namespace's address); the link is deleted
/// with the namespace.
pub fn uplink(ns: &Netns, t: &str) -> (Ipv4Addr, Ipv4Addr) {
    // A /30 of 100.64.0.0/10 derived from the tag.
    let k: u32 = t.parse::<u32>().unwrap_or(0) % (1 << 20);
    let base = u32::from(Ipv4Addr::new(100, 64, 0, 0)) + k * 4;
    let (ours, theirs) = (Ipv4Addr::from(base + 1), Ipv4Addr::from(base + 2));
    let root_side = format!("pu{t}a");
    ns.root_links.borrow_mut().push(root_side.clone());
    veth(
        None,
        &root_side,
        Some(&format!("{ours}/30")),
        ns,
        &format!("pu{t}b"),
        Some(&format!("{theirs}/30")),
    );
    (ours, theirs)
}

/// A child process, killed on drop; its output goes to a log file.
pub struct Proc {
    pub child: Child,
    pub log: PathBuf,
    pub name: String,
}

impl Proc {
    pub fn spawn(mut cmd: Command, log: PathBuf, name: &str) -> Self {
        let f = std::fs::File::create(&log).unwrap();
        cmd.stdout(f.try_clone().unwrap())
            .stderr(f)
            .stdin(Stdio::null());
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("starting {name}: {e}"));
        Self {
            child,
            log,
            name: name.into(),
        }
    }

    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Fails if the process has exited.
    pub fn assert_running(&mut self) {
        if let Ok(Some(st)) = self.child.try_wait() {
            panic!("{} exited with {st}:\n{}", self.name, self.output());
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("---- {} log ----\n{}", self.name, self.output());
        }
    }
}

/// How often the tests poll a condition (with `metal_testkit::until_every`).
pub const POLL: Duration = Duration::from_millis(100);
