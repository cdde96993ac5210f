-- IP address management. Networks are documents like the catalog; their prefixes, the IPs
-- allocated from them and the integer pools (VRF, ASN) have tables of their own, so that every
-- allocation is a few indexed statements inside the caller's transaction.
--
-- Addresses are kept as 32 hex digits (IPv4 zero-padded): text order is numeric order on both
-- backends, so ranges and "first free" searches are index range scans.

CREATE TABLE networks (
    id TEXT PRIMARY KEY,
    doc TEXT NOT NULL,
    revision BIGINT NOT NULL,
    created_at TEXT NOT NULL,
    changed_at TEXT NOT NULL,
    name TEXT,
    partition_id TEXT,
    project_id TEXT,
    parent_id TEXT,
    privatesuper TEXT,
    underlay TEXT,
    vrf TEXT
);
CREATE INDEX networks_partition ON networks (partition_id, privatesuper, underlay);
CREATE INDEX networks_project ON networks (project_id);
CREATE INDEX networks_parent ON networks (parent_id);
CREATE INDEX networks_vrf ON networks (vrf);

-- One row per prefix of a network. Top-level prefixes never overlap; a child prefix (of a
-- tenant network) lies inside its parent prefix. The row is the lock of its prefix: an
-- allocation first updates it, which serializes allocations in that prefix across connections
-- and replicas, and keeps its counters exact.
CREATE TABLE ipam_prefixes (
    cidr TEXT PRIMARY KEY,
    network_id TEXT NOT NULL,
    parent_cidr TEXT REFERENCES ipam_prefixes (cidr),
    family TEXT NOT NULL,
    first_hex TEXT NOT NULL,
    last_hex TEXT NOT NULL,
    -- every usable address below this offset (from the first usable address) is allocated
    ip_hint BIGINT NOT NULL,
    -- allocated addresses, counting the reserved ones (network, broadcast)
    used_ips BIGINT NOT NULL,
    -- addresses of the prefix (capped at 2^63-1 for large IPv6 prefixes)
    ip_capacity BIGINT NOT NULL,
    -- every address below this one lies in a child prefix
    child_hint_hex TEXT NOT NULL,
    child_count BIGINT NOT NULL,
    -- addresses covered by child prefixes (hex, as IPv6 sums exceed 64 bits)
    child_addresses_hex TEXT NOT NULL
);
CREATE INDEX ipam_prefixes_range ON ipam_prefixes (family, first_hex);
CREATE INDEX ipam_prefixes_parent ON ipam_prefixes (parent_cidr, first_hex);
CREATE INDEX ipam_prefixes_network ON ipam_prefixes (network_id);

CREATE TABLE ips (
    address TEXT PRIMARY KEY,
    addr_hex TEXT NOT NULL,
    family TEXT NOT NULL,
    prefix_cidr TEXT NOT NULL REFERENCES ipam_prefixes (cidr),
    network_id TEXT NOT NULL,
    project_id TEXT NOT NULL,
    allocation_uuid TEXT NOT NULL,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    doc TEXT NOT NULL,
    revision BIGINT NOT NULL,
    created_at TEXT NOT NULL,
    changed_at TEXT NOT NULL
);
CREATE UNIQUE INDEX ips_prefix_addr ON ips (prefix_cidr, addr_hex);
CREATE INDEX ips_network ON ips (network_id);
CREATE INDEX ips_project ON ips (project_id);
CREATE INDEX ips_uuid ON ips (allocation_uuid);
CREATE INDEX ips_hex ON ips (addr_hex);

CREATE TABLE ip_tags (
    address TEXT NOT NULL REFERENCES ips (address) ON DELETE CASCADE,
    tag TEXT NOT NULL,
    PRIMARY KEY (address, tag)
);
CREATE INDEX ip_tags_tag ON ip_tags (tag);

-- Integer pools hold the values in use (not, as metal-stack does, every free value).
CREATE TABLE integer_pools (
    pool TEXT NOT NULL,
    value BIGINT NOT NULL,
    PRIMARY KEY (pool, value)
);

-- Named locks for changes that must see every network at once (prefix overlap checks).
CREATE TABLE ipam_locks (
    name TEXT PRIMARY KEY,
    n BIGINT NOT NULL
);
INSERT INTO ipam_locks (name, n) VALUES ('topology', 0);
