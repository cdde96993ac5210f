//! BMC commands: queued durably with the change that decides them (free, reinstall, the power
//! and LED endpoints), delivered to the partition's metal-bmc over its gRPC command stream and
//! acknowledged by it (see `metal_store::commands` for the delivery rules).
//!
//! Waking: after a commit, the streams of the partition in this process are woken; with
//! PostgreSQL the queueing transaction also sends `NOTIFY metal_bmc_commands` so the streams
//! of every other replica wake too. Streams also poll every few seconds as a safety net and
//! for redelivery.

use chrono::{DateTime, Utc};
use metal_domain::event::EventType;
use metal_domain::firmware::{self, InstalledFirmware, MachineUpdateFirmwareRequest};
use metal_domain::ids::{MachineId, PartitionId};
use metal_domain::machine::{BmcCommand, Machine, MachineBmcCommand, MachineResponse};
use metal_store::commands::QueuedCommand;
use metal_store::{docs, Tx};

use super::store_err;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// How long a delivered command may stay unacknowledged before it is delivered again. A stream
/// that closes releases its commands at once; this covers a stream whose agent stopped reading
/// without closing it. Longer than a slow BMC's whole command, so a command in progress is not
/// handed out a second time.
pub const REDELIVER_AFTER: chrono::Duration = chrono::Duration::seconds(300);

/// How many commands one stream holds unacknowledged at a time (metal-bmc runs 10 at once).
pub const WINDOW: i64 = 10;

/// A machine without partition has no metal-bmc that can reach its BMC (422).
fn reachable(m: &Machine) -> ApiResult<()> {
    if m.partitionid.is_empty() {
        return Err(ApiError::unprocessable(format!(
            "machine {} has no partition: no metal-bmc can reach its BMC",
            m.id
        )));
    }
    Ok(())
}

/// Queues `commands` for the machine's BMC inside `tx`; call [`wake`] after the commit.
pub async fn queue(
    app: &AppState,
    tx: &mut Tx,
    machine_id: &MachineId,
    partition_id: &PartitionId,
    commands: &[BmcCommand],
    reason: &str,
) -> ApiResult<()> {
    for command in commands {
        metal_store::commands::enqueue(tx, machine_id, partition_id, *command, reason).await?;
    }
    metal_store::commands::notify(tx, app.store.backend(), partition_id).await?;
    Ok(())
}

/// Queues `commands` for the BMC of a stored machine (its id and partition) inside `tx`.
pub async fn queue_for(
    app: &AppState,
    tx: &mut Tx,
    m: &Machine,
    commands: &[BmcCommand],
    reason: &str,
) -> ApiResult<()> {
    let (machine, partition) = (MachineId::new(&m.id), PartitionId::new(&m.partitionid));
    queue(app, tx, &machine, &partition, commands, reason).await
}

/// Wakes this process's command streams of the partition.
pub fn wake(app: &AppState, partition_id: &str) {
    app.command_streams.wake(partition_id);
}

/// `POST /v1/machine/{id}/power/{on,off,reset,cycle,bios,disk,pxe}` and
/// `…/power/chassis-identify-led-{on,off}` (§4.15): reset, off and cycle first record a
/// `Planned Reboot` event (message = the command); the LED commands store the machine's LED
/// state with the description. The command is queued in the same transaction.
pub async fn power(
    app: &AppState,
    id: &str,
    command: BmcCommand,
    description: Option<&str>,
    caller: &str,
) -> ApiResult<MachineResponse> {
    let now = metal_store::time::now();
    let mut tx = app.store.begin().await?;
    let stored = docs::must_get::<Machine>(&mut tx, id).await?;
    let mut m = stored.value;
    reachable(&m)?;
    if command.is_planned_reboot() {
        super::events::record(&mut tx, id, EventType::PlannedReboot, command.as_str(), now).await?;
    }
    if let Some(led) = command.led_state() {
        m.ledstate.value = led.to_string();
        m.ledstate.description = description.unwrap_or_default().to_string();
        docs::update(&mut tx, &mut m, stored.revision).await?;
    }
    let reason = match description {
        Some(d) if !d.is_empty() => format!("{caller}: {d}"),
        _ => caller.to_string(),
    };
    let (machine, partition) = (MachineId::new(&m.id), PartitionId::new(&m.partitionid));
    queue(app, &mut tx, &machine, &partition, &[command], &reason).await?;
    tx.commit().await.map_err(store_err)?;
    wake(app, &m.partitionid);
    tracing::info!(machine = id, %command, user = caller, "BMC command queued");
    super::machine_view::view(app, m).await
}

/// `POST /v1/machine/update-firmware/{id}` (§4.15): queues an `UPDATE-FIRMWARE` of the
/// uploaded file for the machine's board (`kind/lower(board manufacturer)/UPPER(board part
/// number)/revision`). 422 when the machine already runs the revision, when its BMC reported
/// no board, or when no such file was uploaded. The download URL is made when the command is
/// delivered to metal-bmc, valid for [`FIRMWARE_URL_TTL`].
pub async fn update_firmware(
    app: &AppState,
    id: &str,
    r: &MachineUpdateFirmwareRequest,
    caller: &str,
) -> ApiResult<MachineResponse> {
    let m = super::get::<Machine>(app, id).await?;
    reachable(&m)?;
    let installed = InstalledFirmware {
        board_mfg: &m.ipmi.fru.board_mfg,
        board_part_number: &m.ipmi.fru.board_part_number,
        bios_version: &m.bios.version,
        bmc_version: &m.ipmi.bmcversion,
    };
    let key = firmware::update_key(id, r, installed)?;
    if !app.firmware.exists(&key).await {
        return Err(ApiError::unprocessable(format!(
            "no {} firmware revision {} for board {} of vendor {} was uploaded (GET /v1/firmware?machine-id={id} lists the ones there are)",
            key.kind.as_str(),
            key.revision,
            key.board,
            key.vendor
        )));
    }
    let reason = match r.description.as_str() {
        "" => caller.to_string(),
        d => format!("{caller}: {d}"),
    };
    let mut tx = app.store.begin().await?;
    let m = docs::must_get::<Machine>(&mut tx, id).await?.value;
    let (machine, partition) = (MachineId::new(&m.id), PartitionId::new(&m.partitionid));
    metal_store::commands::enqueue_firmware(&mut tx, &machine, &partition, &key, &reason).await?;
    metal_store::commands::notify(&mut tx, app.store.backend(), &m.partitionid).await?;
    tx.commit().await.map_err(store_err)?;
    wake(app, &m.partitionid);
    tracing::info!(
        machine = id,
        firmware = key.path(),
        user = caller,
        "firmware update queued"
    );
    super::machine_view::view(app, m).await
}

/// How long the download URL of a firmware file is valid from its delivery to metal-bmc (as
/// metal-stack's presigned URLs).
pub const FIRMWARE_URL_TTL: std::time::Duration = std::time::Duration::from_secs(2 * 3600);

/// Claims the partition's deliverable commands for the stream `holder`, up to its free window.
pub async fn claim(
    app: &AppState,
    partition_id: &str,
    holder: &str,
    now: DateTime<Utc>,
) -> ApiResult<Vec<(QueuedCommand, Machine)>> {
    let mut tx = app.store.begin().await?;
    let held = metal_store::commands::held(&mut tx, holder).await?.len() as i64;
    if held >= WINDOW {
        return Ok(Vec::new());
    }
    let claimed = metal_store::commands::claim(
        &mut tx,
        app.store.backend(),
        partition_id,
        holder,
        now,
        now - REDELIVER_AFTER,
        WINDOW - held,
    )
    .await?;
    let mut out = Vec::with_capacity(claimed.len());
    for c in claimed {
        let m = docs::get::<Machine>(&mut tx, &c.machine_id)
            .await?
            .map(|s| s.value)
            .unwrap_or_else(|| Machine {
                id: c.machine_id.clone(),
                ..Default::default()
            });
        out.push((c, m));
    }
    tx.commit().await.map_err(store_err)?;
    Ok(out)
}

/// Records an agent's acknowledgement; a duplicate or unknown one is ignored (logged).
pub async fn ack(app: &AppState, partition_id: &str, seq: i64, error: &str) -> ApiResult<()> {
    let mut tx = app.store.begin().await?;
    let done =
        metal_store::commands::ack(&mut tx, partition_id, seq, error, metal_store::time::now())
            .await?;
    if done.is_some() {
        // the machine's next command becomes deliverable, maybe to a stream of another replica
        metal_store::commands::notify(&mut tx, app.store.backend(), partition_id).await?;
    }
    tx.commit().await.map_err(store_err)?;
    match done {
        Some(c) if error.is_empty() => {
            tracing::info!(
                machine = c.machine_id,
                command = %c.command,
                seq,
                "BMC command done"
            )
        }
        Some(c) => tracing::warn!(
            machine = c.machine_id,
            command = %c.command,
            seq,
            error,
            "BMC command failed"
        ),
        None => tracing::debug!(seq, partition_id, "duplicate or unknown acknowledgement"),
    }
    wake(app, partition_id);
    Ok(())
}

/// The machine's commands for its IPMI view: pending ones, then the last acknowledged ones.
pub async fn of_machine(app: &AppState, machine_id: &str) -> ApiResult<Vec<MachineBmcCommand>> {
    let mut conn = app.store.reader().acquire().await.map_err(store_err)?;
    let rows = metal_store::commands::of_machine(&mut conn, machine_id, 10).await?;
    let t = |s: &Option<String>| s.as_deref().and_then(metal_store::time::from_db);
    Ok(rows
        .into_iter()
        .map(|c| MachineBmcCommand {
            seq: c.seq,
            queued: metal_store::time::from_db(&c.created_at),
            delivered: t(&c.delivered_at),
            acknowledged: t(&c.acked_at),
            command: c.command.to_string(),
            reason: c.reason,
            agent: c.delivered_to,
            attempts: c.attempts,
            error: c.error,
        })
        .collect())
}
