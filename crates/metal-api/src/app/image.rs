//! Images: create and update with validation and optional URL checks, deletion refused while
//! machines use the image, usage lists, search, and the os/version resolution of `/latest` and
//! `/query`.

use metal_domain::image::{self, Image, ImageCreateRequest, ImageFindRequest, ImageUpdateRequest};
use metal_store::docs;
use metal_store::docs::{given, ImageFilter};
use metal_store::usage::{self, MachineRef};

use super::{check_url, store_err};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

pub async fn create(app: &AppState, req: ImageCreateRequest) -> ApiResult<Image> {
    let img = Image::from_create(&req, metal_store::time::now())?;
    check_url(app, "image url", &img.url).await?;
    super::create(app, img).await
}

pub async fn update(app: &AppState, req: ImageUpdateRequest) -> ApiResult<Image> {
    if let Some(url) = &req.url {
        check_url(app, "image url", url).await?;
    }
    let id = req.id.clone();
    super::update::<Image, _>(app, &id, |img| img.apply_update(&req)).await
}

/// Deletes an image unless machines are allocated with it (422 naming them).
pub async fn delete(app: &AppState, id: &str) -> ApiResult<Image> {
    let mut tx = app.store.begin().await?;
    let img = docs::must_get::<Image>(&mut tx, id).await?.value;
    let users = usage::machines_using(&mut tx, MachineRef::Image, id).await?;
    if !users.is_empty() {
        return Err(ApiError::unprocessable(format!(
            "image {id} is in use by machines: {}",
            users.join(", ")
        )));
    }
    docs::delete::<Image>(&mut tx, id).await?;
    tx.commit().await.map_err(store_err)?;
    Ok(img)
}

/// Fills `usedby` of each image.
async fn with_usage(app: &AppState, mut images: Vec<Image>) -> ApiResult<Vec<Image>> {
    let mut conn = app.store.reader().acquire().await.map_err(store_err)?;
    let mut used = usage::image_usage(&mut conn).await?;
    for img in &mut images {
        img.usedby = Some(used.remove(&img.id).unwrap_or_default());
    }
    Ok(images)
}

pub async fn list(app: &AppState, show_usage: bool) -> ApiResult<Vec<Image>> {
    let images = super::list::<Image>(app).await?;
    if show_usage {
        with_usage(app, images).await
    } else {
        Ok(images)
    }
}

pub async fn get(app: &AppState, id: &str) -> ApiResult<Image> {
    super::get::<Image>(app, id).await
}

/// Search: indexed fields filter in SQL, the rest (features, version) in the domain rule.
pub async fn find(app: &AppState, q: &ImageFindRequest, show_usage: bool) -> ApiResult<Vec<Image>> {
    let filters: Vec<ImageFilter> = [
        given(&q.id).map(ImageFilter::Id),
        given(&q.name).map(ImageFilter::Name),
        given(&q.os).map(ImageFilter::Os),
        q.classification
            .map(|c| ImageFilter::Classification(c.as_str())),
    ]
    .into_iter()
    .flatten()
    .collect();
    let mut conn = app.store.reader().acquire().await.map_err(store_err)?;
    let found: Vec<Image> = docs::find::<Image>(&mut conn, &filters)
        .await?
        .into_iter()
        .filter(|img| q.matches(img))
        .collect();
    drop(conn);
    if show_usage {
        with_usage(app, found).await
    } else {
        Ok(found)
    }
}

/// The images of the os named by an image id.
async fn images_of_os(app: &AppState, id: &str) -> ApiResult<Vec<Image>> {
    let (os, _) = image::parse_image_id(id)?;
    let mut conn = app.store.reader().acquire().await.map_err(store_err)?;
    Ok(docs::find::<Image>(&mut conn, &[ImageFilter::Os(&os)]).await?)
}

/// `/latest`: the newest image matching an id such as `ubuntu-20.04` (§4.7).
pub async fn latest(app: &AppState, id: &str) -> ApiResult<Image> {
    let images = images_of_os(app, id).await?;
    Ok(image::resolve_latest(&images, id)?.clone())
}

/// `/query`: every image matching an id.
pub async fn query(app: &AppState, id: &str) -> ApiResult<Vec<Image>> {
    let images = images_of_os(app, id).await?;
    Ok(image::query(&images, id)?.into_iter().cloned().collect())
}
