//! The render benchmark (`metal-core bench-render`): a synthetic switch document of a leaf with
//! many ports and tenant VRFs, rendered again and again; docs/benchmarks.md has the figures.

use std::time::{Duration, Instant};

use metal_domain::switch::{BgpFilter, PortStatus, SwitchNic, SwitchResponse};

use crate::model::vlan::KernelVlans;
use crate::model::{ConfigError, Flavor, SwitchConfig};
use crate::render;
use crate::settings::Settings;

/// A leaf with `ports` ports `swp1…` of which the last two are the spine uplinks, two
/// firewalls (`swp1`, `swp2`: dual-stack host routes, every VRF's VNI), `vrfs` tenant VRFs
/// of one machine port each with a dual-stack filter, the rest unprovisioned (one admin down).
pub fn synthetic(ports: usize, vrfs: usize) -> (SwitchResponse, Settings) {
    let ports = ports.max(vrfs + 4);
    let mut settings = Settings::new("10.255.255.2/24".parse().expect("a prefix"));
    settings.spine_uplinks = vec![format!("swp{}", ports - 1), format!("swp{ports}")];
    settings.management.gateway = Some("192.168.0.1".parse().expect("an address"));
    let vni = |i: usize| 104001 + i as u32;
    let mut nics = Vec::new();
    for p in 1..=ports - 2 {
        let mut nic = SwitchNic {
            name: format!("swp{p}"),
            mac: format!("aa:bb:cc:dd:{:02x}:{:02x}", p / 256, p % 256),
            actual: PortStatus::Up,
            ..Default::default()
        };
        if p <= 2 {
            nic.vrf = "default".into();
            nic.filter = Some(BgpFilter {
                cidrs: vec![format!("10.0.2.{p}/32"), format!("2001:db8:ff::{p}/128")],
                vnis: (0..vrfs).map(|i| vni(i).to_string()).collect(),
            });
        } else if p - 3 < vrfs {
            let i = p - 3;
            nic.vrf = format!("vrf{}", vni(i));
            nic.filter = Some(BgpFilter {
                cidrs: vec![
                    format!("10.{}.{}.0/24", 100 + i / 250, i % 250),
                    format!("10.{}.{}.0/24", 100 + i / 250, i % 250 + 1),
                    format!("212.17.{}.{}/32", i / 250, i % 250),
                    format!("2001:db8:{i:x}::/64"),
                ],
                vnis: vec![],
            });
        } else if p == ports - 2 {
            nic.actual = PortStatus::Down;
        }
        nics.push(nic);
    }
    let doc = SwitchResponse {
        id: "leaf01".into(),
        name: "leaf01".into(),
        nics,
        ..Default::default()
    };
    (doc, settings)
}

/// Timings of one flavour.
#[derive(Debug, Clone)]
pub struct Report {
    pub flavor: Flavor,
    pub iterations: usize,
    pub bytes: usize,
    pub min: Duration,
    pub median: Duration,
    pub p99: Duration,
}

/// Renders `doc` `iterations` times (parsing its JSON, building the model, rendering every
/// file), after a few untimed rounds.
pub fn run(
    json: &str,
    settings: &Settings,
    flavor: Flavor,
    iterations: usize,
) -> Result<Report, BenchError> {
    let once = || -> Result<usize, BenchError> {
        let doc: SwitchResponse = serde_json::from_str(json)?;
        let config = SwitchConfig::build(&doc, settings, &KernelVlans::default(), flavor)?;
        Ok(render::render(&config)
            .iter()
            .map(|f| f.contents.len())
            .sum())
    };
    let mut bytes = 0;
    for _ in 0..iterations.clamp(1, 10) {
        bytes = once()?;
    }
    let mut times = Vec::with_capacity(iterations.max(1));
    for _ in 0..iterations.max(1) {
        let start = Instant::now();
        std::hint::black_box(once()?);
        times.push(start.elapsed());
    }
    times.sort();
    let at = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize];
    Ok(Report {
        flavor,
        iterations: times.len(),
        bytes,
        min: times[0],
        median: at(0.5),
        p99: at(0.99),
    })
}

#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("decoding the switch document")]
    Json(#[from] serde_json::Error),
    #[error(transparent)]
    Config(#[from] ConfigError),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_synthetic_switch_has_what_it_says() {
        let (doc, settings) = synthetic(64, 50);
        let c =
            SwitchConfig::build(&doc, &settings, &KernelVlans::default(), Flavor::Cumulus).unwrap();
        assert_eq!(doc.nics.len(), 62);
        assert_eq!(c.underlay, ["swp63", "swp64"]);
        assert_eq!(c.vrfs.len(), 50);
        assert_eq!(c.firewalls.len(), 2);
        assert_eq!(c.unprovisioned.len(), 10);
        assert_eq!(c.down.len(), 1);
        let json = serde_json::to_string(&doc).unwrap();
        let r = run(&json, &settings, Flavor::Sonic, 3).unwrap();
        assert_eq!(r.iterations, 3);
        assert!(r.bytes > 10_000 && r.min <= r.median && r.median <= r.p99);
    }
}
