//! The only crate that speaks SQL.
//!
//! A [`Store`] is opened from a URL: `sqlite://FILE` (the embedded default; created and migrated
//! on first open, WAL mode) or `postgres://...` (production; several metal-api replicas share
//! it). Both backends run the same queries through sqlx's `Any` driver with `$N` placeholders,
//! which SQLite accepts too; only the migrations differ per backend (`migrations/<backend>/`).
//!
//! Every multi-step change runs in one [`Tx`]. SQLite allows one writer at a time, so in SQLite
//! mode the store keeps a single-connection write pool (transactions queue in-process instead
//! of failing with `SQLITE_BUSY`) beside a read pool; PostgreSQL uses one pool for both.

pub mod admin;
pub mod audit;
pub mod commands;
pub mod docs;
mod error;
pub mod ipam;
pub mod jobs;
pub mod machines;
pub mod notify;
pub mod time;
pub mod usage;

use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor};

pub use docs::{Document, Stored};
pub use error::{StoreError, StoreResult};

/// The database behind a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// The backend a database URL names.
    pub fn from_url(url: &str) -> StoreResult<Self> {
        if url.starts_with("sqlite:") {
            Ok(Self::Sqlite)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Ok(Self::Postgres)
        } else {
            Err(StoreError::Config(format!(
                "unsupported database url {:?}: use sqlite://FILE or postgres://...",
                redact_url(url)
            )))
        }
    }
}

/// Options for [`Store::open`].
#[derive(Debug, Clone)]
pub struct StoreOptions {
    pub url: String,
    /// Connections of the (read) pool.
    pub max_connections: u32,
}

impl StoreOptions {
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            max_connections: 16,
        }
    }
}

/// A database handle; cheap to clone.
#[derive(Clone)]
pub struct Store {
    backend: Backend,
    /// The URL it was opened with (the listener of [`notify`] connects to it).
    url: String,
    read: AnyPool,
    write: AnyPool,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend)
            .finish()
    }
}

/// A transaction: dropped without [`Tx::commit`], it rolls back.
pub type Tx = sqlx::Transaction<'static, sqlx::Any>;

/// A database connection, inside a [`Tx`] (which dereferences to one) or from a pool; the
/// repository functions take one so that they run alike in and outside a transaction.
pub type Conn = sqlx::AnyConnection;

static MIGRATIONS_SQLITE: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static MIGRATIONS_POSTGRES: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Hides the password of a database URL for messages and logs.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let userinfo = &url[s + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}://{}:***@{}", &url[..s], user, &url[at + 1..])
        }
        _ => url.to_string(),
    }
}

impl Store {
    /// Opens the database, creating the SQLite file if needed, and applies pending migrations.
    pub async fn open(opts: &StoreOptions) -> StoreResult<Self> {
        sqlx::any::install_default_drivers();
        let backend = Backend::from_url(&opts.url)?;
        let mut url = opts.url.clone();
        if backend == Backend::Sqlite && !url.contains("mode=") {
            url.push(if url.contains('?') { '&' } else { '?' });
            url.push_str("mode=rwc");
        }
        let connect = AnyConnectOptions::from_str(&url).map_err(|e| {
            StoreError::Config(format!(
                "invalid database url {}: {e}",
                redact_url(&opts.url)
            ))
        })?;
        // One direct connection first: a wrong URL or a server that is down fails at once
        // instead of after the pool's acquire timeout.
        use sqlx::Connection;
        sqlx::AnyConnection::connect_with(&connect)
            .await
            .map_err(|e| StoreError::Connect {
                url: redact_url(&opts.url),
                source: e,
            })?
            .close()
            .await?;
        let pool = |max: u32| {
            AnyPoolOptions::new()
                .max_connections(max)
                .acquire_timeout(Duration::from_secs(30))
                .after_connect(move |conn, _| {
                    Box::pin(async move {
                        if backend == Backend::Sqlite {
                            conn.execute(
                                "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                                 PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON;",
                            )
                            .await?;
                        }
                        Ok(())
                    })
                })
        };
        // SQLite runs each connection on a thread of its own: more readers than cores only
        // adds context switches (measured: lists 1.6-1.9x slower with 16 on 2 cores).
        let readers = match backend {
            Backend::Sqlite => {
                let cores = std::thread::available_parallelism().map_or(2, |n| n.get()) as u32;
                opts.max_connections.clamp(1, cores * 2)
            }
            Backend::Postgres => opts.max_connections.max(1),
        };
        let read = pool(readers)
            .connect_with(connect.clone())
            .await
            .map_err(|e| StoreError::Connect {
                url: redact_url(&opts.url),
                source: e,
            })?;
        let write = match backend {
            Backend::Sqlite => {
                pool(1)
                    .connect_with(connect)
                    .await
                    .map_err(|e| StoreError::Connect {
                        url: redact_url(&opts.url),
                        source: e,
                    })?
            }
            Backend::Postgres => read.clone(),
        };
        let store = Self {
            backend,
            url: opts.url.clone(),
            read,
            write,
        };
        store.migrate().await?;
        Ok(store)
    }

    async fn migrate(&self) -> StoreResult<()> {
        let migrator = match self.backend {
            Backend::Sqlite => &MIGRATIONS_SQLITE,
            Backend::Postgres => &MIGRATIONS_POSTGRES,
        };
        migrator.run(&self.write).await?;
        Ok(())
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The pool for reads outside a transaction.
    pub fn reader(&self) -> &AnyPool {
        &self.read
    }

    /// Starts a transaction (on the single writer connection in SQLite mode).
    pub async fn begin(&self) -> StoreResult<Tx> {
        Ok(self.write.begin().await?)
    }

    /// Checks that the database answers and the schema is in place.
    pub async fn ping(&self) -> StoreResult<()> {
        let mut conn = self.read.acquire().await?;
        sqlx::query("SELECT count(*) FROM _sqlx_migrations")
            .execute(&mut *conn)
            .await?;
        Ok(())
    }

    /// Closes both pools.
    pub async fn close(&self) {
        self.write.close().await;
        self.read.close().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_from_url() {
        assert_eq!(
            Backend::from_url("sqlite:///tmp/x.db").unwrap(),
            Backend::Sqlite
        );
        assert_eq!(
            Backend::from_url("postgres://u@h/db").unwrap(),
            Backend::Postgres
        );
        assert!(Backend::from_url("mysql://h/db").is_err());
    }

    #[test]
    fn url_password_is_redacted() {
        assert_eq!(
            redact_url("postgres://metal:secret@db:5432/metal"),
            "postgres://metal:***@db:5432/metal"
        );
        assert_eq!(redact_url("sqlite:///a.db"), "sqlite:///a.db");
    }
}
