-- Allocation candidates from indexes alone: the free machines of a partition and size by rack
-- (unallocated, waiting, not reserved or locked) and the machines whose event log says they are
-- alive. Counting the candidates per rack and claiming one read these two small indexes
-- (index-only) instead of every machine document and event log.

CREATE INDEX machines_free ON machines (partition_id, size_id, rack_id, id)
    WHERE project_id IS NULL AND waiting = 'true' AND state_value = '';
CREATE INDEX event_containers_alive ON event_containers (id) WHERE liveliness = 'Alive';
