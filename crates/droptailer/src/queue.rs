//! The client's buffer between the log source and the sender: bounded, first in first out.
//! When the server is away long enough for it to fill, the oldest entries make room for new
//! ones and are counted, so the client can say how many it lost instead of losing them
//! silently.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use tokio::sync::Notify;

#[derive(Debug)]
pub struct Queue<T> {
    items: Mutex<VecDeque<T>>,
    capacity: usize,
    dropped: AtomicU64,
    ready: Notify,
}

impl<T> Queue<T> {
    /// A queue of at most `capacity` entries (at least one).
    pub fn new(capacity: usize) -> Self {
        Self {
            items: Mutex::new(VecDeque::new()),
            capacity: capacity.max(1),
            dropped: AtomicU64::new(0),
            ready: Notify::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<T>> {
        self.items.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds an entry; when full, the oldest one is dropped and counted.
    pub fn push(&self, item: T) {
        {
            let mut items = self.lock();
            if items.len() >= self.capacity {
                items.pop_front();
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
            items.push_back(item);
        }
        self.ready.notify_one();
    }

    /// The oldest entry, waiting for one.
    pub async fn pop(&self) -> T {
        loop {
            // registered before looking, so a push between the look and the wait wakes us
            let notified = self.ready.notified();
            if let Some(item) = self.lock().pop_front() {
                return item;
            }
            notified.await;
        }
    }

    /// The oldest entry if there is one.
    pub fn try_pop(&self) -> Option<T> {
        self.lock().pop_front()
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many entries were dropped because the queue was full, since the start.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn oldest_make_room_and_are_counted() {
        let q = Queue::new(3);
        for i in 0..5 {
            q.push(i);
        }
        assert_eq!(q.dropped(), 2);
        assert_eq!(q.len(), 3);
        assert_eq!(q.pop().await, 2);
        assert_eq!(q.try_pop(), Some(3));
        assert_eq!(q.try_pop(), Some(4));
        assert_eq!(q.try_pop(), None);
        assert!(q.is_empty());
    }

    #[tokio::test]
    async fn pop_waits_for_a_push() {
        let q = std::sync::Arc::new(Queue::new(8));
        let q2 = q.clone();
        let waiter = tokio::spawn(async move { q2.pop().await });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        q.push("x");
        assert_eq!(waiter.await.unwrap(), "x");
    }
}
