//! Disk wiping before a machine waits for its next allocation (§2.9): every disk except
//! `ram*`, `loop*` and `zram*`, all in parallel.
//!
//! - NVMe (`/dev/nvme*`) with the `nvme` tool present: `nvme format --force --ses=1` (user data
//!   erase); if the tool is missing or the format fails, the insecure erase below.
//! - Everything else: insecure erase = `mkfs.ext4 -F -E discard <dev>` (TRIMs the whole device
//!   where supported), then the first MiB overwritten with zeros; if mkfs fails, the whole device
//!   overwritten with zeros.
//!
//! Each disk gets an outcome; a disk whose every method failed is reported as failed with the
//! reasons, never as wiped. The caller decides what a failure means (metal-stack logs it).

use std::fs::OpenOptions;
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use tracing::{info, warn};

use crate::exec::{tool_exists, Command};

/// How a disk was wiped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WipeMethod {
    /// `nvme format --ses=1`: the controller erased the user data.
    NvmeFormat,
    /// mkfs.ext4 with discard, then the first MiB zeroed.
    Discard,
    /// Every byte overwritten with zeros.
    FullOverwrite,
}

/// What happened to one disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WipeOutcome {
    pub device: String,
    /// The method that wiped it, or every reason it was not wiped.
    pub result: Result<WipeMethod, String>,
}

impl std::fmt::Display for WipeOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.result {
            Ok(m) => write!(f, "{} wiped ({m:?})", self.device),
            Err(e) => write!(f, "{} NOT wiped: {e}", self.device),
        }
    }
}

/// Where to find disks.
#[derive(Debug, Clone)]
pub struct WipeOptions {
    /// sysfs root (`/sys`); disks are `<sysfs>/block/*`.
    pub sysfs: PathBuf,
    /// Device directory (`/dev`).
    pub dev: PathBuf,
    /// Use `nvme format` on NVMe disks when the tool exists.
    pub use_nvme_tool: bool,
}

impl Default for WipeOptions {
    fn default() -> Self {
        Self {
            sysfs: PathBuf::from("/sys"),
            dev: PathBuf::from("/dev"),
            use_nvme_tool: true,
        }
    }
}

/// The disks to wipe: `<dev>/<name>` for every `<sysfs>/block/<name>` except ram, loop and zram
/// devices, sorted.
pub fn disks(opts: &WipeOptions) -> std::io::Result<Vec<String>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(opts.sysfs.join("block"))? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        if ["ram", "loop", "zram"].iter().any(|p| name.starts_with(p)) {
            continue;
        }
        out.push(opts.dev.join(&name).to_string_lossy().into_owned());
    }
    out.sort();
    Ok(out)
}

/// The outcome of wiping all disks.
#[derive(Debug, Clone, Default)]
pub struct WipeReport {
    pub outcomes: Vec<WipeOutcome>,
    /// Why the disks could not even be listed (then `outcomes` is empty).
    pub error: Option<String>,
}

impl WipeReport {
    /// Whether every disk found was wiped.
    pub fn all_wiped(&self) -> bool {
        self.error.is_none() && self.outcomes.iter().all(|o| o.result.is_ok())
    }

    /// One line per disk (and one for a listing error).
    pub fn summary(&self) -> Vec<String> {
        let mut lines: Vec<String> = self.error.iter().cloned().collect();
        if self.outcomes.is_empty() && self.error.is_none() {
            lines.push("no disks to wipe".into());
        }
        lines.extend(self.outcomes.iter().map(ToString::to_string));
        lines
    }
}

/// Wipes all disks found in sysfs, in parallel, blocking the calling thread.
pub fn wipe_all_blocking(opts: &WipeOptions) -> WipeReport {
    match disks(opts) {
        Ok(d) => WipeReport {
            outcomes: wipe_devices(&d, opts),
            error: None,
        },
        Err(e) => WipeReport {
            outcomes: Vec::new(),
            error: Some(format!(
                "listing disks in {}: {e}",
                opts.sysfs.join("block").display()
            )),
        },
    }
}

/// Wipes all disks found in sysfs, in parallel, on a blocking thread.
pub async fn wipe_all(opts: &WipeOptions) -> WipeReport {
    let opts = opts.clone();
    tokio::task::spawn_blocking(move || wipe_all_blocking(&opts))
        .await
        .unwrap_or_else(|e| WipeReport {
            outcomes: Vec::new(),
            error: Some(format!("the wipe task failed: {e}")),
        })
}

/// Wipes `devices` in parallel; the outcomes are in the order of `devices`.
pub fn wipe_devices(devices: &[String], opts: &WipeOptions) -> Vec<WipeOutcome> {
    std::thread::scope(|s| {
        let handles: Vec<_> = devices
            .iter()
            .map(|d| s.spawn(move || wipe_one(d, opts)))
            .collect();
        handles
            .into_iter()
            .zip(devices)
            .map(|(h, d)| {
                let outcome = h.join().unwrap_or_else(|_| WipeOutcome {
                    device: d.clone(),
                    result: Err("the wipe thread panicked".into()),
                });
                match &outcome.result {
                    Ok(_) => info!(%outcome, "wipe"),
                    Err(_) => warn!(%outcome, "wipe"),
                }
                outcome
            })
            .collect()
    })
}

/// Wipes one device.
pub fn wipe_one(device: &str, opts: &WipeOptions) -> WipeOutcome {
    let mut reasons = Vec::new();
    let name = Path::new(device)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if name.starts_with("nvm") && opts.use_nvme_tool {
        if tool_exists("nvme") {
            match Command::new("nvme", ["format", "--force", "--ses=1", device]).run() {
                Ok(_) => return done(device, WipeMethod::NvmeFormat),
                Err(e) => reasons.push(e.to_string()),
            }
        } else {
            reasons.push("nvme tool not found".into());
        }
        warn!(device, reason = %reasons.join("; "), "no secure erase, falling back to an insecure erase");
    }
    match Command::new("mkfs.ext4", ["-F", "-E", "discard", device]).run() {
        Ok(_) => match zero(device, Some(1 << 20)) {
            Ok(()) => return done(device, WipeMethod::Discard),
            Err(e) => reasons.push(format!("zeroing the first MiB of {device}: {e}")),
        },
        Err(e) => reasons.push(e.to_string()),
    }
    match zero(device, None) {
        Ok(()) => done(device, WipeMethod::FullOverwrite),
        Err(e) => {
            reasons.push(format!("overwriting {device} with zeros: {e}"));
            WipeOutcome {
                device: device.into(),
                result: Err(reasons.join("; ")),
            }
        }
    }
}

fn done(device: &str, method: WipeMethod) -> WipeOutcome {
    WipeOutcome {
        device: device.into(),
        result: Ok(method),
    }
}

/// Overwrites the first `len` bytes (all of the device if `None`) with zeros and syncs.
fn zero(device: &str, len: Option<u64>) -> std::io::Result<()> {
    let mut f = OpenOptions::new().write(true).open(device)?;
    let size = f.seek(SeekFrom::End(0))?;
    f.seek(SeekFrom::Start(0))?;
    let mut left = len.map_or(size, |l| l.min(size));
    let buf = vec![0u8; 1 << 20];
    while left > 0 {
        let n = left.min(buf.len() as u64) as usize;
        f.write_all(&buf[..n])?;
        left -= n as u64;
    }
    f.sync_all()
}
