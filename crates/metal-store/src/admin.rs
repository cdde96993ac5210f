//! Creating and dropping whole PostgreSQL databases through a server's admin URL: the test
//! harness gives every test a database of its own this way.

use sqlx::{Connection, PgConnection};

use crate::error::{StoreError, StoreResult};
use crate::redact_url;

/// Whether `name` may be used as an unquoted database name (letters, digits, `_`).
fn check_name(name: &str) -> StoreResult<()> {
    let ok = !name.is_empty()
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with(|c: char| c.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(StoreError::Config(format!(
            "invalid database name {name:?}: use letters, digits and _"
        )))
    }
}

/// A connection to the server's admin database.
async fn connect(admin_url: &str) -> StoreResult<PgConnection> {
    PgConnection::connect(admin_url)
        .await
        .map_err(|source| StoreError::Connect {
            url: redact_url(admin_url),
            source,
        })
}

/// Creates the database `name` on the server of `admin_url` and answers its URL (the admin URL
/// with its database replaced).
pub async fn create_database(admin_url: &str, name: &str) -> StoreResult<String> {
    check_name(name)?;
    let mut conn = connect(admin_url).await?;
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await?;
    let base = admin_url
        .rsplit_once('/')
        .map(|(b, _)| b)
        .unwrap_or(admin_url);
    Ok(format!("{base}/{name}"))
}

/// Drops the database `name` on the server of `admin_url`, closing its connections; a
/// missing database is no error.
pub async fn drop_database(admin_url: &str, name: &str) -> StoreResult<()> {
    check_name(name)?;
    let mut conn = connect(admin_url).await?;
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&mut conn)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn database_names_are_plain() {
        assert!(super::check_name("metal_test_0a1b").is_ok());
        for bad in ["", "1abc", "a;DROP", "a-b", "a b"] {
            assert!(super::check_name(bad).is_err(), "{bad}");
        }
    }
}
