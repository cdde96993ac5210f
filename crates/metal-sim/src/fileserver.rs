//! A small HTTP file server on loopback (or any address a VM reaches) for the files below a
//! directory, e.g. the test OS image of [`crate::osimage`], with fault injection per path:
//! a status instead of the file, a wrong body, or a stream cut off after some bytes while the
//! whole length is announced. Stops when dropped.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use tokio::io::AsyncReadExt;

/// A fault to serve instead of a file.
#[derive(Debug, Clone)]
pub enum Override {
    /// Answer with this status and an empty body.
    Status(u16),
    /// Answer 200 with this body (e.g. a wrong checksum file).
    Body(Vec<u8>),
    /// Announce the whole file's length but close the connection after this many bytes.
    CutAfter(u64),
}

type Overrides = Arc<Mutex<HashMap<String, Override>>>;

#[derive(Clone)]
struct ServerState {
    root: PathBuf,
    overrides: Overrides,
}

/// An HTTP server for the files below a directory; stops when dropped.
pub struct FileServer {
    pub addr: SocketAddr,
    overrides: Overrides,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl FileServer {
    /// Serves `root` on 127.0.0.1 on a free port.
    pub async fn start(root: impl Into<PathBuf>) -> anyhow::Result<Self> {
        Self::start_on(root, SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    /// Serves `root` on `bind` (e.g. an address a VM reaches).
    pub async fn start_on(root: impl Into<PathBuf>, bind: SocketAddr) -> anyhow::Result<Self> {
        let state = ServerState {
            root: root.into(),
            overrides: Arc::default(),
        };
        let overrides = state.overrides.clone();
        let listener = tokio::net::TcpListener::bind(bind)
            .await
            .with_context(|| format!("binding {bind}"))?;
        let addr = listener.local_addr()?;
        let app = axum::Router::new().fallback(serve).with_state(state);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
        });
        Ok(Self {
            addr,
            overrides,
            stop: Some(stop),
        })
    }

    /// `http://<addr>/<path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}/{}", self.addr, path.trim_start_matches('/'))
    }

    /// Serves `o` for `path` from now on.
    pub fn set_override(&self, path: &str, o: Override) {
        let key = format!("/{}", path.trim_start_matches('/'));
        self.overrides
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, o);
    }
}

impl Drop for FileServer {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

async fn serve(State(st): State<ServerState>, uri: Uri) -> Response {
    let path = uri.path().to_string();
    let o = st
        .overrides
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&path)
        .cloned();
    let cut = match o {
        Some(Override::Status(s)) => {
            return StatusCode::from_u16(s)
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
                .into_response()
        }
        Some(Override::Body(b)) => return (StatusCode::OK, b).into_response(),
        Some(Override::CutAfter(n)) => Some(n),
        None => None,
    };
    let rel = path.trim_start_matches('/');
    if rel.split('/').any(|c| c == "..") {
        return StatusCode::BAD_REQUEST.into_response();
    }
    let full = st.root.join(rel);
    let Ok(file) = tokio::fs::File::open(&full).await else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let len = match file.metadata().await {
        Ok(m) if m.is_file() => m.len(),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    let body = match cut {
        Some(n) => Body::from_stream(tokio_util::io::ReaderStream::new(file.take(n))),
        None => Body::from_stream(tokio_util::io::ReaderStream::with_capacity(
            file,
            256 * 1024,
        )),
    };
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_LENGTH, len)
        .header(header::CONTENT_TYPE, "application/octet-stream")
        .body(body)
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}
