//! Applying the rendered Cumulus files to the switch, all or nothing.
//!
//! For every rendered file that differs from the one in place: write `<file>.tmp` next to it and
//! check it with the switch's own tools (FRR: `vtysh -C -f`; interfaces: ifupdown2's
//! `ifup -a --syntax-check -i`). One failing check and nothing is moved: the temporary files
//! are removed, the running configuration stays, the error is the run's. Otherwise each file's
//! old version is kept as `<file>.bak`, the new one renamed into place, and the services
//! reloaded in order: `ifreload -a` (interfaces), FRR's reload (`frr-reload.py --reload`, what
//! `systemctl reload frr` runs), the DHCP relay's restart. When a reload fails, every changed
//! file is put back from its backup and the reloads run again, so the switch runs what it ran
//! before; the error names the failing step.
//!
//! Files equal to the ones in place are not touched and nothing is reloaded for them. A DHCP
//! relay file that is no longer rendered (no relay servers) is left as it is.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::render::RenderedFile;

/// Where the files live on the switch.
#[derive(Debug, Clone)]
pub struct Paths {
    pub interfaces: PathBuf,
    pub frr: PathBuf,
    pub dhcp_relay: PathBuf,
}

impl Default for Paths {
    fn default() -> Self {
        Self {
            interfaces: "/etc/network/interfaces".into(),
            frr: "/etc/frr/frr.conf".into(),
            dhcp_relay: "/etc/default/isc-dhcp-relay".into(),
        }
    }
}

/// The commands that check and reload; each is a program with its arguments, the checks get
/// the temporary file as their last argument, FRR's reload the file in place.
#[derive(Debug, Clone)]
pub struct Commands {
    pub frr_check: Vec<String>,
    pub interfaces_check: Vec<String>,
    pub interfaces_reload: Vec<String>,
    pub frr_reload: Vec<String>,
    pub dhcp_relay_restart: Vec<String>,
    /// how long one command may take before it is killed (and counts as failed)
    pub timeout: Duration,
}

impl Default for Commands {
    fn default() -> Self {
        Self {
            frr_check: words("vtysh -C -f"),
            interfaces_check: words("ifup -a --syntax-check -i"),
            interfaces_reload: words("ifreload -a"),
            frr_reload: words("/usr/lib/frr/frr-reload.py --reload"),
            dhcp_relay_restart: words("systemctl restart isc-dhcp-relay"),
            timeout: Duration::from_secs(60),
        }
    }
}

/// A command line split into words; single quotes group words (`vtysh -c 'show bgp'`).
pub fn words(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let (mut quoted, mut any) = (false, false);
    for c in s.chars() {
        match c {
            '\'' => {
                quoted = !quoted;
                any = true;
            }
            c if c.is_whitespace() && !quoted => {
                if any {
                    out.push(std::mem::take(&mut cur));
                    any = false;
                }
            }
            c => {
                cur.push(c);
                any = true;
            }
        }
    }
    if any {
        out.push(cur);
    }
    out
}

/// The kinds of files metal-core applies, in the order they are reloaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Interfaces,
    Frr,
    DhcpRelay,
}

impl Kind {
    fn of(name: &str) -> Option<Self> {
        match name {
            "interfaces" => Some(Self::Interfaces),
            "frr.conf" => Some(Self::Frr),
            "isc-dhcp-relay" => Some(Self::DhcpRelay),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Interfaces => "interfaces",
            Self::Frr => "frr.conf",
            Self::DhcpRelay => "isc-dhcp-relay",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("metal-core cannot apply the rendered file {0:?}")]
    UnknownFile(String),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} was rejected, nothing applied: {output}")]
    Rejected { path: PathBuf, output: String },
    #[error("{step} failed, the previous configuration was restored{also}: {output}")]
    Reload {
        step: String,
        output: String,
        /// empty, or what failed while restoring
        also: String,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ApplyError + '_ {
    move |source| ApplyError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// What a run changed: the kinds of files moved into place (empty: all were up to date), and
/// how long the checks and the reloads took.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Applied {
    pub changed: Vec<Kind>,
    pub checks: Duration,
    pub reloads: Duration,
}

/// Applies rendered files with [`Paths`] and [`Commands`].
#[derive(Debug, Clone, Default)]
pub struct Applier {
    pub paths: Paths,
    pub commands: Commands,
}

struct Change {
    kind: Kind,
    target: PathBuf,
    tmp: PathBuf,
    backup: PathBuf,
    existed: bool,
}

fn with_suffix(p: &Path, suffix: &str) -> PathBuf {
    let mut s = p.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

impl Applier {
    fn path(&self, kind: Kind) -> &Path {
        match kind {
            Kind::Interfaces => &self.paths.interfaces,
            Kind::Frr => &self.paths.frr,
            Kind::DhcpRelay => &self.paths.dhcp_relay,
        }
    }

    /// Applies `files` (the Cumulus flavour's), all or nothing; see the module documentation.
    pub async fn apply(&self, files: &[RenderedFile]) -> Result<Applied, ApplyError> {
        let mut changes = Vec::new();
        for f in files {
            let kind = Kind::of(f.name).ok_or_else(|| ApplyError::UnknownFile(f.name.into()))?;
            let target = self.path(kind).to_path_buf();
            let current = match std::fs::read(&target) {
                Ok(c) => Some(c),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                Err(e) => return Err(io(&target)(e)),
            };
            if current.as_deref() == Some(f.contents.as_bytes()) {
                continue;
            }
            let tmp = with_suffix(&target, ".tmp");
            if let Err(e) = std::fs::write(&tmp, &f.contents) {
                remove_tmps(&changes);
                return Err(io(&tmp)(e));
            }
            changes.push(Change {
                kind,
                backup: with_suffix(&target, ".bak"),
                existed: current.is_some(),
                target,
                tmp,
            });
        }
        changes.sort_by_key(|c| c.kind);
        let started = std::time::Instant::now();
        for c in &changes {
            let check = match c.kind {
                Kind::Interfaces => &self.commands.interfaces_check,
                Kind::Frr => &self.commands.frr_check,
                Kind::DhcpRelay => continue,
            };
            if let Err(output) = self.run(check, Some(&c.tmp)).await {
                remove_tmps(&changes);
                return Err(ApplyError::Rejected {
                    path: c.target.clone(),
                    output,
                });
            }
        }
        let checks = started.elapsed();
        let started = std::time::Instant::now();
        for (i, c) in changes.iter().enumerate() {
            let moved = (|| {
                if c.existed {
                    std::fs::copy(&c.target, &c.backup).map_err(io(&c.backup))?;
                }
                std::fs::rename(&c.tmp, &c.target).map_err(io(&c.target))
            })();
            if let Err(e) = moved {
                // the files moved so far go back; nothing was reloaded yet
                let _ = restore(&changes[..i]);
                remove_tmps(&changes[i..]);
                return Err(e);
            }
        }
        for c in &changes {
            if let Err(output) = self.reload(c.kind).await {
                let mut also = Vec::new();
                if let Err(e) = restore(&changes) {
                    also.push(e.to_string());
                }
                for r in &changes {
                    if let Err(o) = self.reload(r.kind).await {
                        also.push(format!("reloading {} again: {o}", r.kind.as_str()));
                    }
                }
                return Err(ApplyError::Reload {
                    step: self.step(c.kind),
                    output,
                    also: if also.is_empty() {
                        String::new()
                    } else {
                        format!(" (but: {})", also.join("; "))
                    },
                });
            }
        }
        Ok(Applied {
            changed: changes.iter().map(|c| c.kind).collect(),
            checks,
            reloads: started.elapsed(),
        })
    }

    fn reload_command(&self, kind: Kind) -> (&[String], Option<&Path>) {
        match kind {
            Kind::Interfaces => (&self.commands.interfaces_reload, None),
            Kind::Frr => (&self.commands.frr_reload, Some(&self.paths.frr)),
            Kind::DhcpRelay => (&self.commands.dhcp_relay_restart, None),
        }
    }

    fn step(&self, kind: Kind) -> String {
        let (cmd, file) = self.reload_command(kind);
        let mut s = cmd.join(" ");
        if let Some(f) = file {
            s.push(' ');
            s.push_str(&f.display().to_string());
        }
        s
    }

    async fn reload(&self, kind: Kind) -> Result<(), String> {
        let (cmd, file) = self.reload_command(kind);
        self.run(cmd, file).await
    }

    /// Runs `cmd` (with `arg` last), killed after the timeout; the error is its output.
    async fn run(&self, cmd: &[String], arg: Option<&Path>) -> Result<(), String> {
        let Some((program, args)) = cmd.split_first() else {
            return Ok(());
        };
        let mut c = tokio::process::Command::new(program);
        c.args(args).kill_on_drop(true);
        if let Some(a) = arg {
            c.arg(a);
        }
        let out = match tokio::time::timeout(self.commands.timeout, c.output()).await {
            Err(_) => {
                return Err(format!(
                    "{program} did not finish within {:?}",
                    self.commands.timeout
                ))
            }
            Ok(Err(e)) => return Err(format!("running {program}: {e}")),
            Ok(Ok(out)) => out,
        };
        if out.status.success() {
            return Ok(());
        }
        let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.push_str(&String::from_utf8_lossy(&out.stderr));
        Err(format!(
            "{program} exited with {}: {}",
            out.status,
            tail(&text)
        ))
    }
}

/// The last lines of a tool's output, at most about 2 KB (metal-api stores it as the error).
fn tail(text: &str) -> String {
    let text = text.trim();
    if text.len() <= 2048 {
        return text.to_string();
    }
    let mut start = text.len() - 2048;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    format!("…{}", &text[start..])
}

fn remove_tmps(changes: &[Change]) {
    for c in changes {
        let _ = std::fs::remove_file(&c.tmp);
    }
}

/// Puts the files of `changes` back as they were: from the backup, or removed when there was
/// none.
fn restore(changes: &[Change]) -> Result<(), ApplyError> {
    let mut first = None;
    for c in changes {
        let r = if c.existed {
            std::fs::copy(&c.backup, &c.target)
                .map(|_| ())
                .map_err(io(&c.target))
        } else {
            std::fs::remove_file(&c.target).map_err(io(&c.target))
        };
        if let Err(e) = r {
            first.get_or_insert(e);
        }
    }
    first.map_or(Ok(()), Err)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &'static str, contents: &str) -> RenderedFile {
        RenderedFile {
            name,
            target: "",
            contents: contents.into(),
        }
    }

    /// An applier in `dir` whose commands append their name to `dir/log` and succeed, except
    /// the ones named in `fail`.
    fn applier(dir: &Path, fail: &[&str]) -> Applier {
        let cmd = |name: &str| {
            let rc = if fail.contains(&name) { 1 } else { 0 };
            vec![
                "sh".to_string(),
                "-c".to_string(),
                format!(
                    "echo {name} >> {}/log; echo {name} said no >&2; exit {rc}",
                    dir.display()
                ),
                "sh".to_string(),
            ]
        };
        Applier {
            paths: Paths {
                interfaces: dir.join("interfaces"),
                frr: dir.join("frr.conf"),
                dhcp_relay: dir.join("isc-dhcp-relay"),
            },
            commands: Commands {
                frr_check: cmd("frr-check"),
                interfaces_check: cmd("if-check"),
                interfaces_reload: cmd("ifreload"),
                frr_reload: cmd("frr-reload"),
                dhcp_relay_restart: cmd("relay"),
                timeout: Duration::from_secs(10),
            },
        }
    }

    fn log(dir: &Path) -> Vec<String> {
        let l = std::fs::read_to_string(dir.join("log")).unwrap_or_default();
        std::fs::remove_file(dir.join("log")).ok();
        l.lines().map(str::to_string).collect()
    }

    fn read(dir: &Path, name: &str) -> String {
        std::fs::read_to_string(dir.join(name)).unwrap_or_default()
    }

    #[tokio::test]
    async fn changed_files_are_checked_moved_and_reloaded_unchanged_ones_skipped() {
        let d = tempfile::tempdir().unwrap();
        let a = applier(d.path(), &[]);
        let files = [file("frr.conf", "frr 1\n"), file("interfaces", "if 1\n")];
        let r = a.apply(&files).await.unwrap();
        assert_eq!(r.changed, [Kind::Interfaces, Kind::Frr]);
        assert_eq!(
            log(d.path()),
            ["if-check", "frr-check", "ifreload", "frr-reload"]
        );
        assert_eq!(read(d.path(), "frr.conf"), "frr 1\n");
        // the same again: nothing to do
        assert!(a.apply(&files).await.unwrap().changed.is_empty());
        assert!(log(d.path()).is_empty());
        // only FRR changes: only FRR is checked and reloaded, its old file kept as backup
        let files = [file("frr.conf", "frr 2\n"), file("interfaces", "if 1\n")];
        assert_eq!(a.apply(&files).await.unwrap().changed, [Kind::Frr]);
        assert_eq!(log(d.path()), ["frr-check", "frr-reload"]);
        assert_eq!(read(d.path(), "frr.conf.bak"), "frr 1\n");
        assert!(!d.path().join("frr.conf.tmp").exists());
        // the relay file has no check, and is restarted last
        let files = [file("isc-dhcp-relay", "SERVERS=x\n")];
        assert_eq!(a.apply(&files).await.unwrap().changed, [Kind::DhcpRelay]);
        assert_eq!(log(d.path()), ["relay"]);
    }

    #[tokio::test]
    async fn a_rejected_file_changes_nothing() {
        let d = tempfile::tempdir().unwrap();
        let ok = applier(d.path(), &[]);
        ok.apply(&[file("frr.conf", "frr 1\n"), file("interfaces", "if 1\n")])
            .await
            .unwrap();
        log(d.path());
        let a = applier(d.path(), &["frr-check"]);
        let e = a
            .apply(&[file("frr.conf", "frr 2\n"), file("interfaces", "if 2\n")])
            .await
            .unwrap_err();
        assert!(matches!(e, ApplyError::Rejected { .. }), "{e}");
        assert!(e.to_string().contains("frr-check said no"), "{e}");
        // interfaces was checked (and passed), nothing was reloaded, no file moved
        assert_eq!(log(d.path()), ["if-check", "frr-check"]);
        assert_eq!(read(d.path(), "frr.conf"), "frr 1\n");
        assert_eq!(read(d.path(), "interfaces"), "if 1\n");
        let left: Vec<_> = std::fs::read_dir(d.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.ends_with(".tmp"))
            .collect();
        assert!(left.is_empty(), "{left:?}");
    }

    #[tokio::test]
    async fn a_failed_reload_restores_and_reloads_the_previous_files() {
        let d = tempfile::tempdir().unwrap();
        applier(d.path(), &[])
            .apply(&[file("frr.conf", "frr 1\n"), file("interfaces", "if 1\n")])
            .await
            .unwrap();
        log(d.path());
        let a = applier(d.path(), &["frr-reload"]);
        let e = a
            .apply(&[file("frr.conf", "frr 2\n"), file("interfaces", "if 2\n")])
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("previous configuration was restored"), "{e}");
        assert!(e.contains("frr-reload said no"), "{e}");
        // both files back, both reloaded again (FRR's second reload fails too, and says so)
        assert_eq!(read(d.path(), "frr.conf"), "frr 1\n");
        assert_eq!(read(d.path(), "interfaces"), "if 1\n");
        assert_eq!(
            log(d.path()),
            [
                "if-check",
                "frr-check",
                "ifreload",
                "frr-reload",
                "ifreload",
                "frr-reload"
            ]
        );
        assert!(e.contains("reloading frr.conf again"), "{e}");
        // a file that did not exist before is removed again
        let e = a.apply(&[file("frr.conf", "frr 3\n")]).await.unwrap_err();
        assert!(matches!(e, ApplyError::Reload { .. }));
        log(d.path());
        let d2 = tempfile::tempdir().unwrap();
        let fresh = applier(d2.path(), &["ifreload"]);
        fresh
            .apply(&[file("interfaces", "if 1\n")])
            .await
            .unwrap_err();
        assert!(!d2.path().join("interfaces").exists());
    }

    #[tokio::test]
    async fn a_command_that_hangs_is_killed() {
        let d = tempfile::tempdir().unwrap();
        let mut a = applier(d.path(), &[]);
        a.commands.frr_check = vec!["sh".into(), "-c".into(), "sleep 30".into(), "sh".into()];
        a.commands.timeout = Duration::from_millis(200);
        let e = a.apply(&[file("frr.conf", "x\n")]).await.unwrap_err();
        assert!(e.to_string().contains("did not finish within"), "{e}");
        assert!(!d.path().join("frr.conf").exists());
    }

    #[test]
    fn command_lines() {
        assert_eq!(words("vtysh -C  -f"), ["vtysh", "-C", "-f"]);
        assert_eq!(
            words("vtysh -c 'show bgp vrf all neighbors json'"),
            ["vtysh", "-c", "show bgp vrf all neighbors json"]
        );
        assert_eq!(words("a '' b"), ["a", "", "b"]);
        assert!(words("  ").is_empty());
    }

    #[test]
    fn long_output_keeps_its_end() {
        let long = format!("{}END", "é".repeat(3000));
        let t = tail(&long);
        assert!(t.ends_with("END") && t.len() <= 2052, "{}", t.len());
    }
}
