//! The state every handler shares: the store, the configuration, an HTTP client for URL checks
//! and the [`crate::runtime`] machinery (batchers, stream wake-ups, the audit forwarder).

use std::sync::Arc;

use metal_domain::misc::VersionResponse;
use metal_store::Store;

use crate::config::Config;
use crate::metrics::Metrics;

/// Shared application state; cheap to clone.
pub type App = Arc<AppState>;

pub struct AppState {
    pub store: Store,
    pub config: Config,
    pub http: reqwest::Client,
    pub metrics: Metrics,
    pub version: VersionResponse,
    pub firmware: crate::firmware_store::FirmwareStore,
    pub ip_batcher: crate::runtime::ipbatch::IpBatcher,
    pub net_batcher: crate::runtime::netbatch::GroupServer<
        metal_domain::network::PlannedAllocation,
        metal_domain::network::Network,
    >,
    pub waiters: crate::runtime::wait::Waiters,
    /// Allocation candidates per rack, kept for a moment (a hint for the choice of a machine).
    pub candidates: crate::runtime::candidates::CandidateCounts,
    /// Open BMC command streams by partition id (metal-bmc agents).
    pub command_streams: crate::runtime::wait::Waiters,
    /// Forwards audit entries to Splunk (`--auditing-splunk-endpoint`); `None`: off.
    pub audit_forward: Option<crate::runtime::auditforward::AuditForwarder>,
    /// Taken by the background jobs that read the whole fleet (fleet metrics, liveliness,
    /// resurrection), so that they take turns instead of each holding a decoded fleet at the
    /// same time (at start they all run at once: with 50,000 machines that was a 1.6 GiB peak).
    pub fleet_jobs: tokio::sync::Semaphore,
    me: std::sync::OnceLock<std::sync::Weak<AppState>>,
}

impl AppState {
    pub fn new(
        store: Store,
        config: Config,
        firmware: crate::firmware_store::FirmwareStore,
    ) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(10))
            .build()?;
        Ok(Self {
            store,
            config,
            http,
            metrics: Metrics::new()?,
            version: version_info(),
            firmware,
            ip_batcher: Default::default(),
            net_batcher: Default::default(),
            waiters: Default::default(),
            fleet_jobs: tokio::sync::Semaphore::new(1),
            candidates: Default::default(),
            command_streams: Default::default(),
            audit_forward: None,
            me: std::sync::OnceLock::new(),
        })
    }
}

impl AppState {
    /// Wraps the state for sharing; background workers keep a weak handle to it.
    pub fn into_shared(self) -> App {
        let app = Arc::new(self);
        let _ = app.me.set(Arc::downgrade(&app));
        app
    }

    /// A weak handle to the shared state (for workers that must not keep it alive).
    pub fn me(&self) -> Option<std::sync::Weak<AppState>> {
        self.me.get().cloned()
    }
}

/// What `GET /v1/version` answers.
pub fn version_info() -> VersionResponse {
    let sha = option_env!("METAL_GIT_SHA")
        .unwrap_or("unknown")
        .to_string();
    VersionResponse {
        name: "metal-api".into(),
        version: format!("v{}", env!("CARGO_PKG_VERSION")),
        release_version: format!("v{}", env!("CARGO_PKG_VERSION")),
        revision: sha.clone(),
        gitsha1: sha,
        builddate: option_env!("METAL_BUILD_DATE").unwrap_or("unknown").into(),
        min_client_version: "v0.0.0".into(),
    }
}
