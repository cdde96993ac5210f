//! Partitions and size-image constraints: the small catalog entities.

use metal_domain::image::Image;
use metal_domain::partition::{Partition, PartitionCreateRequest, PartitionUpdateRequest};
use metal_domain::sic::{
    self, SizeImageConstraint, SizeImageConstraintCreateRequest, SizeImageConstraintTryRequest,
    SizeImageConstraintUpdateRequest,
};
use metal_domain::size::Size;
use metal_store::docs;
use metal_store::docs::NetworkFilter;
use metal_store::usage::{self, MachineRef};

use super::{check_url, store_err};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

async fn check_boot_urls(app: &AppState, p: &Partition) -> ApiResult<()> {
    check_url(app, "bootconfig.imageurl", &p.bootconfig.imageurl).await?;
    check_url(app, "bootconfig.kernelurl", &p.bootconfig.kernelurl).await
}

pub async fn create_partition(app: &AppState, req: PartitionCreateRequest) -> ApiResult<Partition> {
    let p = req.into_partition()?;
    check_boot_urls(app, &p).await?;
    super::create(app, p).await
}

pub async fn update_partition(app: &AppState, req: PartitionUpdateRequest) -> ApiResult<Partition> {
    let id = req.id.clone();
    let current = super::get::<Partition>(app, &id).await?;
    let mut preview = current.clone();
    req.clone().apply(&mut preview)?;
    if preview.bootconfig != current.bootconfig {
        check_boot_urls(app, &preview).await?;
    }
    super::update::<Partition, _>(app, &id, |p| req.apply(p)).await
}

/// Deletes a partition unless machines or networks are in it (422 naming them). metal-stack deletes
/// without looking; orphaned machines are worse than a refused delete.
pub async fn delete_partition(app: &AppState, id: &str) -> ApiResult<Partition> {
    let mut tx = app.store.begin().await?;
    let p = docs::must_get::<Partition>(&mut tx, id).await?.value;
    let users = usage::machines_using(&mut tx, MachineRef::Partition, id).await?;
    if !users.is_empty() {
        return Err(ApiError::unprocessable(format!(
            "partition {id} still has machines: {}",
            users.join(", ")
        )));
    }
    let networks =
        docs::count::<metal_domain::network::Network>(&mut tx, &[NetworkFilter::Partition(id)])
            .await?;
    if networks > 0 {
        return Err(ApiError::unprocessable(format!(
            "partition {id} still has {networks} network(s)"
        )));
    }
    docs::delete::<Partition>(&mut tx, id).await?;
    tx.commit().await.map_err(store_err)?;
    Ok(p)
}

/// A size-image constraint's id is the id of its size, which must exist.
pub async fn create_sic(
    app: &AppState,
    req: SizeImageConstraintCreateRequest,
) -> ApiResult<SizeImageConstraint> {
    let mut c = SizeImageConstraint::from_create(&req)?;
    let mut tx = app.store.begin().await?;
    if docs::get::<Size>(&mut tx, &c.id).await?.is_none() {
        return Err(ApiError::unprocessable(format!(
            "size {:?} does not exist: the id of a size image constraint is the id of its size",
            c.id
        )));
    }
    docs::insert(&mut tx, &mut c).await?;
    tx.commit().await.map_err(store_err)?;
    Ok(c)
}

pub async fn update_sic(
    app: &AppState,
    req: SizeImageConstraintUpdateRequest,
) -> ApiResult<SizeImageConstraint> {
    let id = req.id.clone();
    super::update::<SizeImageConstraint, _>(app, &id, |c| c.apply_update(&req)).await
}

/// Whether `size` may be installed with `image` (resolved as at allocation): `{}` or a 422
/// naming size, image and the violated constraint.
pub async fn try_sic(app: &AppState, req: &SizeImageConstraintTryRequest) -> ApiResult<()> {
    if req.size.is_empty() || req.image.is_empty() {
        return Err(ApiError::bad_request("size and image should not be empty"));
    }
    let _size = super::get::<Size>(app, &req.size).await?;
    let image: Image = super::image::latest(app, &req.image).await?;
    let mut conn = app.store.reader().acquire().await.map_err(store_err)?;
    let c = docs::get::<SizeImageConstraint>(&mut conn, &req.size).await?;
    sic::check(c.as_ref().map(|s| &s.value), &req.size, &image)?;
    Ok(())
}
