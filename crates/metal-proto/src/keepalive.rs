//! HTTP/2 keepalive settings of the gRPC connections between metal-api and its agents.
//!
//! The values are metal-stack's: the metal-api server pings a client after 5 s without
//! traffic and drops the connection when the ping is not answered within 1 s; clients
//! (metal-hammer) ping every 10 s, also while no call is open, with a 1 s timeout.
//!
//! metal-stack's Go server also refuses clients that ping more often than every 5 s
//! ([`CLIENT_MIN_PING_INTERVAL`]). tonic's HTTP/2 server has no such enforcement policy, so
//! the limit is a contract for clients: [`endpoint`] keeps it.

use std::time::Duration;

use tonic::transport::{Endpoint, Server};

/// The server sends an HTTP/2 ping after this long without traffic on a connection.
pub const SERVER_PING_INTERVAL: Duration = Duration::from_secs(5);

/// The server closes a connection whose ping is not acknowledged within this time.
pub const SERVER_PING_TIMEOUT: Duration = Duration::from_secs(1);

/// Clients must not ping more often than this.
pub const CLIENT_MIN_PING_INTERVAL: Duration = Duration::from_secs(5);

/// Interval of the HTTP/2 pings a client sends (metal-hammer's setting).
pub const CLIENT_PING_INTERVAL: Duration = Duration::from_secs(10);

/// A client closes a connection whose ping is not acknowledged within this time.
pub const CLIENT_PING_TIMEOUT: Duration = Duration::from_secs(1);

/// Applies the server keepalive settings (ping after [`SERVER_PING_INTERVAL`] idle,
/// [`SERVER_PING_TIMEOUT`] to answer) to a server builder.
///
/// ```
/// let builder = metal_proto::keepalive::server(tonic::transport::Server::builder());
/// # drop(builder);
/// ```
#[must_use]
pub fn server<L>(builder: Server<L>) -> Server<L> {
    builder
        .http2_keepalive_interval(Some(SERVER_PING_INTERVAL))
        .http2_keepalive_timeout(Some(SERVER_PING_TIMEOUT))
}

/// Applies the client keepalive settings (ping every [`CLIENT_PING_INTERVAL`], also while no
/// call is open, [`CLIENT_PING_TIMEOUT`] to answer) to a client endpoint.
///
/// ```
/// let endpoint = tonic::transport::Endpoint::from_static("http://127.0.0.1:50051");
/// let endpoint = metal_proto::keepalive::endpoint(endpoint);
/// # drop(endpoint);
/// ```
#[must_use]
pub fn endpoint(endpoint: Endpoint) -> Endpoint {
    endpoint
        .http2_keep_alive_interval(CLIENT_PING_INTERVAL)
        .keep_alive_timeout(CLIENT_PING_TIMEOUT)
        .keep_alive_while_idle(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clients_ping_no_more_often_than_the_server_allows() {
        assert!(CLIENT_PING_INTERVAL >= CLIENT_MIN_PING_INTERVAL);
    }

    #[test]
    fn timeouts_are_shorter_than_intervals() {
        assert!(SERVER_PING_TIMEOUT < SERVER_PING_INTERVAL);
        assert!(CLIENT_PING_TIMEOUT < CLIENT_PING_INTERVAL);
    }
}
