//! A Splunk HTTP Event Collector double: an axum server on 127.0.0.1:0 that records every
//! request (path, `Authorization` header, the events of the body) and answers as scripted
//! (a queue of statuses, then 200 `{"text":"Success","code":0}`), or hangs until released;
//! over plain HTTP or HTTPS.
//!
//! A double and not Splunk: no Splunk (nor another HEC implementation) is installable in this
//! environment; the double speaks the part of HEC's protocol the forwarder uses (POST
//! `/services/collector/event`, `Authorization: Splunk <token>`, concatenated JSON events,
//! Splunk's JSON answers) and nothing more.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::IntoResponse;
use serde_json::{json, Value};
use tokio::sync::watch;

/// One request the double received.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub auth: Option<String>,
    pub events: Vec<Value>,
    /// What the double answered (or would have, for a hanging request).
    pub status: u16,
}

struct Shared {
    received: Mutex<Vec<Received>>,
    script: Mutex<VecDeque<u16>>,
    hang: watch::Sender<bool>,
}

pub struct HecDouble {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
}

impl HecDouble {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        Self::serve(listener).await
    }

    /// A double speaking HTTPS with `cert` and `key` (DER).
    pub async fn start_tls(
        cert: rustls::pki_types::CertificateDer<'static>,
        key: rustls::pki_types::PrivateKeyDer<'static>,
    ) -> Self {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![cert], key)
            .unwrap();
        let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        Self::serve(TlsListener {
            tcp,
            acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
        })
        .await
    }

    async fn serve<L>(listener: L) -> Self
    where
        L: axum::serve::Listener<Addr = SocketAddr>,
    {
        let (hang, _) = watch::channel(false);
        let shared = Arc::new(Shared {
            received: Mutex::new(Vec::new()),
            script: Mutex::new(VecDeque::new()),
            hang,
        });
        let app = axum::Router::new()
            .fallback(collect)
            .with_state(shared.clone());
        let addr = listener.local_addr().unwrap();
        let (stop, mut stop_rx) = watch::channel(false);
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stop_rx.wait_for(|s| *s).await;
                })
                .await;
        });
        Self { addr, shared, stop }
    }

    /// The endpoint as an operator gives it: the server, without the event path.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The next requests are answered with these statuses, one each, then 200 again.
    pub fn script(&self, statuses: &[u16]) {
        self.shared.script.lock().unwrap().extend(statuses);
    }

    /// Requests wait without an answer until [`Self::release`].
    pub fn hang(&self) {
        self.shared.hang.send_replace(true);
    }

    pub fn release(&self) {
        self.shared.hang.send_replace(false);
    }

    /// Every request received so far.
    pub fn received(&self) -> Vec<Received> {
        self.shared.received.lock().unwrap().clone()
    }

    /// The events of the requests answered with 2xx.
    pub fn accepted(&self) -> Vec<Value> {
        self.received()
            .into_iter()
            .filter(|r| r.status < 300)
            .flat_map(|r| r.events)
            .collect()
    }
}

impl Drop for HecDouble {
    fn drop(&mut self) {
        self.release();
        self.stop.send_replace(true);
    }
}

async fn collect(
    State(shared): State<Arc<Shared>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> axum::response::Response {
    let events: Vec<Value> = serde_json::Deserializer::from_slice(&body)
        .into_iter::<Value>()
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| panic!("the forwarder sent events that are not JSON: {e}"));
    let status = shared.script.lock().unwrap().pop_front().unwrap_or(200);
    shared.received.lock().unwrap().push(Received {
        path: uri.path().to_string(),
        auth: headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
        events,
        status,
    });
    let mut hang = shared.hang.subscribe();
    let _ = hang.wait_for(|h| !*h).await;
    let status = StatusCode::from_u16(status).unwrap();
    let body = if status.is_success() {
        json!({"text": "Success", "code": 0})
    } else {
        json!({"text": "Server is busy", "code": 9})
    };
    (status, axum::Json(body)).into_response()
}

/// TLS over TCP for [`HecDouble::start_tls`]; a failed handshake (a client that does not trust
/// the certificate) is skipped.
struct TlsListener {
    tcp: tokio::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((tcp, addr)) = self.tcp.accept().await else {
                continue;
            };
            if let Ok(tls) = self.acceptor.accept(tcp).await {
                return (tls, addr);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}
