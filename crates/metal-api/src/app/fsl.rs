//! Filesystem layouts: each create or update is validated alone and against every other
//! layout (constraint collisions) inside one transaction; `/try` says which layout a size and
//! image get, `/matches` whether a machine's disks fit a layout.

use metal_domain::fsl::{
    self, FilesystemLayout, FilesystemLayoutCreateRequest, FilesystemLayoutMatchRequest,
    FilesystemLayoutTryRequest, FilesystemLayoutUpdateRequest,
};
use metal_domain::DomainError;
use metal_store::docs;

use super::store_err;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

pub async fn create(
    app: &AppState,
    req: FilesystemLayoutCreateRequest,
) -> ApiResult<FilesystemLayout> {
    let mut layout = FilesystemLayout::from_create(&req)?;
    let mut tx = app.store.begin().await?;
    if docs::get::<FilesystemLayout>(&mut tx, &layout.id)
        .await?
        .is_some()
    {
        return Err(ApiError::Conflict(format!(
            "filesystemlayout with id {:?} already exists",
            layout.id
        )));
    }
    let existing = docs::list_by_creation::<FilesystemLayout>(&mut tx).await?;
    fsl::validate_with(&existing, &layout)?;
    docs::insert(&mut tx, &mut layout).await?;
    tx.commit().await.map_err(store_err)?;
    Ok(layout)
}

pub async fn update(
    app: &AppState,
    req: FilesystemLayoutUpdateRequest,
) -> ApiResult<FilesystemLayout> {
    let mut tx = app.store.begin().await?;
    let stored = docs::must_get::<FilesystemLayout>(&mut tx, &req.id).await?;
    let mut layout = stored.value;
    layout.apply_update(&req)?;
    let existing = docs::list_by_creation::<FilesystemLayout>(&mut tx).await?;
    fsl::validate_with(&existing, &layout)?;
    docs::update(&mut tx, &mut layout, stored.revision).await?;
    tx.commit().await.map_err(store_err)?;
    Ok(layout)
}

/// The layout a machine of `size` installed with `image` would get; the image id is resolved
/// like an allocation resolves it (`ubuntu-20.04` → the newest 20.04.x).
pub async fn try_layout(
    app: &AppState,
    req: &FilesystemLayoutTryRequest,
) -> ApiResult<FilesystemLayout> {
    if req.size.is_empty() || req.image.is_empty() {
        return Err(ApiError::bad_request("size and image should not be empty"));
    }
    let image = super::image::latest(app, &req.image).await?;
    let layouts = {
        let mut conn = app.store.reader().acquire().await.map_err(store_err)?;
        docs::list_by_creation::<FilesystemLayout>(&mut conn).await?
    };
    // No layout for the pair is a 422 as in the reference (the domain calls it not found).
    match fsl::from(&layouts, &req.size, &image.id) {
        Ok(layout) => Ok(layout.clone()),
        Err(DomainError::NotFound(msg)) => Err(ApiError::unprocessable(msg)),
        Err(e) => Err(e.into()),
    }
}

/// The layout when the machine's disks fit it; 422 naming the disk that does not.
pub async fn matches(
    app: &AppState,
    req: &FilesystemLayoutMatchRequest,
) -> ApiResult<FilesystemLayout> {
    if req.machine.is_empty() || req.filesystemlayout.is_empty() {
        return Err(ApiError::bad_request(
            "machine and filesystemlayout should not be empty",
        ));
    }
    let layout = super::get::<FilesystemLayout>(app, &req.filesystemlayout).await?;
    let hw = super::size::machine_hardware(app, &req.machine).await?;
    layout.matches(&hw.disks)?;
    Ok(layout)
}
