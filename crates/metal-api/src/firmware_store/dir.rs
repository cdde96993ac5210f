//! The firmware files in a directory (by default `firmware/` in the data directory), one file
//! per key at `kind/vendor/board/revision`, and the signed download URLs metal-api serves for
//! them itself (`GET {base}firmware-download/kind/vendor/board/revision?expires=&signature=`).

use std::io;
use std::path::{Path, PathBuf};

use hmac::{Hmac, Mac};
use metal_domain::firmware::FirmwareKey;
use sha2::Sha256;

use super::sigv4::encode;
use crate::config::Secret;

/// The first path segment of the download route, behind the base path.
pub const DOWNLOAD_ROUTE: &str = "firmware-download";

/// Where uploads are written before they are complete: beside the files, so that moving one
/// into place is a rename, and at a depth no key has, so that a listing never shows it.
const UPLOADS: &str = ".uploads";

/// A directory of firmware files.
#[derive(Debug, Clone)]
pub struct DirStore {
    root: PathBuf,
}

impl DirStore {
    pub fn new(root: PathBuf) -> Self {
        Self { root }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn path_of(&self, key: &FirmwareKey) -> PathBuf {
        self.root.join(key.path())
    }

    pub fn uploads(&self) -> PathBuf {
        self.root.join(UPLOADS)
    }

    /// Every stored key (files at other places are not firmware and are passed over).
    pub async fn list(&self) -> io::Result<Vec<FirmwareKey>> {
        let root = self.root.clone();
        tokio::task::spawn_blocking(move || {
            let mut out = Vec::new();
            walk(&root, &root, 0, &mut out)?;
            out.sort();
            Ok(out)
        })
        .await
        .map_err(io::Error::other)?
    }

    pub async fn exists(&self, key: &FirmwareKey) -> bool {
        tokio::fs::metadata(self.path_of(key))
            .await
            .is_ok_and(|m| m.is_file())
    }

    pub async fn delete(&self, key: &FirmwareKey) -> io::Result<bool> {
        match tokio::fs::remove_file(self.path_of(key)).await {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The file of `key` opened for reading, with its length; `None` when there is none.
    pub async fn open(&self, key: &FirmwareKey) -> io::Result<Option<(tokio::fs::File, u64)>> {
        let file = match tokio::fs::File::open(self.path_of(key)).await {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let meta = file.metadata().await?;
        if !meta.is_file() {
            return Ok(None);
        }
        Ok(Some((file, meta.len())))
    }
}

fn walk(root: &Path, dir: &Path, depth: usize, out: &mut Vec<FirmwareKey>) -> io::Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let ty = entry.file_type()?;
        let path = entry.path();
        if depth < 3 && ty.is_dir() {
            walk(root, &path, depth + 1, out)?;
        } else if depth == 3 && ty.is_file() {
            let rel = path.strip_prefix(root).unwrap_or(&path);
            if let Some(key) = rel.to_str().and_then(FirmwareKey::from_path) {
                out.push(key);
            }
        }
    }
    Ok(())
}

/// Why a download URL is refused (403).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    #[error("the signature of the firmware download URL is not valid")]
    Signature,
    #[error(
        "the firmware download URL expired at {0} (unix seconds); ask metal-api for a new one"
    )]
    Expired(u64),
}

/// Signs and checks the download URLs of a directory store: an HMAC-SHA256 with the
/// `--firmware-url-key` over `kind/vendor/board/revision` and the expiry.
#[derive(Debug, Clone)]
pub struct DownloadLinks {
    key: Secret,
    /// The URL the BMCs reach this metal-api under, base path included, ending in `/`.
    base: String,
}

impl DownloadLinks {
    pub fn new(key: Secret, base: &str) -> Self {
        let mut base = base.to_string();
        if !base.ends_with('/') {
            base.push('/');
        }
        Self { key, base }
    }

    /// A random key (256 bits) for a single replica.
    pub fn random_key() -> Secret {
        Secret::new(hex::encode(rand::random::<[u8; 32]>()))
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    fn mac(&self, path: &str, expires: u64) -> Hmac<Sha256> {
        let mut m = Hmac::<Sha256>::new_from_slice(self.key.expose().as_bytes())
            .expect("HMAC takes keys of any length");
        m.update(format!("{path}\n{expires}").as_bytes());
        m
    }

    /// The hex signature of `path` (`kind/vendor/board/revision`) valid until `expires`.
    pub fn signature(&self, path: &str, expires: u64) -> String {
        hex::encode(self.mac(path, expires).finalize().into_bytes())
    }

    /// The download URL of `key`, valid until `expires` (unix seconds).
    pub fn url(&self, key: &FirmwareKey, expires: u64) -> String {
        let path = key.path();
        format!(
            "{}{DOWNLOAD_ROUTE}/{}?expires={expires}&signature={}",
            self.base,
            encode(&path, true),
            self.signature(&path, expires)
        )
    }

    /// Checks the signature (in constant time) and then the expiry against `now`.
    pub fn verify(
        &self,
        path: &str,
        expires: u64,
        signature: &str,
        now: u64,
    ) -> Result<(), Denied> {
        let sig = hex::decode(signature).map_err(|_| Denied::Signature)?;
        self.mac(path, expires)
            .verify_slice(&sig)
            .map_err(|_| Denied::Signature)?;
        if now > expires {
            return Err(Denied::Expired(expires));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn download_links_are_signed_per_key_and_expiry() {
        let links = DownloadLinks::new(Secret::new("url-key"), "http://10.0.0.1:8080/metal");
        assert_eq!(links.base(), "http://10.0.0.1:8080/metal/");
        let key = FirmwareKey::new("bios", "Dell", "r640", "1.2 b").unwrap();
        let url = links.url(&key, 1000);
        let sig = links.signature("bios/dell/R640/1.2 b", 1000);
        assert_eq!(
            url,
            format!(
                "http://10.0.0.1:8080/metal/firmware-download/bios/dell/R640/1.2%20b?expires=1000&signature={sig}"
            )
        );
        assert_eq!(sig.len(), 64);
        let path = "bios/dell/R640/1.2 b";
        assert_eq!(links.verify(path, 1000, &sig, 999), Ok(()));
        assert_eq!(links.verify(path, 1000, &sig, 1000), Ok(()));
        assert_eq!(
            links.verify(path, 1000, &sig, 1001),
            Err(Denied::Expired(1000))
        );
        // a later expiry, another key, another secret or garbage: not valid
        assert_eq!(links.verify(path, 2000, &sig, 999), Err(Denied::Signature));
        assert_eq!(
            links.verify("bios/dell/R640/1.3", 1000, &sig, 999),
            Err(Denied::Signature)
        );
        let other = DownloadLinks::new(Secret::new("other"), "http://x/");
        assert_eq!(other.verify(path, 1000, &sig, 999), Err(Denied::Signature));
        assert_eq!(links.verify(path, 1000, "zz", 999), Err(Denied::Signature));
        assert_ne!(
            DownloadLinks::random_key().expose(),
            DownloadLinks::random_key().expose()
        );
        assert!(!format!("{links:?}").contains("url-key"));
    }
}
