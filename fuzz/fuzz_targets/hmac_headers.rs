//! The HMAC headers of a request (`Authorization`, `X-Date`, `X-Data-Salt`) as metal-api checks
//! them: any bytes in any header answer an error or a verdict, never a panic, and a signature
//! made with the key verifies.
#![no_main]

use libfuzzer_sys::fuzz_target;
use metal_util::hmac::{check_request, hmac_signature};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut parts = text.splitn(4, '\n');
    let (auth, date, salt, method) = (
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
        parts.next().unwrap_or("GET"),
    );
    let now = chrono::DateTime::UNIX_EPOCH;
    let window = chrono::Duration::seconds(900);
    let (_, signature) = auth.split_once(' ').unwrap_or((auth, ""));
    let _ = check_request(b"key", method, date, salt, signature, now, window);
    // the real signature of these headers is accepted whenever the date is in the window
    let good = hmac_signature(b"key", date, method, salt);
    if let Err(e) = check_request(b"key", method, date, salt, &good, now, chrono::Duration::zero()) {
        assert!(e.contains("X-Date"), "{e}");
    }
});
