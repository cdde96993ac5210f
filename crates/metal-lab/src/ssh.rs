//! `metal-lab ssh MACHINE [-- COMMAND]` and `metal-lab exec MACHINE -- COMMAND`: an SSH
//! session with a lab machine's installed OS, as user `metal` with the lab's key
//! ([`key_path`]; allocate with `-p @<dir>/ssh/id_ed25519.pub`).
//!
//! The machine's first NIC is cabled to leaf01 through a bridge of the hosts namespace
//! ([`crate::plan`]). The bridge is also an interface of that namespace, so the machine's
//! link-local address on that NIC (EUI-64 of its MAC: systemd-networkd's default, which
//! os-installer keeps) is one hop away, whatever VRF the leaf has put the port in. This is the
//! lab's back door to the OS, beside the fabric: mini-lab reaches its machines the same way
//! (their link-local address, from the leaf), and the checks of the routed lab's test run
//! their traffic through the fabric from there.

use std::net::Ipv6Addr;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context};

use crate::lab::State;
use crate::plan::MachinePlan;

/// The lab's SSH key (private; the `.pub` beside it goes into allocations).
pub fn key_path(dir: &Path) -> PathBuf {
    dir.join("ssh").join("id_ed25519")
}

/// Makes the lab's key pair unless it is there (`up`).
pub fn ensure_key(dir: &Path) -> anyhow::Result<PathBuf> {
    let key = key_path(dir);
    if key.exists() {
        return Ok(key);
    }
    std::fs::create_dir_all(key.parent().unwrap())?;
    let out = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "metal-lab", "-f"])
        .arg(&key)
        .output()
        .context("running ssh-keygen (openssh-client)")?;
    if !out.status.success() {
        bail!(
            "ssh-keygen failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(key)
}

/// The IPv6 link-local address of a NIC with this MAC (modified EUI-64, RFC 4291 appendix A).
pub fn link_local(mac: &str) -> anyhow::Result<Ipv6Addr> {
    let b: Vec<u8> = mac
        .split(':')
        .map(|h| u8::from_str_radix(h, 16))
        .collect::<Result<_, _>>()
        .with_context(|| format!("MAC {mac:?}"))?;
    let [a, b1, c, d, e, f] = b[..] else {
        bail!("MAC {mac:?} has not six bytes");
    };
    let word = |hi: u8, lo: u8| (u16::from(hi) << 8) | u16::from(lo);
    Ok(Ipv6Addr::new(
        0xfe80,
        0,
        0,
        0,
        word(a ^ 0x02, b1),
        word(c, 0xff),
        word(0xfe, d),
        word(e, f),
    ))
}

/// The lab machine `what` names: its lab name (`machine-1`), its UUID, or the hostname of its
/// allocation.
pub async fn resolve(state: &State, what: &str) -> anyhow::Result<MachinePlan> {
    let plan = state.plan()?;
    let machines = plan.all_machines();
    if let Some(m) = machines.iter().find(|m| m.name == what || m.uuid == what) {
        return Ok(m.clone());
    }
    let nodes = crate::routed::NODES.join(", ");
    let hostnames = async {
        let client = state.client()?;
        let mut v = Vec::new();
        for m in &machines {
            let doc = crate::cycle::machine(&client, &m.uuid).await?;
            let hostname = doc["allocation"]["hostname"].as_str().unwrap_or("");
            v.push((m, hostname.to_string()));
        }
        anyhow::Ok(v)
    }
    .await
    .with_context(|| {
        format!("{what:?} is neither a node of the fabric ({nodes}) nor a lab machine's name or UUID, and metal-api could not be asked for hostnames")
    })?;
    if let Some((m, _)) = hostnames.iter().find(|(_, h)| h == what) {
        return Ok((*m).clone());
    }
    let names: Vec<String> = hostnames
        .iter()
        .map(|(m, h)| match h.as_str() {
            "" => m.name.clone(),
            h => format!("{} ({h})", m.name),
        })
        .collect();
    bail!(
        "{what:?} is neither a node of the fabric ({nodes}) nor a machine of lab {:?}; its machines are {}",
        state.name,
        names.join(", ")
    )
}

/// `ssh` to the machine's OS in the lab's hosts namespace, with `argv` as the remote command
/// (none: a login shell).
pub fn command(state: &State, m: &MachinePlan, argv: &[String]) -> anyhow::Result<Command> {
    let key = key_path(&state.dir);
    if !key.exists() {
        bail!("the lab has no SSH key at {}", key.display());
    }
    let addr = link_local(&m.macs[0])?;
    let mut c = Command::new("ip");
    c.args(["netns", "exec", &state.plan()?.ns_hosts(), "ssh"])
        .arg("-i")
        .arg(&key)
        .args([
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "LogLevel=ERROR",
            "-o",
            "ConnectTimeout=10",
            "-o",
            "BatchMode=yes",
        ])
        .arg(format!("metal@{addr}%{}", m.cable_bridges[0]));
    if !argv.is_empty() {
        c.arg("--").args(argv);
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_local_is_modified_eui64() {
        assert_eq!(
            link_local("52:54:00:01:00:01").unwrap(),
            "fe80::5054:ff:fe01:1".parse::<Ipv6Addr>().unwrap()
        );
        assert_eq!(
            link_local("00:1b:21:aa:bb:cc").unwrap(),
            "fe80::21b:21ff:feaa:bbcc".parse::<Ipv6Addr>().unwrap()
        );
        assert!(link_local("52:54:00:01:00").is_err());
        assert!(link_local("52:54:00:01:00:zz").is_err());
    }
}
