//! Middleware around every REST request: request ids, metrics, the audit trail, and error
//! answers of the router itself (unknown route, wrong method) in the API's error body.

use std::time::Instant;

use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metal_domain::audit::{redact_body, AuditEntry};

use crate::auth::principal_of;
use crate::error::error_response;
use crate::state::App;

/// Largest request body accepted (and audited).
pub const MAX_BODY: usize = 4 * 1024 * 1024;

#[derive(Clone)]
pub struct RequestId(pub String);

/// Takes the caller's `X-Request-Id` or makes one, and echoes it on the answer.
pub async fn request_id(mut req: Request, next: Next) -> Response {
    let id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128)
        .map(str::to_string)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    req.extensions_mut().insert(RequestId(id.clone()));
    let mut resp = next.run(req).await;
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert("x-request-id", v);
    }
    resp
}

/// Counts and times requests per route template.
pub async fn metrics(State(app): State<App>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = req.method().as_str().to_string();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let resp = next.run(req).await;
    let code = resp.status().as_u16().to_string();
    app.metrics
        .requests
        .with_label_values(&[method.as_str(), route.as_str(), code.as_str()])
        .inc();
    app.metrics
        .duration
        .with_label_values(&[method.as_str(), route.as_str()])
        .observe(start.elapsed().as_secs_f64());
    resp
}

fn is_audited(method: &Method, path: &str) -> bool {
    let mutating = matches!(
        *method,
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    );
    mutating && !path.ends_with("/find") && !path.ends_with("/issues/evaluate")
}

/// Records each mutating request (searches excluded) with its caller, redacted body and
/// status. The entry is written before the answer leaves, so a client that got its answer
/// finds the entry; with `--auditing-splunk-endpoint` the same entry is queued for Splunk
/// ([`crate::runtime::auditforward`]).
pub async fn audit(State(app): State<App>, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    if !is_audited(req.method(), &path) {
        return next.run(req).await;
    }
    let (parts, body) = req.into_parts();
    // a file upload (firmware, up to 1 GiB) is streamed to its handler, not held here: the
    // entry notes its size instead of its body
    let multipart = parts
        .headers
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"multipart/"));
    let (body, recorded) = if multipart {
        let size = parts
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .map_or_else(|| "streamed".to_string(), |n| format!("{n} bytes"));
        (body, format!("[{size}, multipart form]"))
    } else {
        match axum::body::to_bytes(body, MAX_BODY).await {
            Ok(b) => {
                let recorded = redact_body(&b);
                (Body::from(b), recorded)
            }
            Err(_) => {
                return error_response(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!("request body is larger than {MAX_BODY} bytes"),
                )
            }
        }
    };
    let principal = principal_of(&parts.extensions);
    let rqid = parts
        .extensions
        .get::<RequestId>()
        .map(|r| r.0.clone())
        .unwrap_or_default();
    let header_text = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    let mut entry = AuditEntry {
        rqid,
        timestamp: Some(metal_store::time::now()),
        component: "metal-api".into(),
        kind: "http".into(),
        user: principal
            .as_ref()
            .map(|p| p.email.clone())
            .unwrap_or_default(),
        tenant: principal
            .as_ref()
            .map(|p| p.tenant.clone())
            .unwrap_or_default(),
        project: String::new(),
        detail: parts.method.as_str().into(),
        phase: "single".into(),
        path,
        forwarded_for: header_text("x-forwarded-for"),
        remote_addr: parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|c| c.0.to_string())
            .unwrap_or_default(),
        body: recorded,
        status_code: 0,
        error: String::new(),
    };
    let resp = next.run(Request::from_parts(parts, body)).await;
    entry.status_code = i32::from(resp.status().as_u16());
    let (resp, error) = if resp.status().is_client_error() || resp.status().is_server_error() {
        let (p, b) = resp.into_parts();
        let b = axum::body::to_bytes(b, MAX_BODY).await.unwrap_or_default();
        let msg = serde_json::from_slice::<serde_json::Value>(&b)
            .ok()
            .and_then(|v| {
                v.get("message")
                    .and_then(|m| m.as_str())
                    .map(str::to_string)
            })
            .unwrap_or_default();
        (Response::from_parts(p, Body::from(b)), msg)
    } else {
        (resp, String::new())
    };
    entry.error = error;
    if let Err(e) = write_audit(&app, &entry).await {
        tracing::error!(
            error = format!("{e:#}"),
            rqid = entry.rqid,
            "writing audit entry failed"
        );
    }
    if let Some(forward) = &app.audit_forward {
        // queued without waiting; a full queue drops the copy, never the request
        forward.forward(&entry);
    }
    resp
}

async fn write_audit(app: &App, entry: &AuditEntry) -> anyhow::Result<()> {
    metal_store::audit::append(&app.store, entry).await?;
    Ok(())
}

/// Gives the router's own error answers (404 unknown route, 405 wrong method, 413, 415) the
/// API's JSON error body.
pub async fn error_body(req: Request, next: Next) -> Response {
    let resp = next.run(req).await;
    let status = resp.status();
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if status.is_client_error() && !is_json {
        let (parts, body) = resp.into_parts();
        let text = axum::body::to_bytes(body, 64 * 1024)
            .await
            .unwrap_or_default();
        let text = String::from_utf8_lossy(&text);
        let msg = if text.trim().is_empty() {
            status.canonical_reason().unwrap_or("error").to_lowercase()
        } else {
            text.trim().to_string()
        };
        let mut out = error_response(status, msg);
        for (k, v) in parts.headers.iter() {
            if k == header::ALLOW {
                out.headers_mut().insert(k.clone(), v.clone());
            }
        }
        return out;
    }
    resp.into_response()
}

/// Collapses runs of `/` in the request path into one, keeping the query, so that
/// `//v1/machine` (a client joining `http://host:8080/` with `/v1/machine`) and
/// `/metal//v1/machine` route like their single-slash forms under any base path. Runs before
/// routing: [`crate::server::service`] wraps the router with it.
pub fn collapse_slashes(mut req: Request) -> Request {
    if let Some(uri) = collapsed(req.uri()) {
        *req.uri_mut() = uri;
    }
    req
}

/// The URI with runs of `/` in its path collapsed; `None` if there are none.
fn collapsed(uri: &axum::http::Uri) -> Option<axum::http::Uri> {
    let path = uri.path();
    if !path.contains("//") {
        return None;
    }
    let mut out = String::with_capacity(path.len());
    for c in path.chars() {
        if !(c == '/' && out.ends_with('/')) {
            out.push(c);
        }
    }
    if let Some(query) = uri.query() {
        out.push('?');
        out.push_str(query);
    }
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(out.parse().ok()?);
    axum::http::Uri::from_parts(parts).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_of_slashes_collapse_and_the_query_stays() {
        let cases = [
            ("/v1/health", None),
            ("//v1/health", Some("/v1/health")),
            ("///v1//image///", Some("/v1/image/")),
            (
                "/metal//v1/machine?x=a//b",
                Some("/metal/v1/machine?x=a//b"),
            ),
            ("http://h:1//v1/x?q", Some("http://h:1/v1/x?q")),
            ("/v1/x?redirect=//y", None),
        ];
        for (input, want) in cases {
            let uri: axum::http::Uri = input.parse().unwrap();
            let got = collapsed(&uri).map(|u| u.to_string());
            assert_eq!(got.as_deref(), want, "{input}");
        }
    }
}
