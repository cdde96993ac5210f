//! AWS Signature Version 4, as S3 and S3-compatible stores (MinIO, Ceph RGW, moto) verify it:
//! signed headers for the requests metal-api sends itself, and query-string presigning for the
//! download URLs it hands to metal-bmc. The canonical forms follow AWS's documentation, whose
//! worked examples are the unit tests below.
//!
//! URLs are built in canonical form from the start ([`encode`] for path segments,
//! [`canonical_query`] for the query), so the path and query that are signed are byte for
//! byte the ones sent: the signer takes `url.path()` and `url.query()` as they are.

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use reqwest::Url;
use sha2::{Digest, Sha256};

use crate::config::Secret;

type HmacSha256 = Hmac<Sha256>;

/// The algorithm name in the `Authorization` header and the string to sign.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// The payload hash of a request without a body.
pub const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
/// The payload "hash" of a presigned URL: the body is not part of the signature.
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";
/// The longest validity of a presigned URL S3 accepts (7 days).
pub const MAX_PRESIGN_SECS: u64 = 7 * 24 * 3600;

/// Credentials and scope of the signatures; `Debug` does not show the secret.
#[derive(Debug, Clone)]
pub struct Signer {
    access_key: String,
    secret: Secret,
    region: String,
    service: String,
}

/// The hex SHA-256 of `data`.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut m = HmacSha256::new_from_slice(key).expect("HMAC takes keys of any length");
    m.update(data);
    m.finalize().into_bytes().to_vec()
}

/// URI-encodes `s` the way SigV4 wants it: every byte except the unreserved characters
/// `A-Z a-z 0-9 - _ . ~` becomes `%XX` (upper-case hex); `/` stays when `keep_slash`.
pub fn encode(s: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b'/' if keep_slash => out.push('/'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The canonical query string of `params`: names and values [`encode`]d, sorted by name and
/// then value, joined with `&`. Used both as the query sent and as the one signed.
pub fn canonical_query(params: &[(&str, &str)]) -> String {
    let mut pairs: Vec<(String, String)> = params
        .iter()
        .map(|(k, v)| (encode(k, false), encode(v, false)))
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// The `Host` header a client sends for `url`: the host, with the port when it is not the
/// scheme's default.
pub fn host_header(url: &Url) -> String {
    let host = url.host_str().unwrap_or_default();
    match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_string(),
    }
}

fn amz_date(now: DateTime<Utc>) -> String {
    now.format("%Y%m%dT%H%M%SZ").to_string()
}

/// The canonical request: method, path, query, the headers (lower-case names, sorted, values
/// trimmed), the list of signed headers and the payload hash, one per line.
pub fn canonical_request(
    method: &str,
    url: &Url,
    headers: &[(String, String)],
    payload_hash: &str,
) -> (String, String) {
    let mut h: Vec<(String, String)> = headers
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    h.sort();
    let canonical_headers: String = h.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();
    let signed = h
        .iter()
        .map(|(k, _)| k.as_str())
        .collect::<Vec<_>>()
        .join(";");
    let path = if url.path().is_empty() {
        "/"
    } else {
        url.path()
    };
    let text = format!(
        "{method}\n{path}\n{}\n{canonical_headers}\n{signed}\n{payload_hash}",
        url.query().unwrap_or("")
    );
    (text, signed)
}

impl Signer {
    pub fn new(
        access_key: impl Into<String>,
        secret: Secret,
        region: impl Into<String>,
        service: impl Into<String>,
    ) -> Self {
        Self {
            access_key: access_key.into(),
            secret,
            region: region.into(),
            service: service.into(),
        }
    }

    fn scope(&self, now: DateTime<Utc>) -> String {
        format!(
            "{}/{}/{}/aws4_request",
            now.format("%Y%m%d"),
            self.region,
            self.service
        )
    }

    /// The string to sign of a canonical request.
    pub fn string_to_sign(&self, canonical_request: &str, now: DateTime<Utc>) -> String {
        format!(
            "{ALGORITHM}\n{}\n{}\n{}",
            amz_date(now),
            self.scope(now),
            sha256_hex(canonical_request.as_bytes())
        )
    }

    /// The hex signature of a string to sign, with the key derived for the day, region and
    /// service.
    pub fn signature(&self, string_to_sign: &str, now: DateTime<Utc>) -> String {
        let date = now.format("%Y%m%d").to_string();
        let k = hmac(
            format!("AWS4{}", self.secret.expose()).as_bytes(),
            date.as_bytes(),
        );
        let k = hmac(&k, self.region.as_bytes());
        let k = hmac(&k, self.service.as_bytes());
        let k = hmac(&k, b"aws4_request");
        hex::encode(hmac(&k, string_to_sign.as_bytes()))
    }

    /// The headers that authorize a request to `url` (in canonical form, see the module
    /// documentation): `x-amz-date`, `x-amz-content-sha256` and `authorization`, to send
    /// together with `headers` (which are signed too; `host` is added).
    pub fn sign(
        &self,
        method: &str,
        url: &Url,
        headers: &[(String, String)],
        payload_hash: &str,
        now: DateTime<Utc>,
    ) -> Vec<(String, String)> {
        let mut all: Vec<(String, String)> = headers.to_vec();
        all.push(("host".into(), host_header(url)));
        all.push(("x-amz-content-sha256".into(), payload_hash.into()));
        all.push(("x-amz-date".into(), amz_date(now)));
        let (creq, signed) = canonical_request(method, url, &all, payload_hash);
        let sig = self.signature(&self.string_to_sign(&creq, now), now);
        vec![
            ("x-amz-content-sha256".into(), payload_hash.into()),
            ("x-amz-date".into(), amz_date(now)),
            (
                "authorization".into(),
                format!(
                    "{ALGORITHM} Credential={}/{},SignedHeaders={signed},Signature={sig}",
                    self.access_key,
                    self.scope(now)
                ),
            ),
        ]
    }

    /// A presigned URL for `method` on `url` (a URL without a query), valid for `expires_secs`
    /// from `now`: the `X-Amz-*` parameters in the query, only `host` signed, the payload
    /// unsigned.
    pub fn presign(&self, method: &str, url: &Url, expires_secs: u64, now: DateTime<Utc>) -> Url {
        let credential = format!("{}/{}", self.access_key, self.scope(now));
        let date = amz_date(now);
        let expires = expires_secs.to_string();
        let mut out = url.clone();
        out.set_query(Some(&canonical_query(&[
            ("X-Amz-Algorithm", ALGORITHM),
            ("X-Amz-Credential", &credential),
            ("X-Amz-Date", &date),
            ("X-Amz-Expires", &expires),
            ("X-Amz-SignedHeaders", "host"),
        ])));
        let headers = [("host".to_string(), host_header(url))];
        let (creq, _) = canonical_request(method, &out, &headers, UNSIGNED_PAYLOAD);
        let sig = self.signature(&self.string_to_sign(&creq, now), now);
        let query = format!("{}&X-Amz-Signature={sig}", out.query().unwrap_or(""));
        out.set_query(Some(&query));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    // The example credentials and time of AWS's SigV4 documentation for S3 ("Examples:
    // Signature Calculations in AWS Signature Version 4", bucket `examplebucket`).
    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

    fn example() -> (Signer, DateTime<Utc>) {
        let signer = Signer::new(
            "AKIAIOSFODNN7EXAMPLE",
            Secret::new(SECRET),
            "us-east-1",
            "s3",
        );
        (signer, Utc.with_ymd_and_hms(2013, 5, 24, 0, 0, 0).unwrap())
    }

    #[test]
    fn get_object_example_of_the_aws_documentation() {
        let (signer, now) = example();
        let url = Url::parse("https://examplebucket.s3.amazonaws.com/test.txt").unwrap();
        let headers = vec![
            ("host".to_string(), host_header(&url)),
            ("range".to_string(), "bytes=0-9".to_string()),
            ("x-amz-content-sha256".to_string(), EMPTY_SHA256.to_string()),
            ("x-amz-date".to_string(), "20130524T000000Z".to_string()),
        ];
        let (creq, signed) = canonical_request("GET", &url, &headers, EMPTY_SHA256);
        assert_eq!(
            creq,
            "GET\n/test.txt\n\nhost:examplebucket.s3.amazonaws.com\nrange:bytes=0-9\n\
             x-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n\
             x-amz-date:20130524T000000Z\n\nhost;range;x-amz-content-sha256;x-amz-date\n\
             e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(signed, "host;range;x-amz-content-sha256;x-amz-date");
        let sts = signer.string_to_sign(&creq, now);
        assert_eq!(
            sts,
            "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n\
             7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972"
        );
        assert_eq!(
            signer.signature(&sts, now),
            "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
        );

        // the same through `sign`, which adds host, date and payload hash itself
        let auth = signer.sign(
            "GET",
            &url,
            &[("range".into(), "bytes=0-9".into())],
            EMPTY_SHA256,
            now,
        );
        let authorization = &auth.iter().find(|(k, _)| k == "authorization").unwrap().1;
        assert_eq!(
            authorization,
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,\
             SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,\
             Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
        );
    }

    #[test]
    fn list_objects_example_of_the_aws_documentation() {
        let (signer, now) = example();
        let mut url = Url::parse("https://examplebucket.s3.amazonaws.com/").unwrap();
        url.set_query(Some(&canonical_query(&[
            ("prefix", "J"),
            ("max-keys", "2"),
        ])));
        assert_eq!(url.query(), Some("max-keys=2&prefix=J"));
        let auth = signer.sign("GET", &url, &[], EMPTY_SHA256, now);
        assert!(
            auth[2].1.ends_with(
                "Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"
            ),
            "{auth:?}"
        );
    }

    #[test]
    fn presigned_url_example_of_the_aws_documentation() {
        let (signer, now) = example();
        let url = Url::parse("https://examplebucket.s3.amazonaws.com/test.txt").unwrap();
        let presigned = signer.presign("GET", &url, 86400, now);
        assert_eq!(
            presigned.as_str(),
            "https://examplebucket.s3.amazonaws.com/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256\
             &X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request\
             &X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host\
             &X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
        );
    }

    #[test]
    fn encoding_keeps_only_unreserved_characters() {
        assert_eq!(
            encode("bios/dell/R640/1.2~b_c-d", true),
            "bios/dell/R640/1.2~b_c-d"
        );
        assert_eq!(encode("a b+c=d/é", false), "a%20b%2Bc%3Dd%2F%C3%A9");
        assert_eq!(encode("a b/c", true), "a%20b/c");
        assert_eq!(
            canonical_query(&[("b", "2"), ("a", "x y"), ("continuation-token", "1/+=")]),
            "a=x%20y&b=2&continuation-token=1%2F%2B%3D"
        );
        // the url crate keeps a canonical path and query as they are
        let mut url = Url::parse("http://127.0.0.1:9000").unwrap();
        url.set_path("/firmware/bios/a%20b%21%28%29/%C3%A9");
        url.set_query(Some("a=x%20y&b=%2B"));
        assert_eq!(url.path(), "/firmware/bios/a%20b%21%28%29/%C3%A9");
        assert_eq!(url.query(), Some("a=x%20y&b=%2B"));
        assert_eq!(host_header(&url), "127.0.0.1:9000");
        assert_eq!(
            host_header(&Url::parse("https://s3.example:443/x").unwrap()),
            "s3.example"
        );
    }

    #[test]
    fn the_secret_is_not_in_debug_or_signatures() {
        let (signer, now) = example();
        assert!(!format!("{signer:?}").contains(SECRET));
        let url = Url::parse("http://127.0.0.1:9000/b/k").unwrap();
        let auth = signer.sign("PUT", &url, &[], EMPTY_SHA256, now);
        assert!(!format!("{auth:?}").contains(SECRET));
        assert!(!signer
            .presign("GET", &url, 60, now)
            .as_str()
            .contains(SECRET));
    }
}
