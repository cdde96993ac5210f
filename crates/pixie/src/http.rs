//! HTTP endpoints: the iPXE script (`/_/ipxe`), proxied kernel/initrd (`/_/file`), the booting
//! marker, the iPXE binaries (`/_/ipxe-bin/<name>`, for UEFI HTTP boot) and the one-time
//! MetalConfig (`/certs/<token>`).

use std::path::Path;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use metal_proto::metal_config::MetalConfig;
use serde::Deserialize;

use crate::booter::Booter;
use crate::cache::FileCache;
use crate::dhcp::Mac;
use crate::ipxe::{render, ScriptParams};
use crate::metrics::Metrics;
use crate::tftp::IpxeFiles;
use crate::tokens::{Signer, Tokens};

/// What the handlers share.
pub struct HttpState {
    pub booter: Arc<dyn Booter>,
    pub tokens: Tokens,
    pub signer: Signer,
    pub cache: FileCache,
    pub files: Arc<IpxeFiles>,
    pub metal_config: MetalConfig,
    pub pixie_api_url: Option<String>,
    pub metrics: Arc<Metrics>,
}

pub fn router(state: Arc<HttpState>) -> Router {
    Router::new()
        .route("/_/ipxe", get(ipxe_script))
        .route("/_/file", get(file))
        .route("/_/booting", get(booting))
        .route("/_/ipxe-bin/{name}", get(ipxe_bin))
        .route("/certs", get(certs_without_token))
        .route("/certs/{token}", get(certs))
        .with_state(state)
}

fn text(status: StatusCode, body: impl Into<String>) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        body.into(),
    )
        .into_response()
}

#[derive(Deserialize)]
struct ScriptQuery {
    arch: Option<String>,
    mac: Option<String>,
}

async fn ipxe_script(
    State(s): State<Arc<HttpState>>,
    headers: HeaderMap,
    Query(q): Query<ScriptQuery>,
) -> Response {
    let Some(mac) = q.mac.as_deref().and_then(|m| m.parse::<Mac>().ok()) else {
        return text(StatusCode::BAD_REQUEST, "missing or malformed mac\n");
    };
    if !matches!(q.arch.as_deref(), Some("0" | "1")) {
        return text(
            StatusCode::BAD_REQUEST,
            "arch must be 0 (IA32) or 1 (X64)\n",
        );
    }
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else {
        return text(StatusCode::BAD_REQUEST, "missing Host header\n");
    };
    let spec = match s.booter.boot(mac).await {
        Ok(Some(spec)) => spec,
        Ok(None) => return text(StatusCode::NOT_FOUND, "you don't netboot\n"),
        Err(e) => {
            tracing::error!(%mac, "boot spec: {e}");
            return text(
                StatusCode::INTERNAL_SERVER_ERROR,
                "no boot spec available\n",
            );
        }
    };
    let base = format!("http://{host}");
    let token = s.tokens.issue(mac);
    let api = s
        .pixie_api_url
        .clone()
        .unwrap_or_else(|| format!("{base}/certs"));
    let pixie_api_url = format!("{}/{token}", api.trim_end_matches('/'));
    let kernel_id = s.signer.sign(&spec.kernel);
    let initrd_ids: Vec<String> = spec.initrds.iter().map(|u| s.signer.sign(u)).collect();
    let script = render(
        &spec,
        &ScriptParams {
            base: &base,
            mac,
            kernel_id: &kernel_id,
            initrd_ids: &initrd_ids,
            pixie_api_url: &pixie_api_url,
            debug: s.metal_config.debug,
        },
    );
    s.metrics.inc(&s.metrics.scripts);
    tracing::info!(%mac, "served iPXE script");
    text(StatusCode::OK, script)
}

#[derive(Deserialize)]
struct FileQuery {
    name: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    mac: Option<String>,
}

async fn file(State(s): State<Arc<HttpState>>, Query(q): Query<FileQuery>) -> Response {
    let Some(url) = q.name.as_deref().and_then(|n| s.signer.verify(n)) else {
        return text(StatusCode::FORBIDDEN, "invalid or foreign file id\n");
    };
    let path = match s.cache.get(&url).await {
        Ok(p) => p,
        Err(e) => {
            tracing::error!("boot file: {e}");
            return text(StatusCode::BAD_GATEWAY, "boot file not available\n");
        }
    };
    let kind = q.kind.as_deref().unwrap_or("file");
    let mac = q.mac.as_deref().unwrap_or("-");
    tracing::info!(%mac, kind, url, "serving boot file");
    s.metrics.inc(&s.metrics.files);
    serve_path(&path).await
}

async fn serve_path(path: &Path) -> Response {
    let f = match tokio::fs::File::open(path).await {
        Ok(f) => f,
        Err(_) => return text(StatusCode::NOT_FOUND, "file not found\n"),
    };
    let len = match f.metadata().await {
        Ok(m) if m.is_file() => m.len(),
        _ => return text(StatusCode::NOT_FOUND, "file not found\n"),
    };
    let body = Body::from_stream(tokio_util::io::ReaderStream::new(f));
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_string()),
            (header::CONTENT_LENGTH, len.to_string()),
        ],
        body,
    )
        .into_response()
}

#[derive(Deserialize)]
struct MacQuery {
    mac: Option<String>,
}

async fn booting(Query(q): Query<MacQuery>) -> Response {
    let Some(mac) = q.mac.as_deref().and_then(|m| m.parse::<Mac>().ok()) else {
        return text(StatusCode::BAD_REQUEST, "missing or malformed mac\n");
    };
    tracing::info!(%mac, "machine is booting the kernel");
    text(StatusCode::OK, "# Booting")
}

async fn ipxe_bin(State(s): State<Arc<HttpState>>, UrlPath(name): UrlPath<String>) -> Response {
    match s.files.by_name(&name) {
        Some(p) => serve_path(&p).await,
        None => text(StatusCode::NOT_FOUND, "file not found\n"),
    }
}

async fn certs_without_token() -> Response {
    text(
        StatusCode::FORBIDDEN,
        "the machine configuration needs a one-time token: GET /certs/<token> with the \
         PIXIE_API_URL from the kernel command line\n",
    )
}

async fn certs(
    State(s): State<Arc<HttpState>>,
    headers: HeaderMap,
    UrlPath(token): UrlPath<String>,
) -> Response {
    let mac = match s.tokens.redeem(&token) {
        Ok(mac) => mac,
        Err(e) => {
            tracing::warn!("refused /certs: {e}");
            return text(
                StatusCode::FORBIDDEN,
                format!("{e}: tokens are valid once; boot the machine again for a new one\n"),
            );
        }
    };
    let mut cfg = s.metal_config.clone();
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    cfg.pixie_api_url = s
        .pixie_api_url
        .clone()
        .unwrap_or_else(|| format!("http://{host}/certs"));
    tracing::info!(%mac, "handed out machine configuration");
    s.metrics.inc(&s.metrics.certs);
    axum::Json(cfg).into_response()
}
