//! The firmware files (`/v1/firmware`), kept outside the database: large binary files that
//! only metal-bmc reads. One of two kinds of store, chosen by configuration:
//!
//! - a **directory** (default `firmware/` in the data directory, `--firmware-dir`), one file
//!   per key at `kind/vendor/board/revision`; metal-bmc downloads a file through a URL that
//!   metal-api signs and serves itself ([`dir::DownloadLinks`]);
//! - a **bucket** of an S3-compatible store (`--s3-address`), one object per key at the same
//!   path, as metal-stack keeps them; metal-bmc downloads through a presigned URL.
//!
//! An upload is written to a temporary file first: in a directory store it is renamed into
//! place when complete, for S3 it is sent from that file once its length and checksum are
//! known. Either way a listing never shows a half-written upload, and an upload that breaks
//! off or is empty stores nothing.

pub mod dir;
pub mod s3;
pub mod sigv4;
mod xml;

use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use metal_domain::firmware::FirmwareKey;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

pub use dir::{Denied, DirStore, DownloadLinks, DOWNLOAD_ROUTE};
pub use s3::{S3Settings, S3Store};

use crate::config::{Config, Secret};

/// The firmware store; cheap to clone.
#[derive(Debug, Clone)]
pub struct FirmwareStore {
    backend: Backend,
}

#[derive(Debug, Clone)]
enum Backend {
    Dir {
        store: DirStore,
        links: DownloadLinks,
    },
    S3 {
        store: S3Store,
        spool: PathBuf,
    },
}

/// A file being written; dropped without [`Upload::finish`], it leaves nothing behind.
pub struct Upload {
    tmp: PathBuf,
    file: Option<tokio::fs::File>,
    written: u64,
    /// The SHA-256 of the content, for S3's `x-amz-content-sha256`.
    hash: Option<Sha256>,
    dest: Dest,
    /// Set once the temporary file was renamed into place.
    placed: bool,
}

enum Dest {
    File(PathBuf),
    Object(S3Store, FirmwareKey),
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

impl FirmwareStore {
    /// A directory store whose download URLs `links` signs.
    pub fn directory(root: impl Into<PathBuf>, links: DownloadLinks) -> Self {
        Self {
            backend: Backend::Dir {
                store: DirStore::new(root.into()),
                links,
            },
        }
    }

    /// An S3 store; uploads are spooled to files in `spool` before they are sent.
    pub fn s3(settings: &S3Settings, spool: impl Into<PathBuf>) -> io::Result<Self> {
        Ok(Self {
            backend: Backend::S3 {
                store: S3Store::new(settings)?,
                spool: spool.into(),
            },
        })
    }

    /// The store the configuration names: S3 with `--s3-address`, else the directory.
    /// `server_url` is where this metal-api answers (base path included), the default of
    /// `--firmware-download-url`.
    pub fn from_config(config: &Config, server_url: &str) -> io::Result<Self> {
        if let Some(endpoint) = &config.s3_address {
            let settings = S3Settings {
                endpoint: endpoint.clone(),
                access_key: config.s3_key.clone().unwrap_or_default(),
                secret: config.s3_secret.clone().unwrap_or_else(|| Secret::new("")),
                bucket: config.s3_firmware_bucket.clone(),
                region: config.s3_region.clone(),
                page_size: 1000,
            };
            return Self::s3(&settings, config.data_dir().join("firmware-uploads"));
        }
        let key = config
            .firmware_url_key
            .clone()
            .unwrap_or_else(DownloadLinks::random_key);
        let base = config
            .firmware_download_url
            .as_deref()
            .unwrap_or(server_url);
        Ok(Self::directory(
            config.firmware_dir(),
            DownloadLinks::new(key, base),
        ))
    }

    /// Makes the store ready at start: for S3, creates the bucket unless it exists.
    pub async fn prepare(&self) -> io::Result<()> {
        match &self.backend {
            Backend::Dir { .. } => Ok(()),
            Backend::S3 { store, .. } => store.ensure_bucket().await,
        }
    }

    /// Where the files are, for the log.
    pub fn describe(&self) -> String {
        match &self.backend {
            Backend::Dir { store, links } => format!(
                "directory {} (downloads under {})",
                store.root().display(),
                links.base()
            ),
            Backend::S3 { store, .. } => store.describe(),
        }
    }

    /// Every stored key (files or objects at other places are not firmware and are passed
    /// over), sorted.
    pub async fn list(&self) -> io::Result<Vec<FirmwareKey>> {
        match &self.backend {
            Backend::Dir { store, .. } => store.list().await,
            Backend::S3 { store, .. } => store.list().await,
        }
    }

    /// Whether the file of `key` exists (an S3 store that cannot be asked counts as "no" and
    /// logs the error).
    pub async fn exists(&self, key: &FirmwareKey) -> bool {
        match &self.backend {
            Backend::Dir { store, .. } => store.exists(key).await,
            Backend::S3 { store, .. } => store.exists(key).await.unwrap_or_else(|e| {
                tracing::warn!(error = %e, "could not look for a firmware file");
                false
            }),
        }
    }

    /// Starts writing the file of `key` (replacing it when it exists, once finished).
    pub async fn upload(&self, key: &FirmwareKey) -> io::Result<Upload> {
        let (spool, dest, hash) = match &self.backend {
            Backend::Dir { store, .. } => {
                let dest = store.path_of(key);
                if let Some(parent) = dest.parent() {
                    tokio::fs::create_dir_all(parent).await?;
                }
                (store.uploads(), Dest::File(dest), None)
            }
            Backend::S3 { store, spool } => (
                spool.clone(),
                Dest::Object(store.clone(), key.clone()),
                Some(Sha256::new()),
            ),
        };
        tokio::fs::create_dir_all(&spool).await?;
        let tmp = spool.join(format!(".upload-{}", uuid::Uuid::new_v4().simple()));
        let file = tokio::fs::File::create(&tmp).await?;
        Ok(Upload {
            tmp,
            file: Some(file),
            written: 0,
            hash,
            dest,
            placed: false,
        })
    }

    /// Removes the file of `key`; `false` when there was none.
    pub async fn delete(&self, key: &FirmwareKey) -> io::Result<bool> {
        match &self.backend {
            Backend::Dir { store, .. } => store.delete(key).await,
            Backend::S3 { store, .. } => store.delete(key).await,
        }
    }

    /// A URL metal-bmc downloads the file of `key` from without further credentials, valid
    /// for `ttl`: for S3 a presigned GET (at most 7 days), for a directory a URL of this
    /// metal-api's `firmware-download` route signed with `--firmware-url-key`. It does not
    /// look whether the file exists (see [`FirmwareStore::exists`]).
    pub async fn download_url(&self, key: &FirmwareKey, ttl: Duration) -> io::Result<String> {
        match &self.backend {
            Backend::Dir { links, .. } => {
                Ok(links.url(key, unix_now().saturating_add(ttl.as_secs())))
            }
            Backend::S3 { store, .. } => store.presign_get(key, ttl),
        }
    }

    /// Checks a download URL of a directory store: `path` is `kind/vendor/board/revision` as
    /// requested, `expires` and `signature` its query. `None` when this store does not serve
    /// downloads itself (S3).
    pub fn check_download(
        &self,
        path: &str,
        expires: u64,
        signature: &str,
    ) -> Option<Result<(), Denied>> {
        match &self.backend {
            Backend::Dir { links, .. } => Some(links.verify(path, expires, signature, unix_now())),
            Backend::S3 { .. } => None,
        }
    }

    /// The file of `key` opened for a download with its length (directory store); `None`
    /// when there is none or the store is S3.
    pub async fn open(&self, key: &FirmwareKey) -> io::Result<Option<(tokio::fs::File, u64)>> {
        match &self.backend {
            Backend::Dir { store, .. } => store.open(key).await,
            Backend::S3 { .. } => Ok(None),
        }
    }

    /// The directory of a directory store.
    pub fn root(&self) -> Option<&Path> {
        match &self.backend {
            Backend::Dir { store, .. } => Some(store.root()),
            Backend::S3 { .. } => None,
        }
    }
}

impl Upload {
    /// Appends a chunk.
    pub async fn write(&mut self, chunk: &[u8]) -> io::Result<()> {
        if let Some(f) = self.file.as_mut() {
            f.write_all(chunk).await?;
            if let Some(h) = self.hash.as_mut() {
                h.update(chunk);
            }
            self.written += chunk.len() as u64;
        }
        Ok(())
    }

    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Completes the upload: moves the file into place, or sends it to S3 (streamed from the
    /// temporary file, which is removed afterwards either way).
    pub async fn finish(mut self) -> io::Result<()> {
        if let Some(mut f) = self.file.take() {
            f.flush().await?;
            if matches!(self.dest, Dest::File(_)) {
                f.sync_all().await?;
            }
        }
        match &self.dest {
            Dest::File(dest) => {
                tokio::fs::rename(&self.tmp, dest).await?;
                self.placed = true;
                Ok(())
            }
            Dest::Object(store, key) => {
                let sha = hex::encode(self.hash.take().unwrap_or_default().finalize());
                store.put_file(key, &self.tmp, self.written, &sha).await
            }
        }
    }
}

impl Drop for Upload {
    fn drop(&mut self) {
        if !self.placed {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir_store(root: &Path) -> FirmwareStore {
        FirmwareStore::directory(
            root,
            DownloadLinks::new(Secret::new("k"), "http://127.0.0.1:8080/"),
        )
    }

    #[tokio::test]
    async fn files_are_listed_by_key_and_half_uploads_vanish() {
        let dir = tempfile::tempdir().unwrap();
        let store = dir_store(&dir.path().join("firmware"));
        assert!(store.list().await.unwrap().is_empty());
        let k = FirmwareKey::new("bios", "Dell", "r640", "1.2").unwrap();
        let mut u = store.upload(&k).await.unwrap();
        u.write(b"firmware").await.unwrap();
        assert!(!store.exists(&k).await, "not visible before it is finished");
        let other = FirmwareKey::new("bmc", "dell", "R640", "7").unwrap();
        let mut dropped = store.upload(&other).await.unwrap();
        dropped.write(b"half").await.unwrap();
        assert!(store.list().await.unwrap().is_empty(), "uploads in flight");
        u.finish().await.unwrap();
        assert!(store.exists(&k).await);
        drop(dropped);
        std::fs::write(dir.path().join("firmware/bios/stray"), b"x").unwrap();
        assert_eq!(store.list().await.unwrap(), std::slice::from_ref(&k));
        let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("firmware/.uploads"))
            .unwrap()
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
        let (_, len) = store.open(&k).await.unwrap().unwrap();
        assert_eq!(len, 8);
        assert!(store.open(&other).await.unwrap().is_none());
        assert!(store.delete(&k).await.unwrap());
        assert!(!store.delete(&k).await.unwrap());
    }

    #[tokio::test]
    async fn directory_download_urls_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let store = dir_store(dir.path());
        let k = FirmwareKey::new("bmc", "Supermicro", "x11", "1.0").unwrap();
        let url = store
            .download_url(&k, Duration::from_secs(60))
            .await
            .unwrap();
        let rest = url
            .strip_prefix("http://127.0.0.1:8080/firmware-download/bmc/supermicro/X11/1.0?expires=")
            .unwrap();
        let (expires, sig) = rest.split_once("&signature=").unwrap();
        let expires: u64 = expires.parse().unwrap();
        assert!(expires >= unix_now() + 59 && expires <= unix_now() + 61);
        let path = "bmc/supermicro/X11/1.0";
        assert_eq!(store.check_download(path, expires, sig), Some(Ok(())));
        assert_eq!(
            store.check_download("bmc/supermicro/X11/1.1", expires, sig),
            Some(Err(Denied::Signature))
        );
    }

    #[tokio::test]
    async fn the_configuration_chooses_the_store() {
        use clap::Parser;
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().to_str().unwrap();
        let k = FirmwareKey::new("bios", "Dell", "r640", "1.2").unwrap();
        let c = Config::parse_from(["metal-api", "--data-dir", data]);
        let store = FirmwareStore::from_config(&c, "http://127.0.0.1:8080/metal/").unwrap();
        assert_eq!(store.root(), Some(dir.path().join("firmware").as_path()));
        let url = store
            .download_url(&k, Duration::from_secs(5))
            .await
            .unwrap();
        assert!(
            url.starts_with("http://127.0.0.1:8080/metal/firmware-download/"),
            "{url}"
        );

        let c = Config::parse_from([
            "metal-api",
            "--data-dir",
            data,
            "--firmware-download-url",
            "http://10.1.0.1:8080/metal",
        ]);
        let store = FirmwareStore::from_config(&c, "http://127.0.0.1:8080/").unwrap();
        let url = store
            .download_url(&k, Duration::from_secs(5))
            .await
            .unwrap();
        assert!(
            url.starts_with("http://10.1.0.1:8080/metal/firmware-download/bios/dell/R640/1.2?"),
            "{url}"
        );

        let c = Config::parse_from([
            "metal-api",
            "--data-dir",
            data,
            "--s3-address",
            "http://127.0.0.1:9000",
            "--s3-key",
            "AKIA",
            "--s3-secret",
            "very-secret",
        ]);
        let store = FirmwareStore::from_config(&c, "http://127.0.0.1:8080/").unwrap();
        assert_eq!(store.root(), None);
        assert_eq!(
            store.describe(),
            "S3 bucket firmware at http://127.0.0.1:9000"
        );
        assert!(!format!("{store:?}").contains("very-secret"));
        let url = store
            .download_url(&k, Duration::from_secs(5))
            .await
            .unwrap();
        assert!(
            url.starts_with("http://127.0.0.1:9000/firmware/bios/dell/R640/1.2?X-Amz-"),
            "{url}"
        );
        assert!(store
            .check_download("bios/dell/R640/1.2", 1, "00")
            .is_none());
    }
}
