//! Reinstall (§4.3): an allocated machine gets another image on its next install, keeping the
//! disks its filesystem layout does not wipe on reinstall.

use metal_domain::image::Image;
use metal_domain::machine::BmcCommand;
use metal_domain::machine::{Machine, MachineReinstallRequest, MachineStateValue};
use metal_store::docs;

use super::store_err;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// `POST /v1/machine/{id}/reinstall`: an allocated, unlocked machine gets another image (the
/// exact id) on its next install; disks without `wipeonreinstall` keep their data. The port VRF
/// is reset and the PXE boot and power cycle for the BMC agent are queued in the same
/// transaction (delivered by the fleet operations).
pub async fn reinstall(
    app: &AppState,
    id: &str,
    req: &MachineReinstallRequest,
) -> ApiResult<Machine> {
    let not_possible = || {
        ApiError::bad_request(
            "machine either locked, not allocated yet or invalid image ID specified",
        )
    };
    let image = super::get::<Image>(app, &req.imageid)
        .await
        .map_err(|_| not_possible())?;
    let mut tx = app.store.begin().await?;
    let stored = docs::must_get::<Machine>(&mut tx, id).await?;
    let mut m = stored.value;
    if m.state.value == MachineStateValue::Locked {
        return Err(not_possible());
    }
    let Some(a) = m.allocation.as_mut() else {
        return Err(not_possible());
    };
    let reinstallable = a
        .filesystemlayout
        .as_ref()
        .is_some_and(|l| l.reinstallable());
    if !reinstallable {
        return Err(ApiError::unprocessable(format!(
            "the filesystem layout of machine {id} wipes no disk on reinstall: it cannot be reinstalled"
        )));
    }
    a.reinstall = true;
    a.imageid = image.id;
    if !req.description.is_empty() {
        a.description = req.description.clone();
    }
    docs::update(&mut tx, &mut m, stored.revision).await?;
    super::cabling::set_vrf(&mut tx, &m, "").await?;
    // metal-bmc boots the machine into PXE and power-cycles it into the installer
    let commands = [BmcCommand::BootPxe, BmcCommand::PowerCycle];
    super::commands::queue_for(app, &mut tx, &m, &commands, "reinstall").await?;
    tx.commit().await.map_err(store_err)?;
    super::commands::wake(app, &m.partitionid);
    Ok(m)
}
