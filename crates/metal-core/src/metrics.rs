//! metal-core's own metrics, served as Prometheus text at `/metrics` (`--metrics-address`,
//! metal-core's `:2112`): `metal_core_total_errors{operation}` as upstream names it
//! (`switch-reconfiguration`, `reconfiguration-notification`, `send-provisioning`), and of the
//! reconcile loop the runs, the last run's duration and the time of the last successful one.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The operations whose errors are counted.
pub const OPERATIONS: [&str; 3] = [
    "switch-reconfiguration",
    "reconfiguration-notification",
    "send-provisioning",
];

#[derive(Debug, Default)]
struct Inner {
    errors: BTreeMap<&'static str, u64>,
    syncs: u64,
    last_duration: Option<Duration>,
    last_success: Option<f64>,
}

#[derive(Debug, Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

impl Metrics {
    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut g)
    }

    /// Counts an error of `operation` (one of [`OPERATIONS`]).
    pub fn error(&self, operation: &'static str) {
        self.with(|i| *i.errors.entry(operation).or_default() += 1);
    }

    /// A reconcile run ended after `took`, successfully or not.
    pub fn record_sync(&self, took: Duration, ok: bool) {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs_f64();
        self.with(|i| {
            i.syncs += 1;
            i.last_duration = Some(took);
            if ok {
                i.last_success = Some(now);
            }
        });
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        self.with(|i| {
            let mut s = String::new();
            s.push_str("# HELP metal_core_total_errors errors by operation\n");
            s.push_str("# TYPE metal_core_total_errors counter\n");
            for op in OPERATIONS {
                let n = i.errors.get(op).copied().unwrap_or(0);
                let _ = writeln!(s, "metal_core_total_errors{{operation=\"{op}\"}} {n}");
            }
            let _ = writeln!(
                s,
                "# HELP metal_core_syncs_total reconcile runs\n# TYPE metal_core_syncs_total counter\nmetal_core_syncs_total {}",
                i.syncs
            );
            if let Some(d) = i.last_duration {
                let _ = writeln!(
                    s,
                    "# HELP metal_core_sync_duration_seconds duration of the last reconcile run\n# TYPE metal_core_sync_duration_seconds gauge\nmetal_core_sync_duration_seconds {}",
                    d.as_secs_f64()
                );
            }
            if let Some(t) = i.last_success {
                let _ = writeln!(
                    s,
                    "# HELP metal_core_last_sync_success_timestamp_seconds end of the last successful reconcile run\n# TYPE metal_core_last_sync_success_timestamp_seconds gauge\nmetal_core_last_sync_success_timestamp_seconds {t:.3}"
                );
            }
            s
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_errors_and_syncs() {
        let m = Metrics::default();
        let empty = m.render();
        assert!(empty.contains("metal_core_total_errors{operation=\"switch-reconfiguration\"} 0"));
        assert!(!empty.contains("metal_core_sync_duration_seconds "));
        m.error("switch-reconfiguration");
        m.record_sync(Duration::from_millis(1500), false);
        let s = m.render();
        assert!(s.contains("metal_core_total_errors{operation=\"switch-reconfiguration\"} 1"));
        assert!(s.contains("metal_core_syncs_total 1"));
        assert!(s.contains("metal_core_sync_duration_seconds 1.5"));
        assert!(!s.contains("last_sync_success_timestamp_seconds "), "{s}");
        m.record_sync(Duration::from_millis(10), true);
        assert!(m
            .render()
            .contains("metal_core_last_sync_success_timestamp_seconds "));
    }
}
