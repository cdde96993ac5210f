-- Switches: the leaf switches metal-core registers, each a document in its stored shape (ports
-- with their states, machine connections, sync status), in the frame of every entity table.
-- The copied columns are the fields of a switch search; a rack's switches are read together
-- when a switch is replaced and when a machine is connected to its leaf pair.

CREATE TABLE switches (
    id TEXT PRIMARY KEY,
    doc TEXT NOT NULL,
    revision BIGINT NOT NULL,
    created_at TEXT NOT NULL,
    changed_at TEXT NOT NULL,
    name TEXT,
    partition_id TEXT,
    rack_id TEXT,
    os_vendor TEXT,
    os_version TEXT
);
CREATE INDEX switches_partition_rack ON switches (partition_id, rack_id);
CREATE INDEX switches_rack ON switches (rack_id);
CREATE INDEX switches_name ON switches (name);
CREATE INDEX switches_os ON switches (os_vendor, os_version);
