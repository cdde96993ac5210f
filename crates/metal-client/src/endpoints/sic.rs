//! Size-image constraints: `/v1/size-image-constraint`.

use metal_domain::sic::{
    SizeImageConstraint, SizeImageConstraintCreateRequest, SizeImageConstraintTryRequest,
    SizeImageConstraintUpdateRequest,
};

use super::id_path;
use crate::{Client, Result};

const PATH: &str = "v1/size-image-constraint";

impl Client {
    /// `GET /v1/size-image-constraint`
    pub async fn list_size_image_constraints(&self) -> Result<Vec<SizeImageConstraint>> {
        self.get(PATH).await
    }

    /// `GET /v1/size-image-constraint/{id}` (the id is the size id)
    pub async fn get_size_image_constraint(&self, id: &str) -> Result<SizeImageConstraint> {
        self.get(&id_path("size-image-constraint", id)).await
    }

    /// `PUT /v1/size-image-constraint`
    pub async fn create_size_image_constraint(
        &self,
        req: &SizeImageConstraintCreateRequest,
    ) -> Result<SizeImageConstraint> {
        self.put(PATH, req).await
    }

    /// `POST /v1/size-image-constraint`
    pub async fn update_size_image_constraint(
        &self,
        req: &SizeImageConstraintUpdateRequest,
    ) -> Result<SizeImageConstraint> {
        self.post(PATH, req).await
    }

    /// `DELETE /v1/size-image-constraint/{id}`
    pub async fn delete_size_image_constraint(&self, id: &str) -> Result<SizeImageConstraint> {
        self.delete(&id_path("size-image-constraint", id)).await
    }

    /// `POST /v1/size-image-constraint/try`: `Ok` if the image may be installed on machines
    /// of the size, an [`crate::Error::Api`] with status 422 and the reason otherwise.
    pub async fn try_size_image_constraint(
        &self,
        req: &SizeImageConstraintTryRequest,
    ) -> Result<()> {
        self.post::<_, serde_json::Value>(&format!("{PATH}/try"), req)
            .await
            .map(drop)
    }
}
