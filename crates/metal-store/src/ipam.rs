//! IP address management in SQL: prefixes with their allocation counters, IPs, child prefixes
//! and integer pools (VRF, ASN), all inside the caller's transaction.
//!
//! Each prefix row is the lock of its prefix: [`lock_prefix`] updates it (a no-op write), which
//! makes concurrent allocations in the same prefix wait for each other on PostgreSQL, across
//! replicas, while allocations in other prefixes run in parallel; SQLite has one writer anyway.
//! A *hint* per prefix says below which address everything is taken, so finding the next free
//! address or child block is an index range scan from the hint, not a scan of the prefix.

use ipnet::IpNet;
use metal_domain::ip::Ip;
use metal_domain::prefix::{self, AddressFamily};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use crate::docs::{self, Stored};
use crate::error::{StoreError, StoreResult};
use crate::time;

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

/// The first address at or above `from` that no IP of the prefix holds.
async fn first_free_ip(
    conn: &mut AnyConnection,
    cidr: &str,
    from: u128,
    last: u128,
) -> StoreResult<Option<u128>> {
    Ok(collect_free(conn, cidr, from, last, 1)
        .await?
        .into_iter()
        .next())
}

fn offset_of(first_usable: u128, addr: u128) -> i64 {
    (addr - first_usable).min(i64::MAX as u128) as i64
}

/// Claims the next free address of a network (of `family`, else of the first family that has
/// one) and stores `ip` there, all in the caller's transaction. The claim is one statement that
/// picks a prefix with room, locks it and advances its hint; the insert then normally succeeds
/// at once (an address taken out of order by [`claim_ip`] makes it search from the hint).
/// Prefixes split into child networks give no IPs. `None` when the network is full.
pub async fn allocate_next_ip(
    conn: &mut AnyConnection,
    network_id: &str,
    family: Option<AddressFamily>,
    ip: &mut Ip,
) -> StoreResult<Option<IpNet>> {
    let family = family.map(|f| f.as_str()).unwrap_or("");
    let sql = format!(
        "UPDATE ipam_prefixes SET used_ips = used_ips + 1, ip_hint = ip_hint + 1 \
         WHERE cidr = (SELECT cidr FROM ipam_prefixes WHERE network_id = $1 AND ($2 = '' OR family = $2) \
                       AND child_count = 0 AND used_ips < ip_capacity ORDER BY family, first_hex LIMIT 1) \
           AND child_count = 0 AND used_ips < ip_capacity \
         RETURNING {PREFIX_COLUMNS}"
    );
    // A concurrent claim may fill the chosen prefix between choosing and locking it: retry.
    for _ in 0..8 {
        let row = sqlx::query(&sql)
            .bind(network_id)
            .bind(family)
            .fetch_optional(&mut *conn)
            .await?;
        let Some(row) = row else {
            let room = sqlx::query(
                "SELECT 1 AS x FROM ipam_prefixes WHERE network_id = $1 AND ($2 = '' OR family = $2) \
                 AND child_count = 0 AND used_ips < ip_capacity LIMIT 1",
            )
            .bind(network_id)
            .bind(family)
            .fetch_optional(&mut *conn)
            .await?;
            if room.is_none() {
                return Ok(None);
            }
            continue;
        };
        let p = decode_prefix(&row)?;
        let Some((first_usable, last_usable)) = prefix::usable_range(&p.cidr) else {
            continue;
        };
        // the hint before this claim
        let claimed = first_usable + u128::from(p.ip_hint - 1);
        let fam = p.family();
        ip.ipaddress = prefix::from_u128(fam, claimed).to_string();
        if claimed <= last_usable && insert_ip(conn, ip, &p.cidr).await? {
            return Ok(Some(p.cidr));
        }
        // taken out of order: the first free address above it (one exists: used < capacity)
        let cidr = p.cidr.to_string();
        let free = first_free_ip(conn, &cidr, claimed + 1, last_usable)
            .await?
            .ok_or_else(|| {
                StoreError::Config(format!(
                    "prefix {cidr}: counters say free, addresses say full"
                ))
            })?;
        ip.ipaddress = prefix::from_u128(fam, free).to_string();
        if !insert_ip(conn, ip, &p.cidr).await? {
            return Err(StoreError::Conflict(format!(
                "ip {} is already allocated",
                ip.ipaddress
            )));
        }
        sqlx::query("UPDATE ipam_prefixes SET ip_hint = $2 WHERE cidr = $1")
            .bind(&cidr)
            .bind(offset_of(first_usable, free) + 1)
            .execute(&mut *conn)
            .await?;
        return Ok(Some(p.cidr));
    }
    Err(StoreError::Conflict(format!(
        "network {network_id}: too many concurrent allocations, please retry"
    )))
}

/// Up to `k` free addresses of a prefix at or above `from` (and at most `last`), in order.
async fn collect_free(
    conn: &mut AnyConnection,
    cidr: &str,
    mut from: u128,
    last: u128,
    k: usize,
) -> StoreResult<Vec<u128>> {
    let mut out = Vec::with_capacity(k);
    while out.len() < k && from <= last {
        let rows = sqlx::query(
            "SELECT addr_hex FROM ips WHERE prefix_cidr = $1 AND addr_hex >= $2 ORDER BY addr_hex LIMIT $3",
        )
        .bind(cidr)
        .bind(prefix::hex(from))
        .bind(SCAN)
        .fetch_all(&mut *conn)
        .await?;
        let full_page = rows.len() as i64 == SCAN;
        for r in &rows {
            let used = hex_col(r, "addr_hex")?;
            while from < used && from <= last && out.len() < k {
                out.push(from);
                from += 1;
            }
            if out.len() == k {
                return Ok(out);
            }
            from = used + 1;
        }
        if !full_page {
            while from <= last && out.len() < k {
                out.push(from);
                from += 1;
            }
        }
    }
    Ok(out)
}

/// Allocates the next free addresses of a network for all of `ips` at once (group
/// allocation: one lock, one search, one insert per prefix for the whole group). Fills the
/// addresses of the first `n` and returns `n`; fewer than `ips.len()` when the network ran full.
pub async fn allocate_next_ips(
    conn: &mut AnyConnection,
    network_id: &str,
    family: Option<AddressFamily>,
    ips: &mut [Ip],
) -> StoreResult<usize> {
    let fam = family.map(|f| f.as_str()).unwrap_or("");
    let lock_sql = format!(
        "UPDATE ipam_prefixes SET used_ips = used_ips \
         WHERE cidr = (SELECT cidr FROM ipam_prefixes WHERE network_id = $1 AND ($2 = '' OR family = $2) \
                       AND child_count = 0 AND used_ips < ip_capacity ORDER BY family, first_hex LIMIT 1) \
           AND child_count = 0 AND used_ips < ip_capacity \
         RETURNING {PREFIX_COLUMNS}, ip_capacity"
    );
    let mut done = 0;
    let mut races = 0;
    while done < ips.len() {
        let Some(row) = sqlx::query(&lock_sql)
            .bind(network_id)
            .bind(fam)
            .fetch_optional(&mut *conn)
            .await?
        else {
            let room = sqlx::query(
                "SELECT 1 AS x FROM ipam_prefixes WHERE network_id = $1 AND ($2 = '' OR family = $2) \
                 AND child_count = 0 AND used_ips < ip_capacity LIMIT 1",
            )
            .bind(network_id)
            .bind(fam)
            .fetch_optional(&mut *conn)
            .await?;
            races += 1;
            if room.is_none() || races > 8 {
                break;
            }
            continue;
        };
        let p = decode_prefix(&row)?;
        let capacity: i64 = row.try_get("ip_capacity")?;
        let Some((first_usable, last_usable)) = prefix::usable_range(&p.cidr) else {
            break;
        };
        let room = (capacity as u64).saturating_sub(p.used_ips) as usize;
        let want = (ips.len() - done).min(room);
        let cidr = p.cidr.to_string();
        let free = collect_free(
            conn,
            &cidr,
            first_usable + u128::from(p.ip_hint),
            last_usable,
            want,
        )
        .await?;
        let Some(last_taken) = free.last().copied() else {
            return Err(StoreError::Config(format!(
                "prefix {cidr}: counters say free, addresses say full"
            )));
        };
        let group = &mut ips[done..done + free.len()];
        for (ip, a) in group.iter_mut().zip(&free) {
            ip.ipaddress = prefix::from_u128(p.family(), *a).to_string();
        }
        insert_ips(conn, group, &p.cidr).await?;
        sqlx::query(
            "UPDATE ipam_prefixes SET used_ips = used_ips + $2, ip_hint = $3 WHERE cidr = $1",
        )
        .bind(&cidr)
        .bind(free.len() as i64)
        .bind(offset_of(first_usable, last_taken) + 1)
        .execute(&mut *conn)
        .await?;
        done += free.len();
    }
    Ok(done)
}

/// Inserts several IPs of one prefix and their tags, two statements in all; the addresses
/// must be free (the prefix is locked by the caller).
async fn insert_ips(
    conn: &mut AnyConnection,
    ips: &mut [Ip],
    prefix_cidr: &IpNet,
) -> StoreResult<()> {
    const COLS: usize = 12;
    let now = time::now();
    let mut sql = String::from(
        "INSERT INTO ips (address, addr_hex, family, prefix_cidr, network_id, project_id, allocation_uuid, \
         name, kind, doc, revision, created_at, changed_at) VALUES ",
    );
    sql.push_str(&docs::values_rows(ips.len(), COLS, 10, "1"));
    let mut q = sqlx::query(&sql);
    let mut tags: Vec<(String, String)> = Vec::new();
    for ip in ips.iter_mut() {
        let addr = prefix::parse_ip("ipaddress", &ip.ipaddress)
            .map_err(|e| StoreError::Config(e.to_string()))?;
        ip.ipaddress = addr.to_string();
        ip.created = Some(now);
        ip.changed = Some(now);
        let doc = serde_json::to_string(&*ip).map_err(|source| StoreError::Corrupt {
            kind: "ip",
            id: ip.ipaddress.clone(),
            source,
        })?;
        tags.extend(ip.tags.iter().map(|t| (ip.ipaddress.clone(), t.clone())));
        q = q
            .bind(ip.ipaddress.clone())
            .bind(prefix::hex(prefix::to_u128(&addr)))
            .bind(AddressFamily::of(&addr).as_str())
            .bind(prefix_cidr.to_string())
            .bind(ip.networkid.clone())
            .bind(ip.projectid.clone())
            .bind(ip.allocationuuid.clone())
            .bind(ip.name.clone())
            .bind(ip.kind.as_str())
            .bind(doc)
            .bind(time::to_db(now))
            .bind(time::to_db(now));
    }
    q.execute(&mut *conn).await.map_err(|e| match e {
        sqlx::Error::Database(d) if d.is_unique_violation() => StoreError::Conflict(format!(
            "an address of prefix {prefix_cidr} was taken meanwhile"
        )),
        e => e.into(),
    })?;
    insert_tag_rows(conn, tags).await
}

/// Inserts (address, tag) rows in one statement.
async fn insert_tag_rows(conn: &mut AnyConnection, tags: Vec<(String, String)>) -> StoreResult<()> {
    if tags.is_empty() {
        return Ok(());
    }
    let sql = format!(
        "INSERT INTO ip_tags (address, tag) VALUES {}",
        docs::values_rows(tags.len(), 2, 2, "")
    );
    let mut q = sqlx::query(&sql);
    for (a, t) in tags {
        q = q.bind(a).bind(t);
    }
    q.execute(conn).await?;
    Ok(())
}

/// Why a given address could not be allocated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimError {
    /// Someone holds it.
    Taken,
    /// The prefix keeps it back (network, broadcast, subnet-router anycast).
    Reserved,
    /// The prefix is split into child networks.
    Split,
}

/// Stores `ip` at its own (given) address in the locked-by-this-call prefix `cidr`.
pub async fn claim_ip(
    conn: &mut AnyConnection,
    cidr: &IpNet,
    ip: &mut Ip,
) -> StoreResult<Result<(), ClaimError>> {
    let addr = prefix::parse_ip("ipaddress", &ip.ipaddress)
        .map_err(|e| StoreError::Config(e.to_string()))?;
    let a = prefix::to_u128(&addr);
    let Some((first_usable, last_usable)) =
        prefix::usable_range(cidr).filter(|(f, l)| a >= *f && a <= *l)
    else {
        return Ok(Err(ClaimError::Reserved));
    };
    let _ = last_usable;
    let sql = format!(
        "UPDATE ipam_prefixes SET used_ips = used_ips + 1, \
         ip_hint = CASE WHEN ip_hint = $2 THEN ip_hint + 1 ELSE ip_hint END \
         WHERE cidr = $1 RETURNING {PREFIX_COLUMNS}"
    );
    let row = sqlx::query(&sql)
        .bind(cidr.to_string())
        .bind(offset_of(first_usable, a))
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("prefix {cidr} not found")))?;
    if decode_prefix(&row)?.child_count > 0 {
        return Ok(Err(ClaimError::Split));
    }
    if insert_ip(conn, ip, cidr).await? {
        Ok(Ok(()))
    } else {
        Ok(Err(ClaimError::Taken))
    }
}

/// Stores an IP in `prefix_cidr` with its tags; `false` when its address is taken.
async fn insert_ip(
    conn: &mut AnyConnection,
    ip: &mut Ip,
    prefix_cidr: &IpNet,
) -> StoreResult<bool> {
    let addr = prefix::parse_ip("ipaddress", &ip.ipaddress)
        .map_err(|e| StoreError::Config(e.to_string()))?;
    let now = time::now();
    ip.ipaddress = addr.to_string();
    ip.created = Some(now);
    ip.changed = Some(now);
    let doc = serde_json::to_string(ip).map_err(|source| StoreError::Corrupt {
        kind: "ip",
        id: ip.ipaddress.clone(),
        source,
    })?;
    let inserted = sqlx::query(
        "INSERT INTO ips (address, addr_hex, family, prefix_cidr, network_id, project_id, allocation_uuid, \
         name, kind, doc, revision, created_at, changed_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 1, $11, $11) ON CONFLICT DO NOTHING RETURNING address",
    )
    .bind(&ip.ipaddress)
    .bind(prefix::hex(prefix::to_u128(&addr)))
    .bind(AddressFamily::of(&addr).as_str())
    .bind(prefix_cidr.to_string())
    .bind(&ip.networkid)
    .bind(&ip.projectid)
    .bind(&ip.allocationuuid)
    .bind(&ip.name)
    .bind(ip.kind.as_str())
    .bind(doc)
    .bind(time::to_db(now))
    .fetch_optional(&mut *conn)
    .await?
    .is_some();
    if inserted && !ip.tags.is_empty() {
        insert_tags(conn, &ip.ipaddress, &ip.tags).await?;
    }
    Ok(inserted)
}

async fn insert_tags(conn: &mut AnyConnection, address: &str, tags: &[String]) -> StoreResult<()> {
    let pairs: Vec<(String, String)> = tags
        .iter()
        .map(|t| (address.to_string(), t.clone()))
        .collect();
    insert_tag_rows(conn, pairs).await
}

async fn write_tags(conn: &mut AnyConnection, address: &str, tags: &[String]) -> StoreResult<()> {
    sqlx::query("DELETE FROM ip_tags WHERE address = $1")
        .bind(address)
        .execute(&mut *conn)
        .await?;
    if !tags.is_empty() {
        insert_tags(conn, address, tags).await?;
    }
    Ok(())
}

fn decode_ip(row: &AnyRow) -> StoreResult<Stored<Ip>> {
    let doc: String = row.try_get("doc")?;
    let value = serde_json::from_str(&doc).map_err(|source| StoreError::Corrupt {
        kind: "ip",
        id: row.try_get::<String, _>("address").unwrap_or_default(),
        source,
    })?;
    Ok(Stored {
        value,
        revision: row.try_get("revision")?,
    })
}

/// One IP by address.
pub async fn get_ip(conn: &mut AnyConnection, address: &str) -> StoreResult<Option<Stored<Ip>>> {
    let row = sqlx::query("SELECT address, doc, revision FROM ips WHERE address = $1")
        .bind(address)
        .fetch_optional(conn)
        .await?;
    row.as_ref().map(decode_ip).transpose()
}

/// Rewrites an IP if it is still at `revision`.
pub async fn update_ip(conn: &mut AnyConnection, ip: &mut Ip, revision: i64) -> StoreResult<()> {
    ip.changed = Some(time::now());
    let done = sqlx::query(
        "UPDATE ips SET doc = $1, name = $2, kind = $3, revision = revision + 1, changed_at = $4 \
         WHERE address = $5 AND revision = $6",
    )
    .bind(
        serde_json::to_string(ip).map_err(|source| StoreError::Corrupt {
            kind: "ip",
            id: ip.ipaddress.clone(),
            source,
        })?,
    )
    .bind(&ip.name)
    .bind(ip.kind.as_str())
    .bind(time::to_db(ip.changed.unwrap_or_else(time::now)))
    .bind(&ip.ipaddress)
    .bind(revision)
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() != 1 {
        return Err(StoreError::Conflict(format!(
            "ip {} was changed by another request, please retry",
            ip.ipaddress
        )));
    }
    write_tags(conn, &ip.ipaddress, &ip.tags).await
}

/// Deletes an IP and gives its address back to its prefix. The prefix row is locked before the
/// IP row is touched, in the same order as allocations take them.
pub async fn release_ip(conn: &mut AnyConnection, address: &str) -> StoreResult<bool> {
    let Some(row) = sqlx::query("SELECT prefix_cidr, addr_hex FROM ips WHERE address = $1")
        .bind(address)
        .fetch_optional(&mut *conn)
        .await?
    else {
        return Ok(false);
    };
    let cidr: String = row.try_get("prefix_cidr")?;
    let addr = hex_col(&row, "addr_hex")?;
    let net = net_col(&cidr)?;
    let first_usable = prefix::usable_range(&net)
        .map(|(f, _)| f)
        .unwrap_or(addr)
        .min(addr);
    let off = offset_of(first_usable, addr);
    sqlx::query(
        "UPDATE ipam_prefixes SET used_ips = used_ips - 1, \
         ip_hint = CASE WHEN ip_hint > $2 THEN $2 ELSE ip_hint END WHERE cidr = $1",
    )
    .bind(&cidr)
    .bind(off)
    .execute(&mut *conn)
    .await?;
    let done = sqlx::query("DELETE FROM ips WHERE address = $1")
        .bind(address)
        .execute(conn)
        .await?;
    if done.rows_affected() != 1 {
        return Err(StoreError::Conflict(format!(
            "ip {address} was freed by another request"
        )));
    }
    Ok(true)
}

/// Search filters for IPs; each given one must hold.
#[derive(Debug, Clone, Default)]
pub struct IpFilter {
    pub address: Option<String>,
    pub allocation_uuid: Option<String>,
    pub name: Option<String>,
    pub network_id: Option<String>,
    pub project_id: Option<String>,
    pub kind: Option<String>,
    pub family: Option<AddressFamily>,
    /// Only IPs inside this prefix.
    pub within: Option<IpNet>,
    /// Every one of these tags.
    pub tags: Vec<String>,
}

/// IPs matching a filter, by address.
pub async fn find_ips(conn: &mut AnyConnection, f: &IpFilter) -> StoreResult<Vec<Ip>> {
    let mut conds: Vec<String> = Vec::new();
    let mut args: Vec<String> = Vec::new();
    let mut eq = |col: &str, v: &Option<String>| {
        if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
            args.push(v.to_string());
            conds.push(format!("{col} = ${}", args.len()));
        }
    };
    eq("address", &f.address);
    eq("allocation_uuid", &f.allocation_uuid);
    eq("name", &f.name);
    eq("network_id", &f.network_id);
    eq("project_id", &f.project_id);
    eq("kind", &f.kind);
    eq("family", &f.family.map(|a| a.as_str().to_string()));
    if let Some(net) = &f.within {
        let (first, last) = prefix::range(net);
        args.push(AddressFamily::of_net(net).as_str().into());
        conds.push(format!("family = ${}", args.len()));
        args.push(prefix::hex(first));
        conds.push(format!("addr_hex >= ${}", args.len()));
        args.push(prefix::hex(last));
        conds.push(format!("addr_hex <= ${}", args.len()));
    }
    for t in &f.tags {
        args.push(t.clone());
        conds.push(format!(
            "EXISTS (SELECT 1 FROM ip_tags t WHERE t.address = ips.address AND t.tag = ${})",
            args.len()
        ));
    }
    let mut sql = String::from("SELECT address, doc, revision FROM ips");
    if !conds.is_empty() {
        sql.push_str(" WHERE ");
        sql.push_str(&conds.join(" AND "));
    }
    sql.push_str(" ORDER BY family, addr_hex");
    let mut q = sqlx::query(&sql);
    for a in args {
        q = q.bind(a);
    }
    let rows = q.fetch_all(conn).await?;
    rows.iter().map(|r| decode_ip(r).map(|s| s.value)).collect()
}

fn align_up(v: u128, block: u128) -> Option<u128> {
    let rem = v % block;
    if rem == 0 {
        Some(v)
    } else {
        v.checked_add(block - rem)
    }
}

/// Cuts the first free child block of length `len` from a locked parent prefix and counts it;
/// the caller then stores the child with [`insert_prefix`]. `None` when no block is left.
pub async fn acquire_child(
    conn: &mut AnyConnection,
    parent: &PrefixState,
    len: u8,
) -> StoreResult<Option<IpNet>> {
    Ok(acquire_children(conn, parent, len, 1)
        .await?
        .into_iter()
        .next())
}

async fn children_from(
    conn: &mut AnyConnection,
    parent: &str,
    from: u128,
) -> StoreResult<(std::collections::VecDeque<(u128, u128)>, bool)> {
    let rows = sqlx::query(
        "SELECT first_hex, last_hex FROM ipam_prefixes WHERE parent_cidr = $1 AND last_hex >= $2 \
         ORDER BY first_hex LIMIT $3",
    )
    .bind(parent)
    .bind(prefix::hex(from))
    .bind(SCAN)
    .fetch_all(conn)
    .await?;
    let full = rows.len() as i64 == SCAN;
    let page = rows
        .iter()
        .map(|r| Ok((hex_col(r, "first_hex")?, hex_col(r, "last_hex")?)))
        .collect::<StoreResult<_>>()?;
    Ok((page, full))
}

/// Cuts up to `k` free child blocks of length `len` from a locked parent prefix, lowest first,
/// and counts them; the caller stores them with [`insert_prefix`]. Fewer than `k` when the
/// parent runs out.
///
/// Children never overlap, so walking the candidates against the children ordered by address
/// (read a page at a time from the parent's hint) finds every free block in one pass. The hint
/// moves past the run of covered space that starts at it, so later searches skip it.
pub async fn acquire_children(
    conn: &mut AnyConnection,
    parent: &PrefixState,
    len: u8,
    k: usize,
) -> StoreResult<Vec<IpNet>> {
    let family = parent.family();
    if len <= parent.cidr.prefix_len() || len > family.bits() || k == 0 {
        return Ok(Vec::new());
    }
    let (pfirst, plast) = prefix::range(&parent.cidr);
    let block = 1u128 << (u32::from(family.bits()) - u32::from(len));
    let pc = parent.cidr.to_string();
    // IPs in the parent itself (besides its reserved addresses) block blocks too
    let parent_has_ips = parent.used_ips > prefix::reserved_count(&parent.cidr);
    let start = parent.child_hint.max(pfirst);
    let mut covered = start;
    let mut out: Vec<u128> = Vec::new();
    let Some(mut cand) = align_up(start, block) else {
        return Ok(Vec::new());
    };
    let (mut page, mut page_full) = children_from(conn, &pc, start).await?;
    while out.len() < k {
        let Some(cand_last) = cand.checked_add(block - 1).filter(|l| *l <= plast) else {
            break;
        };
        while let Some(&(f, l)) = page.front() {
            if l >= cand {
                break;
            }
            if f <= covered {
                covered = covered.max(l + 1);
            }
            page.pop_front();
        }
        if page.is_empty() && page_full {
            (page, page_full) = children_from(conn, &pc, cand).await?;
            continue;
        }
        if let Some(&(f, l)) = page.front() {
            if f <= cand_last {
                if f <= covered {
                    covered = covered.max(l + 1);
                }
                page.pop_front();
                match l.checked_add(1).and_then(|n| align_up(n, block)) {
                    Some(next) => {
                        cand = next;
                        continue;
                    }
                    None => break,
                }
            }
        }
        if parent_has_ips {
            let ip = sqlx::query(
                "SELECT addr_hex FROM ips WHERE prefix_cidr = $1 AND addr_hex >= $2 AND addr_hex <= $3 \
                 ORDER BY addr_hex DESC LIMIT 1",
            )
            .bind(&pc)
            .bind(prefix::hex(cand))
            .bind(prefix::hex(cand_last))
            .fetch_optional(&mut *conn)
            .await?;
            if let Some(r) = ip {
                match hex_col(&r, "addr_hex")?
                    .checked_add(1)
                    .and_then(|n| align_up(n, block))
                {
                    Some(next) => {
                        cand = next;
                        continue;
                    }
                    None => break,
                }
            }
        }
        out.push(cand);
        if cand == covered {
            covered = cand_last.saturating_add(1);
        }
        match cand_last.checked_add(1) {
            Some(n) => cand = n,
            None => break,
        }
    }
    if out.is_empty() && covered == start {
        return Ok(Vec::new());
    }
    let n = out.len() as u128;
    sqlx::query(
        "UPDATE ipam_prefixes SET child_hint_hex = $2, child_count = child_count + $3, \
         child_addresses_hex = $4 WHERE cidr = $1",
    )
    .bind(&pc)
    .bind(prefix::hex(covered))
    .bind(out.len() as i64)
    .bind(prefix::hex(
        parent.child_addresses.saturating_add(n * block),
    ))
    .execute(conn)
    .await?;
    out.into_iter()
        .map(|c| prefix::net_from(family, c, len).map_err(|e| StoreError::Config(e.to_string())))
        .collect()
}

/// Inserts several child prefixes of networks at once (one statement).
pub async fn insert_child_prefixes(
    conn: &mut AnyConnection,
    children: &[(IpNet, String, IpNet)],
) -> StoreResult<()> {
    if children.is_empty() {
        return Ok(());
    }
    let fixed = format!("0, 0, '{}'", prefix::hex(0));
    let sql = format!(
        "INSERT INTO ipam_prefixes (cidr, network_id, parent_cidr, family, first_hex, last_hex, \
         used_ips, ip_capacity, child_hint_hex, ip_hint, child_count, child_addresses_hex) VALUES {}",
        docs::values_rows(children.len(), 9, 9, &fixed)
    );
    let mut q = sqlx::query(&sql);
    for (net, network_id, parent) in children {
        let (first, last) = prefix::range(net);
        q = q
            .bind(net.to_string())
            .bind(network_id.clone())
            .bind(parent.to_string())
            .bind(AddressFamily::of_net(net).as_str())
            .bind(prefix::hex(first))
            .bind(prefix::hex(last))
            .bind(prefix::reserved_count(net) as i64)
            .bind(prefix::size(net).min(i64::MAX as u128) as i64)
            .bind(prefix::hex(first));
    }
    q.execute(conn).await.map_err(|e| match e {
        sqlx::Error::Database(d) if d.is_unique_violation() => {
            StoreError::Conflict("a child prefix was taken meanwhile".into())
        }
        e => e.into(),
    })?;
    Ok(())
}

/// Takes a value of an integer pool: `preferred` if free, else the next free one above it,
/// wrapping to `min`. `None` when every value of `[min, max]` is taken.
pub async fn acquire_int(
    conn: &mut AnyConnection,
    pool: &str,
    min: u64,
    max: u64,
    preferred: u64,
) -> StoreResult<Option<u64>> {
    let preferred = preferred.clamp(min, max);
    if acquire_int_exact(conn, pool, preferred).await? {
        return Ok(Some(preferred));
    }
    for (from, to) in [(preferred, max), (min, preferred.saturating_sub(1))] {
        if from > to {
            continue;
        }
        let mut cand = from;
        loop {
            if cand > to {
                break;
            }
            let rows = sqlx::query(
                "SELECT value FROM integer_pools WHERE pool = $1 AND value >= $2 AND value <= $3 ORDER BY value LIMIT $4",
            )
            .bind(pool)
            .bind(cand as i64)
            .bind(to as i64)
            .bind(SCAN)
            .fetch_all(&mut *conn)
            .await?;
            let n = rows.len();
            let mut gap = None;
            for r in &rows {
                let v = r.try_get::<i64, _>("value")? as u64;
                if v != cand {
                    gap = Some(cand);
                    break;
                }
                cand += 1;
            }
            if gap.is_none() && (n as i64) < SCAN && cand <= to {
                gap = Some(cand);
            }
            if let Some(v) = gap {
                if acquire_int_exact(conn, pool, v).await? {
                    return Ok(Some(v));
                }
                // taken meanwhile by a concurrent transaction: look further
                cand = v + 1;
            } else if (n as i64) < SCAN {
                break;
            }
        }
    }
    Ok(None)
}

/// Takes exactly `value`; `false` when it is taken.
pub async fn acquire_int_exact(
    conn: &mut AnyConnection,
    pool: &str,
    value: u64,
) -> StoreResult<bool> {
    let row = sqlx::query(
        "INSERT INTO integer_pools (pool, value) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING value",
    )
    .bind(pool)
    .bind(value as i64)
    .fetch_optional(conn)
    .await?;
    Ok(row.is_some())
}

/// Gives a value back; `false` when it was not taken.
pub async fn release_int(conn: &mut AnyConnection, pool: &str, value: u64) -> StoreResult<bool> {
    let done = sqlx::query("DELETE FROM integer_pools WHERE pool = $1 AND value = $2")
        .bind(pool)
        .bind(value as i64)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() > 0)
}

/// How many values of a pool are taken.
pub async fn int_pool_used(conn: &mut AnyConnection, pool: &str) -> StoreResult<i64> {
    Ok(
        sqlx::query("SELECT count(*) AS n FROM integer_pools WHERE pool = $1")
            .bind(pool)
            .fetch_one(conn)
            .await?
            .try_get("n")?,
    )
}

/// How many IPs a project holds.
pub async fn count_ips_of_project(conn: &mut AnyConnection, project_id: &str) -> StoreResult<i64> {
    Ok(
        sqlx::query("SELECT count(*) AS n FROM ips WHERE project_id = $1")
            .bind(project_id)
            .fetch_one(conn)
            .await?
            .try_get("n")?,
    )
}
