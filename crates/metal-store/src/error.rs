//! Errors of the store. Conflicts and missing rows are their own variants so the API maps
//! them to 409 and 404; everything else is an internal error whose cause goes to the log.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum StoreError {
    /// The entity does not exist.
    #[error("{0}")]
    NotFound(String),
    /// Duplicate id, or the entity changed since it was read.
    #[error("{0}")]
    Conflict(String),
    /// A database URL or option is wrong.
    #[error("{0}")]
    Config(String),
    #[error("connecting to {url}")]
    Connect {
        url: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("database error")]
    Database(#[from] sqlx::Error),
    #[error("applying migrations")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored document of {kind} {id:?} is not readable")]
    Corrupt {
        kind: &'static str,
        id: String,
        #[source]
        source: serde_json::Error,
    },
}

pub type StoreResult<T> = Result<T, StoreError>;
