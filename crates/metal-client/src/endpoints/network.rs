//! Networks: `/v1/network`, including allocating a tenant network from the partition's
//! private super network and freeing it again.

use metal_domain::network::{
    Network, NetworkAllocateRequest, NetworkCreateRequest, NetworkFindRequest, NetworkUpdateRequest,
};

use super::id_path;
use crate::{Client, Result};

const PATH: &str = "v1/network";

impl Client {
    /// `GET /v1/network`
    pub async fn list_networks(&self) -> Result<Vec<Network>> {
        self.get(PATH).await
    }

    /// `GET /v1/network/{id}`
    pub async fn get_network(&self, id: &str) -> Result<Network> {
        self.get(&id_path("network", id)).await
    }

    /// `POST /v1/network/find`: the networks matching every given field.
    pub async fn find_networks(&self, req: &NetworkFindRequest) -> Result<Vec<Network>> {
        self.post(&format!("{PATH}/find"), req).await
    }

    /// `PUT /v1/network` (admin; 201)
    pub async fn create_network(&self, req: &NetworkCreateRequest) -> Result<Network> {
        self.put(PATH, req).await
    }

    /// `POST /v1/network` (admin): fields left out keep their value.
    pub async fn update_network(&self, req: &NetworkUpdateRequest) -> Result<Network> {
        self.post(PATH, req).await
    }

    /// `DELETE /v1/network/{id}` (admin; refused while child networks or IPs exist)
    pub async fn delete_network(&self, id: &str) -> Result<Network> {
        self.delete(&id_path("network", id)).await
    }

    /// `POST /v1/network/allocate` (201): a tenant network cut from the partition's private
    /// super network.
    pub async fn allocate_network(&self, req: &NetworkAllocateRequest) -> Result<Network> {
        self.post(&format!("{PATH}/allocate"), req).await
    }

    /// `DELETE /v1/network/free/{id}`: releases an allocated network and its prefixes.
    pub async fn free_network(&self, id: &str) -> Result<Network> {
        self.delete(&id_path("network/free", id)).await
    }
}
