//! The OS image (`img.tar.lz4` with `img.tar.lz4.md5`, §2.12.2, §9.1) streamed into the target
//! root in one pass with bounded memory, as a pipeline over threads like
//! `curl | lz4 -d | tar -x` is over processes:
//!
//! ```text
//! download ──chunks──▶ md5 ──chunks──▶ lz4 ──1 MiB blocks──▶ tar
//! ```
//!
//! The download is an async task reading the HTTP body (or, for `file://`, a thread reading the
//! file); its chunks (`Bytes`, never copied) go through a bounded channel to the MD5 thread,
//! which hashes them and passes the same chunks on to the lz4 thread. That one decompresses into
//! a fixed pool of large blocks which the tar thread unpacks and hands back, so nothing is
//! allocated per block. The tar thread writes regular files' contents straight from those
//! blocks, one `write` per block (tar-rs copied them in 8 KiB pieces), and syncs nothing. Each stage measures the time it worked and the
//! time it waited for its input and for room downstream ([`StageTime`]).
//!
//! The checksum is computed over the compressed bytes; the lz4 stage reads the stream to its
//! end (anything after the lz4 frame still belongs to it) and the MD5 is compared only then.
//! Only then does [`install_image`] return `Ok`: a mismatch, an HTTP status ≥ 400, a broken or
//! truncated stream are errors, and the caller must not go on to the installer. Files already
//! unpacked are not removed on such an error (the target has pseudo filesystems and other mounts
//! below it); the next attempt formats the disks again.

use std::cell::RefCell;
use std::fs::{File, FileTimes, OpenOptions};
use std::io::{self, BufRead, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};
use std::sync::mpsc as smpsc;
use std::time::{Duration, Instant, SystemTime};

use bytes::{Buf, Bytes};
use futures::StreamExt;
use md5::{Digest, Md5};
use tokio::sync::mpsc;
use tracing::{debug, info};

/// Compressed chunks in flight between the download, MD5 and lz4 stages (per channel; hyper
/// hands over chunks of up to a few hundred KiB). The MD5 stage sets the pace, so a deeper
/// queue before it would only hold more memory.
const CHUNKS_IN_FLIGHT: usize = 16;
/// `file://` images are read in chunks of this size.
const FILE_CHUNK: usize = 256 * 1024;
/// Decompressed blocks handed from the lz4 to the tar stage: their size and how many exist.
const BLOCK: usize = 1 << 20;
const BLOCKS: usize = 8;
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
    /// Where the time went, per pipeline stage (download, md5, lz4, tar).
    pub stages: Vec<StageTime>,
}

/// Where one pipeline stage's time went: working, waiting for the stage before it (for the
/// download: for the network and the HTTP client's connection task), waiting for room in the
/// stage after it.
#[derive(Debug, Clone)]
pub struct StageTime {
    pub name: &'static str,
    pub busy: Duration,
    pub input_wait: Duration,
    pub output_wait: Duration,
    /// Chunks or blocks this stage passed on.
    pub items: u64,
    /// CPU time of the stage's thread (`None` for the HTTP download, an async task).
    pub cpu: Option<Duration>,
}

impl StageTime {
    fn new(
        name: &'static str,
        total: Duration,
        input_wait: Duration,
        output_wait: Duration,
        items: u64,
    ) -> Self {
        Self {
            name,
            busy: total.saturating_sub(input_wait + output_wait),
            input_wait,
            output_wait,
            items,
            cpu: None,
        }
    }

    /// With the CPU time the calling thread used since `cpu_start` ([`thread_cpu`]).
    fn with_cpu(mut self, cpu_start: Option<Duration>) -> Self {
        self.cpu = cpu_start
            .zip(thread_cpu())
            .map(|(a, b)| b.saturating_sub(a));
        self
    }
}

/// The CPU time the calling thread has used so far (Linux: `/proc/thread-self/schedstat`).
fn thread_cpu() -> Option<Duration> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns = s.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(ns))
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
    let (times_tx, times) = smpsc::channel();
    let (expected, chunks) = if let Some(path) = url.strip_prefix("file://") {
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
        (expected, spawn_file(file, times_tx.clone()))
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
        (expected, spawn_body(resp, times_tx.clone()))
    };
    info!(url, "installing image");

    let target_buf = target.to_path_buf();
    let (mut stats, actual) =
        tokio::task::spawn_blocking(move || unpack(chunks, &target_buf, times_tx, times))
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

/// A chunk of the compressed stream, or the error that ended it.
type Chunk = io::Result<Bytes>;

/// The download stage for HTTP: an async task sends the response body's chunks, as the client
/// hands them over, into a bounded channel.
fn spawn_body(resp: reqwest::Response, times: smpsc::Sender<StageTime>) -> mpsc::Receiver<Chunk> {
    let (tx, rx) = mpsc::channel::<Chunk>(CHUNKS_IN_FLIGHT);
    tokio::spawn(async move {
        let start = Instant::now();
        let (mut input_wait, mut output_wait, mut items) = (Duration::ZERO, Duration::ZERO, 0);
        let mut body = resp.bytes_stream();
        loop {
            let t = Instant::now();
            let Some(chunk) = body.next().await else {
                input_wait += t.elapsed();
                break;
            };
            input_wait += t.elapsed();
            let item = chunk.map_err(io::Error::other);
            let failed = item.is_err();
            let t = Instant::now();
            // a closed channel means the later stages stopped: nothing left to do
            let closed = tx.send(item).await.is_err();
            output_wait += t.elapsed();
            items += 1;
            if closed || failed {
                break;
            }
        }
        let _ = times.send(StageTime::new(
            "download",
            start.elapsed(),
            input_wait,
            output_wait,
            items,
        ));
    });
    rx
}

/// The download stage for `file://`: a thread reads the file in large chunks.
fn spawn_file(mut file: File, times: smpsc::Sender<StageTime>) -> mpsc::Receiver<Chunk> {
    let (tx, rx) = mpsc::channel::<Chunk>(CHUNKS_IN_FLIGHT);
    std::thread::spawn(move || {
        let (start, cpu) = (Instant::now(), thread_cpu());
        let (mut output_wait, mut items) = (Duration::ZERO, 0);
        loop {
            let mut buf = vec![0u8; FILE_CHUNK];
            let item = match read_full(&mut file, &mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    buf.truncate(n);
                    Ok(Bytes::from(buf))
                }
                Err(e) => Err(e),
            };
            let failed = item.is_err();
            let t = Instant::now();
            let closed = tx.blocking_send(item).is_err();
            output_wait += t.elapsed();
            items += 1;
            if closed || failed {
                break;
            }
        }
        let _ = times.send(
            StageTime::new(
                "download",
                start.elapsed(),
                Duration::ZERO,
                output_wait,
                items,
            )
            .with_cpu(cpu),
        );
    });
    rx
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

/// What the MD5 stage saw: the hex digest and the byte count, or `None` if it stopped before
/// the end because the stream broke or the stages after it stopped.
type Md5Result = Option<(String, u64)>;

/// The MD5 stage: hashes every chunk and passes it on unchanged (a stream error too, which ends
/// it); logs the download's progress every few seconds.
fn md5_stage(
    mut rx: mpsc::Receiver<Chunk>,
    tx: smpsc::SyncSender<Chunk>,
    times: smpsc::Sender<StageTime>,
) -> Md5Result {
    let (start, cpu) = (Instant::now(), thread_cpu());
    let (mut input_wait, mut output_wait, mut items) = (Duration::ZERO, Duration::ZERO, 0);
    let mut hasher = Md5::new();
    let mut bytes = 0u64;
    let mut last_log = start;
    loop {
        let t = Instant::now();
        let item = rx.blocking_recv();
        input_wait += t.elapsed();
        let (item, ok) = match item {
            None => break,
            Some(Ok(chunk)) => {
                hasher.update(&chunk);
                bytes += chunk.len() as u64;
                (Ok(chunk), true)
            }
            Some(Err(e)) => (Err(e), false),
        };
        let t = Instant::now();
        let sent = tx.send(item).is_ok();
        output_wait += t.elapsed();
        items += 1;
        if !(sent && ok) {
            return None;
        }
        if last_log.elapsed() >= PROGRESS_EVERY {
            last_log = Instant::now();
            let secs = start.elapsed().as_secs_f64();
            info!(
                bytes,
                mb_per_s = format!("{:.1}", bytes as f64 / 1e6 / secs),
                "image download"
            );
        }
    }
    let _ = times
        .send(StageTime::new("md5", start.elapsed(), input_wait, output_wait, items).with_cpu(cpu));
    Some((hex::encode(hasher.finalize()), bytes))
}

/// A `Read` over the chunks arriving from the MD5 stage; the closed channel is the end.
struct ChunkReader {
    rx: smpsc::Receiver<Chunk>,
    current: Bytes,
    wait: Duration,
}

impl Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            let t = Instant::now();
            let item = self.rx.recv();
            self.wait += t.elapsed();
            match item {
                Err(_) => return Ok(0),
                Ok(Err(e)) => return Err(e),
                Ok(Ok(b)) => self.current = b,
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        self.current.advance(n);
        Ok(n)
    }
}

/// The lz4 stage: decompresses the chunks into blocks taken from the pool (`free`) and sends
/// them, full, to the tar stage; then reads the compressed stream to its end, so that the MD5
/// stage sees all of it. Returns the decompressed byte count.
fn lz4_stage(
    rx: smpsc::Receiver<Chunk>,
    full: smpsc::SyncSender<Vec<u8>>,
    free: smpsc::Receiver<Vec<u8>>,
    times: smpsc::Sender<StageTime>,
) -> io::Result<u64> {
    let (start, cpu) = (Instant::now(), thread_cpu());
    let mut input = ChunkReader {
        rx,
        current: Bytes::new(),
        wait: Duration::ZERO,
    };
    let (mut output_wait, mut items, mut uncompressed) = (Duration::ZERO, 0, 0u64);
    {
        let mut decoder = lz4_flex::frame::FrameDecoder::new(&mut input);
        let mut block = Vec::new();
        loop {
            let data = decoder.fill_buf()?;
            if data.is_empty() {
                break;
            }
            if block.capacity() == 0 {
                let t = Instant::now();
                let next = free.recv();
                output_wait += t.elapsed();
                let Ok(next) = next else {
                    // the tar side stopped with an error it reports: stop decompressing
                    return Ok(uncompressed);
                };
                block = next;
                block.clear();
            }
            let n = data.len().min(block.capacity() - block.len());
            block.extend_from_slice(&data[..n]);
            decoder.consume(n);
            uncompressed += n as u64;
            if block.len() == block.capacity() {
                let t = Instant::now();
                let sent = full.send(std::mem::take(&mut block)).is_ok();
                output_wait += t.elapsed();
                items += 1;
                if !sent {
                    return Ok(uncompressed);
                }
            }
        }
        if !block.is_empty() {
            items += 1;
            let _ = full.send(block);
        }
    }
    drop(full);
    // anything after the lz4 frame still belongs to the checksum
    io::copy(&mut input, &mut io::sink())?;
    let _ = times
        .send(StageTime::new("lz4", start.elapsed(), input.wait, output_wait, items).with_cpu(cpu));
    Ok(uncompressed)
}

/// The tar stage's `Read` over the decompressed blocks; each block goes back to the pool once
/// read. A closed channel is the end.
///
/// Regular files' contents do not go through `Read`: [`BlockReader::write_to`] writes them
/// from the blocks to the file, and tar-rs, which then reads past them to the next header,
/// gets their length without a copy.
struct BlockReader {
    rx: smpsc::Receiver<Vec<u8>>,
    free: smpsc::SyncSender<Vec<u8>>,
    current: Vec<u8>,
    pos: usize,
    /// Bytes written out by `write_to` that tar-rs has not read past yet.
    written_ahead: u64,
    wait: Duration,
    items: u64,
}

impl BlockReader {
    /// Makes the next block current once this one is used up; `false` at the end.
    fn fill(&mut self) -> bool {
        while self.pos == self.current.len() {
            let done = std::mem::take(&mut self.current);
            if done.capacity() > 0 {
                // the pool holds every block, so there is room; a gone lz4 stage needs none
                let _ = self.free.try_send(done);
            }
            let t = Instant::now();
            let next = self.rx.recv();
            self.wait += t.elapsed();
            match next {
                Ok(b) => {
                    self.current = b;
                    self.pos = 0;
                    self.items += 1;
                }
                Err(_) => return false,
            }
        }
        true
    }

    /// Writes the next `n` bytes of the stream to `w` straight from the blocks (one `write`
    /// per block); returns how many there were (fewer at the end of the stream).
    fn write_to(&mut self, w: &mut impl Write, n: u64) -> io::Result<u64> {
        let mut left = n;
        while left > 0 && self.fill() {
            let k =
                (self.current.len() - self.pos).min(usize::try_from(left).unwrap_or(usize::MAX));
            w.write_all(&self.current[self.pos..self.pos + k])?;
            self.pos += k;
            left -= k as u64;
        }
        self.written_ahead += n - left;
        Ok(n - left)
    }
}

impl Read for BlockReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.written_ahead > 0 {
            // tar-rs skipping an entry's data that `write_to` wrote out: the length is all
            // it needs (it discards what it reads)
            let n = buf
                .len()
                .min(usize::try_from(self.written_ahead).unwrap_or(usize::MAX));
            self.written_ahead -= n as u64;
            return Ok(n);
        }
        if !self.fill() {
            return Ok(0);
        }
        let n = buf.len().min(self.current.len() - self.pos);
        buf[..n].copy_from_slice(&self.current[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// `Read` for tar-rs over the tar stage's [`BlockReader`], which [`FileWriter`] uses too.
struct SharedBlocks<'a>(&'a RefCell<BlockReader>);

impl Read for SharedBlocks<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.borrow_mut().read(buf)
    }
}

/// Runs the MD5, lz4 and tar stages over the compressed `chunks` (the download stage already
/// runs), unpacking into `target`; returns the stats and the MD5 of the whole stream. The tar
/// stage runs on the calling thread.
fn unpack(
    chunks: mpsc::Receiver<Chunk>,
    target: &Path,
    times_tx: smpsc::Sender<StageTime>,
    times: smpsc::Receiver<StageTime>,
) -> io::Result<(ImageStats, String)> {
    let (start, cpu) = (Instant::now(), thread_cpu());
    let (hashed_tx, hashed_rx) = smpsc::sync_channel::<Chunk>(CHUNKS_IN_FLIGHT);
    let (full_tx, full_rx) = smpsc::sync_channel::<Vec<u8>>(BLOCKS);
    let (free_tx, free_rx) = smpsc::sync_channel::<Vec<u8>>(BLOCKS);
    for _ in 0..BLOCKS {
        free_tx
            .try_send(Vec::with_capacity(BLOCK))
            .expect("the pool channel holds every block");
    }
    let t = times_tx.clone();
    let md5 = std::thread::Builder::new()
        .name("image-md5".into())
        .spawn(move || md5_stage(chunks, hashed_tx, t))?;
    let t = times_tx.clone();
    let lz4 = std::thread::Builder::new()
        .name("image-lz4".into())
        .spawn(move || lz4_stage(hashed_rx, full_tx, free_rx, t))?;

    let reader = RefCell::new(BlockReader {
        rx: full_rx,
        free: free_tx,
        current: Vec::new(),
        pos: 0,
        written_ahead: 0,
        wait: Duration::ZERO,
        items: 0,
    });
    let unpacked = unpack_tar(&reader, target);
    let reader = reader.into_inner();
    let tar_time = StageTime::new(
        "tar",
        start.elapsed(),
        reader.wait,
        Duration::ZERO,
        reader.items,
    )
    .with_cpu(cpu);
    drop(reader);
    let decompressed = lz4
        .join()
        .map_err(|_| io::Error::other("the lz4 thread panicked"))?;
    let hashed = md5
        .join()
        .map_err(|_| io::Error::other("the md5 thread panicked"))?;
    // a broken download or lz4 stream is the cause of whatever the tar side saw
    let uncompressed_bytes = decompressed?;
    let entries = unpacked?;
    let (md5, compressed_bytes) =
        hashed.ok_or_else(|| io::Error::other("the compressed stream was not read to its end"))?;
    let _ = times_tx.send(tar_time);
    drop(times_tx);
    let mut stages: Vec<StageTime> = times.try_iter().collect();
    let order = ["download", "md5", "lz4", "tar"];
    stages.sort_by_key(|s| order.iter().position(|n| *n == s.name));
    for s in &stages {
        debug!(
            stage = s.name,
            busy_s = s.busy.as_secs_f64(),
            input_wait_s = s.input_wait.as_secs_f64(),
            output_wait_s = s.output_wait.as_secs_f64(),
            cpu_s = s.cpu.map(|c| c.as_secs_f64()),
            items = s.items,
            "image pipeline stage"
        );
    }
    Ok((
        ImageStats {
            compressed_bytes,
            uncompressed_bytes,
            entries,
            md5: md5.clone(),
            elapsed: Duration::ZERO,
            stages,
        },
        md5,
    ))
}

/// Unpacks a tar stream into `target`, then reads it to its end; returns the entry count.
/// Regular files are written by [`FileWriter`]; everything else by tar-rs.
fn unpack_tar(blocks: &RefCell<BlockReader>, target: &Path) -> io::Result<u64> {
    let root = nix::unistd::geteuid().is_root();
    let mut archive = tar::Archive::new(SharedBlocks(blocks));
    archive.set_preserve_permissions(true);
    // the ramdisk runs as root; elsewhere (tests) ownership cannot be given away
    archive.set_preserve_ownerships(root);
    archive.set_preserve_mtime(true);
    archive.set_overwrite(true);
    archive.set_unpack_xattrs(false);
    std::fs::create_dir_all(target)?;
    let mut files = FileWriter {
        target: target.to_path_buf(),
        canon_target: target.canonicalize()?,
        checked_parent: None,
        root,
    };
    let mut entries = 0u64;
    for entry in archive.entries()? {
        let mut entry = entry?;
        entries += 1;
        let kind = entry.header().entry_type();
        // (an old-style entry named `dir/` is a directory, which tar-rs knows)
        if kind.is_file() && !entry.path_bytes().ends_with(b"/") {
            files.write(&entry, blocks)?;
            continue;
        }
        // a symlink or anything else may replace a directory checked before
        files.checked_parent = None;
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

/// Writes regular files' contents with large writes, then their owner (as root), mode and
/// mtime, through the open file; as tar-rs does, an existing file is replaced, not written
/// into, and the parent directory must resolve to a place inside the target.
struct FileWriter {
    target: PathBuf,
    canon_target: PathBuf,
    /// The last parent directory found inside the target (entries of a directory follow each
    /// other); forgotten whenever tar-rs unpacks something else.
    checked_parent: Option<PathBuf>,
    root: bool,
}

impl FileWriter {
    /// Writes `entry`, whose contents are the next bytes of `blocks`.
    fn write<R: Read>(
        &mut self,
        entry: &tar::Entry<'_, R>,
        blocks: &RefCell<BlockReader>,
    ) -> io::Result<()> {
        let Some(dst) = inside(&self.target, &entry.path()?)? else {
            return Ok(());
        };
        let parent = dst.parent().unwrap_or(&self.target);
        if self.checked_parent.as_deref() != Some(parent) {
            std::fs::create_dir_all(parent)?;
            if !parent.canonicalize()?.starts_with(&self.canon_target) {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("tar entry {} leaves the target", dst.display()),
                ));
            }
            self.checked_parent = Some(parent.to_path_buf());
        }
        let header = entry.header();
        let mode = header.mode()? & 0o7777;
        let (uid, gid) = (header.uid()?, header.gid()?);
        // as tar-rs: some tools take an mtime of 0 for none
        let mtime = SystemTime::UNIX_EPOCH
            .checked_add(Duration::from_secs(header.mtime()?.max(1)))
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "mtime out of range"))?;
        let size = entry.size();

        let open = || {
            OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&dst)
        };
        let mut file = match open() {
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                match std::fs::remove_file(&dst) {
                    Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                    _ => {}
                }
                open()?
            }
            r => r?,
        };
        let written = blocks.borrow_mut().write_to(&mut file, size)?;
        if written != size {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("tar entry {}: {written} of {size} bytes", dst.display()),
            ));
        }
        if self.root {
            // before the mode: a change of owner clears set-id bits
            std::os::unix::fs::fchown(&file, Some(uid as u32), Some(gid as u32))?;
        }
        file.set_permissions(std::fs::Permissions::from_mode(mode))?;
        file.set_times(FileTimes::new().set_accessed(mtime).set_modified(mtime))?;
        Ok(())
    }
}

/// `rel` below `target`: root and `.` components dropped, `None` for an empty path (nothing to
/// do), an error for a `..` component.
fn inside(target: &Path, rel: &Path) -> io::Result<Option<PathBuf>> {
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
    Ok((dst != target).then_some(dst))
}

/// Creates a device node or fifo entry (tar-rs would write it as a regular file).
fn make_node<R: Read>(entry: &tar::Entry<'_, R>, target: &Path) -> io::Result<()> {
    use nix::sys::stat::{makedev, mknod, Mode, SFlag};
    let header = entry.header();
    let Some(dst) = inside(target, &entry.path()?)? else {
        return Ok(());
    };
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
    fn md5_stage_hashes_what_passes_and_passes_it_on() {
        let (tx, rx) = mpsc::channel(4);
        let (out_tx, out_rx) = smpsc::sync_channel(4);
        let (times_tx, times) = smpsc::channel();
        for part in [&b"hel"[..], b"", b"lo"] {
            tx.try_send(Ok(Bytes::from_static(part))).unwrap();
        }
        drop(tx);
        let md5 = md5_stage(rx, out_tx, times_tx);
        assert_eq!(md5, Some(("5d41402abc4b2a76b9719d911017c592".into(), 5)));
        let passed: Vec<u8> = out_rx.iter().flat_map(|c| c.unwrap().to_vec()).collect();
        assert_eq!(passed, b"hello");
        assert_eq!(times.try_iter().next().map(|t| t.items), Some(3));
    }

    #[test]
    fn md5_stage_passes_a_stream_error_on_and_gives_no_digest() {
        let (tx, rx) = mpsc::channel(4);
        let (out_tx, out_rx) = smpsc::sync_channel(4);
        let (times_tx, _times) = smpsc::channel();
        tx.try_send(Ok(Bytes::from_static(b"hel"))).unwrap();
        tx.try_send(Err(io::Error::other("connection reset")))
            .unwrap();
        tx.try_send(Ok(Bytes::from_static(b"lo"))).unwrap();
        drop(tx);
        assert_eq!(md5_stage(rx, out_tx, times_tx), None);
        let passed: Vec<Chunk> = out_rx.iter().collect();
        assert_eq!(passed.len(), 2);
        assert_eq!(
            passed[1].as_ref().unwrap_err().to_string(),
            "connection reset"
        );
    }

    #[test]
    fn entry_paths_stay_inside_the_target() {
        let t = Path::new("/mnt/target");
        assert_eq!(
            inside(t, Path::new("/./etc//os-release")).unwrap(),
            Some(PathBuf::from("/mnt/target/etc/os-release"))
        );
        assert_eq!(inside(t, Path::new("./")).unwrap(), None);
        assert!(inside(t, Path::new("etc/../../x")).is_err());
    }

    #[tokio::test]
    async fn url_must_end_in_lz4() {
        let err = install_image("http://127.0.0.1:1/img.tar.gz", Path::new("/nonexistent"))
            .await
            .unwrap_err();
        assert!(matches!(err, ImageError::NotLz4 { .. }), "{err}");
    }
}
