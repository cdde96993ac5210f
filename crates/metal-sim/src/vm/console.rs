//! The serial console of a VM: every line timestamped from VM start and kept, with waits on
//! patterns that fail with the last lines of context.
//!
//! A reader thread feeds bytes from qemu's serial chardev; `\r` is dropped, lines split on
//! `\n`; the unfinished last line is matched only by [`Console::wait_for_prompt`]. Waits
//! block on a condition variable until a line matches, the console closes (qemu exited) or
//! the timeout passes. [`Console::wait_for`] searches from a cursor shared by all clones, so
//! successive waits find successive events.

use std::fmt;
use std::fs::File;
use std::io::{Read, Write};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How many lines an error shows.
pub const TAIL_LINES: usize = 60;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleLine {
    /// Since the VM started.
    pub at: Duration,
    pub text: String,
}

impl fmt::Display for ConsoleLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{:>8.3}] {}", self.at.as_secs_f64(), self.text)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    #[error("{vm}: no console line matching {pattern:?} within {waited:?}{}\n{tail}", exit_note(.exit))]
    Timeout {
        vm: String,
        pattern: String,
        waited: Duration,
        exit: Option<String>,
        tail: String,
    },
    #[error("{vm}: console closed (qemu exited{}) before a line matched {pattern:?}\n{tail}", exit_note(.exit))]
    Closed {
        vm: String,
        pattern: String,
        exit: Option<String>,
        tail: String,
    },
}

fn exit_note(exit: &Option<String>) -> String {
    match exit {
        Some(e) => format!("; qemu exited: {e}"),
        None => String::new(),
    }
}

impl ConsoleError {
    /// Adds what the caller knows about qemu's exit status.
    pub fn with_exit(mut self, status: Option<String>) -> Self {
        match &mut self {
            ConsoleError::Timeout { exit, .. } | ConsoleError::Closed { exit, .. } => {
                *exit = status
            }
        }
        self
    }
}

#[derive(Default)]
struct State {
    lines: Vec<ConsoleLine>,
    partial: Vec<u8>,
    closed: bool,
    cursor: usize,
    /// qemu's stderr, kept for error messages.
    stderr: String,
}

struct Shared {
    name: String,
    started: Instant,
    state: Mutex<State>,
    changed: Condvar,
}

/// A handle on a VM's console; clones share the lines and the cursor.
#[derive(Clone)]
pub struct Console {
    shared: Arc<Shared>,
}

impl Console {
    pub fn new(name: &str, started: Instant) -> Self {
        Self {
            shared: Arc::new(Shared {
                name: name.to_string(),
                started,
                state: Mutex::new(State::default()),
                changed: Condvar::new(),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.shared
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Starts a thread that reads `source` to its end, appending lines; `log` receives each
    /// timestamped line, `echo` prints it to stderr too.
    pub fn spawn_reader<R: Read + Send + 'static>(
        &self,
        mut source: R,
        mut log: Option<File>,
        echo: bool,
    ) -> JoinHandle<()> {
        let me = self.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            loop {
                let n = match source.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                let done = me.push_bytes(&buf[..n]);
                for line in done {
                    if let Some(f) = log.as_mut() {
                        let _ = writeln!(f, "{line}");
                    }
                    if echo {
                        eprintln!("{}: {line}", me.shared.name);
                    }
                }
            }
            me.close();
        })
    }

    /// Starts a thread collecting qemu's stderr.
    pub fn spawn_stderr_reader<R: Read + Send + 'static>(&self, mut source: R) -> JoinHandle<()> {
        let me = self.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 1024];
            while let Ok(n) = source.read(&mut buf) {
                if n == 0 {
                    break;
                }
                let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                if std::env::var("METAL_VM_ECHO").as_deref() == Ok("1") {
                    eprint!("{} stderr: {text}", me.shared.name);
                }
                me.lock().stderr.push_str(&text);
            }
        })
    }

    /// Appends raw console bytes; returns the lines completed by them.
    pub fn push_bytes(&self, bytes: &[u8]) -> Vec<ConsoleLine> {
        let at = self.shared.started.elapsed();
        let mut done = Vec::new();
        let mut st = self.lock();
        for &b in bytes {
            match b {
                b'\r' => {}
                b'\n' => {
                    let text = String::from_utf8_lossy(&st.partial).into_owned();
                    st.partial.clear();
                    let line = ConsoleLine { at, text };
                    done.push(line.clone());
                    st.lines.push(line);
                }
                b => st.partial.push(b),
            }
        }
        drop(st);
        self.shared.changed.notify_all();
        done
    }

    /// Marks the console as closed (qemu's end of the chardev went away).
    pub fn close(&self) {
        let mut st = self.lock();
        if !st.partial.is_empty() {
            let text = String::from_utf8_lossy(&st.partial).into_owned();
            st.partial.clear();
            let at = self.shared.started.elapsed();
            st.lines.push(ConsoleLine { at, text });
        }
        st.closed = true;
        drop(st);
        self.shared.changed.notify_all();
    }

    pub fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// All complete lines so far.
    pub fn lines(&self) -> Vec<ConsoleLine> {
        self.lock().lines.clone()
    }

    /// qemu's stderr so far.
    pub fn stderr(&self) -> String {
        self.lock().stderr.clone()
    }

    /// The last `n` lines (and the unfinished one) as text, one per line, for error messages.
    pub fn tail(&self, n: usize) -> String {
        let st = self.lock();
        Self::tail_of(&st, n, self.shared.started.elapsed())
    }

    fn tail_of(st: &State, n: usize, now: Duration) -> String {
        let start = st.lines.len().saturating_sub(n);
        let mut out = format!("--- last {} console lines ---\n", st.lines.len() - start);
        for l in &st.lines[start..] {
            out.push_str(&format!("{l}\n"));
        }
        if !st.partial.is_empty() {
            let text = String::from_utf8_lossy(&st.partial);
            out.push_str(&format!(
                "[{:>8.3}] {text}  (unfinished)\n",
                now.as_secs_f64()
            ));
        }
        if !st.stderr.trim().is_empty() {
            out.push_str(&format!("--- qemu stderr ---\n{}\n", st.stderr.trim_end()));
        }
        out
    }

    /// Waits until a complete line after the cursor contains `pattern`; moves the cursor past
    /// it.
    pub fn wait_for(&self, pattern: &str, timeout: Duration) -> Result<ConsoleLine, ConsoleError> {
        self.wait_until(pattern, timeout, |l| l.contains(pattern))
    }

    /// Like [`Self::wait_for`], but also matches the unfinished last line (a prompt such as
    /// `login: ` that no newline follows). The cursor stays.
    pub fn wait_for_prompt(
        &self,
        pattern: &str,
        timeout: Duration,
    ) -> Result<ConsoleLine, ConsoleError> {
        self.wait_inner(pattern, timeout, true, |l| l.contains(pattern))
    }

    /// Like [`Self::wait_for`] with a predicate on complete lines; `what` describes it in
    /// errors.
    pub fn wait_until(
        &self,
        what: &str,
        timeout: Duration,
        matches: impl Fn(&str) -> bool,
    ) -> Result<ConsoleLine, ConsoleError> {
        self.wait_inner(what, timeout, false, matches)
    }

    fn wait_inner(
        &self,
        what: &str,
        timeout: Duration,
        partial: bool,
        matches: impl Fn(&str) -> bool,
    ) -> Result<ConsoleLine, ConsoleError> {
        let deadline = Instant::now() + timeout;
        let mut st = self.lock();
        loop {
            let from = st.cursor;
            if let Some(i) = st.lines[from..].iter().position(|l| matches(&l.text)) {
                st.cursor = from + i + 1;
                return Ok(st.lines[from + i].clone());
            }
            if partial && !st.partial.is_empty() {
                let text = String::from_utf8_lossy(&st.partial).into_owned();
                if matches(&text) {
                    let at = self.shared.started.elapsed();
                    return Ok(ConsoleLine { at, text });
                }
            }
            let now = Instant::now();
            let tail = || Self::tail_of(&st, TAIL_LINES, self.shared.started.elapsed());
            if st.closed {
                return Err(ConsoleError::Closed {
                    vm: self.shared.name.clone(),
                    pattern: what.to_string(),
                    exit: None,
                    tail: tail(),
                });
            }
            if now >= deadline {
                return Err(ConsoleError::Timeout {
                    vm: self.shared.name.clone(),
                    pattern: what.to_string(),
                    waited: timeout,
                    exit: None,
                    tail: tail(),
                });
            }
            st = self
                .shared
                .changed
                .wait_timeout(st, deadline - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    /// [`Self::wait_for`] off the async runtime's worker threads.
    pub async fn wait_for_async(
        &self,
        pattern: &str,
        timeout: Duration,
    ) -> Result<ConsoleLine, ConsoleError> {
        let me = self.clone();
        let pattern = pattern.to_string();
        tokio::task::spawn_blocking(move || me.wait_for(&pattern, timeout))
            .await
            .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))
    }

    /// Waits until the console closes (qemu exited); false on timeout.
    pub fn wait_closed(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut st = self.lock();
        while !st.closed {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            st = self
                .shared
                .changed
                .wait_timeout(st, deadline - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        true
    }

    /// Lines strictly between the first line containing `start` and the next containing
    /// `end` (None when either is missing).
    pub fn between(&self, start: &str, end: &str) -> Option<Vec<ConsoleLine>> {
        let st = self.lock();
        let s = st.lines.iter().position(|l| l.text.contains(start))?;
        let e = st.lines[s + 1..]
            .iter()
            .position(|l| l.text.contains(end))?
            + s
            + 1;
        Some(st.lines[s + 1..e].to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_lines_and_drops_cr() {
        let c = Console::new("t", Instant::now());
        c.push_bytes(b"hello\r\nwor");
        c.push_bytes(b"ld\nprompt# ");
        let lines: Vec<String> = c.lines().into_iter().map(|l| l.text).collect();
        assert_eq!(lines, ["hello", "world"]);
        assert!(c.wait_for("prompt#", Duration::ZERO).is_err());
        assert_eq!(
            c.wait_for_prompt("prompt#", Duration::ZERO).unwrap().text,
            "prompt# "
        );
    }

    #[test]
    fn successive_waits_advance() {
        let c = Console::new("t", Instant::now());
        c.push_bytes(b"MARK 1\nMARK 2\n");
        assert_eq!(c.wait_for("MARK", Duration::ZERO).unwrap().text, "MARK 1");
        assert_eq!(c.wait_for("MARK", Duration::ZERO).unwrap().text, "MARK 2");
        let err = c.wait_for("MARK", Duration::ZERO).unwrap_err().to_string();
        assert!(err.contains("MARK 2") && err.contains("within"), "{err}");
    }

    #[test]
    fn closed_console_fails_at_once_with_tail() {
        let c = Console::new("vm0", Instant::now());
        c.push_bytes(b"Kernel panic\n");
        c.close();
        let err = c
            .wait_for("never", Duration::from_secs(3600))
            .unwrap_err()
            .with_exit(Some("exit status: 0".into()))
            .to_string();
        assert!(
            err.contains("console closed") && err.contains("Kernel panic"),
            "{err}"
        );
        assert!(err.contains("exit status: 0"), "{err}");
    }

    #[test]
    fn wakes_a_waiting_thread() {
        let c = Console::new("t", Instant::now());
        let c2 = c.clone();
        let h = std::thread::spawn(move || c2.wait_for("late", Duration::from_secs(60)));
        c.push_bytes(b"early\nlate line\n");
        assert_eq!(h.join().unwrap().unwrap().text, "late line");
    }

    #[test]
    fn between_markers() {
        let c = Console::new("t", Instant::now());
        c.push_bytes(b"x\nSTART\na\nb\nEND 0\n");
        let got: Vec<String> = c
            .between("START", "END")
            .unwrap()
            .into_iter()
            .map(|l| l.text)
            .collect();
        assert_eq!(got, ["a", "b"]);
    }
}
