//! The app layer: business flows between the thin REST handlers and the store. Each function
//! is one request's work; every change runs in one transaction, so a failed request leaves
//! nothing behind.

pub mod allocate;
pub mod audit;
pub mod boot;
pub mod cabling;
pub mod capacity;
pub mod catalog;
pub mod commands;
pub mod console_password;
pub mod events;
pub mod firmware;
pub mod fsl;
pub mod image;
pub mod integer_pool;
pub mod ip;
pub mod ipmi;
pub mod issues;
pub mod machine;
pub mod machine_list;
pub mod machine_view;
pub mod netgroup;
pub mod network;
pub mod project;
pub mod reinstall;
pub mod reservation;
pub mod size;
pub mod switch;
pub mod system;
pub mod vpn;

use metal_domain::DomainResult;
use metal_store::{docs, Document};

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// Reads one entity; 404 when missing.
pub async fn get<T: Document>(app: &AppState, id: &str) -> ApiResult<T> {
    let mut conn = app.store.reader().acquire().await.map_err(store_err)?;
    Ok(docs::must_get::<T>(&mut conn, id).await?.value)
}

/// All entities of a kind, by id.
pub async fn list<T: Document>(app: &AppState) -> ApiResult<Vec<T>> {
    let mut conn = app.store.reader().acquire().await.map_err(store_err)?;
    Ok(docs::list::<T>(&mut conn).await?)
}

/// All entities of a kind as the JSON array the API answers (built by the database).
pub async fn list_json<T: Document>(app: &AppState) -> ApiResult<RawJson> {
    let mut conn = app.store.reader().acquire().await.map_err(store_err)?;
    Ok(RawJson(
        docs::list_json::<T>(&mut conn, app.store.backend()).await?,
    ))
}

/// A JSON answer that is already serialized (the REST layer answers it as it is).
pub struct RawJson(pub String);

/// Inserts a new entity in its own transaction; 409 when the id is taken.
pub async fn create<T: Document>(app: &AppState, mut value: T) -> ApiResult<T> {
    let mut tx = app.store.begin().await?;
    docs::insert(&mut tx, &mut value).await?;
    tx.commit().await.map_err(store_err)?;
    Ok(value)
}

/// Reads, changes and writes an entity in one transaction (conditional on its revision).
pub async fn update<T, F>(app: &AppState, id: &str, change: F) -> ApiResult<T>
where
    T: Document,
    F: FnOnce(&mut T) -> DomainResult<()>,
{
    let mut tx = app.store.begin().await?;
    let stored = docs::must_get::<T>(&mut tx, id).await?;
    let mut value = stored.value;
    change(&mut value)?;
    docs::update(&mut tx, &mut value, stored.revision).await?;
    tx.commit().await.map_err(store_err)?;
    Ok(value)
}

/// Deletes an entity and answers it; 404 when missing.
pub async fn delete<T: Document>(app: &AppState, id: &str) -> ApiResult<T> {
    let mut tx = app.store.begin().await?;
    let stored = docs::must_get::<T>(&mut tx, id).await?;
    docs::delete::<T>(&mut tx, id).await?;
    tx.commit().await.map_err(store_err)?;
    Ok(stored.value)
}

/// A database error (from a pool or a commit) as the API answers it.
pub fn store_err(e: impl Into<metal_store::StoreError>) -> ApiError {
    ApiError::from(e.into())
}

/// Checks that a URL answers an HTTP HEAD with a status below 400 (only with `--check-urls`).
pub async fn check_url(app: &AppState, field: &str, url: &str) -> ApiResult<()> {
    if !app.config.check_urls || url.is_empty() {
        return Ok(());
    }
    match app.http.head(url).send().await {
        Ok(r) if r.status().as_u16() < 400 => Ok(()),
        Ok(r) => Err(ApiError::bad_request(format!(
            "{field} {url} is not reachable: HEAD answered {}",
            r.status()
        ))),
        Err(e) => Err(ApiError::bad_request(format!(
            "{field} {url} is not reachable: {}",
            e.without_url()
        ))),
    }
}
