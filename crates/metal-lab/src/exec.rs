//! `metal-lab exec NODE -- COMMAND`: runs a command in a node of the routed lab's fabric guest
//! (leaf01, leaf02, exit, external) through the guest's command service
//! ([`crate::routed::EXEC_SERVER_PY`]), reached on the lab's management network: the calling
//! thread enters the lab's management namespace first.

use std::io::{BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsFd;
use std::time::Duration;

use anyhow::{bail, Context};
use nix::sched::{setns, CloneFlags};

use crate::lab::State;
use crate::routed::{EXEC_IP, EXEC_PORT, NODES};

/// A command's output, as [`capture`] collects it.
#[derive(Debug, Clone, Default)]
pub struct Output {
    pub code: i32,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl Output {
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
}

/// Which stream a piece of output belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// Runs `argv` in `node` and hands its output to `sink` as it arrives; returns the exit code.
/// Enters the lab's management namespace on the calling thread (run it on a thread of its own
/// where the caller's namespace matters).
pub fn run(
    state: &State,
    node: &str,
    argv: &[String],
    sink: &mut dyn FnMut(Stream, &[u8]),
) -> anyhow::Result<i32> {
    if !state.routed {
        bail!(
            "lab {:?} has no fabric (its leaves are bridges): metal-lab up --routed makes one",
            state.name
        );
    }
    if !NODES.contains(&node) {
        bail!(
            "{node:?} is not a node of the fabric; the nodes are {}",
            NODES.join(", ")
        );
    }
    if argv.is_empty() {
        bail!("no command: metal-lab exec {node} -- COMMAND [ARGS...]");
    }
    let ns_name = format!("{}-mgmt", state.name);
    let ns = std::fs::File::open(format!("/run/netns/{ns_name}"))
        .with_context(|| format!("opening network namespace {ns_name} (is the lab up?)"))?;
    setns(ns.as_fd(), CloneFlags::CLONE_NEWNET)
        .with_context(|| format!("entering network namespace {ns_name}"))?;
    let addr = SocketAddr::from((EXEC_IP, EXEC_PORT));
    let mut conn = TcpStream::connect_timeout(&addr, Duration::from_secs(10))
        .with_context(|| format!("connecting to the fabric guest's command service at {addr}"))?;
    let request = serde_json::json!({"token": state.exec_token, "node": node, "argv": argv});
    conn.write_all(format!("{request}\n").as_bytes())?;
    let mut r = BufReader::new(conn);
    loop {
        let mut head = [0u8; 5];
        r.read_exact(&mut head)
            .context("the fabric guest closed the connection before the command's exit code")?;
        let len = u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
        let mut data = vec![0u8; len];
        r.read_exact(&mut data)?;
        match head[0] {
            1 => sink(Stream::Stdout, &data),
            2 => sink(Stream::Stderr, &data),
            3 => {
                let text = String::from_utf8_lossy(&data);
                return text
                    .trim()
                    .parse()
                    .with_context(|| format!("exit code {text:?}"));
            }
            4 => bail!("the fabric refused: {}", String::from_utf8_lossy(&data)),
            k => bail!("unknown frame {k} from the fabric guest"),
        }
    }
}

/// Runs `argv` in `node` on a thread of its own and collects the output.
pub fn capture(state: &State, node: &str, argv: &[&str]) -> anyhow::Result<Output> {
    let (state, node) = (state.clone(), node.to_string());
    let argv: Vec<String> = argv.iter().map(|a| a.to_string()).collect();
    std::thread::spawn(move || {
        let mut out = Output::default();
        out.code = run(&state, &node, &argv, &mut |s, d| match s {
            Stream::Stdout => out.stdout.extend_from_slice(d),
            Stream::Stderr => out.stderr.extend_from_slice(d),
        })?;
        Ok(out)
    })
    .join()
    .map_err(|_| anyhow::anyhow!("the exec thread panicked"))?
}
