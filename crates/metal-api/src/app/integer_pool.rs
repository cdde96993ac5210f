//! Integer pools in the caller's transaction, with the pool's errors: a random free value,
//! a given value (409 when taken, 400 outside the range), release.

use metal_domain::pool::IntegerPool;
use metal_store::{ipam, Tx};
use rand::Rng;

use crate::error::ApiResult;

/// A free value, starting the search at a random one (so values spread over the range).
pub async fn acquire_random(tx: &mut Tx, pool: &IntegerPool) -> ApiResult<u64> {
    let start = rand::thread_rng().gen_range(pool.min..=pool.max);
    ipam::acquire_int(tx, pool.name, pool.min, pool.max, start)
        .await?
        .ok_or_else(|| pool.exhausted().into())
}

/// Exactly `value`.
pub async fn acquire(tx: &mut Tx, pool: &IntegerPool, value: u64) -> ApiResult<()> {
    pool.check(value)?;
    if ipam::acquire_int_exact(tx, pool.name, value).await? {
        Ok(())
    } else {
        Err(pool.taken(value).into())
    }
}

/// Gives `value` back; `false` when it was not taken.
pub async fn release(tx: &mut Tx, pool: &IntegerPool, value: u64) -> ApiResult<bool> {
    pool.check(value)?;
    Ok(ipam::release_int(tx, pool.name, value).await?)
}
