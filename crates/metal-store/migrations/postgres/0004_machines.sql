-- Machines in full: the columns that allocation, search and the fleet jobs filter on, and the
-- provisioning event log of each machine (one document per machine, as metal-stack's `event`
-- table).

ALTER TABLE machines ADD COLUMN rack_id TEXT;
ALTER TABLE machines ADD COLUMN waiting TEXT;
ALTER TABLE machines ADD COLUMN state_value TEXT;
ALTER TABLE machines ADD COLUMN role TEXT;
CREATE INDEX machines_candidates ON machines (partition_id, size_id, waiting, state_value);

CREATE TABLE event_containers (
    id TEXT PRIMARY KEY,
    doc TEXT NOT NULL,
    revision BIGINT NOT NULL,
    created_at TEXT NOT NULL,
    changed_at TEXT NOT NULL,
    liveliness TEXT,
    last_event_time TEXT
);
CREATE INDEX event_containers_liveliness ON event_containers (liveliness);
