//! The firmware files (`/v1/firmware`), kept outside the database: they are large binary files
//! that only metal-bmc reads, so they live in a directory of their own (by default `firmware/`
//! in the data directory), one file per key at `kind/vendor/board/revision`. A file is written
//! to a temporary name beside its place and renamed when complete, so a listing never shows a
//! half-written upload and a failed upload leaves nothing behind.

use std::io;
use std::path::{Path, PathBuf};

use metal_domain::firmware::FirmwareKey;
use tokio::io::AsyncWriteExt;

/// The directory of firmware files.
#[derive(Debug, Clone)]
pub struct FirmwareStore {
    root: PathBuf,
}

/// A file being written; dropped without [`Upload::finish`], it is removed.
pub struct Upload {
    tmp: PathBuf,
    dest: PathBuf,
    file: Option<tokio::fs::File>,
    written: u64,
}

impl FirmwareStore {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path_of(&self, key: &FirmwareKey) -> PathBuf {
        self.root.join(key.path())
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

    /// Whether the file of `key` exists.
    pub async fn exists(&self, key: &FirmwareKey) -> bool {
        tokio::fs::metadata(self.path_of(key))
            .await
            .is_ok_and(|m| m.is_file())
    }

    /// Starts writing the file of `key` (replacing it when it exists, once finished).
    pub async fn upload(&self, key: &FirmwareKey) -> io::Result<Upload> {
        let dest = self.path_of(key);
        let dir = dest.parent().unwrap_or(&self.root).to_path_buf();
        tokio::fs::create_dir_all(&dir).await?;
        let tmp = dir.join(format!(".upload-{}", uuid::Uuid::new_v4().simple()));
        let file = tokio::fs::File::create(&tmp).await?;
        Ok(Upload {
            tmp,
            dest,
            file: Some(file),
            written: 0,
        })
    }

    /// Removes the file of `key`; `false` when there was none.
    pub async fn delete(&self, key: &FirmwareKey) -> io::Result<bool> {
        match tokio::fs::remove_file(self.path_of(key)).await {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
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

impl Upload {
    /// Appends a chunk.
    pub async fn write(&mut self, chunk: &[u8]) -> io::Result<()> {
        if let Some(f) = self.file.as_mut() {
            f.write_all(chunk).await?;
            self.written += chunk.len() as u64;
        }
        Ok(())
    }

    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Syncs the file and moves it into place.
    pub async fn finish(mut self) -> io::Result<()> {
        if let Some(mut f) = self.file.take() {
            f.flush().await?;
            f.sync_all().await?;
        }
        tokio::fs::rename(&self.tmp, &self.dest).await
    }
}

impl Drop for Upload {
    fn drop(&mut self) {
        if self.file.is_some() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn files_are_listed_by_key_and_half_uploads_vanish() {
        let dir = tempfile::tempdir().unwrap();
        let store = FirmwareStore::new(dir.path().join("firmware"));
        assert!(store.list().await.unwrap().is_empty());
        let k = FirmwareKey::new("bios", "Dell", "r640", "1.2").unwrap();
        let mut u = store.upload(&k).await.unwrap();
        u.write(b"firmware").await.unwrap();
        assert!(!store.exists(&k).await, "not visible before it is finished");
        u.finish().await.unwrap();
        assert!(store.exists(&k).await);
        let other = FirmwareKey::new("bmc", "dell", "R640", "7").unwrap();
        let mut dropped = store.upload(&other).await.unwrap();
        dropped.write(b"half").await.unwrap();
        drop(dropped);
        std::fs::write(dir.path().join("firmware/bios/stray"), b"x").unwrap();
        assert_eq!(store.list().await.unwrap(), std::slice::from_ref(&k));
        let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("firmware/bmc/dell/R640"))
            .unwrap()
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
        assert!(store.delete(&k).await.unwrap());
        assert!(!store.delete(&k).await.unwrap());
    }
}
