-- Size reservations (metal-api v0.36+: their own entity): the document frame of 0001, with the
-- size and the project as indexed columns. The partition ids stay inside the document; an
-- allocation reads the few reservations of its size and filters them by partition.

CREATE TABLE size_reservations (
    id TEXT PRIMARY KEY,
    doc TEXT NOT NULL,
    revision BIGINT NOT NULL,
    created_at TEXT NOT NULL,
    changed_at TEXT NOT NULL,
    size_id TEXT NOT NULL,
    project_id TEXT NOT NULL
);
CREATE INDEX size_reservations_size ON size_reservations (size_id);
CREATE INDEX size_reservations_project ON size_reservations (project_id);
