//! Prometheus counters of pixie, served as text at `/metrics` on `--metrics-port`.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

/// The counters.
#[derive(Debug, Default)]
pub struct Metrics {
    pub dhcp_requests: AtomicU64,
    pub dhcp_replies: AtomicU64,
    pub dhcp_booter_errors: AtomicU64,
    pub tftp_transfers: AtomicU64,
    pub scripts: AtomicU64,
    pub files: AtomicU64,
    pub certs: AtomicU64,
}

impl Metrics {
    pub fn inc(&self, c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut s = String::new();
        for (name, help, c) in [
            (
                "pixie_dhcp_requests_total",
                "DHCP requests received",
                &self.dhcp_requests,
            ),
            (
                "pixie_dhcp_replies_total",
                "DHCP replies sent",
                &self.dhcp_replies,
            ),
            (
                "pixie_dhcp_booter_errors_total",
                "failed metal-api Dhcp calls",
                &self.dhcp_booter_errors,
            ),
            (
                "pixie_tftp_transfers_total",
                "TFTP transfers started",
                &self.tftp_transfers,
            ),
            (
                "pixie_ipxe_scripts_total",
                "iPXE scripts served",
                &self.scripts,
            ),
            (
                "pixie_boot_files_total",
                "kernels and initrds served",
                &self.files,
            ),
            (
                "pixie_machine_configs_total",
                "MetalConfigs handed out",
                &self.certs,
            ),
        ] {
            let _ = writeln!(
                s,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
                c.load(Ordering::Relaxed)
            );
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters() {
        let m = Metrics::default();
        m.inc(&m.scripts);
        m.inc(&m.scripts);
        let text = m.render();
        assert!(
            text.contains("# TYPE pixie_ipxe_scripts_total counter\npixie_ipxe_scripts_total 2\n")
        );
        assert!(text.contains("pixie_dhcp_replies_total 0\n"));
    }
}
