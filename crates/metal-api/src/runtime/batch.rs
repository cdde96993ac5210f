//! A batching worker per key: jobs submitted under a key queue at one worker task per key,
//! which takes everything queued at once (up to a bound) and serves it as one group. The IP
//! and tenant network allocators build on it, so concurrent requests for the same network or
//! partition share one transaction.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;

use crate::error::{ApiError, ApiResult};

/// Queues per key, each drained by its own worker.
pub struct Groups<J> {
    max: usize,
    queues: Mutex<HashMap<String, mpsc::UnboundedSender<J>>>,
}

impl<J: Send + 'static> Groups<J> {
    /// Groups of at most `max` jobs.
    pub fn new(max: usize) -> Self {
        Self {
            max,
            queues: Mutex::new(HashMap::new()),
        }
    }

    /// Queues `job` under `key`; the worker of the key (started here on first use) serves it
    /// with everything else queued by calling `serve` with the group.
    pub fn submit<F, Fut>(&self, key: &str, job: J, serve: F) -> ApiResult<()>
    where
        F: Fn(Vec<J>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send,
    {
        let serve = Arc::new(serve);
        let mut job = job;
        loop {
            let sender = {
                let mut queues = self
                    .queues
                    .lock()
                    .map_err(|_| ApiError::Internal(anyhow::anyhow!("group queue poisoned")))?;
                queues
                    .entry(key.to_string())
                    .or_insert_with(|| spawn_worker(self.max, serve.clone()))
                    .clone()
            };
            match sender.send(job) {
                Ok(()) => return Ok(()),
                // the worker is gone (its runtime ended): start a new one
                Err(mpsc::error::SendError(j)) => {
                    job = j;
                    if let Ok(mut q) = self.queues.lock() {
                        q.remove(key);
                    }
                }
            }
        }
    }
}

fn spawn_worker<J, F, Fut>(max: usize, serve: Arc<F>) -> mpsc::UnboundedSender<J>
where
    J: Send + 'static,
    F: Fn(Vec<J>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send,
{
    let (tx, mut rx) = mpsc::unbounded_channel::<J>();
    tokio::spawn(async move {
        while let Some(first) = rx.recv().await {
            let mut group = vec![first];
            while group.len() < max {
                match rx.try_recv() {
                    Ok(j) => group.push(j),
                    Err(_) => break,
                }
            }
            serve(group).await;
        }
    });
    tx
}
