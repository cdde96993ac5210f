//! Where the client reads the kernel's log lines (`DROPTAILER_SOURCE`):
//!
//! - `journal` (default, as metal-stack's client): the systemd journal's entries with
//!   `SYSLOG_IDENTIFIER=kernel`, from 100 entries before the end, then following; read through
//!   `journalctl --output=json` (the journal's own reader, no libsystemd binding).
//!   `journal:DIR` reads the journal files in `DIR` instead of the system's journal.
//! - `kmsg`: the kernel's ring buffer `/dev/kmsg` (kernel messages only), from its end, for
//!   hosts without a journal.
//! - `file:PATH`: a kernel log file such as `/var/log/kern.log`, followed from its end as
//!   `tail -F` does: across rotation (a new file at the path) and truncation.
//!
//! Every source hands each message with one of the prefixes to a sink as an [`Entry`].

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use tokio::io::AsyncBufReadExt;

use crate::parse::{self, Prefixes};

/// A parsed log line: when the kernel logged it and its fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub time: SystemTime,
    pub fields: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The system's journal, or the journal files of a directory.
    Journal(Option<PathBuf>),
    Kmsg,
    File(PathBuf),
}

impl FromStr for Source {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "journal" => Ok(Source::Journal(None)),
            "kmsg" => Ok(Source::Kmsg),
            _ => {
                if let Some(dir) = s.strip_prefix("journal:").filter(|p| !p.is_empty()) {
                    Ok(Source::Journal(Some(dir.into())))
                } else if let Some(path) = s.strip_prefix("file:").filter(|p| !p.is_empty()) {
                    Ok(Source::File(path.into()))
                } else {
                    Err(format!(
                        "{s:?} is not a source: journal, journal:DIR, kmsg or file:PATH"
                    ))
                }
            }
        }
    }
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Journal(None) => f.write_str("journal"),
            Source::Journal(Some(d)) => write!(f, "journal:{}", d.display()),
            Source::Kmsg => f.write_str("kmsg"),
            Source::File(p) => write!(f, "file:{}", p.display()),
        }
    }
}

/// Reads `source` until it fails, handing every matching line to `sink`.
pub async fn run<F>(source: Source, prefixes: Prefixes, sink: F) -> anyhow::Result<()>
where
    F: Fn(Entry) + Send + Sync + 'static,
{
    match source {
        Source::Journal(dir) => journal(dir.as_deref(), &prefixes, sink).await,
        Source::Kmsg => tokio::task::spawn_blocking(move || kmsg(&prefixes, sink)).await?,
        Source::File(path) => {
            tokio::task::spawn_blocking(move || follow(&path, &prefixes, sink, None)).await?
        }
    }
}

// ---------------------------------------------------------------------------------------------
// journal

/// The `journalctl` command line of a journal source.
pub fn journalctl_args(dir: Option<&Path>) -> Vec<String> {
    let mut args: Vec<String> = [
        "--follow",
        "--lines=100",
        "--output=json",
        "--output-fields=MESSAGE",
        "--no-pager",
        "--quiet",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    if let Some(d) = dir {
        args.push(format!("--directory={}", d.display()));
    }
    args.push("SYSLOG_IDENTIFIER=kernel".to_string());
    args
}

async fn journal<F: Fn(Entry)>(
    dir: Option<&Path>,
    prefixes: &Prefixes,
    sink: F,
) -> anyhow::Result<()> {
    let mut child = tokio::process::Command::new("journalctl")
        .args(journalctl_args(dir))
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .context("starting journalctl")?;
    let stdout = child.stdout.take().context("journalctl's output")?;
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    while let Some(line) = lines
        .next_line()
        .await
        .context("reading journalctl's output")?
    {
        if let Some(e) = journal_entry(&line, prefixes) {
            sink(e);
        }
    }
    let status = child.wait().await?;
    anyhow::bail!("journalctl ended ({status})")
}

/// An entry of `journalctl --output=json`: `MESSAGE` (a string, or an array of bytes when it is
/// not UTF-8) and `__REALTIME_TIMESTAMP` (microseconds since the epoch, as a string).
pub fn journal_entry(line: &str, prefixes: &Prefixes) -> Option<Entry> {
    let v: serde_json::Value = serde_json::from_str(line).ok()?;
    let message = match &v["MESSAGE"] {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Array(bytes) => {
            let bytes: Vec<u8> = bytes
                .iter()
                .filter_map(|b| b.as_u64().and_then(|b| u8::try_from(b).ok()))
                .collect();
            String::from_utf8_lossy(&bytes).into_owned()
        }
        _ => return None,
    };
    let fields = parse::fields(&message, prefixes)?;
    let micros: u64 = v["__REALTIME_TIMESTAMP"].as_str()?.parse().ok()?;
    Some(Entry {
        time: UNIX_EPOCH + Duration::from_micros(micros),
        fields,
    })
}

// ---------------------------------------------------------------------------------------------
// kmsg

fn kmsg<F: Fn(Entry)>(prefixes: &Prefixes, sink: F) -> anyhow::Result<()> {
    let mut f = File::open("/dev/kmsg").context("opening /dev/kmsg")?;
    // only what is logged from now on; the ring buffer's past is not resent at every start
    f.seek(SeekFrom::End(0))
        .context("seeking to the end of /dev/kmsg")?;
    let boot = boot_time()?;
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        match f.read(&mut buf) {
            Ok(0) => anyhow::bail!("/dev/kmsg ended"),
            Ok(n) => {
                if let Some(e) = kmsg_record(&String::from_utf8_lossy(&buf[..n]), boot, prefixes) {
                    sink(e);
                }
            }
            // records were overwritten before we read them; go on with the next one
            Err(e) if e.raw_os_error() == Some(32) => {
                tracing::warn!("kernel log records were overwritten before they were read");
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e).context("reading /dev/kmsg"),
        }
    }
}

/// When the machine booted: now minus the uptime (the kernel's log times count from boot).
fn boot_time() -> anyhow::Result<SystemTime> {
    let up = std::fs::read_to_string("/proc/uptime").context("reading /proc/uptime")?;
    let secs: f64 = up
        .split_whitespace()
        .next()
        .and_then(|s| s.parse().ok())
        .context("/proc/uptime holds no uptime")?;
    Ok(SystemTime::now() - Duration::from_secs_f64(secs))
}

/// A record of `/dev/kmsg`: `<priority>,<sequence>,<microseconds since boot>,<flags>[,…];<message>`
/// then continuation lines. Only the kernel's own messages (facility 0) count.
pub fn kmsg_record(record: &str, boot: SystemTime, prefixes: &Prefixes) -> Option<Entry> {
    let (header, rest) = record.split_once(';')?;
    let message = rest.split('\n').next().unwrap_or("");
    let mut h = header.split(',');
    let priority: u32 = h.next()?.parse().ok()?;
    if priority >> 3 != 0 {
        return None;
    }
    let _sequence = h.next()?;
    let micros: u64 = h.next()?.parse().ok()?;
    let fields = parse::fields(message, prefixes)?;
    Some(Entry {
        time: boot + Duration::from_micros(micros),
        fields,
    })
}

// ---------------------------------------------------------------------------------------------
// file

/// Follows the file at `path` from its end, handing each matching line to `sink`; `stop` ends
/// the loop when it returns true (tests), otherwise it runs until an error.
pub fn follow<F: Fn(Entry)>(
    path: &Path,
    prefixes: &Prefixes,
    sink: F,
    stop: Option<&dyn Fn() -> bool>,
) -> anyhow::Result<()> {
    let open = |path: &Path| -> anyhow::Result<(File, u64)> {
        let f = File::open(path).with_context(|| format!("opening {}", path.display()))?;
        let ino = f.metadata()?.ino();
        Ok((f, ino))
    };
    let (mut f, mut ino) = open(path)?;
    let mut pos = f.seek(SeekFrom::End(0))?;
    tracing::info!(path = %path.display(), from = pos, "following");
    let mut pending: Vec<u8> = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = f
            .read(&mut buf)
            .with_context(|| format!("reading {}", path.display()))?;
        if n > 0 {
            pos += n as u64;
            pending.extend_from_slice(&buf[..n]);
            let mut start = 0;
            while let Some(i) = pending[start..].iter().position(|&b| b == b'\n') {
                let line = String::from_utf8_lossy(&pending[start..start + i]);
                if let Some(e) = file_line(&line, prefixes, chrono::Local::now()) {
                    sink(e);
                }
                start += i + 1;
            }
            pending.drain(..start);
            continue;
        }
        if stop.is_some_and(|s| s()) {
            return Ok(());
        }
        // at the end: rotated (another file at the path) or truncated?
        match std::fs::metadata(path) {
            Ok(m) if m.ino() != ino => {
                // the rest of the old file was read above; the new one from its start
                if let Ok((nf, ni)) = open(path) {
                    (f, ino, pos) = (nf, ni, 0);
                    pending.clear();
                    continue;
                }
            }
            Ok(m) if m.len() < pos => {
                pos = f.seek(SeekFrom::Start(0))?;
                pending.clear();
                continue;
            }
            _ => {}
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A line of a kernel log file: the message from its first prefix on, the time from the
/// line's header ([`parse::header_time`]) or now.
pub fn file_line(
    line: &str,
    prefixes: &Prefixes,
    now: chrono::DateTime<chrono::Local>,
) -> Option<Entry> {
    let at = prefixes.find(line)?;
    let fields = parse::fields(&line[at..], prefixes)?;
    let time = parse::header_time(line, now).unwrap_or_else(|| now.into());
    Some(Entry { time, fields })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_parse() {
        assert_eq!("journal".parse(), Ok(Source::Journal(None)));
        assert_eq!(
            "journal:/var/log/journal".parse(),
            Ok(Source::Journal(Some("/var/log/journal".into())))
        );
        assert_eq!("kmsg".parse(), Ok(Source::Kmsg));
        assert_eq!(
            "file:/var/log/kern.log".parse(),
            Ok(Source::File("/var/log/kern.log".into()))
        );
        for bad in ["", "file:", "syslog", "journal:"] {
            let err = bad.parse::<Source>().unwrap_err();
            assert!(
                err.contains("journal, journal:DIR, kmsg or file:PATH"),
                "{err}"
            );
        }
        assert_eq!(Source::File("/x".into()).to_string(), "file:/x");
    }

    #[test]
    fn journal_entries() {
        let p = Prefixes::default();
        let e = journal_entry(
            r#"{"__REALTIME_TIMESTAMP":"1655809692123456","MESSAGE":"nftables-metal-dropped: SRC=1.2.3.4 SYN","_BOOT_ID":"x"}"#,
            &p,
        )
        .unwrap();
        assert_eq!(
            e.time,
            UNIX_EPOCH + Duration::from_micros(1_655_809_692_123_456)
        );
        assert_eq!(e.fields["SRC"], "1.2.3.4");
        assert_eq!(e.fields["SYN"], "");
        assert_eq!(e.fields["ACTION"], "drop");
        // a message that is not UTF-8 comes as an array of bytes
        let bytes: Vec<String> = "nftables-firewall-accepted: DPT=53"
            .bytes()
            .map(|b| b.to_string())
            .collect();
        let e = journal_entry(
            &format!(
                r#"{{"__REALTIME_TIMESTAMP":"1","MESSAGE":[{}]}}"#,
                bytes.join(",")
            ),
            &p,
        )
        .unwrap();
        assert_eq!(e.fields["ACTION"], "accept");
        assert!(journal_entry(r#"{"MESSAGE":"eth0 up","__REALTIME_TIMESTAMP":"1"}"#, &p).is_none());
        assert!(journal_entry("not json", &p).is_none());
    }

    #[test]
    fn kmsg_records() {
        let p = Prefixes::default();
        let boot = UNIX_EPOCH + Duration::from_secs(1000);
        let e = kmsg_record(
            "4,2711,5000000,-;nftables-metal-dropped: IN=eth0 OUT= SRC=10.0.0.1 DPT=22\n SUBSYSTEM=net\n",
            boot,
            &p,
        )
        .unwrap();
        assert_eq!(e.time, UNIX_EPOCH + Duration::from_secs(1005));
        assert_eq!(e.fields["DPT"], "22");
        // the same text written by a program (facility user) is not the kernel's
        assert!(
            kmsg_record("12,2712,5000001,-;nftables-metal-dropped: DPT=22", boot, &p).is_none()
        );
        assert!(kmsg_record("6,1,1,-;eth0: link up", boot, &p).is_none());
        assert!(kmsg_record("garbage", boot, &p).is_none());
    }

    #[test]
    fn file_lines() {
        use chrono::TimeZone;
        let p = Prefixes::default();
        let now = chrono::Local
            .with_ymd_and_hms(2026, 12, 7, 12, 0, 0)
            .unwrap();
        let e = file_line(
            "2026-12-07T11:08:12.000000+00:00 fw01 kernel: [ 4711.123456] nftables-firewall-dropped: IN=vrf3981 DPT=25",
            &p,
            now,
        )
        .unwrap();
        assert_eq!(e.time, UNIX_EPOCH + Duration::from_secs(1_796_641_692));
        assert_eq!(e.fields["IN"], "vrf3981");
        assert_eq!(e.fields["ACTION"], "drop");
        // no header: now
        let e = file_line("nftables-metal-accepted: DPT=1", &p, now).unwrap();
        assert_eq!(e.time, SystemTime::from(now));
        assert!(file_line("Dec  7 11:08:12 fw01 kernel: eth0 up", &p, now).is_none());
    }

    #[test]
    fn a_followed_file_is_read_across_rotation_and_truncation() {
        use std::io::Write;
        use std::sync::{Arc, Mutex};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kern.log");
        std::fs::write(&path, "nftables-metal-dropped: N=old\n").unwrap();
        let seen = Arc::new(Mutex::new(Vec::<String>::new()));
        let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (s, d, p) = (seen.clone(), done.clone(), path.clone());
        let t = std::thread::spawn(move || {
            let stop = move || d.load(std::sync::atomic::Ordering::SeqCst);
            follow(
                &p,
                &Prefixes::default(),
                move |e| s.lock().unwrap().push(e.fields["N"].clone()),
                Some(&stop),
            )
            .unwrap();
        });
        let wait_for = |n: usize| {
            for _ in 0..100 {
                if seen.lock().unwrap().len() >= n {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            panic!("saw {:?}, want {n} lines", seen.lock().unwrap());
        };
        std::thread::sleep(Duration::from_millis(300));
        let append = |text: &str| {
            let mut f = std::fs::OpenOptions::new()
                .append(true)
                .open(&path)
                .unwrap();
            f.write_all(text.as_bytes()).unwrap();
        };
        // a line written in two pieces is one line
        append("nftables-metal-dropped: N=1\nnftables-metal-dropped: N=");
        std::thread::sleep(Duration::from_millis(250));
        append("2\nkernel: other\n");
        wait_for(2);
        // rotation: the old file moved away, a new one at the path
        std::fs::rename(&path, dir.path().join("kern.log.1")).unwrap();
        std::fs::write(&path, "nftables-metal-dropped: N=3\n").unwrap();
        wait_for(3);
        // truncation
        std::fs::write(&path, "").unwrap();
        std::thread::sleep(Duration::from_millis(300));
        append("nftables-metal-dropped: N=4\n");
        wait_for(4);
        done.store(true, std::sync::atomic::Ordering::SeqCst);
        t.join().unwrap();
        assert_eq!(*seen.lock().unwrap(), ["1", "2", "3", "4"]);
    }
}
