//! The client: a source feeds the queue, the sender pushes the queue's entries to the server
//! one by one, in order, each until the server took it.
//!
//! metal-stack's client tries a line 30 times within about 3 s and then drops it, and exits
//! when the server cannot be dialled at the start. Here a line is retried until the server takes
//! it, with a backoff growing by 100 ms to 1 s, while the source keeps filling the bounded queue
//! (`DROPTAILER_QUEUE_SIZE`); lines lost to a full queue are counted and reported when the
//! server is back. A server restart therefore loses nothing that fits the queue. A line the
//! server printed but whose answer was lost is sent again (at least once).

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use metal_proto::droptailer::droptailer_client::DroptailerClient;
use metal_proto::droptailer::Drop;
use tonic::transport::{Channel, ClientTlsConfig, Endpoint};

use crate::parse::Prefixes;
use crate::queue::Queue;
use crate::source::{Entry, Source};

/// How long one push may take (metal-stack: 3 s).
pub const PUSH_TIMEOUT: Duration = Duration::from_secs(3);

/// A channel to the server at `address` (`host:port` or a URL), connected lazily and
/// reconnected by tonic when the server comes back.
pub fn channel(address: &str, tls: Option<ClientTlsConfig>) -> anyhow::Result<Channel> {
    let scheme = if tls.is_some() { "https" } else { "http" };
    let uri = if address.contains("://") {
        address.to_string()
    } else {
        format!("{scheme}://{address}")
    };
    let mut endpoint = Endpoint::from_shared(uri.clone())
        .map_err(|e| anyhow::anyhow!("invalid server address {uri:?}: {e}"))?
        .connect_timeout(Duration::from_secs(5))
        .tcp_nodelay(true);
    if let Some(tls) = tls {
        endpoint = endpoint.tls_config(tls)?;
    }
    Ok(endpoint.connect_lazy())
}

/// The protobuf message of an entry.
pub fn drop_of(e: Entry) -> Drop {
    let d = e.time.duration_since(UNIX_EPOCH).unwrap_or_default();
    Drop {
        timestamp: Some(metal_proto::prost_types::Timestamp {
            seconds: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
            nanos: i32::try_from(d.subsec_nanos()).unwrap_or(0),
        }),
        fields: e.fields.into_iter().collect(),
    }
}

/// Pushes the queue's entries in order for ever.
pub async fn send(queue: Arc<Queue<Drop>>, channel: Channel) {
    let mut client = DroptailerClient::new(channel);
    let mut reported_dropped = 0;
    loop {
        let drop = queue.pop().await;
        let mut attempt: u32 = 0;
        loop {
            let mut req = tonic::Request::new(drop.clone());
            req.set_timeout(PUSH_TIMEOUT);
            match tokio::time::timeout(PUSH_TIMEOUT, client.push(req)).await {
                Ok(Ok(_)) => break,
                Ok(Err(status)) => {
                    if attempt == 0 {
                        tracing::warn!(error = %status.message(), code = ?status.code(), queued = queue.len(), "server did not take the line; retrying");
                    }
                }
                Err(_) => {
                    if attempt == 0 {
                        tracing::warn!(queued = queue.len(), "push timed out; retrying");
                    }
                }
            }
            attempt += 1;
            tokio::time::sleep(Duration::from_millis(100 * u64::from(attempt.min(10)))).await;
        }
        if attempt > 0 {
            tracing::info!(
                attempts = attempt + 1,
                queued = queue.len(),
                "server took the line again"
            );
        }
        let dropped = queue.dropped();
        if dropped > reported_dropped {
            tracing::warn!(
                lost = dropped - reported_dropped,
                total = dropped,
                capacity_hint = "DROPTAILER_QUEUE_SIZE",
                "lines lost while the server was away: the queue was full"
            );
            reported_dropped = dropped;
        }
    }
}

/// Reads `source` into a queue of `capacity` lines and pushes them over `channel` until the
/// source fails.
pub async fn run(
    source: Source,
    prefixes: Prefixes,
    capacity: usize,
    channel: Channel,
) -> anyhow::Result<()> {
    let queue = Arc::new(Queue::new(capacity));
    let sender = tokio::spawn(send(queue.clone(), channel));
    let q = queue.clone();
    tracing::info!(%source, "reading");
    let result = crate::source::run(source, prefixes, move |e| q.push(drop_of(e))).await;
    sender.abort();
    result
}
