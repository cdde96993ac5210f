//! The candidates of a partition and size counted per rack, kept for a moment and shared by
//! concurrent allocations. Counting reads every waiting machine and its event log (O(machines):
//! with 10,000 machines it was half of an allocation's database time under load); the counts
//! only weigh the random choice of a rack and a position in it, so a count up to [`FRESH`] old
//! serves the allocations in between.
//!
//! A count is a hint, never a decision: the claim itself re-checks the machine in the
//! transaction (and skips one a concurrent allocation holds), a rack whose candidates are gone
//! is dropped and the choice repeats, and when the kept counts lead to no machine the
//! allocation counts afresh before it answers "no machine available". Allocations under size
//! reservations do not use kept counts: they count exactly, after locking the reservations.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use metal_domain::allocation::RackCount;

/// How long kept counts serve allocations.
pub const FRESH: Duration = Duration::from_millis(250);

struct Kept {
    at: Instant,
    racks: Vec<RackCount>,
    /// when an allocation started counting afresh: the others keep using these meanwhile (for
    /// at most [`FRESH`] more, should that allocation fail before it keeps its count)
    refreshing: Option<Instant>,
}

/// Kept counts by (partition, size).
#[derive(Default)]
pub struct CandidateCounts {
    kept: Mutex<HashMap<(String, String), Kept>>,
}

impl CandidateCounts {
    /// Counts to use without counting: `None` when there are none, or when they are older than
    /// [`FRESH`] and no other allocation is counting already (the caller then counts and
    /// [`put`](Self::put)s).
    pub fn get(&self, partition: &str, size: &str) -> Option<Vec<RackCount>> {
        let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        let k = kept.get_mut(&(partition.to_string(), size.to_string()))?;
        let counting = k.refreshing.is_some_and(|t| t.elapsed() < FRESH);
        if k.at.elapsed() < FRESH || counting {
            return Some(k.racks.clone());
        }
        k.refreshing = Some(Instant::now());
        None
    }

    /// Keeps fresh counts.
    pub fn put(&self, partition: &str, size: &str, racks: &[RackCount]) {
        let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        kept.insert(
            (partition.to_string(), size.to_string()),
            Kept {
                at: Instant::now(),
                racks: racks.to_vec(),
                refreshing: None,
            },
        );
    }

    /// One candidate of `rack` was claimed.
    pub fn took(&self, partition: &str, size: &str, rack: &str) {
        let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(k) = kept.get_mut(&(partition.to_string(), size.to_string())) {
            if let Some(r) = k.racks.iter_mut().find(|r| r.rack == rack) {
                r.count = r.count.saturating_sub(1);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn racks(n: &[(&str, usize)]) -> Vec<RackCount> {
        n.iter()
            .map(|(r, c)| RackCount {
                rack: r.to_string(),
                count: *c,
            })
            .collect()
    }

    #[test]
    fn counts_are_kept_taken_from_and_refreshed_by_one() {
        let c = CandidateCounts::default();
        assert_eq!(c.get("p", "s"), None, "nothing kept yet");
        c.put("p", "s", &racks(&[("a", 2), ("b", 1)]));
        c.took("p", "s", "a");
        assert_eq!(c.get("p", "s"), Some(racks(&[("a", 1), ("b", 1)])));
        assert_eq!(c.get("p", "other"), None, "per size");
        // stale: the first caller counts, the others use the kept counts meanwhile
        c.kept
            .lock()
            .unwrap()
            .get_mut(&("p".into(), "s".into()))
            .unwrap()
            .at -= FRESH;
        assert_eq!(c.get("p", "s"), None);
        assert_eq!(c.get("p", "s"), Some(racks(&[("a", 1), ("b", 1)])));
        c.put("p", "s", &racks(&[("b", 4)]));
        assert_eq!(c.get("p", "s"), Some(racks(&[("b", 4)])));
    }
}
