//! Sizes: `/v1/size`.

use metal_domain::size::{
    Size, SizeConstraint, SizeCreateRequest, SizeSuggestRequest, SizeUpdateRequest,
};

use super::id_path;
use crate::{Client, Result};

const PATH: &str = "v1/size";

impl Client {
    /// `GET /v1/size`
    pub async fn list_sizes(&self) -> Result<Vec<Size>> {
        self.get(PATH).await
    }

    /// `GET /v1/size/{id}`
    pub async fn get_size(&self, id: &str) -> Result<Size> {
        self.get(&id_path("size", id)).await
    }

    /// `PUT /v1/size`
    pub async fn create_size(&self, req: &SizeCreateRequest) -> Result<Size> {
        self.put(PATH, req).await
    }

    /// `POST /v1/size`
    pub async fn update_size(&self, req: &SizeUpdateRequest) -> Result<Size> {
        self.post(PATH, req).await
    }

    /// `DELETE /v1/size/{id}`
    pub async fn delete_size(&self, id: &str) -> Result<Size> {
        self.delete(&id_path("size", id)).await
    }

    /// `POST /v1/size/suggest`: constraints that exactly match the hardware of a machine.
    pub async fn suggest_size(&self, machine_id: &str) -> Result<Vec<SizeConstraint>> {
        let req = SizeSuggestRequest {
            machine_id: machine_id.to_string(),
        };
        self.post("v1/size/suggest", &req).await
    }
}
