//! Partitions: `/v1/partition`.

use metal_domain::partition::{Partition, PartitionCreateRequest, PartitionUpdateRequest};

use super::id_path;
use crate::{Client, Result};

const PATH: &str = "v1/partition";

impl Client {
    /// `GET /v1/partition`
    pub async fn list_partitions(&self) -> Result<Vec<Partition>> {
        self.get(PATH).await
    }

    /// `GET /v1/partition/{id}`
    pub async fn get_partition(&self, id: &str) -> Result<Partition> {
        self.get(&id_path("partition", id)).await
    }

    /// `PUT /v1/partition`
    pub async fn create_partition(&self, req: &PartitionCreateRequest) -> Result<Partition> {
        self.put(PATH, req).await
    }

    /// `POST /v1/partition`
    pub async fn update_partition(&self, req: &PartitionUpdateRequest) -> Result<Partition> {
        self.post(PATH, req).await
    }

    /// `DELETE /v1/partition/{id}`
    pub async fn delete_partition(&self, id: &str) -> Result<Partition> {
        self.delete(&id_path("partition", id)).await
    }
}
