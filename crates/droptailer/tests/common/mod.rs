//! What the droptailer binary tests share: a CA with server and client certificates, the
//! binaries started with metal-stack's environment variables, their output collected.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

use metal_proto::pki::Ca;

pub struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let ca = Ca::new("droptailer test CA").unwrap();
        let foreign = Ca::new("another CA").unwrap();
        let server = ca.server("droptailer", &["droptailer"]).unwrap();
        let client = ca.client("droptailer-client").unwrap();
        let stranger = foreign.client("droptailer-client").unwrap();
        let w = |name: &str, text: &str| std::fs::write(dir.path().join(name), text).unwrap();
        w("ca.crt", &ca.cert_pem());
        w("server.crt", &server.cert);
        w("server.key", &server.key);
        w("client.crt", &client.cert);
        w("client.key", &client.key);
        w("stranger.crt", &stranger.cert);
        w("stranger.key", &stranger.key);
        Self { dir }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

/// A started binary whose stdout and stderr lines are collected.
pub struct Proc {
    child: Child,
    stdout: Receiver<String>,
    stderr: Receiver<String>,
    log: Vec<String>,
}

impl Proc {
    pub fn start(mut cmd: Command) -> Self {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let lines = |r: Box<dyn std::io::Read + Send>| {
            let (tx, rx) = channel();
            std::thread::spawn(move || {
                for l in BufReader::new(r).lines().map_while(Result::ok) {
                    if tx.send(l).is_err() {
                        break;
                    }
                }
            });
            rx
        };
        let stdout = lines(Box::new(child.stdout.take().unwrap()));
        let stderr = lines(Box::new(child.stderr.take().unwrap()));
        Self {
            child,
            stdout,
            stderr,
            log: Vec::new(),
        }
    }

    /// Waits for a log line containing `text`, returning it.
    pub fn wait_log(&mut self, text: &str) -> String {
        let end = Instant::now() + Duration::from_secs(20);
        if let Some(l) = self.log.iter().find(|l| l.contains(text)) {
            return l.clone();
        }
        while let Some(left) = end.checked_duration_since(Instant::now()) {
            match self.stderr.recv_timeout(left) {
                Ok(l) => {
                    eprintln!("  | {l}");
                    self.log.push(l.clone());
                    if l.contains(text) {
                        return l;
                    }
                }
                Err(_) => break,
            }
        }
        panic!("no log line with {text:?}; log: {:#?}", self.log);
    }

    /// The next `n` stdout lines, failing after 20 s.
    pub fn lines(&mut self, n: usize) -> Vec<String> {
        let end = Instant::now() + Duration::from_secs(20);
        let mut got = Vec::new();
        while got.len() < n {
            let left = end
                .checked_duration_since(Instant::now())
                .unwrap_or_else(|| panic!("{} of {n} lines arrived: {got:#?}", got.len()));
            match self.stdout.recv_timeout(left) {
                Ok(l) => got.push(l),
                Err(_) => panic!("{} of {n} lines arrived: {got:#?}", got.len()),
            }
        }
        got
    }

    /// Asserts that no stdout line arrives within `d`.
    pub fn quiet_for(&mut self, d: Duration) {
        if let Ok(l) = self.stdout.recv_timeout(d) {
            panic!("unexpected line {l}");
        }
    }

    pub fn stop(&mut self) {
        let _ = terminate(self.child.id());
        let _ = self.child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn terminate(pid: u32) -> std::io::Result<()> {
    // SIGTERM, the way systemd stops the units
    let status = Command::new("kill").arg(pid.to_string()).status()?;
    assert!(status.success());
    Ok(())
}

pub fn server(pki: &Pki, port: u16, json: &Path) -> (Proc, u16) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_droptailer-server"));
    cmd.env_clear()
        .env("SERVER_ADDRESS", "127.0.0.1")
        .env("SERVER_PORT", port.to_string())
        .env("SERVER_CERTIFICATE", pki.path("server.crt"))
        .env("SERVER_KEY", pki.path("server.key"))
        .env("SERVER_CA_CERTIFICATE", pki.path("ca.crt"))
        .env("SERVER_JSON_FILE", json);
    let mut p = Proc::start(cmd);
    let l = p.wait_log("droptailer server listening");
    let addr = l
        .split_whitespace()
        .find_map(|w| w.strip_prefix("address="))
        .unwrap();
    let port = addr.rsplit(':').next().unwrap().parse().unwrap();
    (p, port)
}

pub fn client(pki: &Pki, port: u16, source: &str, cert: &str, queue: usize) -> Proc {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_droptailer-client"));
    cmd.env_clear()
        .env("DROPTAILER_SERVER_ADDRESS", format!("127.0.0.1:{port}"))
        .env("DROPTAILER_CA_CERTIFICATE", pki.path("ca.crt"))
        .env(
            "DROPTAILER_CLIENT_CERTIFICATE",
            pki.path(&format!("{cert}.crt")),
        )
        .env("DROPTAILER_CLIENT_KEY", pki.path(&format!("{cert}.key")))
        .env("DROPTAILER_SOURCE", source)
        .env("DROPTAILER_QUEUE_SIZE", queue.to_string());
    let mut p = Proc::start(cmd);
    p.wait_log("reading");
    p
}
