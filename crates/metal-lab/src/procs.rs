//! The lab's processes: started detached (own process group, stdin from /dev/null, output in
//! `log/<name>.log`), inside a namespace through `ip netns exec` (which execs, so the pid is the
//! daemon's), with their pid in `run/<name>.pid`. Stopping finds them three ways, so that a lab
//! whose `up` crashed half-way is still cleaned up: the pid files, every process inside a lab
//! namespace (`ip netns pids`: qemu and ipmi_sim included), and every process whose command
//! line names the lab directory.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::Context;
use metal_sim::poll::try_until_blocking;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// A daemon of the lab.
#[derive(Debug, Clone)]
pub struct Daemon {
    pub name: String,
    pub netns: Option<String>,
    pub program: PathBuf,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
}

impl Daemon {
    pub fn new(name: &str, program: impl Into<PathBuf>) -> Daemon {
        Daemon {
            name: name.to_string(),
            netns: None,
            program: program.into(),
            args: Vec::new(),
            env: Vec::new(),
        }
    }

    pub fn netns(mut self, ns: &str) -> Self {
        self.netns = Some(ns.to_string());
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// An environment variable (secrets go here, not on the command line other users can read).
    pub fn env(mut self, k: &str, v: &str) -> Self {
        self.env.push((k.to_string(), v.to_string()));
        self
    }

    /// Starts the daemon; returns its pid.
    pub fn spawn(&self, run_dir: &Path, log_dir: &Path) -> anyhow::Result<u32> {
        let mut cmd = match &self.netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns]).arg(&self.program);
                c
            }
            None => Command::new(&self.program),
        };
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log_dir.join(format!("{}.log", self.name)))
            .with_context(|| format!("opening the log of {}", self.name))?;
        cmd.args(&self.args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .process_group(0);
        let child = cmd
            .spawn()
            .with_context(|| format!("starting {} ({})", self.name, self.program.display()))?;
        let pid = child.id();
        // not waited for: the daemon outlives `metal-lab up`; init reaps it
        drop(child);
        std::fs::write(
            run_dir.join(format!("{}.pid", self.name)),
            format!("{pid}\n"),
        )?;
        Ok(pid)
    }
}

/// Whether a process runs (exists and is no zombie).
pub fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            // "pid (comm) S ...": the state follows the last ')'
            let state = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().next());
            !matches!(state, Some("Z") | Some("X") | None)
        }
        Err(_) => false,
    }
}

/// The pid in `run/<name>.pid`, if any.
pub fn pid_of(run_dir: &Path, name: &str) -> Option<i32> {
    std::fs::read_to_string(run_dir.join(format!("{name}.pid")))
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// The pids of every pid file in `run_dir`.
pub fn pid_files(run_dir: &Path) -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir(run_dir) else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "pid"))
        .filter_map(|e| std::fs::read_to_string(e.path()).ok())
        .filter_map(|s| s.trim().parse().ok())
        .collect()
}

/// Processes whose command line contains `needle` (not this process).
pub fn with_cmdline_containing(needle: &str) -> Vec<i32> {
    let me = std::process::id() as i32;
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| *pid != me)
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| {
                    let text = String::from_utf8_lossy(&c).replace('\0', " ");
                    text.contains(needle)
                })
                .unwrap_or(false)
        })
        .collect()
}

/// Sends SIGTERM, waits up to `grace`, then SIGKILLs what is left and waits for it to go.
/// Returns how many processes were stopped.
pub fn stop(pids: &[i32], grace: Duration) -> usize {
    let mut pids: Vec<i32> = pids.iter().copied().filter(|p| alive(*p)).collect();
    pids.sort_unstable();
    pids.dedup();
    let n = pids.len();
    for p in &pids {
        let _ = kill(Pid::from_raw(*p), Signal::SIGTERM);
    }
    let all_gone = || !pids.iter().any(|p| alive(*p));
    let _ = try_until_blocking("SIGTERM", grace, Duration::from_millis(100), all_gone);
    for p in pids.iter().filter(|p| alive(**p)) {
        let _ = kill(Pid::from_raw(*p), Signal::SIGKILL);
    }
    let _ = try_until_blocking(
        "SIGKILL",
        Duration::from_secs(5),
        Duration::from_millis(50),
        all_gone,
    );
    n
}

#[cfg(test)]
mod tests {
    use super::*;
    use metal_sim::poll::until_blocking;

    #[test]
    fn daemons_are_found_by_pid_file_and_command_line_and_stopped() {
        let dir = tempfile::tempdir().unwrap();
        let (run, log) = (dir.path().join("run"), dir.path().join("log"));
        std::fs::create_dir_all(&run).unwrap();
        std::fs::create_dir_all(&log).unwrap();
        // a program under the test's directory: its command line names the directory
        let sleeper = dir.path().join("lab-sleeper");
        std::os::unix::fs::symlink("/bin/sleep", &sleeper).unwrap();
        let marker = dir.path().display().to_string();
        let pid = Daemon::new("sleeper", &sleeper)
            .args(["300"])
            .spawn(&run, &log)
            .unwrap() as i32;
        assert_eq!(pid_of(&run, "sleeper"), Some(pid));
        assert_eq!(pid_files(&run), vec![pid]);
        until_blocking(
            "the sleeper to be found by its command line",
            Duration::from_secs(5),
            Duration::from_millis(20),
            || with_cmdline_containing(&marker).contains(&pid),
        );
        assert!(alive(pid));
        assert_eq!(stop(&[pid, pid], Duration::from_secs(5)), 1);
        assert!(!alive(pid));
        assert!(log.join("sleeper.log").exists());
    }
}
