//! Request and answer bodies of reinstall, the console password and partition capacity.

use serde::{Deserialize, Serialize};

/// Body of `POST /v1/machine/{id}/reinstall`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct MachineReinstallRequest {
    pub id: String,
    pub imageid: String,
    pub name: String,
    pub description: String,
}

/// Body of `GET /v1/machine/consolepassword` (a GET with a body, as the reference has it).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct MachineConsolePasswordRequest {
    pub id: String,
    pub reason: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MachineConsolePasswordResponse {
    pub id: String,
    pub name: String,
    pub description: String,
    pub console_password: String,
}

/// Body of `POST /v1/partition/capacity`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct PartitionCapacityRequest {
    pub id: Option<String>,
    pub sizeid: Option<String>,
    pub projectid: Option<String>,
}

/// Machines of one size in one partition, by what they can be used for (`v1.ServerCapacity`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ServerCapacity {
    pub size: String,
    pub total: u64,
    pub allocated: u64,
    /// waiting, alive, available machines: what an allocation can get
    pub allocatable: u64,
    pub free: u64,
    pub faulty: u64,
    pub faultymachines: Vec<String>,
    pub other: u64,
    pub othermachines: Vec<String>,
    pub phoned_home: u64,
    pub waiting: u64,
    pub unavailable: u64,
    pub reservations: u64,
    pub usedreservations: u64,
    pub remainingreservations: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PartitionCapacity {
    pub id: String,
    pub name: String,
    pub description: String,
    pub servers: Vec<ServerCapacity>,
}

impl crate::fsl::FilesystemLayout {
    /// A layout is reinstallable when at least one disk is wiped on reinstall (§4.3).
    pub fn reinstallable(&self) -> bool {
        self.disks.iter().any(|d| d.wipeonreinstall)
    }
}
