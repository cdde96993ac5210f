//! The kernel command line: `key=value` words (and bare flags), the last occurrence winning,
//! as metal-hammer reads `/proc/cmdline`.
//!
//! Keys read: `PIXIE_API_URL` (where the configuration is fetched; pixie puts a one-time
//! token in its path), `DEBUG`, `console` (reused for the installed OS, default `ttyS0`),
//! and two of ours for partitions without LLDP-speaking switches: `LLDP_TIMEOUT` (seconds to
//! wait for neighbours, default 30) and `LLDP_NEIGHBORS` (interfaces that must see a switch,
//! default 2; `0` registers without waiting).

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Context;

/// Default seconds to wait for LLDP neighbours (metal-stack: 2 × 15 s).
pub const DEFAULT_LLDP_TIMEOUT: u64 = 30;
/// Default number of interfaces that must see a switch (metal-stack: 2).
pub const DEFAULT_LLDP_NEIGHBORS: usize = 2;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cmdline {
    values: BTreeMap<String, String>,
}

impl Cmdline {
    /// Splits on whitespace; `key=value` (split at the first `=`), a bare word is a key with an
    /// empty value.
    pub fn parse(line: &str) -> Self {
        let mut values = BTreeMap::new();
        for word in line.split_whitespace() {
            let (k, v) = word.split_once('=').unwrap_or((word, ""));
            values.insert(k.to_string(), v.to_string());
        }
        Self { values }
    }

    pub fn read(path: &str) -> anyhow::Result<Self> {
        let s = std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?;
        Ok(Self::parse(&s))
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.values.get(key).map(String::as_str)
    }

    /// Where the hammer's configuration is fetched.
    pub fn pixie_api_url(&self) -> anyhow::Result<&str> {
        self.get("PIXIE_API_URL")
            .filter(|v| !v.is_empty())
            .context("no PIXIE_API_URL on the kernel command line")
    }

    pub fn debug(&self) -> bool {
        matches!(self.get("DEBUG"), Some("1" | "true" | "TRUE" | "True"))
    }

    /// The console for the installed OS: the last `console=` (with its options), `ttyS0` if none.
    pub fn console(&self) -> String {
        self.get("console")
            .filter(|c| !c.is_empty())
            .unwrap_or("ttyS0")
            .to_string()
    }

    pub fn lldp_timeout(&self) -> Duration {
        Duration::from_secs(
            self.get("LLDP_TIMEOUT")
                .and_then(|v| v.parse().ok())
                .unwrap_or(DEFAULT_LLDP_TIMEOUT),
        )
    }

    pub fn lldp_neighbors(&self) -> usize {
        self.get("LLDP_NEIGHBORS")
            .and_then(|v| v.parse().ok())
            .unwrap_or(DEFAULT_LLDP_NEIGHBORS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pixie_line() {
        let c = Cmdline::parse(
            "console=ttyS1,115200n8 console=ttyS0,115200n8 ip=dhcp carrier_timeout=10 \
             PIXIE_API_URL=http://10.0.0.1:4242/certs/abc-_9 DEBUG=1 quiet\n",
        );
        assert_eq!(c.console(), "ttyS0,115200n8");
        assert_eq!(
            c.pixie_api_url().unwrap(),
            "http://10.0.0.1:4242/certs/abc-_9"
        );
        assert!(c.debug());
        assert_eq!(c.get("quiet"), Some(""));
        assert_eq!(c.get("ip"), Some("dhcp"));
        assert_eq!(c.lldp_neighbors(), 2);
        assert_eq!(c.lldp_timeout(), Duration::from_secs(30));
    }

    #[test]
    fn defaults_and_overrides() {
        let c = Cmdline::parse("LLDP_NEIGHBORS=0 LLDP_TIMEOUT=5 DEBUG=0");
        assert_eq!(c.console(), "ttyS0");
        assert!(!c.debug());
        assert!(c.pixie_api_url().is_err());
        assert_eq!(c.lldp_neighbors(), 0);
        assert_eq!(c.lldp_timeout(), Duration::from_secs(5));
        // a value with '=' in it keeps everything after the first '='
        let c = Cmdline::parse("PIXIE_API_URL=http://x/certs?a=b");
        assert_eq!(c.pixie_api_url().unwrap(), "http://x/certs?a=b");
    }
}
