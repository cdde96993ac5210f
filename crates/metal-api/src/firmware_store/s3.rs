//! The firmware files in a bucket of an S3-compatible store (AWS S3, MinIO, Ceph RGW), one
//! object per key at `kind/vendor/board/revision` as metal-stack keeps them, addressed
//! path-style (`{endpoint}/{bucket}/{key}`) and signed with [`super::sigv4`]. The operations:
//! CreateBucket at start (unless the bucket exists), PutObject, HeadObject, DeleteObject,
//! ListObjectsV2 with continuation tokens, and presigned GETs for metal-bmc.

use std::io;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use metal_domain::firmware::FirmwareKey;
use reqwest::{Method, StatusCode, Url};

use super::sigv4::{self, canonical_query, encode, Signer};
use super::xml;
use crate::config::Secret;

/// Where the bucket is and how to sign for it.
#[derive(Debug, Clone)]
pub struct S3Settings {
    /// `http(s)://host:port`, optionally with a path prefix.
    pub endpoint: String,
    pub access_key: String,
    pub secret: Secret,
    pub bucket: String,
    pub region: String,
    /// Keys per ListObjectsV2 page (1000, S3's maximum, unless a test wants pages).
    pub page_size: u32,
}

/// A failed S3 operation: what, on which bucket and key, and S3's error code and message (or
/// the transport error). Never the credentials.
#[derive(Debug, thiserror::Error)]
#[error("S3 {op} of {target}: {detail}")]
pub struct S3Error {
    op: &'static str,
    target: String,
    detail: String,
}

impl From<S3Error> for io::Error {
    fn from(e: S3Error) -> Self {
        io::Error::other(e)
    }
}

/// A client of one bucket; cheap to clone.
#[derive(Debug, Clone)]
pub struct S3Store {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    http: reqwest::Client,
    endpoint: Url,
    bucket: String,
    region: String,
    signer: Signer,
    page_size: u32,
    /// Set once the bucket is known to exist; until then each operation checks first.
    bucket_ready: tokio::sync::OnceCell<()>,
}

/// What one request sends besides method and URL.
struct Req<'a> {
    op: &'static str,
    method: Method,
    key: Option<&'a str>,
    query: &'a [(&'a str, &'a str)],
    headers: Vec<(String, String)>,
    body: reqwest::Body,
    payload_hash: String,
}

impl<'a> Req<'a> {
    fn new(op: &'static str, method: Method, key: Option<&'a str>) -> Self {
        Self {
            op,
            method,
            key,
            query: &[],
            headers: Vec::new(),
            body: reqwest::Body::from(Vec::new()),
            payload_hash: sigv4::EMPTY_SHA256.into(),
        }
    }
}

/// Checks an endpoint URL: http or https, a host, no credentials, query or fragment.
pub fn parse_endpoint(endpoint: &str) -> Result<Url, String> {
    let url = Url::parse(endpoint).map_err(|e| format!("{endpoint:?}: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(format!("{endpoint:?} must be an http:// or https:// URL"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(
            "the S3 endpoint must not hold credentials (use --s3-key and --s3-secret)".into(),
        );
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!("{endpoint:?} must not have a query or fragment"));
    }
    Ok(url)
}

/// Checks a bucket name against S3's rules (3 to 63 characters: lower-case letters, digits,
/// dots and dashes, starting and ending with a letter or digit).
pub fn check_bucket(name: &str) -> Result<(), String> {
    let ok_chars = name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-');
    let ends = |b: Option<u8>| b.is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if (3..=63).contains(&name.len())
        && ok_chars
        && ends(name.bytes().next())
        && ends(name.bytes().last())
    {
        Ok(())
    } else {
        Err(format!(
            "bucket name {name:?} is not valid: 3 to 63 lower-case letters, digits, '.' or '-', starting and ending with a letter or digit"
        ))
    }
}

/// A transport error with its causes (reqwest's own text omits them).
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        out.push_str(": ");
        out.push_str(&s.to_string());
        src = s.source();
    }
    out
}

impl S3Store {
    pub fn new(settings: &S3Settings) -> io::Result<Self> {
        let endpoint = parse_endpoint(&settings.endpoint).map_err(io::Error::other)?;
        check_bucket(&settings.bucket).map_err(io::Error::other)?;
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .read_timeout(Duration::from_secs(120))
            .build()
            .map_err(io::Error::other)?;
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                endpoint,
                bucket: settings.bucket.clone(),
                region: settings.region.clone(),
                signer: Signer::new(
                    settings.access_key.clone(),
                    settings.secret.clone(),
                    settings.region.clone(),
                    "s3",
                ),
                page_size: settings.page_size.clamp(1, 1000),
                bucket_ready: tokio::sync::OnceCell::new(),
            }),
        })
    }

    /// `s3://bucket at endpoint`, for logs.
    pub fn describe(&self) -> String {
        format!(
            "S3 bucket {} at {}",
            self.inner.bucket,
            self.inner.endpoint.as_str().trim_end_matches('/')
        )
    }

    fn target(&self, key: Option<&str>) -> String {
        match key {
            Some(k) => format!("s3://{}/{k}", self.inner.bucket),
            None => format!("bucket {}", self.inner.bucket),
        }
    }

    /// The path-style URL of the bucket or of one object, in canonical form.
    fn url(&self, key: Option<&str>) -> Url {
        let mut url = self.inner.endpoint.clone();
        let mut path = format!(
            "{}/{}",
            url.path().trim_end_matches('/'),
            encode(&self.inner.bucket, false)
        );
        if let Some(k) = key {
            path.push('/');
            path.push_str(&encode(k, true));
        }
        url.set_path(&path);
        url
    }

    fn fail(&self, op: &'static str, key: Option<&str>, detail: impl Into<String>) -> S3Error {
        S3Error {
            op,
            target: self.target(key),
            detail: detail.into(),
        }
    }

    /// Sends a signed request; transport errors become [`S3Error`]s, answers are returned
    /// whatever their status.
    async fn send(&self, req: Req<'_>) -> Result<reqwest::Response, S3Error> {
        let mut url = self.url(req.key);
        if !req.query.is_empty() {
            url.set_query(Some(&canonical_query(req.query)));
        }
        let auth = self.inner.signer.sign(
            req.method.as_str(),
            &url,
            &req.headers,
            &req.payload_hash,
            Utc::now(),
        );
        let mut builder = self.inner.http.request(req.method, url);
        for (k, v) in req.headers.iter().chain(auth.iter()) {
            builder = builder.header(k, v);
        }
        builder
            .body(req.body)
            .send()
            .await
            .map_err(|e| self.fail(req.op, req.key, chain(&e)))
    }

    /// The status, S3 error code and message of an answer that is not a success (HEAD
    /// answers have no body: the status alone).
    async fn error_parts(resp: reqwest::Response) -> (StatusCode, Option<String>, String) {
        let status = resp.status();
        let body = resp.text().await.unwrap_or_default();
        let code = xml::text(&body, "Code");
        let detail = match (&code, xml::text(&body, "Message")) {
            (Some(code), Some(msg)) => format!("HTTP {status}: {code}: {msg}"),
            (Some(code), None) => format!("HTTP {status}: {code}"),
            _ => format!("HTTP {status}"),
        };
        (status, code, detail)
    }

    async fn error_of(
        &self,
        op: &'static str,
        key: Option<&str>,
        resp: reqwest::Response,
    ) -> S3Error {
        let (_, _, detail) = Self::error_parts(resp).await;
        self.fail(op, key, detail)
    }

    /// Creates the bucket unless it exists, once: at start, or, when the store could not be
    /// reached then, before the first operation that succeeds.
    pub async fn ensure_bucket(&self) -> io::Result<()> {
        self.inner
            .bucket_ready
            .get_or_try_init(|| self.create_bucket())
            .await
            .map(|_| ())
    }

    /// Looks for the bucket with a listing of one key (the permission the store needs anyway,
    /// and unlike HeadBucket its errors carry S3's code), creates it when S3 answers
    /// NoSuchBucket (credentials that may use but not create buckets work with an existing
    /// one).
    async fn create_bucket(&self) -> io::Result<()> {
        let query = [("list-type", "2"), ("max-keys", "1")];
        let mut probe = Req::new("ListObjectsV2", Method::GET, None);
        probe.query = &query;
        let resp = self.send(probe).await?;
        if resp.status().is_success() {
            return Ok(());
        }
        let (_, code, detail) = Self::error_parts(resp).await;
        if code.as_deref() != Some("NoSuchBucket") {
            return Err(self.fail("ListObjectsV2", None, detail).into());
        }
        let mut req = Req::new("CreateBucket", Method::PUT, None);
        let region = &self.inner.region;
        if region != "us-east-1" {
            let body = format!(
                "<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><LocationConstraint>{region}</LocationConstraint></CreateBucketConfiguration>"
            );
            req.payload_hash = sigv4::sha256_hex(body.as_bytes());
            req.body = body.into();
        }
        let resp = self.send(req).await?;
        if resp.status().is_success() {
            tracing::info!(bucket = %self.inner.bucket, "created the firmware bucket");
            return Ok(());
        }
        match Self::error_parts(resp).await {
            (_, Some(code), _) if code == "BucketAlreadyOwnedByYou" => Ok(()),
            (_, _, detail) => Err(self.fail("CreateBucket", None, detail).into()),
        }
    }

    /// Whether the object of `key` exists (HeadObject).
    pub async fn exists(&self, key: &FirmwareKey) -> io::Result<bool> {
        self.ensure_bucket().await?;
        let path = key.path();
        let resp = self
            .send(Req::new("HeadObject", Method::HEAD, Some(&path)))
            .await?;
        match resp.status() {
            s if s.is_success() => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            _ => Err(self.error_of("HeadObject", Some(&path), resp).await.into()),
        }
    }

    /// Stores the file at `file` (of `len` bytes with the hex SHA-256 `sha256`) as the object
    /// of `key`, streamed from the file (PutObject).
    pub async fn put_file(
        &self,
        key: &FirmwareKey,
        file: &Path,
        len: u64,
        sha256: &str,
    ) -> io::Result<()> {
        self.ensure_bucket().await?;
        let path = key.path();
        let f = tokio::fs::File::open(file).await?;
        let mut req = Req::new("PutObject", Method::PUT, Some(&path));
        req.headers = vec![
            ("content-length".into(), len.to_string()),
            ("content-type".into(), "application/octet-stream".into()),
        ];
        req.body = reqwest::Body::from(f);
        req.payload_hash = sha256.into();
        let resp = self.send(req).await?;
        if !resp.status().is_success() {
            return Err(self.error_of("PutObject", Some(&path), resp).await.into());
        }
        Ok(())
    }

    /// Removes the object of `key`; `false` when there was none (HeadObject first: S3 answers
    /// DeleteObject of a missing key with success).
    pub async fn delete(&self, key: &FirmwareKey) -> io::Result<bool> {
        if !self.exists(key).await? {
            return Ok(false);
        }
        let path = key.path();
        let resp = self
            .send(Req::new("DeleteObject", Method::DELETE, Some(&path)))
            .await?;
        if !resp.status().is_success() {
            return Err(self
                .error_of("DeleteObject", Some(&path), resp)
                .await
                .into());
        }
        Ok(true)
    }

    /// Every object that is a firmware key, page by page (ListObjectsV2 with continuation
    /// tokens); other objects are passed over.
    pub async fn list(&self) -> io::Result<Vec<FirmwareKey>> {
        self.ensure_bucket().await?;
        let page = self.inner.page_size.to_string();
        let mut token: Option<String> = None;
        let mut out = Vec::new();
        loop {
            let mut query = vec![("list-type", "2"), ("max-keys", page.as_str())];
            if let Some(t) = &token {
                query.push(("continuation-token", t.as_str()));
            }
            let mut req = Req::new("ListObjectsV2", Method::GET, None);
            req.query = &query;
            let resp = self.send(req).await?;
            if !resp.status().is_success() {
                return Err(self.error_of("ListObjectsV2", None, resp).await.into());
            }
            let body = resp
                .text()
                .await
                .map_err(|e| self.fail("ListObjectsV2", None, chain(&e)))?;
            out.extend(
                xml::texts(&body, "Key")
                    .iter()
                    .filter_map(|k| FirmwareKey::from_path(k)),
            );
            if xml::text(&body, "IsTruncated").as_deref() != Some("true") {
                break;
            }
            match xml::text(&body, "NextContinuationToken") {
                Some(t) if !t.is_empty() => token = Some(t),
                _ => {
                    return Err(self
                        .fail(
                            "ListObjectsV2",
                            None,
                            "a truncated listing without a continuation token",
                        )
                        .into())
                }
            }
        }
        out.sort();
        Ok(out)
    }

    /// A presigned GET of the object of `key`, valid for `ttl` (1 s to 7 days).
    pub fn presign_get(&self, key: &FirmwareKey, ttl: Duration) -> io::Result<String> {
        let secs = ttl.as_secs();
        if secs == 0 || secs > sigv4::MAX_PRESIGN_SECS {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "a presigned S3 URL is valid for 1 s to 7 days, not {}s",
                    ttl.as_secs()
                ),
            ));
        }
        let url = self.url(Some(&key.path()));
        Ok(self
            .inner
            .signer
            .presign("GET", &url, secs, Utc::now())
            .to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(endpoint: &str) -> S3Store {
        S3Store::new(&S3Settings {
            endpoint: endpoint.into(),
            access_key: "AKIA".into(),
            secret: Secret::new("very-secret"),
            bucket: "firmware".into(),
            region: "us-east-1".into(),
            page_size: 1000,
        })
        .unwrap()
    }

    #[test]
    fn urls_are_path_style_and_canonical() {
        let key = FirmwareKey::new("bios", "Dell Inc.", "r640 (a)", "1.2+b").unwrap();
        let s = store("http://127.0.0.1:9000");
        assert_eq!(
            s.url(Some(&key.path())).as_str(),
            "http://127.0.0.1:9000/firmware/bios/dell%20inc./R640%20%28A%29/1.2%2Bb"
        );
        assert_eq!(s.url(None).as_str(), "http://127.0.0.1:9000/firmware");
        let prefixed = store("https://s3.example/storage/");
        assert_eq!(
            prefixed.url(Some("bmc/a/B/1")).as_str(),
            "https://s3.example/storage/firmware/bmc/a/B/1"
        );
        let url = s.presign_get(&key, Duration::from_secs(60)).unwrap();
        assert!(
            url.starts_with("http://127.0.0.1:9000/firmware/bios/dell%20inc./R640%20%28A%29/1.2%2Bb?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIA%2F"),
            "{url}"
        );
        assert!(url.contains("&X-Amz-Expires=60&"), "{url}");
        assert!(!url.contains("very-secret"));
        assert!(s.presign_get(&key, Duration::from_secs(8 * 86400)).is_err());
        assert!(!format!("{s:?}").contains("very-secret"));
    }

    #[test]
    fn endpoints_and_buckets_are_checked() {
        assert!(parse_endpoint("http://127.0.0.1:9000").is_ok());
        assert!(parse_endpoint("127.0.0.1:9000").is_err());
        assert!(parse_endpoint("ftp://host").is_err());
        assert!(parse_endpoint("http://key:secret@host")
            .unwrap_err()
            .contains("--s3-key"));
        assert!(parse_endpoint("http://host/?x=1").is_err());
        for ok in ["firmware", "metal-firmware.1", "abc"] {
            assert!(check_bucket(ok).is_ok(), "{ok}");
        }
        for bad in [
            "fw",
            "Firmware",
            "-firmware",
            "firmware-",
            "a_b",
            &"a".repeat(64),
        ] {
            assert!(check_bucket(bad).is_err(), "{bad}");
        }
    }
}
