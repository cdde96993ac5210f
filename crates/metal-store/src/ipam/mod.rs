//! IP address management in SQL: prefixes with their allocation counters, IPs, child prefixes
//! and integer pools (VRF, ASN), all inside the caller's transaction.
//!
//! Each prefix row is the lock of its prefix: [`lock_prefix`] updates it (a no-op write), which
//! makes concurrent allocations in the same prefix wait for each other on PostgreSQL, across
//! replicas, while allocations in other prefixes run in parallel; SQLite has one writer anyway.
//! A *hint* per prefix says below which address everything is taken, so finding the next free
//! address or child block is an index range scan from the hint, not a scan of the prefix.

use ipnet::IpNet;
use metal_domain::prefix::{self, AddressFamily};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use crate::error::{StoreError, StoreResult};

/// How many rows a free-slot search reads at a time.
const SCAN: i64 = 128;

/// A prefix with its allocation state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrefixState {
    pub cidr: IpNet,
    pub network_id: String,
    pub parent: Option<IpNet>,
    /// Offset from the first usable address below which every address is allocated.
    pub ip_hint: u64,
    pub used_ips: u64,
    pub child_hint: u128,
    pub child_count: u64,
    pub child_addresses: u128,
}

impl PrefixState {
    pub fn family(&self) -> AddressFamily {
        AddressFamily::of_net(&self.cidr)
    }

    /// The counters a network's usage is computed from.
    pub fn counters(&self) -> metal_domain::network::PrefixCounters {
        metal_domain::network::PrefixCounters {
            cidr: self.cidr,
            used_ips: self.used_ips,
            child_count: self.child_count,
            child_addresses: self.child_addresses,
        }
    }
}

const PREFIX_COLUMNS: &str = "cidr, network_id, parent_cidr, ip_hint, used_ips, child_hint_hex, child_count, child_addresses_hex";

fn corrupt(what: &str, v: &str) -> StoreError {
    StoreError::Config(format!("stored {what} {v:?} is not readable"))
}

fn hex_col(row: &AnyRow, col: &str) -> StoreResult<u128> {
    let s: String = row.try_get(col)?;
    prefix::from_hex(&s).ok_or_else(|| corrupt(col, &s))
}

fn net_col(s: &str) -> StoreResult<IpNet> {
    s.parse().map_err(|_| corrupt("prefix", s))
}

fn decode_prefix(row: &AnyRow) -> StoreResult<PrefixState> {
    let cidr: String = row.try_get("cidr")?;
    let parent: Option<String> = row.try_get("parent_cidr")?;
    Ok(PrefixState {
        cidr: net_col(&cidr)?,
        network_id: row.try_get("network_id")?,
        parent: parent.as_deref().map(net_col).transpose()?,
        ip_hint: row.try_get::<i64, _>("ip_hint")? as u64,
        used_ips: row.try_get::<i64, _>("used_ips")? as u64,
        child_hint: hex_col(row, "child_hint_hex")?,
        child_count: row.try_get::<i64, _>("child_count")? as u64,
        child_addresses: hex_col(row, "child_addresses_hex")?,
    })
}

/// Serializes changes that must see every prefix (overlap checks) until the transaction ends.
pub async fn lock_topology(conn: &mut AnyConnection) -> StoreResult<()> {
    sqlx::query("UPDATE ipam_locks SET n = n + 1 WHERE name = 'topology'")
        .execute(conn)
        .await?;
    Ok(())
}

/// Top-level prefixes (not cut from a parent) that share an address with `net`.
pub async fn overlapping(conn: &mut AnyConnection, net: &IpNet) -> StoreResult<Vec<PrefixState>> {
    let (first, last) = prefix::range(net);
    let sql = format!(
        "SELECT {PREFIX_COLUMNS} FROM ipam_prefixes WHERE parent_cidr IS NULL AND family = $1 \
         AND first_hex <= $2 AND last_hex >= $3 ORDER BY first_hex"
    );
    let rows = sqlx::query(&sql)
        .bind(AddressFamily::of_net(net).as_str())
        .bind(prefix::hex(last))
        .bind(prefix::hex(first))
        .fetch_all(conn)
        .await?;
    rows.iter().map(decode_prefix).collect()
}

/// The state of a prefix just inserted with [`insert_prefix`].
pub fn fresh_prefix(net: &IpNet, network_id: &str, parent: Option<&IpNet>) -> PrefixState {
    PrefixState {
        cidr: *net,
        network_id: network_id.to_string(),
        parent: parent.copied(),
        ip_hint: 0,
        used_ips: prefix::reserved_count(net),
        child_hint: prefix::range(net).0,
        child_count: 0,
        child_addresses: 0,
    }
}

/// Adds a prefix of a network (a child when `parent` is given; the parent's counters are the
/// caller's through [`acquire_child`]).
pub async fn insert_prefix(
    conn: &mut AnyConnection,
    net: &IpNet,
    network_id: &str,
    parent: Option<&IpNet>,
) -> StoreResult<()> {
    let (first, last) = prefix::range(net);
    let capacity = prefix::size(net).min(i64::MAX as u128) as i64;
    let res = sqlx::query(
        "INSERT INTO ipam_prefixes (cidr, network_id, parent_cidr, family, first_hex, last_hex, \
         ip_hint, used_ips, ip_capacity, child_hint_hex, child_count, child_addresses_hex) \
         VALUES ($1, $2, $3, $4, $5, $6, 0, $7, $8, $5, 0, $9)",
    )
    .bind(net.to_string())
    .bind(network_id)
    .bind(parent.map(ToString::to_string))
    .bind(AddressFamily::of_net(net).as_str())
    .bind(prefix::hex(first))
    .bind(prefix::hex(last))
    .bind(prefix::reserved_count(net) as i64)
    .bind(capacity)
    .bind(prefix::hex(0))
    .execute(conn)
    .await;
    match res {
        Ok(_) => Ok(()),
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Err(StoreError::Conflict(
            format!("prefix {net} already belongs to a network"),
        )),
        Err(e) => Err(e.into()),
    }
}

/// Locks a prefix for the rest of the transaction and reads its state.
pub async fn lock_prefix(
    conn: &mut AnyConnection,
    cidr: &IpNet,
) -> StoreResult<Option<PrefixState>> {
    let sql = format!(
        "UPDATE ipam_prefixes SET used_ips = used_ips WHERE cidr = $1 RETURNING {PREFIX_COLUMNS}"
    );
    let row = sqlx::query(&sql)
        .bind(cidr.to_string())
        .fetch_optional(conn)
        .await?;
    row.as_ref().map(decode_prefix).transpose()
}

/// The prefixes of a network, by address.
pub async fn prefixes_of(
    conn: &mut AnyConnection,
    network_id: &str,
) -> StoreResult<Vec<PrefixState>> {
    let sql = format!(
        "SELECT {PREFIX_COLUMNS} FROM ipam_prefixes WHERE network_id = $1 ORDER BY family, first_hex"
    );
    let rows = sqlx::query(&sql).bind(network_id).fetch_all(conn).await?;
    rows.iter().map(decode_prefix).collect()
}

/// Every prefix, for usage of many networks at once.
pub async fn all_prefixes(conn: &mut AnyConnection) -> StoreResult<Vec<PrefixState>> {
    let sql = format!("SELECT {PREFIX_COLUMNS} FROM ipam_prefixes ORDER BY family, first_hex");
    let rows = sqlx::query(&sql).fetch_all(conn).await?;
    rows.iter().map(decode_prefix).collect()
}

/// Counts the IPs allocated in a prefix and the child prefixes cut from it.
pub async fn prefix_occupancy(conn: &mut AnyConnection, cidr: &IpNet) -> StoreResult<(i64, i64)> {
    let c = cidr.to_string();
    let ips: i64 = sqlx::query("SELECT count(*) AS n FROM ips WHERE prefix_cidr = $1")
        .bind(&c)
        .fetch_one(&mut *conn)
        .await?
        .try_get("n")?;
    let children: i64 =
        sqlx::query("SELECT count(*) AS n FROM ipam_prefixes WHERE parent_cidr = $1")
            .bind(&c)
            .fetch_one(conn)
            .await?
            .try_get("n")?;
    Ok((ips, children))
}

/// Removes a prefix that holds no IPs and no children; a child gives its block back to its
/// parent.
pub async fn delete_prefix(conn: &mut AnyConnection, p: &PrefixState) -> StoreResult<()> {
    if let Some(parent) = &p.parent {
        let parent_state = lock_prefix(conn, parent)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("parent prefix {parent} not found")))?;
        let (first, last) = prefix::range(&p.cidr);
        let size = last - first + 1;
        sqlx::query(
            "UPDATE ipam_prefixes SET child_hint_hex = $2, child_count = child_count - 1, \
             child_addresses_hex = $3 WHERE cidr = $1",
        )
        .bind(parent.to_string())
        .bind(prefix::hex(parent_state.child_hint.min(first)))
        .bind(prefix::hex(
            parent_state.child_addresses.saturating_sub(size),
        ))
        .execute(&mut *conn)
        .await?;
    }
    sqlx::query("DELETE FROM ipam_prefixes WHERE cidr = $1")
        .bind(p.cidr.to_string())
        .execute(conn)
        .await?;
    Ok(())
}

mod children;
mod ips;
mod pools;

pub use children::{acquire_child, acquire_children, insert_child_prefixes};
pub use ips::{
    allocate_next_ip, allocate_next_ips, claim_ip, count_ips_of_project, find_ips, get_ip,
    release_ip, update_ip, ClaimError, IpFilter,
};
pub use pools::{acquire_int, acquire_int_exact, int_pool_used, release_int};
