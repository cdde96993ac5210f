//! The OS image (`img.tar.lz4` with `img.tar.lz4.md5`, §2.12.2, §9.1) streamed into the target
//! root in one pass with bounded memory: a chain of `Read` adaptors
//! source → [`Progress`] → [`Md5Reader`] → lz4 frame decoder → tar.
//!
//! The source is an HTTP body (an async task sends its chunks through a bounded channel to the
//! blocking unpack thread, [`ChannelReader`]) or a `file://` path. Hashing and decompression
//! run on one thread, tar extraction on another, like `lz4 -d | tar -x`. The checksum is computed
//! over the compressed bytes; after the tar ends the rest of the stream is drained and the MD5
//! compared. Only then does [`install_image`] return `Ok`: a mismatch, an HTTP status ≥ 400, a
//! broken or truncated stream are errors, and the caller must not go on to the installer.
//! Files already unpacked are not removed on such an error (the target has pseudo filesystems
//! and other mounts below it); the next attempt formats the disks again.

use std::io::{self, BufReader, Read};
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;
use md5::{Digest, Md5};
use tokio::sync::mpsc;
use tracing::info;

/// Chunks in flight between the download task and the unpack thread (~ a few MiB).
const CHANNEL_CHUNKS: usize = 64;
/// How often progress is logged.
const PROGRESS_EVERY: Duration = Duration::from_secs(5);

/// What an installed image was.
#[derive(Debug, Clone)]
pub struct ImageStats {
    /// Compressed bytes read (what the checksum covers).
    pub compressed_bytes: u64,
    /// Bytes of the decompressed tar stream.
    pub uncompressed_bytes: u64,
    /// Tar entries unpacked.
    pub entries: u64,
    /// The verified MD5 (hex).
    pub md5: String,
    pub elapsed: Duration,
}

/// An image that was not installed.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("image url {url} does not end in lz4 (only lz4-compressed tarballs are supported)")]
    NotLz4 { url: String },
    #[error("GET {url}: HTTP status {status}")]
    Status { url: String, status: u16 },
    #[error("GET {url}")]
    Request {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("reading {path}")]
    File {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("checksum file {url} holds no MD5 (expected `<32 hex digits>  <name>`)")]
    BadChecksumFile { url: String },
    #[error("unpacking {url} into {target}; the image is not installed")]
    Unpack {
        url: String,
        target: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("checksum mismatch for {url}: expected md5 {expected}, got {actual}; the image is not installed")]
    Checksum {
        url: String,
        expected: String,
        actual: String,
    },
    #[error("unpack thread failed")]
    Join(#[from] tokio::task::JoinError),
}

/// Downloads, verifies and unpacks the image at `url` (`http(s)://` or `file://`, ending in
/// `lz4`) into `target`.
pub async fn install_image(url: &str, target: &Path) -> Result<ImageStats, ImageError> {
    if !url.ends_with("lz4") {
        return Err(ImageError::NotLz4 { url: url.into() });
    }
    let start = Instant::now();
    let md5_url = format!("{url}.md5");
    let (expected, source): (String, Box<dyn Read + Send>) =
        if let Some(path) = url.strip_prefix("file://") {
            let md5_path = PathBuf::from(format!("{path}.md5"));
            let text = std::fs::read_to_string(&md5_path).map_err(|source| ImageError::File {
                path: md5_path,
                source,
            })?;
            let expected = parse_md5(&text).ok_or(ImageError::BadChecksumFile { url: md5_url })?;
            let file = std::fs::File::open(path).map_err(|source| ImageError::File {
                path: path.into(),
                source,
            })?;
            (expected, Box::new(file))
        } else {
            let client = reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(10))
                .read_timeout(Duration::from_secs(60))
                .build()
                .map_err(|source| ImageError::Request {
                    url: url.into(),
                    source,
                })?;
            let text = get(&client, &md5_url)
                .await?
                .text()
                .await
                .map_err(|source| ImageError::Request {
                    url: md5_url.clone(),
                    source,
                })?;
            let expected = parse_md5(&text).ok_or(ImageError::BadChecksumFile { url: md5_url })?;
            let resp = get(&client, url).await?;
            (expected, Box::new(spawn_body(resp)))
        };
    info!(url, "installing image");

    let target_buf = target.to_path_buf();
    let (mut stats, actual) = tokio::task::spawn_blocking(move || unpack(source, &target_buf))
        .await?
        .map_err(|source| ImageError::Unpack {
            url: url.into(),
            target: target.into(),
            source,
        })?;
    if actual != expected {
        return Err(ImageError::Checksum {
            url: url.into(),
            expected,
            actual,
        });
    }
    stats.elapsed = start.elapsed();
    info!(
        url,
        md5 = %stats.md5,
        compressed_bytes = stats.compressed_bytes,
        uncompressed_bytes = stats.uncompressed_bytes,
        entries = stats.entries,
        seconds = stats.elapsed.as_secs_f64(),
        "image installed and verified"
    );
    Ok(stats)
}

async fn get(client: &reqwest::Client, url: &str) -> Result<reqwest::Response, ImageError> {
    let resp = client
        .get(url)
        .send()
        .await
        .map_err(|source| ImageError::Request {
            url: url.into(),
            source,
        })?;
    if resp.status().as_u16() >= 400 {
        return Err(ImageError::Status {
            url: url.into(),
            status: resp.status().as_u16(),
        });
    }
    Ok(resp)
}

/// The first token of an md5sum line, if it is 32 hex digits (lowercased).
pub fn parse_md5(text: &str) -> Option<String> {
    let token = text.split_whitespace().next()?;
    (token.len() == 32 && token.chars().all(|c| c.is_ascii_hexdigit()))
        .then(|| token.to_ascii_lowercase())
}

/// Streams the response body into a bounded channel read by a [`ChannelReader`].
fn spawn_body(resp: reqwest::Response) -> ChannelReader {
    let (tx, rx) = mpsc::channel::<io::Result<Bytes>>(CHANNEL_CHUNKS);
    tokio::spawn(async move {
        let mut body = resp.bytes_stream();
        while let Some(chunk) = body.next().await {
            let item = chunk.map_err(io::Error::other);
            let failed = item.is_err();
            // a closed channel means the unpack side stopped: nothing left to do
            if tx.send(item).await.is_err() || failed {
                break;
            }
        }
    });
    ChannelReader {
        rx,
        current: Bytes::new(),
    }
}

/// A `Read` over chunks arriving through a channel; the sender's end is end-of-file.
pub struct ChannelReader {
    rx: mpsc::Receiver<io::Result<Bytes>>,
    current: Bytes,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                None => return Ok(0),
                Some(Err(e)) => return Err(e),
                Some(Ok(b)) => self.current = b,
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current.split_to(n));
        Ok(n)
    }
}

/// Counts bytes and logs throughput every few seconds.
pub struct Progress<R> {
    inner: R,
    bytes: u64,
    start: Instant,
    last: Instant,
}

impl<R> Progress<R> {
    pub fn new(inner: R) -> Self {
        let now = Instant::now();
        Self {
            inner,
            bytes: 0,
            start: now,
            last: now,
        }
    }
}

impl<R: Read> Read for Progress<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bytes += n as u64;
        if self.last.elapsed() >= PROGRESS_EVERY {
            self.last = Instant::now();
            let secs = self.start.elapsed().as_secs_f64();
            info!(
                bytes = self.bytes,
                mb_per_s = format!("{:.1}", self.bytes as f64 / 1e6 / secs),
                "image download"
            );
        }
        Ok(n)
    }
}

/// MD5 over everything read through it.
pub struct Md5Reader<R> {
    inner: R,
    hasher: Md5,
    bytes: u64,
}

impl<R> Md5Reader<R> {
    pub fn new(inner: R) -> Self {
        Self {
            inner,
            hasher: Md5::new(),
            bytes: 0,
        }
    }

    /// The hex digest and the byte count.
    pub fn finish(self) -> (String, u64) {
        (hex::encode(self.hasher.finalize()), self.bytes)
    }
}

impl<R: Read> Read for Md5Reader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
}

/// Decompresses and unpacks `source` into `target`; returns the stats and the MD5 of all of
/// `source` (drained to its end).
///
/// Two threads: this one unpacks the tar; a second one hashes and decompresses and hands over
/// blocks through a bounded channel (like `lz4 -d | tar -x`, which also keeps two cores busy).
pub fn unpack(source: Box<dyn Read + Send>, target: &Path) -> io::Result<(ImageStats, String)> {
    const BLOCK: usize = 256 * 1024;
    let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(16);
    let decompress = std::thread::spawn(move || -> io::Result<(String, u64, u64)> {
        let hashed = Md5Reader::new(Progress::new(BufReader::with_capacity(BLOCK, source)));
        let mut decoder = lz4_flex::frame::FrameDecoder::new(hashed);
        let mut uncompressed = 0u64;
        loop {
            let mut buf = vec![0u8; BLOCK];
            let n = read_full(&mut decoder, &mut buf)?;
            if n == 0 {
                break;
            }
            uncompressed += n as u64;
            buf.truncate(n);
            if tx.send(buf).is_err() {
                // the tar side stopped with an error it reports: stop downloading
                return Ok((String::new(), 0, uncompressed));
            }
        }
        drop(tx);
        // anything after the lz4 frame still belongs to the checksum
        let mut hashed = decoder.into_inner();
        io::copy(&mut hashed, &mut io::sink())?;
        let (md5, compressed) = hashed.finish();
        Ok((md5, compressed, uncompressed))
    });

    let unpacked = unpack_tar(
        BlockReader {
            rx,
            current: Vec::new(),
            pos: 0,
        },
        target,
    );
    let decompressed = decompress
        .join()
        .map_err(|_| io::Error::other("the decompression thread panicked"))?;
    // a broken download or lz4 stream is the cause of whatever the tar side saw
    let (md5, compressed_bytes, uncompressed_bytes) = decompressed?;
    let entries = unpacked?;
    Ok((
        ImageStats {
            compressed_bytes,
            uncompressed_bytes,
            entries,
            md5: md5.clone(),
            elapsed: Duration::ZERO,
        },
        md5,
    ))
}

/// Reads until `buf` is full or the end.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// A `Read` over blocks from a channel; a closed channel is the end.
struct BlockReader {
    rx: std::sync::mpsc::Receiver<Vec<u8>>,
    current: Vec<u8>,
    pos: usize,
}

impl Read for BlockReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.current.len() {
            match self.rx.recv() {
                Ok(b) => {
                    self.current = b;
                    self.pos = 0;
                }
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len() - self.pos);
        buf[..n].copy_from_slice(&self.current[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// Unpacks a tar stream into `target`, then reads it to its end; returns the entry count.
fn unpack_tar(stream: impl Read, target: &Path) -> io::Result<u64> {
    let mut archive = tar::Archive::new(stream);
    archive.set_preserve_permissions(true);
    // the ramdisk runs as root; elsewhere (tests) ownership cannot be given away
    archive.set_preserve_ownerships(nix::unistd::geteuid().is_root());
    archive.set_preserve_mtime(true);
    archive.set_overwrite(true);
    archive.set_unpack_xattrs(false);
    std::fs::create_dir_all(target)?;
    let mut entries = 0u64;
    for entry in archive.entries()? {
        let mut entry = entry?;
        entries += 1;
        let kind = entry.header().entry_type();
        if kind.is_character_special() || kind.is_block_special() || kind.is_fifo() {
            make_node(&entry, target)?;
        } else {
            entry.unpack_in(target)?;
        }
    }
    // the tar's padding after its end marker
    io::copy(&mut archive.into_inner(), &mut io::sink())?;
    Ok(entries)
}

/// Creates a device node or fifo entry (tar-rs would write it as a regular file).
fn make_node<R: Read>(entry: &tar::Entry<'_, R>, target: &Path) -> io::Result<()> {
    use nix::sys::stat::{makedev, mknod, Mode, SFlag};
    let header = entry.header();
    let rel = entry.path()?;
    let mut dst = target.to_path_buf();
    for c in rel.components() {
        match c {
            Component::Normal(p) => dst.push(p),
            Component::CurDir | Component::RootDir => {}
            _ => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("tar entry {} leaves the target", rel.display()),
                ))
            }
        }
    }
    if let Some(parent) = dst.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let kind = header.entry_type();
    let flag = if kind.is_character_special() {
        SFlag::S_IFCHR
    } else if kind.is_block_special() {
        SFlag::S_IFBLK
    } else {
        SFlag::S_IFIFO
    };
    let major = header.device_major()?.unwrap_or(0);
    let minor = header.device_minor()?.unwrap_or(0);
    let mode = header.mode()?;
    match std::fs::symlink_metadata(&dst) {
        Ok(_) => std::fs::remove_file(&dst)?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    mknod(
        &dst,
        flag,
        Mode::from_bits_truncate(mode & 0o7777),
        makedev(u64::from(major), u64::from(minor)),
    )
    .map_err(io::Error::from)?;
    let uid = header.uid()?;
    let gid = header.gid()?;
    nix::unistd::chown(
        &dst,
        Some(nix::unistd::Uid::from_raw(uid as u32)),
        Some(nix::unistd::Gid::from_raw(gid as u32)),
    )
    .map_err(io::Error::from)?;
    std::fs::set_permissions(
        &dst,
        std::os::unix::fs::PermissionsExt::from_mode(mode & 0o7777),
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn md5_file_first_token() {
        let h = "D41D8CD98F00B204E9800998ECF8427E";
        assert_eq!(
            parse_md5(&format!("{h}  img.tar.lz4\n")).as_deref(),
            Some("d41d8cd98f00b204e9800998ecf8427e")
        );
        assert_eq!(parse_md5("nope  img.tar.lz4"), None);
        assert_eq!(parse_md5(""), None);
    }

    #[test]
    fn md5_reader_hashes_what_passes() {
        let mut r = Md5Reader::new(&b"hello"[..]);
        io::copy(&mut r, &mut io::sink()).unwrap();
        assert_eq!(r.finish(), ("5d41402abc4b2a76b9719d911017c592".into(), 5));
    }

    #[tokio::test]
    async fn url_must_end_in_lz4() {
        let err = install_image("http://127.0.0.1:1/img.tar.gz", Path::new("/nonexistent"))
            .await
            .unwrap_err();
        assert!(matches!(err, ImageError::NotLz4 { .. }), "{err}");
    }
}
