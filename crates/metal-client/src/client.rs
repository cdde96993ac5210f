//! The HTTP core of the client: base-URL handling, authentication headers, sending a JSON
//! request and turning the answer into a typed value or an [`Error`]. The typed endpoint
//! methods in `endpoints/` are thin wrappers around [`Client::request`].

use std::fmt;
use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::Utc;
use reqwest::header::{HeaderMap, HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE};
pub use reqwest::Method;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::auth::{hmac_headers, Auth, HmacAuthType, DATE_HEADER, SALT_HEADER};
use crate::error::{Error, Result};

/// Default time a whole request may take.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
/// Default time to establish a connection.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A metal-api v1 client. Cheap to clone (the connection pool is shared).
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    auth: Auth,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.base)
            .field("auth", &self.auth)
            .finish()
    }
}

/// Builds a [`Client`].
#[derive(Clone)]
pub struct ClientBuilder {
    url: String,
    auth: Auth,
    timeout: Duration,
    connect_timeout: Duration,
    user_agent: String,
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("url", &self.url)
            .field("auth", &self.auth)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl ClientBuilder {
    /// Authenticates with `auth`.
    pub fn auth(mut self, auth: Auth) -> Self {
        self.auth = auth;
        self
    }

    /// Signs every request with the HMAC `key` as user `auth_type`.
    pub fn hmac(self, key: impl Into<String>, auth_type: HmacAuthType) -> Self {
        self.auth(Auth::Hmac {
            key: key.into(),
            auth_type,
        })
    }

    /// Sends `Authorization: Bearer <token>`.
    pub fn bearer(self, token: impl Into<String>) -> Self {
        self.auth(Auth::Bearer(token.into()))
    }

    /// Time a whole request may take (default 60 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Time to establish a connection (default 10 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The `User-Agent` header.
    pub fn user_agent(mut self, agent: impl Into<String>) -> Self {
        self.user_agent = agent.into();
        self
    }

    pub fn build(self) -> Result<Client> {
        let base = normalize_base_url(&self.url)?;
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        let http = reqwest::Client::builder()
            .default_headers(headers)
            .user_agent(self.user_agent)
            .timeout(self.timeout)
            .connect_timeout(self.connect_timeout)
            .build()
            .map_err(Error::Build)?;
        Ok(Client {
            http,
            base,
            auth: self.auth,
        })
    }
}

/// Checks an API base URL and strips trailing slashes: `http://host:8080/metal/` and
/// `http://host:8080/metal` both become `http://host:8080/metal`.
pub fn normalize_base_url(url: &str) -> Result<String> {
    let invalid = |reason: &str| Error::InvalidUrl {
        url: url.to_string(),
        reason: reason.to_string(),
    };
    let trimmed = url.trim();
    if trimmed.is_empty() {
        return Err(invalid("the url is empty"));
    }
    let parsed = reqwest::Url::parse(trimmed).map_err(|e| invalid(&e.to_string()))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(invalid("the scheme must be http or https"));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(invalid("the url must not carry a query or fragment"));
    }
    Ok(trimmed.trim_end_matches('/').to_string())
}

/// Joins a base URL (with or without base path and trailing slash) and an API path (with or
/// without leading slash) with exactly one slash.
pub fn join_url(base: &str, path: &str) -> String {
    format!(
        "{}/{}",
        base.trim_end_matches('/'),
        path.trim_start_matches('/')
    )
}

/// Percent-encodes `s` for use as one URL path segment (ids may contain `:` or `+`).
pub fn encode_path_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl Client {
    /// A client for the API at `url` (e.g. `http://localhost:8080/metal/`), authenticating
    /// with `auth`.
    pub fn new(url: &str, auth: Auth) -> Result<Self> {
        Self::builder(url).auth(auth).build()
    }

    pub fn builder(url: &str) -> ClientBuilder {
        ClientBuilder {
            url: url.to_string(),
            auth: Auth::None,
            timeout: DEFAULT_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            user_agent: format!("metal-client/{}", env!("CARGO_PKG_VERSION")),
        }
    }

    /// The base URL without trailing slash.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// The full URL of an API path such as `v1/size`.
    pub fn url(&self, path: &str) -> String {
        join_url(&self.base, path)
    }

    /// Sends a request and decodes a success answer as `R`; an error status becomes
    /// [`Error::Api`]. An empty success body decodes like JSON `null`.
    pub async fn request<B, R>(&self, method: Method, path: &str, body: Option<&B>) -> Result<R>
    where
        B: Serialize + ?Sized,
        R: DeserializeOwned,
    {
        let url = self.url(path);
        let (status, bytes) = self.send(method.clone(), &url, body).await?;
        if !(200..300).contains(&status) {
            return Err(Error::from_response(status, &bytes));
        }
        decode(&method, &url, &bytes)
    }

    /// Sends a request and returns status and body as they are, whatever the status.
    pub async fn request_raw<B>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<(u16, Vec<u8>)>
    where
        B: Serialize + ?Sized,
    {
        let url = self.url(path);
        let (status, bytes) = self.send(method, &url, body).await?;
        Ok((status, bytes.into()))
    }

    pub(crate) async fn get<R: DeserializeOwned>(&self, path: &str) -> Result<R> {
        self.request::<(), R>(Method::GET, path, None).await
    }

    pub(crate) async fn delete<R: DeserializeOwned>(&self, path: &str) -> Result<R> {
        self.request::<(), R>(Method::DELETE, path, None).await
    }

    pub(crate) async fn put<B: Serialize + ?Sized, R: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<R> {
        self.request(Method::PUT, path, Some(body)).await
    }

    pub(crate) async fn post<B: Serialize + ?Sized, R: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<R> {
        self.request(Method::POST, path, Some(body)).await
    }

    /// Sends `content` as the file field `field` of a `multipart/form-data` body (what
    /// `curl -F field=@file` sends) and decodes a success answer as `R`.
    pub(crate) async fn send_form<R: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        field: &str,
        filename: &str,
        content: &[u8],
    ) -> Result<R> {
        let url = self.url(path);
        let form = metal_util::multipart::file_form(field, filename, content);
        let (status, bytes) = self.send_body(method.clone(), &url, Some(form)).await?;
        if !(200..300).contains(&status) {
            return Err(Error::from_response(status, &bytes));
        }
        decode(&method, &url, &bytes)
    }

    async fn send<B>(&self, method: Method, url: &str, body: Option<&B>) -> Result<(u16, Bytes)>
    where
        B: Serialize + ?Sized,
    {
        let body = match body {
            Some(body) => {
                let json = serde_json::to_vec(body).map_err(|source| Error::Encode {
                    method: method.to_string(),
                    url: url.to_string(),
                    source,
                })?;
                Some(("application/json".to_string(), json))
            }
            None => None,
        };
        self.send_body(method, url, body).await
    }

    /// Signs and sends a request with an optional body of the given content type.
    async fn send_body(
        &self,
        method: Method,
        url: &str,
        body: Option<(String, Vec<u8>)>,
    ) -> Result<(u16, Bytes)> {
        let mut req = self.http.request(method.clone(), url);
        if let Some((content_type, body)) = body {
            req = req.header(CONTENT_TYPE, content_type).body(body);
        }
        match &self.auth {
            Auth::None => {}
            Auth::Bearer(token) => req = req.header(AUTHORIZATION, format!("Bearer {token}")),
            Auth::Hmac { key, auth_type } => {
                let h = hmac_headers(key, *auth_type, method.as_str(), Utc::now());
                req = req
                    .header(AUTHORIZATION, h.authorization)
                    .header(DATE_HEADER, h.date)
                    .header(SALT_HEADER, h.salt);
            }
        }
        let started = Instant::now();
        let connect_err = |source| Error::Connect {
            url: url.to_string(),
            source,
        };
        let resp = req.send().await.map_err(connect_err)?;
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await.map_err(connect_err)?;
        tracing::debug!(
            %method,
            url,
            status,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "metal-api request"
        );
        // the body as received, not copied (a fleet's machine list is tens of megabytes)
        Ok((status, bytes))
    }
}

fn decode<R: DeserializeOwned>(method: &Method, url: &str, bytes: &[u8]) -> Result<R> {
    let bytes: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
        b"null"
    } else {
        bytes
    };
    serde_json::from_slice(bytes).map_err(|source| Error::Decode {
        method: method.to_string(),
        url: url.to_string(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_with_exactly_one_slash() {
        for base in [
            "http://host:8080/metal/",
            "http://host:8080/metal",
            "http://host:8080/metal//",
        ] {
            assert_eq!(join_url(base, "/v1/size"), "http://host:8080/metal/v1/size");
            assert_eq!(join_url(base, "v1/size"), "http://host:8080/metal/v1/size");
        }
        assert_eq!(join_url("http://h:1", "v1/health"), "http://h:1/v1/health");
        assert_eq!(
            join_url("http://h:1/", "/v1/health"),
            "http://h:1/v1/health"
        );
    }

    #[test]
    fn base_url_is_validated() {
        assert_eq!(
            normalize_base_url("http://host:8080/metal/").unwrap(),
            "http://host:8080/metal"
        );
        assert_eq!(
            normalize_base_url(" https://api.example ").unwrap(),
            "https://api.example"
        );
        for bad in ["", "host:8080", "ftp://host/", "http://h/?x=1", "not a url"] {
            assert!(
                matches!(normalize_base_url(bad), Err(Error::InvalidUrl { .. })),
                "{bad:?} accepted"
            );
        }
    }

    #[test]
    fn client_url_uses_base_path() {
        let c = Client::new("http://localhost:8080/metal/", Auth::None).unwrap();
        assert_eq!(c.base_url(), "http://localhost:8080/metal");
        assert_eq!(c.url("v1/image"), "http://localhost:8080/metal/v1/image");
    }

    #[test]
    fn path_segments_are_encoded() {
        assert_eq!(encode_path_segment("ubuntu-20.04"), "ubuntu-20.04");
        assert_eq!(encode_path_segment("a b/c?d"), "a%20b%2Fc%3Fd");
        assert_eq!(encode_path_segment("ü"), "%C3%BC");
    }

    #[test]
    fn empty_body_decodes_as_null() {
        let v: Option<u8> = decode(&Method::GET, "u", b"").unwrap();
        assert_eq!(v, None);
        let v: () = decode(&Method::GET, "u", b" \n").unwrap();
        assert_eq!(v, ());
        let e = decode::<u8>(&Method::GET, "http://x/v1/a", b"{}").unwrap_err();
        assert_eq!(e.to_string(), "unexpected answer to GET http://x/v1/a");
    }

    #[test]
    fn debug_hides_credentials() {
        let c = Client::builder("http://h/")
            .hmac("supersecret", HmacAuthType::View)
            .build()
            .unwrap();
        assert!(!format!("{c:?}").contains("supersecret"));
        let b = Client::builder("http://h/").bearer("tok3n");
        assert!(!format!("{b:?}").contains("tok3n"));
    }
}
