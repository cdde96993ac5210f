//! What metal-hammer and pixie ask over gRPC (§6.3), as app functions: registration with size
//! matching, the boot configuration of a partition, Report and AbortReinstall.

use metal_domain::event::EventType;
use metal_domain::machine::{
    BootInfo, ChassisIdentifyLedState, Machine, MachineBios, MachineHardware, MachineIpmi,
    UNKNOWN_SIZE,
};
use metal_domain::partition::{BootConfiguration, Partition};
use metal_domain::size::{self, Size};
use metal_store::docs;

use super::store_err;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// What a machine reports when it registers.
pub struct Registration {
    pub uuid: String,
    pub partition_id: String,
    pub hardware: MachineHardware,
    pub bios: MachineBios,
    pub ipmi: MachineIpmi,
    pub tags: Vec<String>,
    pub metal_hammer_version: String,
}

/// Creates or updates the machine: hardware, size (matched: `unknown` when no size or several
/// match), BIOS, IPMI and hammer version; allocation and tags of a known machine stay. The
/// machine gets an event log. Answers the machine.
pub async fn register(app: &AppState, r: Registration) -> ApiResult<Machine> {
    if r.uuid.is_empty() {
        return Err(ApiError::bad_request("uuid should not be empty"));
    }
    metal_domain::misc::validate_id("machine", &r.uuid)?;
    let mut tx = app.store.begin().await?;
    let sizes = docs::list::<Size>(&mut tx).await?;
    let size_id = size::match_size(&sizes, &r.hardware.summary())
        .map(|s| s.id.clone())
        .unwrap_or_else(|| UNKNOWN_SIZE.to_string());
    if !r.partition_id.is_empty()
        && docs::get::<Partition>(&mut tx, &r.partition_id)
            .await?
            .is_none()
    {
        return Err(ApiError::unprocessable(format!(
            "partition_id: partition {:?} does not exist",
            r.partition_id
        )));
    }
    let now = metal_store::time::now();
    let mut ipmi = r.ipmi;
    ipmi.last_updated = Some(now);
    let m = match docs::get::<Machine>(&mut tx, &r.uuid).await? {
        Some(stored) => {
            let mut m = stored.value;
            m.hardware = r.hardware;
            m.bios = r.bios;
            m.ipmi = ipmi;
            m.sizeid = size_id;
            m.state.metal_hammer_version = r.metal_hammer_version;
            if !r.partition_id.is_empty() {
                m.partitionid = r.partition_id;
            }
            if m.ledstate.value.is_empty() {
                // created by an event before it registered: this is its first registration
                m.ledstate = registered_led();
                m.tags = r.tags;
            }
            super::cabling::connect(&mut tx, &mut m).await?;
            docs::update(&mut tx, &mut m, stored.revision).await?;
            m
        }
        None => {
            let mut m = Machine {
                id: r.uuid.clone(),
                partitionid: r.partition_id,
                sizeid: size_id,
                hardware: r.hardware,
                bios: r.bios,
                ipmi,
                tags: r.tags,
                ledstate: ChassisIdentifyLedState {
                    value: "LED-OFF".into(),
                    description: "Machine registered".into(),
                },
                ..Default::default()
            };
            m.state.metal_hammer_version = r.metal_hammer_version;
            super::cabling::connect(&mut tx, &mut m).await?;
            docs::insert(&mut tx, &mut m).await?;
            m
        }
    };
    super::events::ensure(&mut tx, &m.id).await?;
    tx.commit().await.map_err(store_err)?;
    Ok(m)
}

fn registered_led() -> ChassisIdentifyLedState {
    ChassisIdentifyLedState {
        value: "LED-OFF".into(),
        description: "Machine registered".into(),
    }
}

/// Marks whether a metal-hammer holds a Wait stream open for the machine; answers whether the
/// machine is allocated (then the stream ends at once).
pub async fn set_waiting(app: &AppState, id: &str, waiting: bool) -> ApiResult<bool> {
    let m = super::update::<Machine, _>(app, id, |m| {
        m.waiting = waiting && m.allocation.is_none();
        Ok(())
    })
    .await?;
    Ok(m.allocation.is_some())
}

/// Whether the machine is allocated now.
pub async fn is_allocated(app: &AppState, id: &str) -> ApiResult<bool> {
    Ok(super::get::<Machine>(app, id).await?.allocation.is_some())
}

/// The boot configuration of a partition (pixie's `Boot`).
pub async fn boot_config(app: &AppState, partition_id: &str) -> ApiResult<BootConfiguration> {
    Ok(super::get::<Partition>(app, partition_id).await?.bootconfig)
}

/// metal-hammer's `Report` after installing: boot info and console password are stored, a
/// pending reinstall is done, and the machine's switch ports get their VRF.
pub async fn report(
    app: &AppState,
    id: &str,
    boot_info: Option<BootInfo>,
    console_password: &str,
) -> ApiResult<()> {
    let Some(boot_info) = boot_info else {
        return Err(ApiError::bad_request("boot_info is required"));
    };
    let mut tx = app.store.begin().await?;
    let stored = docs::must_get::<Machine>(&mut tx, id).await?;
    let mut m = stored.value;
    let Some(a) = m.allocation.as_mut() else {
        return Err(ApiError::unprocessable(format!(
            "machine {id} is not allocated"
        )));
    };
    a.boot_info = Some(boot_info);
    a.console_password = console_password.to_string();
    a.reinstall = false;
    docs::update(&mut tx, &mut m, stored.revision).await?;
    if let Some(vrf) = super::cabling::port_vrf(&m) {
        super::cabling::set_vrf(&mut tx, &m, &vrf).await?;
    }
    tx.commit().await.map_err(store_err)?;
    Ok(())
}

/// metal-hammer's `AbortReinstall`: when the disk was not wiped, the machine keeps its old
/// installation (image and boot info); answers that boot info.
pub async fn abort_reinstall(
    app: &AppState,
    id: &str,
    primary_disk_wiped: bool,
) -> ApiResult<Option<BootInfo>> {
    let m = super::update::<Machine, _>(app, id, |m| {
        if let Some(a) = m.allocation.as_mut() {
            if !primary_disk_wiped && a.reinstall {
                a.reinstall = false;
                if let Some(b) = &a.boot_info {
                    a.imageid = b.image_id.clone();
                }
            }
        }
        Ok(())
    })
    .await?;
    Ok(m.allocation.and_then(|a| {
        if primary_disk_wiped {
            None
        } else {
            a.boot_info
        }
    }))
}

/// Records one provisioning event in its own transaction.
pub async fn event(app: &AppState, id: &str, event: EventType, message: &str) -> ApiResult<()> {
    let mut tx = app.store.begin().await?;
    super::events::record(&mut tx, id, event, message, metal_store::time::now()).await?;
    tx.commit().await.map_err(store_err)?;
    Ok(())
}
