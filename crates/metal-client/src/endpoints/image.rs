//! Images: `/v1/image`.

use metal_domain::image::{Image, ImageCreateRequest, ImageFindRequest, ImageUpdateRequest};

use super::id_path;
use crate::{Client, Result};

const PATH: &str = "v1/image";

impl Client {
    /// `GET /v1/image?show-usage=`: with `show_usage` every image carries `usedby`, the ids
    /// of the machines allocated with it.
    pub async fn list_images(&self, show_usage: bool) -> Result<Vec<Image>> {
        self.get(&format!("{PATH}?show-usage={show_usage}")).await
    }

    /// `GET /v1/image/{id}`: the image with exactly this id.
    pub async fn get_image(&self, id: &str) -> Result<Image> {
        self.get(&id_path("image", id)).await
    }

    /// `GET /v1/image/{id}/latest`: the newest image the (possibly partial) id stands for,
    /// e.g. `ubuntu-20.04` → `ubuntu-20.04.20240101`.
    pub async fn get_latest_image(&self, id: &str) -> Result<Image> {
        self.get(&format!("{}/latest", id_path("image", id))).await
    }

    /// `GET /v1/image/{id}/query`: every image the (possibly partial) id stands for.
    pub async fn query_images(&self, id: &str) -> Result<Vec<Image>> {
        self.get(&format!("{}/query", id_path("image", id))).await
    }

    /// `POST /v1/image/find?show-usage=`
    pub async fn find_images(
        &self,
        req: &ImageFindRequest,
        show_usage: bool,
    ) -> Result<Vec<Image>> {
        self.post(&format!("{PATH}/find?show-usage={show_usage}"), req)
            .await
    }

    /// `PUT /v1/image`
    pub async fn create_image(&self, req: &ImageCreateRequest) -> Result<Image> {
        self.put(PATH, req).await
    }

    /// `POST /v1/image`
    pub async fn update_image(&self, req: &ImageUpdateRequest) -> Result<Image> {
        self.post(PATH, req).await
    }

    /// `DELETE /v1/image/{id}` (422 while a machine is allocated with it)
    pub async fn delete_image(&self, id: &str) -> Result<Image> {
        self.delete(&id_path("image", id)).await
    }
}
