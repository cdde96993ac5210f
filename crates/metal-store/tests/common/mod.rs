//! Databases for the store's tests: a SQLite file in a temp dir, or a fresh PostgreSQL
//! database on the server of `METAL_TEST_POSTGRES_URL` (dropped afterwards). A PostgreSQL that
//! does not answer fails the test.

use metal_store::{Store, StoreOptions};
use sqlx::Connection;

pub fn pg_admin() -> String {
    std::env::var("METAL_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A fresh database of one backend.
pub struct Db {
    pub url: String,
    pg: Option<String>,
    _dir: tempfile::TempDir,
}

impl Db {
    pub async fn new(postgres: bool) -> Self {
        let dir = tempfile::tempdir().unwrap();
        if !postgres {
            let url = format!("sqlite://{}", dir.path().join("s.db").display());
            return Db {
                url,
                pg: None,
                _dir: dir,
            };
        }
        let name = format!("metal_store_{}", uuid::Uuid::new_v4().simple());
        let mut c = sqlx::PgConnection::connect(&pg_admin())
            .await
            .expect("PostgreSQL must answer");
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut c)
            .await
            .unwrap();
        let base = pg_admin().rsplit_once('/').unwrap().0.to_string();
        Db {
            url: format!("{base}/{name}"),
            pg: Some(name),
            _dir: dir,
        }
    }

    pub async fn open(&self) -> Store {
        Store::open(&StoreOptions::new(&self.url)).await.unwrap()
    }

    pub async fn drop_db(self) {
        if let Some(name) = self.pg {
            let mut c = sqlx::PgConnection::connect(&pg_admin()).await.unwrap();
            sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&mut c)
                .await
                .unwrap();
        }
    }
}
