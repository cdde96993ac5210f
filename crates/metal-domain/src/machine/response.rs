//! The machine as answered (`v1.MachineResponse`): the stored machine with its partition, size,
//! image and recent provisioning events embedded.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{
    Allocation, BootInfo, ChassisIdentifyLedState, FirewallRules, Machine, MachineBios,
    MachineHardware, MachineIpmi, MachineNetwork, MachineState, Role,
};
use crate::event::{self, EventContainer, MachineRecentProvisioningEvents};
use crate::fsl::FilesystemLayout;
use crate::image::Image;
use crate::partition::{DnsServer, NtpServer, Partition};
use crate::size::Size;

/// `v1.MachineAllocation` as answered: the image in full, no console password.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MachineAllocationResponse {
    pub allocationuuid: String,
    pub creator: String,
    #[serde(default, with = "crate::wire::zero_time")]
    #[cfg_attr(
        feature = "openapi",
        schema(value_type = String, format = DateTime, default = "0001-01-01T00:00:00Z")
    )]
    pub created: Option<DateTime<Utc>>,
    pub name: String,
    pub description: String,
    pub hostname: String,
    pub project: String,
    pub image: Option<Image>,
    pub filesystemlayout: Option<FilesystemLayout>,
    pub networks: Vec<MachineNetwork>,
    pub ssh_pub_keys: Vec<String>,
    pub user_data: String,
    pub succeeded: bool,
    pub reinstall: bool,
    pub boot_info: Option<BootInfo>,
    pub role: Role,
    pub firewall_rules: Option<FirewallRules>,
    pub dns_servers: Vec<DnsServer>,
    pub ntp_servers: Vec<NtpServer>,
}

/// `v1.MachineIPMIResponse`: the machine response with its BMC, credentials included; only
/// the `/ipmi` endpoints answer it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MachineIpmiResponse {
    #[serde(flatten)]
    pub machine: MachineResponse,
    pub ipmi: MachineIpmi,
    /// Differs from metal-stack: the machine's BMC commands (power, boot device, LED) not yet
    /// acknowledged by metal-bmc, then the last acknowledged ones; only `GET /v1/machine/{id}/ipmi`
    /// fills it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bmc_commands: Vec<super::ipmi::MachineBmcCommand>,
}

/// `v1.MachineResponse` (and `v1.FirewallResponse`, the same shape).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MachineResponse {
    pub id: String,
    pub name: String,
    pub description: String,
    pub partition: Option<Partition>,
    pub rackid: String,
    pub size: Option<Size>,
    pub hardware: MachineHardware,
    pub bios: MachineBios,
    pub state: MachineState,
    pub ledstate: ChassisIdentifyLedState,
    pub tags: Vec<String>,
    pub allocation: Option<MachineAllocationResponse>,
    /// "Alive", "Dead", "Unknown", or "" without an event log
    pub liveliness: String,
    pub events: MachineRecentProvisioningEvents,
    pub created: Option<DateTime<Utc>>,
    pub changed: Option<DateTime<Utc>>,
}

fn allocation_view(a: Allocation, image: Option<Image>) -> MachineAllocationResponse {
    MachineAllocationResponse {
        allocationuuid: a.allocationuuid,
        creator: a.creator,
        created: a.created,
        name: a.name,
        description: a.description,
        hostname: a.hostname,
        project: a.project,
        image,
        filesystemlayout: a.filesystemlayout,
        networks: a.networks,
        ssh_pub_keys: a.ssh_pub_keys,
        user_data: a.user_data,
        succeeded: a.succeeded,
        reinstall: a.reinstall,
        boot_info: a.boot_info,
        role: a.role,
        firewall_rules: a.firewall_rules,
        dns_servers: a.dns_servers,
        ntp_servers: a.ntp_servers,
    }
}

impl MachineResponse {
    /// Builds the answer from the machine and the entities it refers to (each `None` when it
    /// does not exist, e.g. the size `unknown`).
    pub fn build(
        m: Machine,
        partition: Option<Partition>,
        size: Option<Size>,
        image: Option<Image>,
        events: Option<&EventContainer>,
    ) -> Self {
        MachineResponse {
            id: m.id,
            name: m.name,
            description: m.description,
            partition,
            rackid: m.rackid,
            size,
            hardware: m.hardware,
            bios: m.bios,
            state: m.state,
            ledstate: m.ledstate,
            tags: m.tags,
            allocation: m.allocation.map(|a| allocation_view(a, image)),
            liveliness: events
                .map(|c| c.liveliness.as_str().to_string())
                .unwrap_or_default(),
            events: events
                .map(|c| event::recent(c, event::RECENT_EVENTS))
                .unwrap_or_default(),
            created: m.created,
            changed: m.changed,
        }
    }
}
