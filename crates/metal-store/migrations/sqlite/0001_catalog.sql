-- Catalog entities of the control plane. Every entity table has the same frame: the id, the
-- entity as a JSON document in its wire shape, a revision for optimistic concurrency, and the
-- creation and change times (RFC 3339, UTC, fixed width, so text order is time order). Columns
-- after these are copies of document fields that searches filter on, with an index.

CREATE TABLE images (
    id TEXT PRIMARY KEY,
    doc TEXT NOT NULL,
    revision BIGINT NOT NULL,
    created_at TEXT NOT NULL,
    changed_at TEXT NOT NULL,
    name TEXT,
    os TEXT,
    classification TEXT
);
CREATE INDEX images_os ON images (os);
CREATE INDEX images_name ON images (name);

CREATE TABLE sizes (
    id TEXT PRIMARY KEY,
    doc TEXT NOT NULL,
    revision BIGINT NOT NULL,
    created_at TEXT NOT NULL,
    changed_at TEXT NOT NULL,
    name TEXT
);

CREATE TABLE partitions (
    id TEXT PRIMARY KEY,
    doc TEXT NOT NULL,
    revision BIGINT NOT NULL,
    created_at TEXT NOT NULL,
    changed_at TEXT NOT NULL,
    name TEXT
);

CREATE TABLE filesystem_layouts (
    id TEXT PRIMARY KEY,
    doc TEXT NOT NULL,
    revision BIGINT NOT NULL,
    created_at TEXT NOT NULL,
    changed_at TEXT NOT NULL
);

CREATE TABLE size_image_constraints (
    id TEXT PRIMARY KEY,
    doc TEXT NOT NULL,
    revision BIGINT NOT NULL,
    created_at TEXT NOT NULL,
    changed_at TEXT NOT NULL
);

CREATE TABLE tenants (
    id TEXT PRIMARY KEY,
    doc TEXT NOT NULL,
    revision BIGINT NOT NULL,
    created_at TEXT NOT NULL,
    changed_at TEXT NOT NULL,
    name TEXT
);

CREATE TABLE projects (
    id TEXT PRIMARY KEY,
    doc TEXT NOT NULL,
    revision BIGINT NOT NULL,
    created_at TEXT NOT NULL,
    changed_at TEXT NOT NULL,
    name TEXT,
    tenant_id TEXT NOT NULL
);
CREATE INDEX projects_tenant ON projects (tenant_id);

-- Machines arrive with the machine lifecycle; the catalog already needs to know which
-- machines use an image, a size, a partition or a project (usage and delete checks).
CREATE TABLE machines (
    id TEXT PRIMARY KEY,
    doc TEXT NOT NULL,
    revision BIGINT NOT NULL,
    created_at TEXT NOT NULL,
    changed_at TEXT NOT NULL,
    partition_id TEXT,
    size_id TEXT,
    project_id TEXT,
    image_id TEXT
);
CREATE INDEX machines_partition ON machines (partition_id);
CREATE INDEX machines_size ON machines (size_id);
CREATE INDEX machines_project ON machines (project_id);
CREATE INDEX machines_image ON machines (image_id);

-- Audit trail: one row per mutating request, appended, never updated.
CREATE TABLE audit (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    rqid TEXT NOT NULL,
    ts TEXT NOT NULL,
    component TEXT NOT NULL,
    kind TEXT NOT NULL,
    username TEXT NOT NULL,
    tenant TEXT NOT NULL,
    project TEXT NOT NULL,
    detail TEXT NOT NULL,
    phase TEXT NOT NULL,
    path TEXT NOT NULL,
    forwarded_for TEXT NOT NULL,
    remote_addr TEXT NOT NULL,
    body TEXT NOT NULL,
    status_code INTEGER NOT NULL,
    error TEXT NOT NULL
);
CREATE INDEX audit_ts ON audit (ts);
CREATE INDEX audit_rqid ON audit (rqid);
