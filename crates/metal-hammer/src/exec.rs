//! External commands (sgdisk, mdadm, lvm, mkfs, mount, chroot, ...): a [`Command`] value that
//! a plan can hold and a test can compare, and [`Command::run`], which logs the command line,
//! captures stdout and stderr and turns a failure into an error that names the command line,
//! the exit status and the tail of the output.
//!
//! Arguments are passed as argv, never through a shell. Stdin is `/dev/null`, so a tool that
//! would ask a question gets end-of-file instead of hanging the ramdisk.

use std::ffi::OsString;
use std::fmt;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};

use tracing::debug;

/// How many bytes of output an error message keeps (the end of it, where tools say why).
const TAIL_BYTES: usize = 2048;

/// A program and its arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    pub program: String,
    pub args: Vec<String>,
    /// Working directory; `None` = the current one.
    pub cwd: Option<PathBuf>,
    /// Environment variables set on top of the inherited ones.
    pub env: Vec<(String, String)>,
}

/// What a command printed.
#[derive(Debug, Clone, Default)]
pub struct Output {
    pub stdout: String,
    pub stderr: String,
}

/// A command that could not be started or did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error("`{cmdline}` could not be started")]
    Spawn {
        cmdline: String,
        #[source]
        source: std::io::Error,
    },
    #[error("`{cmdline}` failed ({status}): {tail}")]
    Failed {
        cmdline: String,
        status: ExitStatus,
        /// The last bytes of stderr (stdout when stderr is empty).
        tail: String,
    },
}

impl Command {
    /// `program` with `args`.
    pub fn new<S: Into<String>>(
        program: impl Into<String>,
        args: impl IntoIterator<Item = S>,
    ) -> Self {
        Self {
            program: program.into(),
            args: args.into_iter().map(Into::into).collect(),
            cwd: None,
            env: Vec::new(),
        }
    }

    /// Appends one argument.
    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// Runs in `dir`.
    pub fn current_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cwd = Some(dir.into());
        self
    }

    /// Sets an environment variable for the command.
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// The argv: program first.
    pub fn argv(&self) -> Vec<&str> {
        std::iter::once(self.program.as_str())
            .chain(self.args.iter().map(String::as_str))
            .collect()
    }

    /// Runs the command to completion; a non-zero exit is an error.
    pub fn run(&self) -> Result<Output, ExecError> {
        let cmdline = self.to_string();
        debug!(command = %cmdline, "running");
        let mut cmd = std::process::Command::new(&self.program);
        cmd.args(self.args.iter().map(OsString::from))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(dir) = &self.cwd {
            cmd.current_dir(dir);
        }
        cmd.envs(self.env.iter().map(|(k, v)| (k, v)));
        let out = cmd.output().map_err(|source| ExecError::Spawn {
            cmdline: cmdline.clone(),
            source,
        })?;
        let output = Output {
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        };
        if !out.status.success() {
            let text = if output.stderr.trim().is_empty() {
                &output.stdout
            } else {
                &output.stderr
            };
            return Err(ExecError::Failed {
                cmdline,
                status: out.status,
                tail: tail(text, TAIL_BYTES),
            });
        }
        Ok(output)
    }
}

impl fmt::Display for Command {
    /// The command line as a shell would need it (arguments with spaces or quotes quoted).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, a) in self.argv().into_iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            if a.is_empty() || a.contains(|c: char| c.is_whitespace() || "'\"\\$`".contains(c)) {
                write!(f, "'{}'", a.replace('\'', "'\\''"))?;
            } else {
                f.write_str(a)?;
            }
        }
        Ok(())
    }
}

/// Whether `program` is found on `PATH` (or is an existing path).
pub fn tool_exists(program: &str) -> bool {
    if program.contains('/') {
        return std::path::Path::new(program).is_file();
    }
    std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
        .unwrap_or(false)
}

/// The last `max` bytes of `text` (at a character boundary), trimmed.
pub fn tail(text: &str, max: usize) -> String {
    let text = text.trim();
    if text.len() <= max {
        return text.to_string();
    }
    let mut start = text.len() - max;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    format!("...{}", &text[start..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_quotes_what_a_shell_would_split() {
        let c = Command::new("mkfs.ext4", ["-L", "my root", "-F", "it's"]);
        assert_eq!(c.to_string(), r"mkfs.ext4 -L 'my root' -F 'it'\''s'");
    }

    #[test]
    fn failure_names_command_status_and_stderr_tail() {
        let c = Command::new("sh", ["-c", "echo out; echo bad thing >&2; exit 3"]);
        let err = c.run().unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("`sh -c 'echo out; echo bad thing >&2; exit 3'`"),
            "{msg}"
        );
        assert!(msg.contains("exit status: 3"), "{msg}");
        assert!(msg.contains("bad thing"), "{msg}");
    }

    #[test]
    fn missing_program_is_a_spawn_error() {
        let err = Command::new("/nonexistent/tool", ["x"]).run().unwrap_err();
        assert!(matches!(err, ExecError::Spawn { .. }), "{err}");
        assert!(err.to_string().contains("/nonexistent/tool x"));
    }

    #[test]
    fn success_captures_stdout() {
        let out = Command::new("sh", ["-c", "printf hello"]).run().unwrap();
        assert_eq!(out.stdout, "hello");
    }

    #[test]
    fn tail_keeps_the_end() {
        assert_eq!(tail("abcdef", 3), "...def");
        assert_eq!(tail("  ab \n", 3), "ab");
        assert_eq!(tail("äöü", 3), "...ü");
    }
}
