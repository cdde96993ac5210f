//! Prometheus metrics, served on their own port at `/metrics`: request counts and latencies
//! per route template, method and status, plus the process metrics, followed by the fleet
//! metrics of [`crate::fleetmetrics`] (computed in the background, not per scrape).

use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry};

pub struct Metrics {
    pub registry: Registry,
    pub requests: IntCounterVec,
    pub duration: HistogramVec,
    pub fleet: crate::fleetmetrics::FleetMetrics,
}

impl Metrics {
    pub fn new() -> prometheus::Result<Self> {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new("metal_api_http_requests_total", "REST requests handled"),
            &["method", "route", "code"],
        )?;
        let duration = HistogramVec::new(
            HistogramOpts::new(
                "metal_api_http_request_duration_seconds",
                "REST request latency",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
            ]),
            &["method", "route"],
        )?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(duration.clone()))?;
        #[cfg(target_os = "linux")]
        registry.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ))?;
        let fleet = crate::fleetmetrics::FleetMetrics::new(&registry)?;
        Ok(Self {
            registry,
            requests,
            duration,
            fleet,
        })
    }

    /// The text exposition of every metric: the registry's, then the last fleet metrics.
    pub fn render(&self) -> String {
        let encoder = prometheus::TextEncoder::new();
        let mut out = encoder
            .encode_to_string(&self.registry.gather())
            .unwrap_or_default();
        out.push_str(&self.fleet.rendered());
        out
    }
}
