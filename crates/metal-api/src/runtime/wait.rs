//! Waking metal-hammer's `Wait` streams when their machine is allocated. In-process, each open
//! stream watches a channel of its machine; an allocation wakes it right after its commit. With
//! PostgreSQL, the allocation also sends `NOTIFY metal_allocation` inside its transaction
//! (delivered on commit), and every replica listens and wakes its own streams: no polling, no
//! broker.

use std::collections::HashMap;
use std::sync::Mutex;

use tokio::sync::watch;

/// Open Wait streams by machine id.
#[derive(Default)]
pub struct Waiters {
    streams: Mutex<HashMap<String, (watch::Sender<u64>, usize)>>,
    closing: std::sync::atomic::AtomicBool,
}

/// A registered stream; dropping it unregisters.
pub struct WaitGuard<'a> {
    waiters: &'a Waiters,
    id: String,
    pub rx: watch::Receiver<u64>,
}

impl Drop for WaitGuard<'_> {
    fn drop(&mut self) {
        if let Ok(mut s) = self.waiters.streams.lock() {
            if let Some((_, n)) = s.get_mut(&self.id) {
                *n -= 1;
                if *n == 0 {
                    s.remove(&self.id);
                }
            }
        }
    }
}

impl Waiters {
    /// Registers a stream for `machine_id`.
    pub fn register(&self, machine_id: &str) -> WaitGuard<'_> {
        let mut s = self.streams.lock().unwrap_or_else(|e| e.into_inner());
        let entry = s
            .entry(machine_id.to_string())
            .or_insert_with(|| (watch::channel(0).0, 0));
        entry.1 += 1;
        let rx = entry.0.subscribe();
        WaitGuard {
            waiters: self,
            id: machine_id.to_string(),
            rx,
        }
    }

    /// Wakes the streams of `machine_id` in this process.
    pub fn wake(&self, machine_id: &str) {
        if let Ok(s) = self.streams.lock() {
            if let Some((tx, _)) = s.get(machine_id) {
                tx.send_modify(|v| *v += 1);
            }
        }
    }

    /// The server is stopping: wakes every stream so it ends (metal-hammer then waits at
    /// another replica, or here again after the restart).
    pub fn close_all(&self) {
        self.closing
            .store(true, std::sync::atomic::Ordering::SeqCst);
        if let Ok(s) = self.streams.lock() {
            for (tx, _) in s.values() {
                tx.send_modify(|v| *v += 1);
            }
        }
    }

    /// Whether the server is stopping.
    pub fn closing(&self) -> bool {
        self.closing.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// How many streams are open (for tests and metrics).
    pub fn open(&self) -> usize {
        self.streams
            .lock()
            .map(|s| s.values().map(|(_, n)| n).sum())
            .unwrap_or(0)
    }
}
