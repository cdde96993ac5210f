//! IPs: the next free addresses of a network (alone or as a group), a given address, the IP
//! records with their tags, release and search.

use metal_domain::ip::Ip;

use ipnet::IpNet;
use metal_domain::prefix::{self, AddressFamily};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::{decode_prefix, hex_col, net_col, PREFIX_COLUMNS, SCAN};
use crate::docs::{self, Stored};
use crate::error::{StoreError, StoreResult};
use crate::time;

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
