//! `metal-lab down`: stops every process of a lab and removes its namespaces and directory,
//! also after an `up` that failed or crashed.

use std::path::Path;
use std::time::Duration;

use anyhow::Context;

use crate::{net, procs};

/// Removes the lab: every process (by pid file, inside its namespaces, or naming its
/// directory), the namespaces with every link in them, and the lab directory. Works on a lab
/// whose `up` failed or crashed, and on one that is already gone.
pub fn down(name: &str, dir: &Path, quiet: bool) -> anyhow::Result<()> {
    crate::plan::validate_name(name)?;
    let namespaces = net::lab_namespaces(name)?;
    let mut pids: Vec<i32> = namespaces
        .iter()
        .flat_map(|ns| net::namespace_pids(ns))
        .collect();
    pids.extend(procs::pid_files(&dir.join("run")));
    // only a directory that is a lab's (never an arbitrary one given by mistake)
    let is_lab_dir = dir.join("lab.json").exists() || dir.join("run").is_dir();
    let dir_text = dir.display().to_string();
    if is_lab_dir && dir.is_absolute() && dir_text.len() > 1 {
        pids.extend(procs::with_cmdline_containing(&format!("{dir_text}/")));
    }
    let stopped = procs::stop(&pids, Duration::from_secs(10));
    // processes started in a namespace while we were stopping (ipmi_sim restarting a VM)
    let late: Vec<i32> = namespaces
        .iter()
        .flat_map(|ns| net::namespace_pids(ns))
        .collect();
    let stopped = stopped + procs::stop(&late, Duration::from_secs(5));
    net::delete(&namespaces)?;
    let keep = std::env::var("METAL_LAB_KEEP").as_deref() == Ok("1");
    if is_lab_dir {
        if keep {
            let _ = std::fs::remove_file(dir.join("lab.json"));
            let _ = std::fs::remove_dir_all(dir.join("run"));
        } else {
            std::fs::remove_dir_all(dir).with_context(|| format!("removing {}", dir.display()))?;
        }
    }
    if !quiet {
        eprintln!(
            "lab {name:?} down: {stopped} processes stopped, {} namespaces removed{}",
            namespaces.len(),
            if keep {
                format!(", files kept in {}", dir.display())
            } else {
                format!(", {} removed", dir.display())
            }
        );
    }
    Ok(())
}
