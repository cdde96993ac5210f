//! The queue of BMC commands per partition: appended in the transaction that decides them
//! (free, reinstall, power and LED requests), so a command exists exactly when its cause was
//! committed; claimed by one agent stream at a time, acknowledged by the agent.
//!
//! Delivery rules:
//! - a command is deliverable while it is not acknowledged and either was never delivered or
//!   its last delivery is older than the redelivery cutoff (the agent died or lost it): at least
//!   once, never lost;
//! - only the oldest unacknowledged command of a machine is deliverable, so one machine's
//!   commands run in order (PXE before RESET) even with several agents or replicas;
//! - claiming marks the delivery in the same statement that checks it was deliverable, so two
//!   streams (on one replica or on two) never both get a command within the cutoff.

use chrono::{DateTime, Utc};
use sqlx::{AnyConnection, Row};

use metal_domain::firmware::FirmwareKey;
use metal_domain::ids::{MachineId, PartitionId};
use metal_domain::machine::BmcCommand;

use crate::error::{StoreError, StoreResult};
use crate::{time, Backend};

/// A queued command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedCommand {
    pub seq: i64,
    pub machine_id: String,
    pub partition_id: String,
    pub command: BmcCommand,
    /// the file an `UPDATE-FIRMWARE` flashes; `None` for every other command
    pub firmware: Option<FirmwareKey>,
    pub reason: String,
    pub created_at: String,
    pub delivered_at: Option<String>,
    pub acked_at: Option<String>,
    pub attempts: i64,
    pub delivered_to: String,
    pub error: String,
    pub delivered: bool,
}

const COLUMNS: &str = "seq, machine_id, partition_id, command, firmware, reason, created_at, \
                       delivered_at, acked_at, attempts, delivered_to, error";

fn from_row(r: &sqlx::any::AnyRow) -> StoreResult<QueuedCommand> {
    let delivered_at: Option<String> = r.try_get("delivered_at")?;
    Ok(QueuedCommand {
        seq: r.try_get("seq")?,
        machine_id: r.try_get("machine_id")?,
        partition_id: r.try_get("partition_id")?,
        command: {
            let c: String = r.try_get("command")?;
            c.parse().map_err(|_| {
                StoreError::Config(format!("stored BMC command {c:?} is not readable"))
            })?
        },
        firmware: {
            let f: String = r.try_get("firmware")?;
            match f.as_str() {
                "" => None,
                path => Some(FirmwareKey::from_path(path).ok_or_else(|| {
                    StoreError::Config(format!("stored firmware key {path:?} is not readable"))
                })?),
            }
        },
        reason: r.try_get("reason")?,
        created_at: r.try_get("created_at")?,
        delivered: delivered_at.is_some(),
        delivered_at,
        acked_at: r.try_get("acked_at")?,
        attempts: r.try_get::<i64, _>("attempts")?,
        delivered_to: r.try_get("delivered_to")?,
        error: r.try_get("error")?,
    })
}

/// Wakes the partition's streams in other replicas when the transaction commits (PostgreSQL).
pub async fn notify(
    conn: &mut AnyConnection,
    backend: Backend,
    partition_id: &str,
) -> StoreResult<()> {
    crate::notify::notify(
        conn,
        backend,
        crate::notify::Channel::BmcCommands,
        partition_id,
    )
    .await
}

/// Appends a command for the machine's BMC.
pub async fn enqueue(
    conn: &mut AnyConnection,
    machine_id: &MachineId,
    partition_id: &PartitionId,
    command: BmcCommand,
    reason: &str,
) -> StoreResult<()> {
    insert(conn, machine_id, partition_id, command, "", reason).await
}

/// Appends an `UPDATE-FIRMWARE` of the file `firmware` for the machine's BMC.
pub async fn enqueue_firmware(
    conn: &mut AnyConnection,
    machine_id: &MachineId,
    partition_id: &PartitionId,
    firmware: &FirmwareKey,
    reason: &str,
) -> StoreResult<()> {
    let path = firmware.path();
    let command = BmcCommand::UpdateFirmware;
    insert(conn, machine_id, partition_id, command, &path, reason).await
}

async fn insert(
    conn: &mut AnyConnection,
    machine_id: &MachineId,
    partition_id: &PartitionId,
    command: BmcCommand,
    firmware: &str,
    reason: &str,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO machine_commands (machine_id, partition_id, command, firmware, reason, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(machine_id.as_str())
    .bind(partition_id.as_str())
    .bind(command.as_str())
    .bind(firmware)
    .bind(reason)
    .bind(time::to_db(time::now()))
    .execute(conn)
    .await?;
    Ok(())
}

/// The commands of a partition not yet acknowledged, oldest first.
pub async fn pending(
    conn: &mut AnyConnection,
    partition_id: &str,
) -> StoreResult<Vec<QueuedCommand>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM machine_commands WHERE partition_id = $1 AND acked_at IS NULL ORDER BY seq"
    ))
    .bind(partition_id)
    .fetch_all(conn)
    .await?;
    rows.iter().map(from_row).collect()
}

/// A machine's commands for its IPMI view: every unacknowledged one, oldest first, then the
/// last `acked` acknowledged ones, newest first.
pub async fn of_machine(
    conn: &mut AnyConnection,
    machine_id: &str,
    acked: i64,
) -> StoreResult<Vec<QueuedCommand>> {
    let pending = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM machine_commands WHERE machine_id = $1 AND acked_at IS NULL ORDER BY seq"
    ))
    .bind(machine_id)
    .fetch_all(&mut *conn)
    .await?;
    let done = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM machine_commands WHERE machine_id = $1 AND acked_at IS NOT NULL \
         ORDER BY seq DESC LIMIT $2"
    ))
    .bind(machine_id)
    .bind(acked)
    .fetch_all(&mut *conn)
    .await?;
    pending.iter().chain(done.iter()).map(from_row).collect()
}

/// Number of unacknowledged commands per partition.
pub async fn backlog(conn: &mut AnyConnection) -> StoreResult<Vec<(String, i64)>> {
    let rows = sqlx::query(
        "SELECT partition_id, COUNT(*) AS n FROM machine_commands WHERE acked_at IS NULL GROUP BY partition_id ORDER BY partition_id",
    )
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("partition_id")?, r.try_get::<i64, _>("n")?)))
        .collect()
}

/// Claims up to `limit` deliverable commands of the partition for `agent`: marks them delivered
/// now and returns them, oldest first. Run it in its own short transaction.
pub async fn claim(
    conn: &mut AnyConnection,
    backend: Backend,
    partition_id: &str,
    agent: &str,
    now: DateTime<Utc>,
    redeliver_before: DateTime<Utc>,
    limit: i64,
) -> StoreResult<Vec<QueuedCommand>> {
    let lock = match backend {
        Backend::Postgres => " FOR UPDATE OF c SKIP LOCKED",
        _ => "",
    };
    // the oldest unacknowledged command of each machine, if it is deliverable
    let candidates = sqlx::query(&format!(
        "SELECT c.seq, c.delivered_at FROM machine_commands c \
         WHERE c.partition_id = $1 AND c.acked_at IS NULL \
           AND (c.delivered_at IS NULL OR c.delivered_at < $2) \
           AND NOT EXISTS (SELECT 1 FROM machine_commands p \
                           WHERE p.machine_id = c.machine_id AND p.acked_at IS NULL AND p.seq < c.seq) \
         ORDER BY c.seq LIMIT $3{lock}"
    ))
    .bind(partition_id)
    .bind(time::to_db(redeliver_before))
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?;
    let mut out = Vec::with_capacity(candidates.len());
    for r in &candidates {
        let seq: i64 = r.try_get("seq")?;
        let seen: Option<String> = r.try_get("delivered_at")?;
        // compare-and-set on the delivery we saw: a concurrent claim makes this a no-op
        let claimed = sqlx::query(&format!(
            "UPDATE machine_commands SET delivered_at = $1, delivered_to = $2, attempts = attempts + 1 \
             WHERE seq = $3 AND acked_at IS NULL AND {} RETURNING {COLUMNS}",
            if seen.is_some() { "delivered_at = $4" } else { "delivered_at IS NULL AND $4 = $4" }
        ))
        .bind(time::to_db(now))
        .bind(agent)
        .bind(seq)
        .bind(seen.unwrap_or_default())
        .fetch_optional(&mut *conn)
        .await?;
        if let Some(row) = claimed {
            out.push(from_row(&row)?);
        }
    }
    Ok(out)
}

/// Records the agent's acknowledgement. `false` if the command does not exist in that
/// partition or was acknowledged before (a duplicate ack changes nothing).
pub async fn ack(
    conn: &mut AnyConnection,
    partition_id: &str,
    seq: i64,
    error: &str,
    now: DateTime<Utc>,
) -> StoreResult<Option<QueuedCommand>> {
    let row = sqlx::query(&format!(
        "UPDATE machine_commands SET acked_at = $1, error = $2 \
         WHERE seq = $3 AND partition_id = $4 AND acked_at IS NULL RETURNING {COLUMNS}"
    ))
    .bind(time::to_db(now))
    .bind(error)
    .bind(seq)
    .bind(partition_id)
    .fetch_optional(conn)
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// Makes claimed but not acknowledged commands of the stream `holder` deliverable again (its
/// stream closed before they were handed out or acknowledged). Commands another stream claimed
/// meanwhile are left alone.
pub async fn unclaim(conn: &mut AnyConnection, holder: &str, seqs: &[i64]) -> StoreResult<()> {
    for seq in seqs {
        sqlx::query(
            "UPDATE machine_commands SET delivered_at = NULL \
             WHERE seq = $1 AND acked_at IS NULL AND delivered_to = $2",
        )
        .bind(seq)
        .bind(holder)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Makes every unacknowledged command the stream `holder` claimed deliverable again, in one
/// statement (the stream closed).
pub async fn release(conn: &mut AnyConnection, holder: &str) -> StoreResult<u64> {
    let done = sqlx::query(
        "UPDATE machine_commands SET delivered_at = NULL \
         WHERE delivered_to = $1 AND acked_at IS NULL AND delivered_at IS NOT NULL",
    )
    .bind(holder)
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}

/// The unacknowledged commands the stream `holder` claimed (its window in flight).
pub async fn held(conn: &mut AnyConnection, holder: &str) -> StoreResult<Vec<i64>> {
    let rows = sqlx::query(
        "SELECT seq FROM machine_commands WHERE delivered_to = $1 AND acked_at IS NULL AND delivered_at IS NOT NULL ORDER BY seq",
    )
    .bind(holder)
    .fetch_all(conn)
    .await?;
    rows.iter().map(|r| Ok(r.try_get("seq")?)).collect()
}
