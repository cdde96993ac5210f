//! `authorized_keys` lines: what an allocation accepts as ssh public keys.

use crate::error::{DomainError, DomainResult};

/// Checks an `authorized_keys` line: `[options] type base64 [comment]` with a known key type
/// and a base64 blob that names the same type.
pub fn validate_ssh_key(line: &str) -> DomainResult<()> {
    const TYPES: &[&str] = &[
        "ssh-ed25519",
        "ssh-rsa",
        "ecdsa-sha2-nistp256",
        "ecdsa-sha2-nistp384",
        "ecdsa-sha2-nistp521",
        "sk-ssh-ed25519@openssh.com",
        "sk-ecdsa-sha2-nistp256@openssh.com",
        "ssh-dss",
    ];
    let bad = || {
        DomainError::invalid(format!(
            "ssh_pub_keys: {:?} is not an ssh public key",
            truncate(line)
        ))
    };
    let words: Vec<&str> = line.split_whitespace().collect();
    let at = words
        .iter()
        .position(|w| TYPES.contains(w))
        .ok_or_else(bad)?;
    let blob = words.get(at + 1).ok_or_else(bad)?;
    let bytes = base64_decode(blob).ok_or_else(bad)?;
    // the blob starts with the length-prefixed key type
    let len = bytes
        .get(..4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
        .ok_or_else(bad)?;
    let name = bytes.get(4..4 + len).ok_or_else(bad)?;
    if name != words[at].as_bytes() {
        return Err(bad());
    }
    Ok(())
}

fn truncate(s: &str) -> String {
    if s.chars().count() > 40 {
        format!("{}…", s.chars().take(40).collect::<String>())
    } else {
        s.to_string()
    }
}

/// Standard base64 with padding (as in authorized_keys); `None` when malformed.
fn base64_decode(s: &str) -> Option<Vec<u8>> {
    fn val(c: u8) -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    }
    let s = s.as_bytes();
    if s.is_empty() || !s.len().is_multiple_of(4) {
        return None;
    }
    let mut out = Vec::with_capacity(s.len() / 4 * 3);
    for chunk in s.chunks(4) {
        let pad = chunk.iter().rev().take_while(|c| **c == b'=').count();
        if pad > 2 {
            return None;
        }
        let mut n = 0u32;
        for (i, c) in chunk.iter().enumerate() {
            let v = if i >= 4 - pad { 0 } else { val(*c)? };
            n = (n << 6) | v;
        }
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&bytes[..3 - pad]);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ED25519: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl user@host";

    #[test]
    fn ssh_keys() {
        assert!(validate_ssh_key(ED25519).is_ok());
        assert!(validate_ssh_key(&format!("no-pty {ED25519}")).is_ok());
        for bad in [
            "",
            "ssh-ed25519",
            "ssh-ed25519 notbase64!",
            "ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl",
            "hello world",
        ] {
            assert!(validate_ssh_key(bad).is_err(), "{bad:?} accepted");
        }
    }
}
