//! IP addresses: `/v1/ip`. The id of an IP is its address (IPv6 addresses are
//! percent-encoded in the path).

use metal_domain::ip::{Ip, IpAllocateRequest, IpFindRequest, IpUpdateRequest};

use super::id_path;
use crate::{Client, Result};

const PATH: &str = "v1/ip";

impl Client {
    /// `GET /v1/ip`
    pub async fn list_ips(&self) -> Result<Vec<Ip>> {
        self.get(PATH).await
    }

    /// `GET /v1/ip/{id}` (the id is the address)
    pub async fn get_ip(&self, ip: &str) -> Result<Ip> {
        self.get(&id_path("ip", ip)).await
    }

    /// `POST /v1/ip/find`: the IPs matching every given field.
    pub async fn find_ips(&self, req: &IpFindRequest) -> Result<Vec<Ip>> {
        self.post(&format!("{PATH}/find"), req).await
    }

    /// `POST /v1/ip`: name, description, type and tags change when given.
    pub async fn update_ip(&self, req: &IpUpdateRequest) -> Result<Ip> {
        self.post(PATH, req).await
    }

    /// `POST /v1/ip/allocate` (201): the next free address of the network.
    pub async fn allocate_ip(&self, req: &IpAllocateRequest) -> Result<Ip> {
        self.post(&format!("{PATH}/allocate"), req).await
    }

    /// `POST /v1/ip/allocate/{ip}` (201): exactly this address (409 if it is taken).
    pub async fn allocate_specific_ip(&self, ip: &str, req: &IpAllocateRequest) -> Result<Ip> {
        self.post(&id_path("ip/allocate", ip), req).await
    }

    /// `DELETE /v1/ip/free/{id}`: releases the address (refused for machine-scoped IPs).
    pub async fn free_ip(&self, ip: &str) -> Result<Ip> {
        self.delete(&id_path("ip/free", ip)).await
    }
}
