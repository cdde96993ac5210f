//! Secrets handed to booting machines: one-time tokens for `/certs/<token>` (the MetalConfig
//! with the gRPC client key) and signed ids for `/_/file?name=<id>` (so pixie only proxies the
//! URLs it put into a script itself).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac as _};
use rand::RngCore;
use sha2::Sha256;

use crate::dhcp::Mac;

/// Why a token is refused (the message is safe to show to the client).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("unknown or already used token")]
    Unknown,
    #[error("token expired")]
    Expired,
}

/// One-time tokens bound to a MAC, valid for a TTL.
#[derive(Debug)]
pub struct Tokens {
    ttl: Duration,
    issued: Mutex<HashMap<String, (Mac, Instant)>>,
}

impl Tokens {
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            issued: Mutex::new(HashMap::new()),
        }
    }

    /// A new token for `mac`: 32 random bytes, URL-safe base64.
    pub fn issue(&self, mac: Mac) -> String {
        self.issue_at(mac, Instant::now())
    }

    pub fn issue_at(&self, mac: Mac, now: Instant) -> String {
        let mut raw = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut raw);
        let token = URL_SAFE_NO_PAD.encode(raw);
        let mut map = self.issued.lock().unwrap_or_else(|e| e.into_inner());
        let ttl = self.ttl;
        map.retain(|_, (_, at)| now.saturating_duration_since(*at) < ttl);
        map.insert(token.clone(), (mac, now));
        token
    }

    /// Redeems a token once; returns the MAC it was issued for.
    pub fn redeem(&self, token: &str) -> Result<Mac, TokenError> {
        self.redeem_at(token, Instant::now())
    }

    pub fn redeem_at(&self, token: &str, now: Instant) -> Result<Mac, TokenError> {
        let mut map = self.issued.lock().unwrap_or_else(|e| e.into_inner());
        let (mac, at) = map.remove(token).ok_or(TokenError::Unknown)?;
        if now.saturating_duration_since(at) >= self.ttl {
            return Err(TokenError::Expired);
        }
        Ok(mac)
    }
}

/// Signs URLs with HMAC-SHA256 under a per-process random key: `<base64 url>.<base64 mac>`.
pub struct Signer {
    key: [u8; 32],
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Signer { key: <redacted> }")
    }
}

impl Default for Signer {
    fn default() -> Self {
        let mut key = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut key);
        Self { key }
    }
}

impl Signer {
    fn mac(&self) -> Hmac<Sha256> {
        // HMAC accepts keys of any length.
        Hmac::<Sha256>::new_from_slice(&self.key).unwrap_or_else(|_| unreachable!())
    }

    pub fn sign(&self, url: &str) -> String {
        let mut m = self.mac();
        m.update(url.as_bytes());
        let tag = m.finalize().into_bytes();
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(url),
            URL_SAFE_NO_PAD.encode(tag)
        )
    }

    /// The URL of a valid id.
    pub fn verify(&self, id: &str) -> Option<String> {
        let (url, tag) = id.split_once('.')?;
        let url = URL_SAFE_NO_PAD.decode(url).ok()?;
        let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
        let mut m = self.mac();
        m.update(&url);
        m.verify_slice(&tag).ok()?;
        String::from_utf8(url).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAC: Mac = Mac([2, 0, 0, 0, 0, 1]);

    #[test]
    fn tokens_are_one_time_and_expire() {
        let t = Tokens::new(Duration::from_secs(60));
        let start = Instant::now();
        let a = t.issue_at(MAC, start);
        let b = t.issue_at(MAC, start);
        assert_ne!(a, b);
        assert_eq!(URL_SAFE_NO_PAD.decode(&a).unwrap().len(), 32);
        assert_eq!(t.redeem_at(&a, start + Duration::from_secs(59)), Ok(MAC));
        assert_eq!(t.redeem_at(&a, start), Err(TokenError::Unknown));
        assert_eq!(
            t.redeem_at(&b, start + Duration::from_secs(60)),
            Err(TokenError::Expired)
        );
        assert_eq!(t.redeem_at(&b, start), Err(TokenError::Unknown));
        assert_eq!(t.redeem_at("", start), Err(TokenError::Unknown));
    }

    #[test]
    fn expired_tokens_are_pruned_when_new_ones_are_issued() {
        let t = Tokens::new(Duration::from_secs(1));
        let start = Instant::now();
        let old = t.issue_at(MAC, start);
        t.issue_at(MAC, start + Duration::from_secs(5));
        assert_eq!(t.issued.lock().unwrap().len(), 1);
        assert_eq!(t.redeem_at(&old, start), Err(TokenError::Unknown));
    }

    #[test]
    fn signed_ids_verify_and_resist_tampering() {
        let s = Signer::default();
        let url = "http://images.test/vmlinuz?x=1&y=2";
        let id = s.sign(url);
        assert!(id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)));
        assert_eq!(s.verify(&id).as_deref(), Some(url));
        let (u, tag) = id.split_once('.').unwrap();
        let other = URL_SAFE_NO_PAD.encode("http://evil.test/");
        assert_eq!(s.verify(&format!("{other}.{tag}")), None);
        assert_eq!(s.verify(&format!("{u}.{}", &tag[1..])), None);
        assert_eq!(s.verify(u), None);
        assert_eq!(Signer::default().verify(&id), None, "another process's key");
        assert!(!format!("{s:?}").contains(&hex::encode(s.key)));
    }
}
