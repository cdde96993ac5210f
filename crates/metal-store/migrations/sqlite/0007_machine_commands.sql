-- Commands for the BMC agent of a partition (power, boot device, LED), queued durably in the
-- transaction that decides them; delivered and acknowledged by metal-bmc's command stream.
CREATE TABLE machine_commands (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    machine_id TEXT NOT NULL,
    partition_id TEXT NOT NULL,
    command TEXT NOT NULL,
    reason TEXT NOT NULL,
    created_at TEXT NOT NULL,
    delivered_at TEXT,
    acked_at TEXT
);
CREATE INDEX machine_commands_pending ON machine_commands (partition_id, acked_at, seq);
