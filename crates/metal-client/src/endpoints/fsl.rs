//! Filesystem layouts: `/v1/filesystemlayout`.

use metal_domain::fsl::{
    FilesystemLayout, FilesystemLayoutCreateRequest, FilesystemLayoutMatchRequest,
    FilesystemLayoutTryRequest, FilesystemLayoutUpdateRequest,
};

use super::id_path;
use crate::{Client, Result};

const PATH: &str = "v1/filesystemlayout";

impl Client {
    /// `GET /v1/filesystemlayout`
    pub async fn list_filesystem_layouts(&self) -> Result<Vec<FilesystemLayout>> {
        self.get(PATH).await
    }

    /// `GET /v1/filesystemlayout/{id}`
    pub async fn get_filesystem_layout(&self, id: &str) -> Result<FilesystemLayout> {
        self.get(&id_path("filesystemlayout", id)).await
    }

    /// `PUT /v1/filesystemlayout`
    pub async fn create_filesystem_layout(
        &self,
        req: &FilesystemLayoutCreateRequest,
    ) -> Result<FilesystemLayout> {
        self.put(PATH, req).await
    }

    /// `POST /v1/filesystemlayout`
    pub async fn update_filesystem_layout(
        &self,
        req: &FilesystemLayoutUpdateRequest,
    ) -> Result<FilesystemLayout> {
        self.post(PATH, req).await
    }

    /// `DELETE /v1/filesystemlayout/{id}`
    pub async fn delete_filesystem_layout(&self, id: &str) -> Result<FilesystemLayout> {
        self.delete(&id_path("filesystemlayout", id)).await
    }

    /// `POST /v1/filesystemlayout/try`: the layout a size and image would get (422 if none).
    pub async fn try_filesystem_layout(
        &self,
        req: &FilesystemLayoutTryRequest,
    ) -> Result<FilesystemLayout> {
        self.post(&format!("{PATH}/try"), req).await
    }

    /// `POST /v1/filesystemlayout/matches`: the layout if the machine's disks fit it (422
    /// with the reason otherwise).
    pub async fn match_filesystem_layout(
        &self,
        req: &FilesystemLayoutMatchRequest,
    ) -> Result<FilesystemLayout> {
        self.post(&format!("{PATH}/matches"), req).await
    }
}
