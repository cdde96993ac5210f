//! The queue of BMC commands per partition: appended in the transaction that decides them
//! (free, reinstall), so a command exists exactly when its cause was committed.

use sqlx::{AnyConnection, Row};

use crate::error::StoreResult;
use crate::time;

/// A queued command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedCommand {
    pub seq: i64,
    pub machine_id: String,
    pub partition_id: String,
    pub command: String,
    pub reason: String,
    pub delivered: bool,
}

/// Appends a command for the machine's BMC.
pub async fn enqueue(
    conn: &mut AnyConnection,
    machine_id: &str,
    partition_id: &str,
    command: &str,
    reason: &str,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO machine_commands (machine_id, partition_id, command, reason, created_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(machine_id)
    .bind(partition_id)
    .bind(command)
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
    let rows = sqlx::query(
        "SELECT seq, machine_id, partition_id, command, reason, delivered_at FROM machine_commands \
         WHERE partition_id = $1 AND acked_at IS NULL ORDER BY seq",
    )
    .bind(partition_id)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(QueuedCommand {
                seq: r.try_get("seq")?,
                machine_id: r.try_get("machine_id")?,
                partition_id: r.try_get("partition_id")?,
                command: r.try_get("command")?,
                reason: r.try_get("reason")?,
                delivered: r.try_get::<Option<String>, _>("delivered_at")?.is_some(),
            })
        })
        .collect()
}
