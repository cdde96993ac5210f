//! Fleet metrics: the gauges of metal-stack's metal-metrics-exporter (partition capacity,
//! machines and their issues and BMC readings, switches, networks, images, projects), served
//! on metal-api's own `/metrics` after the request metrics.
//!
//! They are computed from the database, not per scrape: a background task reads the whole
//! fleet every `--fleet-metrics-interval` seconds with a handful of queries on the read pool,
//! builds and renders the set on a blocking thread (so requests do not wait behind it), and
//! swaps the rendered text in. Scrapes copy the last good text; a failed update is logged and
//! counted, and the previous set stays. The first update runs at start.

mod collect;
mod families;

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use metal_domain::machine::Machine;
use metal_domain::partition::Partition;
use metal_domain::project::Project;
use metal_domain::reservation::SizeReservation;
use metal_domain::switch::Switch;
use metal_store::docs;
use prometheus::{Gauge, IntCounterVec, Opts, Registry};
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use families::{Def, ALL};

use collect::{collect, Fleet};

use crate::app::store_err;
use crate::error::{ApiError, ApiResult};
use crate::state::{App, AppState};

/// One update may take this long (metal-metrics-exporter's `UPDATE_TIMEOUT`).
const UPDATE_TIMEOUT: Duration = Duration::from_secs(60);

/// The last good fleet metric set and the counters of its updates.
pub struct FleetMetrics {
    rendered: RwLock<Arc<String>>,
    updates: IntCounterVec,
    duration: Gauge,
}

impl FleetMetrics {
    /// An empty set; the update counters go into `registry`.
    pub fn new(registry: &Registry) -> prometheus::Result<Self> {
        let updates = IntCounterVec::new(
            Opts::new(
                "metal_api_fleet_metrics_updates_total",
                "Updates of the fleet metrics by result (ok, error)",
            ),
            &["result"],
        )?;
        let duration = Gauge::new(
            "metal_api_fleet_metrics_update_duration_seconds",
            "How long the last good update of the fleet metrics took",
        )?;
        registry.register(Box::new(updates.clone()))?;
        registry.register(Box::new(duration.clone()))?;
        Ok(Self {
            rendered: RwLock::new(Arc::new(String::new())),
            updates,
            duration,
        })
    }

    /// The text of the last good set (empty before the first one).
    pub fn rendered(&self) -> Arc<String> {
        match self.rendered.read() {
            Ok(r) => Arc::clone(&r),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    fn swap(&self, text: String, took: Duration) {
        let text = Arc::new(text);
        match self.rendered.write() {
            Ok(mut r) => *r = text,
            Err(poisoned) => *poisoned.into_inner() = text,
        }
        self.duration.set(took.as_secs_f64());
        self.updates.with_label_values(&["ok"]).inc();
    }

    fn failed(&self) {
        self.updates.with_label_values(&["error"]).inc();
    }
}

/// Reads everything the set is computed from. Networks and images come with their usage
/// from the app layer; the rest is one list per kind on one read connection.
async fn load(app: &AppState) -> ApiResult<Fleet> {
    let images = crate::app::image::list(app, true).await?;
    let networks = crate::app::network::list(app).await?;
    let mut conn = app.store.reader().acquire().await.map_err(store_err)?;
    let machines = docs::list::<Machine>(&mut conn).await?;
    let events = crate::app::machine_view::event_containers(&mut conn, &machines).await?;
    Ok(Fleet {
        images,
        networks,
        partitions: docs::list::<Partition>(&mut conn).await?,
        reservations: docs::list::<SizeReservation>(&mut conn).await?,
        projects: docs::list::<Project>(&mut conn).await?,
        switches: docs::list::<Switch>(&mut conn).await?,
        machines,
        events,
    })
}

/// Recomputes the fleet metrics and swaps them in; answers the number of samples. On error
/// the previous set stays.
pub async fn update(app: &AppState) -> ApiResult<usize> {
    let started = Instant::now();
    let result = async {
        let fleet = load(app).await?;
        let now = metal_store::time::now();
        tokio::task::spawn_blocking(move || {
            let set = collect(&fleet, now);
            let samples = set.len();
            set.render().map(|text| (text, samples))
        })
        .await
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("building the fleet metrics: {e}")))?
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("rendering the fleet metrics: {e}")))
    }
    .await;
    match result {
        Ok((text, samples)) => {
            app.metrics.fleet.swap(text, started.elapsed());
            Ok(samples)
        }
        Err(e) => {
            app.metrics.fleet.failed();
            Err(e)
        }
    }
}

/// The message of an error for the log, with the cause of internal ones.
fn describe(e: &ApiError) -> String {
    match e {
        ApiError::Internal(inner) => format!("{inner:#}"),
        other => other.to_string(),
    }
}

/// Updates the fleet metrics at start and every `--fleet-metrics-interval` seconds until the
/// server stops; none with an interval of 0.
pub fn spawn(app: &App, mut stop: watch::Receiver<bool>) -> Option<JoinHandle<()>> {
    let every = app.config.fleet_metrics_interval;
    if every == 0 {
        return None;
    }
    let app = app.clone();
    Some(tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(every));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.wait_for(|s| *s) => return,
            }
            // one whole-fleet job at a time (`AppState::fleet_jobs`)
            let turn = tokio::select! {
                t = app.fleet_jobs.acquire() => t,
                _ = stop.wait_for(|s| *s) => return,
            };
            let Ok(_turn) = turn else { return };
            let started = Instant::now();
            let run = tokio::time::timeout(UPDATE_TIMEOUT, update(&app));
            tokio::select! {
                r = run => match r {
                    Ok(Ok(samples)) => tracing::debug!(
                        samples,
                        took_ms = started.elapsed().as_millis() as u64,
                        "fleet metrics updated"
                    ),
                    Ok(Err(e)) => tracing::warn!(
                        error = describe(&e),
                        "updating the fleet metrics failed, serving the previous ones"
                    ),
                    Err(_) => {
                        app.metrics.fleet.failed();
                        tracing::warn!(
                            timeout_s = UPDATE_TIMEOUT.as_secs(),
                            "updating the fleet metrics timed out, serving the previous ones"
                        );
                    }
                },
                _ = stop.wait_for(|s| *s) => return,
            }
        }
    }))
}
