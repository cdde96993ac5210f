//! metal-lldpd: sends LLDP announcements on network interfaces, for the lab.
//!
//! In an installed OS it plays go-lldpd: system name = the machine uuid (read from metal-hammer's
//! `/etc/metal/install.yaml`, key `machineuuid`), system description = `provisioned since
//! <time>`, on every physical interface (one with a device: `eth*` in the lab's small image,
//! `lan*` once os-installer's `.link` files named them in a Debian image); metal-core turns these beacons into Phoned Home events.
//! On a lab leaf it plays the switch's LLDP daemon, so that metal-hammer sees two switches.

use std::time::Duration;

use anyhow::Context;
use clap::Parser;

#[derive(Debug, Parser)]
#[command(name = "metal-lldpd", version, about)]
struct Args {
    /// interfaces to send on (default: every physical interface)
    #[arg(long = "interface", value_delimiter = ',')]
    interfaces: Vec<String>,
    /// the system name to announce
    #[arg(long, conflicts_with = "install_yaml")]
    system_name: Option<String>,
    /// take the system name from `machineuuid` of this install.yaml
    #[arg(long)]
    install_yaml: Option<std::path::PathBuf>,
    /// the system description (default: "provisioned since <now>")
    #[arg(long)]
    description: Option<String>,
    /// seconds between two announcements
    #[arg(long, default_value_t = 5)]
    interval: u64,
}

/// The value of `machineuuid:` in metal-hammer's install.yaml.
fn machine_uuid(yaml: &str) -> Option<String> {
    yaml.lines().find_map(|l| {
        let v = l.trim().strip_prefix("machineuuid:")?;
        let v = v.trim().trim_matches(|c| c == '"' || c == '\'');
        (!v.is_empty()).then(|| v.to_string())
    })
}

fn main() -> anyhow::Result<()> {
    let a = Args::parse();
    let name = match (&a.system_name, &a.install_yaml) {
        (Some(n), _) => n.clone(),
        (None, Some(p)) => {
            let text =
                std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
            machine_uuid(&text).with_context(|| format!("no machineuuid in {}", p.display()))?
        }
        (None, None) => anyhow::bail!("give --system-name or --install-yaml"),
    };
    let description = a.description.clone().unwrap_or_else(|| {
        format!(
            "provisioned since {}",
            chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ")
        )
    });
    let interfaces: Vec<String> = if a.interfaces.is_empty() {
        std::fs::read_dir("/sys/class/net")
            .context("listing /sys/class/net")?
            .filter_map(Result::ok)
            .filter(|e| e.path().join("device").exists())
            .filter_map(|e| e.file_name().into_string().ok())
            .collect()
    } else {
        a.interfaces.clone()
    };
    let (n, d) = (name.clone(), description.clone());
    let sent = metal_lldp::send(
        &interfaces,
        Duration::from_secs(a.interval.max(1)),
        move |mac| metal_lldp::build_frame(mac, &n, &d, 120),
    )?;
    anyhow::ensure!(sent > 0, "none of the interfaces {interfaces:?} exists");
    println!("metal-lldpd: announcing {name:?} ({description}) on {sent} interfaces");
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_machine_uuid_of_install_yaml() {
        let y = "hostname: m1\nmachineuuid: 6c61622d-6d00-4000-8000-000000000001\nrootuuid: x\n";
        assert_eq!(
            machine_uuid(y).as_deref(),
            Some("6c61622d-6d00-4000-8000-000000000001")
        );
        assert_eq!(machine_uuid("machineuuid: \"\"\n"), None);
        assert_eq!(machine_uuid("hostname: x\n"), None);
    }
}
