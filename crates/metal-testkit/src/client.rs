//! A raw v1 HTTP client for tests: it signs exactly as metal-stack's Go clients do (HMAC over
//! X-Date, method and X-Data-Salt) or sends a bearer token, and returns status and JSON so tests
//! can assert on both, errors included. Every answer is checked against the reference contract
//! ([`crate::conformance`]); a violation fails the test that received it.

use rand::distributions::Alphanumeric;
use rand::Rng;
use reqwest::Method;
use serde_json::Value;

use crate::Keys;

/// How a test request authenticates.
#[derive(Debug, Clone)]
pub enum Caller {
    Anonymous,
    View,
    Edit,
    Admin,
    /// A bearer token.
    Bearer(String),
    /// An HMAC signature with a wrong key.
    WrongKey,
    /// A correct admin signature over a date this many seconds in the past.
    StaleAdmin(i64),
}

/// An answer: status and body (JSON, or the text as a JSON string).
#[derive(Debug, Clone)]
pub struct TestResponse {
    pub status: u16,
    pub body: Value,
}

impl TestResponse {
    /// The `message` of an error body.
    pub fn message(&self) -> &str {
        self.body
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("")
    }
}

#[derive(Debug, Clone)]
pub struct TestClient {
    base: String,
    caller: Caller,
    keys: Keys,
    http: reqwest::Client,
    checked: bool,
}

fn salt() -> String {
    rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .filter(u8::is_ascii_alphabetic)
        .take(24)
        .map(char::from)
        .collect()
}

impl TestClient {
    pub fn new(base: String, caller: Caller, keys: Keys) -> Self {
        Self {
            base,
            caller,
            keys,
            http: reqwest::Client::new(),
            checked: true,
        }
    }

    /// The same client without the check of its answers against the reference contract (for a
    /// test that provokes an answer the contract does not describe).
    pub fn unchecked(mut self) -> Self {
        self.checked = false;
        self
    }

    /// Panics when an answer violates the reference contract.
    fn conform(&self, method: &Method, path: &str, r: &TestResponse) {
        if !self.checked {
            return;
        }
        let errors = crate::conformance::check_response(method.as_str(), path, r.status, &r.body);
        assert!(
            errors.is_empty(),
            "the answer violates the reference contract:\n  {}\nbody: {}",
            errors.join("\n  "),
            r.body
        );
    }

    fn sign(&self, rb: reqwest::RequestBuilder, method: &Method) -> reqwest::RequestBuilder {
        let (kind, key, age) = match &self.caller {
            Caller::Anonymous => return rb,
            Caller::Bearer(t) => return rb.header("Authorization", format!("Bearer {t}")),
            Caller::View => ("Metal-View", self.keys.view.clone(), 0),
            Caller::Edit => ("Metal-Edit", self.keys.edit.clone(), 0),
            Caller::Admin => ("Metal-Admin", self.keys.admin.clone(), 0),
            Caller::WrongKey => ("Metal-Admin", "not-the-key".to_string(), 0),
            Caller::StaleAdmin(secs) => ("Metal-Admin", self.keys.admin.clone(), *secs),
        };
        let date = (chrono::Utc::now() - chrono::Duration::seconds(age))
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let salt = salt();
        let mac = metal_util::hmac::hmac_signature(key.as_bytes(), &date, method.as_str(), &salt);
        rb.header("Authorization", format!("{kind} {mac}"))
            .header("X-Date", date)
            .header("X-Data-Salt", salt)
    }

    /// Signs and sends a built request and reads its answer, checked against the contract.
    async fn exchange(
        &self,
        rb: reqwest::RequestBuilder,
        method: Method,
        path: &str,
        url: &str,
    ) -> TestResponse {
        let resp = self
            .sign(rb, &method)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        let r = TestResponse { status, body };
        self.conform(&method, path, &r);
        r
    }

    /// Sends a request; `path` is relative to the base URL (`v1/image`).
    pub async fn send(&self, method: Method, path: &str, body: Option<&Value>) -> TestResponse {
        let url = format!("{}{}", self.base, path.trim_start_matches('/'));
        let mut rb = self.http.request(method.clone(), &url);
        if let Some(b) = body {
            rb = rb.json(b);
        }
        self.exchange(rb, method, path, &url).await
    }

    /// Signs and sends a request and hands back the answer unread (for benchmarks that time
    /// the body's arrival without building it; not checked against the contract).
    pub async fn send_unread(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> reqwest::Response {
        let url = format!("{}{}", self.base, path.trim_start_matches('/'));
        let mut rb = self.http.request(method.clone(), &url);
        if let Some(b) = body {
            rb = rb.json(b);
        }
        self.sign(rb, &method)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {url}: {e}"))
    }

    /// Sends a `multipart/form-data` body with one file field `field` holding `content` (what
    /// `curl -F field=@file` sends).
    pub async fn send_file(
        &self,
        method: Method,
        path: &str,
        field: &str,
        content: &[u8],
    ) -> TestResponse {
        let url = format!("{}{}", self.base, path.trim_start_matches('/'));
        let (content_type, body) = metal_util::multipart::file_form(field, "upload.bin", content);
        let rb = self
            .http
            .request(method.clone(), &url)
            .header("Content-Type", content_type)
            .body(body);
        self.exchange(rb, method, path, &url).await
    }

    /// The base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// Like [`TestClient::send`] with POST, but a connection failure is an `Err` instead of a
    /// panic (for tests that kill servers).
    pub async fn try_post(&self, path: &str, body: Value) -> Result<TestResponse, reqwest::Error> {
        let url = format!("{}{}", self.base, path.trim_start_matches('/'));
        let rb = self.http.request(Method::POST, &url).json(&body);
        let resp = self.sign(rb, &Method::POST).send().await?;
        let status = resp.status().as_u16();
        let text = resp.text().await?;
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        let r = TestResponse { status, body };
        self.conform(&Method::POST, path, &r);
        Ok(r)
    }

    pub async fn get(&self, path: &str) -> TestResponse {
        self.send(Method::GET, path, None).await
    }
    pub async fn put(&self, path: &str, body: Value) -> TestResponse {
        self.send(Method::PUT, path, Some(&body)).await
    }
    pub async fn post(&self, path: &str, body: Value) -> TestResponse {
        self.send(Method::POST, path, Some(&body)).await
    }
    pub async fn delete(&self, path: &str) -> TestResponse {
        self.send(Method::DELETE, path, None).await
    }

    /// Sends a request that must succeed (2xx) and answers its body; otherwise the test fails
    /// naming the request, the status and the body.
    pub async fn ok(&self, method: &str, path: &str, body: Value) -> Value {
        let m = Method::from_bytes(method.as_bytes())
            .unwrap_or_else(|e| panic!("{method:?} is no HTTP method: {e}"));
        let r = self.send(m, path, Some(&body)).await;
        assert!(
            (200..300).contains(&r.status),
            "{method} {path}: {} {:?}",
            r.status,
            r.body
        );
        r.body
    }
}
