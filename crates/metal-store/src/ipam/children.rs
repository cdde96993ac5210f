//! Child prefixes (tenant networks) cut from a parent prefix (a private super network).

use ipnet::IpNet;
use metal_domain::prefix::{self, AddressFamily};

use sqlx::AnyConnection;

use super::{hex_col, PrefixState, SCAN};
use crate::docs;
use crate::error::{StoreError, StoreResult};

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
