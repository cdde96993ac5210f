//! The signature of metal-stack's HMAC authentication (metal-lib's `security` package):
//! `hex(HMAC-SHA256(key, X-Date ‖ method ‖ X-Data-Salt))`, sent as
//! `Authorization: <Type> <signature>`. metal-client and the test clients sign with
//! [`hmac_signature`]; metal-api checks with [`hmac_verify`], the same computation.

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;

fn mac(key: &[u8], date: &str, method: &str, salt: &str) -> Hmac<Sha256> {
    // HMAC accepts keys of any length, so this cannot fail
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("hmac takes any key length");
    mac.update(date.as_bytes());
    mac.update(method.as_bytes());
    mac.update(salt.as_bytes());
    mac
}

/// `hex(HMAC-SHA256(key, date ‖ method ‖ salt))`, lowercase.
pub fn hmac_signature(key: impl AsRef<[u8]>, date: &str, method: &str, salt: &str) -> String {
    hex::encode(
        mac(key.as_ref(), date, method, salt)
            .finalize()
            .into_bytes(),
    )
}

/// Whether `signature` (the decoded bytes of the hex in the header) is the signature of
/// `date`, `method` and `salt` with `key`; compared in constant time.
pub fn hmac_verify(
    key: impl AsRef<[u8]>,
    date: &str,
    method: &str,
    salt: &str,
    signature: &[u8],
) -> bool {
    mac(key.as_ref(), date, method, salt)
        .verify_slice(signature)
        .is_ok()
}

/// Checks a request's HMAC headers with `key`: `date` (`X-Date`) must be an RFC 3339 time
/// within `lifetime` of `now` (a zero lifetime: any time), and `signature` (the hex of the
/// `Authorization` header) the signature of `date`, `method` and `salt` (`X-Data-Salt`). The
/// error says which check failed, never the key.
pub fn check_request(
    key: impl AsRef<[u8]>,
    method: &str,
    date: &str,
    salt: &str,
    signature: &str,
    now: DateTime<Utc>,
    lifetime: chrono::Duration,
) -> Result<(), String> {
    let when: DateTime<Utc> = DateTime::parse_from_rfc3339(date)
        .map_err(|_| format!("X-Date {date:?} is not an RFC 3339 time"))?
        .with_timezone(&Utc);
    if lifetime > chrono::Duration::zero() {
        let age = now.signed_duration_since(when);
        if age > lifetime || -age > lifetime {
            return Err(format!(
                "X-Date {date} is outside the allowed window of {} seconds",
                lifetime.num_seconds()
            ));
        }
    }
    let given = hex::decode(signature).map_err(|_| "signature is not hex".to_string())?;
    if !hmac_verify(key, date, method, salt, &given) {
        return Err("invalid HMAC signature".to_string());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    // Vectors computed independently with Python:
    // hmac.new(key, date + method + salt, hashlib.sha256).hexdigest()
    const VECTORS: &[(&str, &str, &str, &str, &str)] = &[
        (
            "secret",
            "2024-05-27T10:00:00Z",
            "GET",
            "abcdefghijklmnopqrstuvwx",
            "93620aaaf712c339f00bbafbd800975498e36ed2cbdfd5f22c59dbc2c19648be",
        ),
        (
            "metal-admin-secret",
            "2024-05-27T10:00:00Z",
            "GET",
            "abcdefghijklmnopqrstuvwx",
            "2e2c31036e0fcf5a2b15bf6597c95788b33b2644003e03774516eeaf08a54c69",
        ),
        (
            "k",
            "2024-01-01T00:00:00Z",
            "PUT",
            "ABCDEFGHIJKLMNOPQRSTUVWX",
            "276d3200c110a50828a1a78d068159fd4df99e06a3a24f532862c7f5b03d51bb",
        ),
    ];

    #[test]
    fn signatures_match_reference_vectors() {
        for (key, date, method, salt, want) in VECTORS {
            assert_eq!(hmac_signature(key, date, method, salt), *want, "{key}");
            assert_eq!(
                hmac_signature(key.as_bytes(), date, method, salt),
                *want,
                "{key}"
            );
        }
    }

    #[test]
    fn verify_accepts_the_signature_and_nothing_else() {
        for (key, date, method, salt, want) in VECTORS {
            let sig = hex::decode(want).unwrap();
            assert!(hmac_verify(key, date, method, salt, &sig));
            assert!(!hmac_verify("other", date, method, salt, &sig));
            assert!(!hmac_verify(key, date, "DELETE", salt, &sig));
            assert!(!hmac_verify(key, date, method, "salt", &sig));
            assert!(!hmac_verify(key, date, method, salt, &sig[1..]));
        }
    }

    #[test]
    fn requests_are_checked_in_order() {
        let now: DateTime<Utc> = "2024-05-27T10:00:00Z".parse().unwrap();
        let date = "2024-05-27T10:00:00Z";
        let good = hmac_signature(b"k", date, "GET", "salt");
        let window = chrono::Duration::seconds(60);
        let check = |date: &str, sig: &str, lifetime| {
            check_request(b"k", "GET", date, "salt", sig, now, lifetime)
        };
        assert_eq!(check(date, &good, window), Ok(()));
        // (date, signature, lifetime, error)
        let cases = [
            (
                "yesterday",
                good.as_str(),
                window,
                "X-Date \"yesterday\" is not an RFC 3339 time",
            ),
            (
                "2024-05-27T09:00:00Z",
                good.as_str(),
                window,
                "X-Date 2024-05-27T09:00:00Z is outside the allowed window of 60 seconds",
            ),
            (date, "zz", window, "signature is not hex"),
            (date, "00", window, "invalid HMAC signature"),
        ];
        for (d, sig, lifetime, want) in cases {
            assert_eq!(check(d, sig, lifetime), Err(want.to_string()), "{d} {sig}");
        }
        // no lifetime: an old date is fine when signed
        let old = "2000-01-01T00:00:00Z";
        let signed = hmac_signature(b"k", old, "GET", "salt");
        assert_eq!(check(old, &signed, chrono::Duration::zero()), Ok(()));
    }
}
