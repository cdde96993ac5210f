//! Size reservations: `/v1/size/reservations`, and the partition capacity
//! (`/v1/partition/capacity`) that reports how much of the reservations is used.

use metal_domain::machine::{PartitionCapacity, PartitionCapacityRequest};
use metal_domain::reservation::{
    SizeReservation, SizeReservationCreateRequest, SizeReservationListRequest,
    SizeReservationUpdateRequest, SizeReservationUsage,
};

use super::id_path;
use crate::{Client, Result};

const PATH: &str = "v1/size/reservations";

impl Client {
    /// `GET /v1/size/reservations`
    pub async fn list_size_reservations(&self) -> Result<Vec<SizeReservation>> {
        self.get(PATH).await
    }

    /// `GET /v1/size/reservations/{id}`
    pub async fn get_size_reservation(&self, id: &str) -> Result<SizeReservation> {
        self.get(&id_path("size/reservations", id)).await
    }

    /// `POST /v1/size/reservations/find`
    pub async fn find_size_reservations(
        &self,
        req: &SizeReservationListRequest,
    ) -> Result<Vec<SizeReservation>> {
        self.post("v1/size/reservations/find", req).await
    }

    /// `PUT /v1/size/reservations`
    pub async fn create_size_reservation(
        &self,
        req: &SizeReservationCreateRequest,
    ) -> Result<SizeReservation> {
        self.put(PATH, req).await
    }

    /// `POST /v1/size/reservations`
    pub async fn update_size_reservation(
        &self,
        req: &SizeReservationUpdateRequest,
    ) -> Result<SizeReservation> {
        self.post(PATH, req).await
    }

    /// `DELETE /v1/size/reservations/{id}`
    pub async fn delete_size_reservation(&self, id: &str) -> Result<SizeReservation> {
        self.delete(&id_path("size/reservations", id)).await
    }

    /// `POST /v1/size/reservations/usage`: per reservation and partition, what its project uses.
    pub async fn size_reservations_usage(
        &self,
        req: &SizeReservationListRequest,
    ) -> Result<Vec<SizeReservationUsage>> {
        self.post("v1/size/reservations/usage", req).await
    }

    /// `POST /v1/partition/capacity`: machines per partition and size, with the reservations.
    pub async fn partition_capacity(
        &self,
        req: &PartitionCapacityRequest,
    ) -> Result<Vec<PartitionCapacity>> {
        self.post("v1/partition/capacity", req).await
    }
}
