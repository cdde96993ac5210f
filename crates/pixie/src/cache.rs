//! Kernel/initrd cache: each http(s) URL is downloaded once per process into `--cache-dir`
//! (file name = SHA-256 of the URL), concurrent requests for the same URL wait for that one
//! download, and a failed download is retried by the next request. `file://` URLs are read
//! from disk directly. Entries live for the process lifetime (boot artefacts are versioned by
//! URL); files left by an earlier process are downloaded again.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;
use tokio::sync::OnceCell;

/// Why a file could not be provided.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("unsupported URL scheme in {0}")]
    Scheme(String),
    #[error("downloading {url}")]
    Download { url: String, source: reqwest::Error },
    #[error("writing cache file {path}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The cache.
#[derive(Debug)]
pub struct FileCache {
    dir: PathBuf,
    http: reqwest::Client,
    entries: Mutex<HashMap<String, Arc<OnceCell<PathBuf>>>>,
}

impl FileCache {
    pub fn new(dir: PathBuf) -> Self {
        Self {
            dir,
            http: reqwest::Client::new(),
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// A local path with the content of `url`.
    pub async fn get(&self, url: &str) -> Result<PathBuf, CacheError> {
        if let Some(path) = url.strip_prefix("file://") {
            return Ok(PathBuf::from(path));
        }
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(CacheError::Scheme(url.to_string()));
        }
        let cell = {
            let mut m = self.entries.lock().unwrap_or_else(|e| e.into_inner());
            m.entry(url.to_string()).or_default().clone()
        };
        cell.get_or_try_init(|| self.download(url)).await.cloned()
    }

    async fn download(&self, url: &str) -> Result<PathBuf, CacheError> {
        let name = hex::encode(Sha256::digest(url.as_bytes()));
        let path = self.dir.join(&name);
        let tmp = self.dir.join(format!("{name}.part"));
        let werr = |source| CacheError::Write {
            path: path.clone(),
            source,
        };
        let derr = |source| CacheError::Download {
            url: url.to_string(),
            source,
        };
        tokio::fs::create_dir_all(&self.dir).await.map_err(werr)?;
        let mut resp = self
            .http
            .get(url)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(derr)?;
        let mut f = tokio::fs::File::create(&tmp).await.map_err(werr)?;
        while let Some(chunk) = resp.chunk().await.map_err(derr)? {
            f.write_all(&chunk).await.map_err(werr)?;
        }
        f.flush().await.map_err(werr)?;
        drop(f);
        tokio::fs::rename(&tmp, &path).await.map_err(werr)?;
        tracing::info!(url, "cached boot file");
        Ok(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn downloads_once_for_concurrent_requests() {
        let hits = Arc::new(AtomicUsize::new(0));
        let h = hits.clone();
        let app = axum::Router::new().route(
            "/k",
            axum::routing::get(move || {
                let h = h.clone();
                async move {
                    h.fetch_add(1, Ordering::SeqCst);
                    tokio::task::yield_now().await;
                    vec![7u8; 100_000]
                }
            }),
        );
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(l, app).await });
        let dir = tempfile::tempdir().unwrap();
        let cache = Arc::new(FileCache::new(dir.path().join("c")));
        let url = format!("http://{addr}/k");
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let (c, u) = (cache.clone(), url.clone());
                tokio::spawn(async move { c.get(&u).await.unwrap() })
            })
            .collect();
        for t in tasks {
            let p = t.await.unwrap();
            assert_eq!(std::fs::read(p).unwrap(), vec![7u8; 100_000]);
        }
        assert_eq!(hits.load(Ordering::SeqCst), 1);
        assert!(matches!(
            cache.get(&format!("http://{addr}/missing")).await,
            Err(CacheError::Download { .. })
        ));
        assert!(matches!(
            cache.get("ftp://x/y").await,
            Err(CacheError::Scheme(_))
        ));
        assert_eq!(
            cache.get("file:///etc/hostname").await.unwrap(),
            PathBuf::from("/etc/hostname")
        );
    }
}
