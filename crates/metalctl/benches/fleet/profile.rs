//! Where an allocation's time goes (`BENCH_PROFILE=1`): every SQL statement sqlx runs is
//! counted and timed (its `sqlx::query` trace event: the time from sending it to the last row,
//! lock waits included), and PostgreSQL's backends of the run's database are sampled every
//! 10 ms for what they are doing (running, waiting on a lock, waiting for the client, flushing
//! WAL). Profiling costs time itself: its figures are for reading, not for the ratio.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sqlx::Row;
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

/// Count and total seconds per statement text.
#[derive(Default, Clone)]
pub struct Statements(Arc<Mutex<HashMap<String, (u64, f64)>>>);

struct Event {
    summary: String,
    statement: String,
    secs: f64,
}

impl Visit for Event {
    fn record_str(&mut self, f: &Field, v: &str) {
        match f.name() {
            "summary" => self.summary = v.to_string(),
            "db.statement" => self.statement = v.trim().to_string(),
            _ => {}
        }
    }
    fn record_f64(&mut self, f: &Field, v: f64) {
        if f.name() == "elapsed_secs" {
            self.secs = v;
        }
    }
    fn record_debug(&mut self, f: &Field, v: &dyn std::fmt::Debug) {
        if f.name() == "summary" && self.summary.is_empty() {
            self.summary = format!("{v:?}").trim_matches('"').to_string();
        }
    }
}

impl<S: tracing::Subscriber> Layer<S> for Statements {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        if event.metadata().target() != "sqlx::query" {
            return;
        }
        let mut e = Event {
            summary: String::new(),
            statement: String::new(),
            secs: 0.0,
        };
        event.record(&mut e);
        let key = if e.statement.is_empty() {
            e.summary
        } else {
            e.statement
        };
        let key: String = key.split_whitespace().collect::<Vec<_>>().join(" ");
        if key.contains("pg_stat_activity") {
            // the sampler's own query
            return;
        }
        let mut m = self.0.lock().unwrap();
        let s = m.entry(key).or_default();
        s.0 += 1;
        s.1 += e.secs;
    }
}

impl Statements {
    /// Installs the counting layer as the process's subscriber (sqlx's statement events only).
    pub fn install() -> Self {
        let s = Self::default();
        let filter = tracing_subscriber::filter::Targets::new()
            .with_target("sqlx::query", tracing::Level::TRACE);
        tracing::subscriber::set_global_default(
            tracing_subscriber::registry().with(s.clone().with_filter(filter)),
        )
        .expect("a tracing subscriber");
        s
    }

    pub fn reset(&self) {
        self.0.lock().unwrap().clear();
    }

    /// Prints the statements per allocation, the most time first.
    pub fn print(&self, allocations: usize, wall_secs: f64) {
        let m = self.0.lock().unwrap();
        let mut rows: Vec<_> = m.iter().collect();
        rows.sort_by(|a, b| b.1 .1.total_cmp(&a.1 .1));
        let n = allocations.max(1) as f64;
        let (count, secs) = rows
            .iter()
            .fold((0u64, 0.0), |(c, s), (_, v)| (c + v.0, s + v.1));
        eprintln!(
            "profile: {allocations} allocations in {wall_secs:.1} s: {:.1} statements and {:.2} ms of statement time per allocation",
            count as f64 / n,
            secs * 1000.0 / n
        );
        eprintln!("| per allocation | mean ms | statement |");
        eprintln!("|---|---|---|");
        for (sql, (c, s)) in rows {
            let mut sql = sql.clone();
            if sql.len() > 150 {
                let mut cut = 150;
                while !sql.is_char_boundary(cut) {
                    cut -= 1;
                }
                sql.truncate(cut);
                sql.push('…');
            }
            eprintln!(
                "| {:.2} | {:.3} | `{}` |",
                *c as f64 / n,
                s * 1000.0 / *c as f64,
                sql.replace('|', "\\|")
            );
        }
    }
}

/// Samples `pg_stat_activity` for the backends of `db` until `stop` is set; answers how often
/// each (state, wait event) was seen.
pub async fn sample_backends(
    pool: sqlx::AnyPool,
    db: String,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> HashMap<String, u64> {
    let mut seen: HashMap<String, u64> = HashMap::new();
    let mut conn = pool.acquire().await.expect("a connection");
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        let rows = sqlx::query(
            "SELECT coalesce(state, '') AS state, coalesce(wait_event_type, '') AS wt, \
             coalesce(wait_event, '') AS we FROM pg_stat_activity \
             WHERE datname = $1 AND pid <> pg_backend_pid() AND backend_type = 'client backend'",
        )
        .bind(&db)
        .fetch_all(&mut *conn)
        .await
        .unwrap_or_default();
        for r in rows {
            let state: String = r.try_get("state").unwrap_or_default();
            let wt: String = r.try_get("wt").unwrap_or_default();
            let we: String = r.try_get("we").unwrap_or_default();
            let key = match (state.as_str(), wt.is_empty()) {
                ("active", true) => "active: running".to_string(),
                (s, _) => format!("{s}: {wt} {we}"),
            };
            *seen.entry(key).or_default() += 1;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    seen
}

pub fn print_samples(seen: &HashMap<String, u64>) {
    let total: u64 = seen.values().sum();
    let mut rows: Vec<_> = seen.iter().collect();
    rows.sort_by(|a, b| b.1.cmp(a.1));
    eprintln!("| backend state (pg_stat_activity, every 10 ms) | share |");
    eprintln!("|---|---|");
    for (k, v) in rows {
        eprintln!("| {k} | {:.1} % |", *v as f64 * 100.0 / total.max(1) as f64);
    }
}
