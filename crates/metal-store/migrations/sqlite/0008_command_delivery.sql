-- Delivery bookkeeping of BMC commands: how often a command was handed to an agent stream,
-- to which agent, and the error it acknowledged (empty on success).
ALTER TABLE machine_commands ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE machine_commands ADD COLUMN delivered_to TEXT NOT NULL DEFAULT '';
ALTER TABLE machine_commands ADD COLUMN error TEXT NOT NULL DEFAULT '';
CREATE INDEX machine_commands_machine ON machine_commands (machine_id, seq);
