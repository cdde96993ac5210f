//! Read-only TFTP server (RFC 1350) for the iPXE binaries, with option negotiation (RFC 2347):
//! blksize (RFC 2348), timeout and tsize (RFC 2349) and windowsize (RFC 7440). Only RRQ in octet
//! mode. `<mac>/<firmware>` names the iPXE binary for that firmware; plain file names are looked
//! up in the iPXE directory.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::UdpSocket;

use crate::classify::Firmware;
use crate::dhcp::Mac;
use crate::metrics::Metrics;

pub const BIOS_BIN: &str = "undionly.kpxe";
pub const EFI32_BIN: &str = "ipxe-i386.efi";
pub const EFI64_BIN: &str = "ipxe.efi";
pub const IPXE_BIN: &str = "ipxe.pxe";

const RRQ: u16 = 1;
const DATA: u16 = 3;
const ACK: u16 = 4;
const ERROR: u16 = 5;
const OACK: u16 = 6;
const RETRIES: u32 = 5;

/// Where the iPXE binaries are (`--ipxe-dir` and the per-firmware overrides).
#[derive(Debug, Clone)]
pub struct IpxeFiles {
    pub dir: PathBuf,
    pub bios: PathBuf,
    pub efi32: PathBuf,
    pub efi64: PathBuf,
    pub ipxe: PathBuf,
}

impl IpxeFiles {
    /// The stock names in `dir`.
    pub fn in_dir(dir: &Path) -> Self {
        Self {
            dir: dir.to_path_buf(),
            bios: dir.join(BIOS_BIN),
            efi32: dir.join(EFI32_BIN),
            efi64: dir.join(EFI64_BIN),
            ipxe: dir.join(IPXE_BIN),
        }
    }

    /// The binary served as `<mac>/<fw>`.
    pub fn for_firmware(&self, fw: Firmware) -> &Path {
        match fw {
            Firmware::X86Pc => &self.bios,
            Firmware::Efi32 => &self.efi32,
            Firmware::Efi64 | Firmware::EfiBc => &self.efi64,
            Firmware::X86Ipxe | Firmware::PixiecoreIpxe => &self.ipxe,
        }
    }

    /// A plain file name: the overridden binaries under their stock names, else a file of the
    /// directory. Names with a path separator or starting with a dot are refused.
    pub fn by_name(&self, name: &str) -> Option<PathBuf> {
        if name.is_empty() || name.contains('/') || name.contains('\\') || name.starts_with('.') {
            return None;
        }
        Some(match name {
            BIOS_BIN => self.bios.clone(),
            EFI32_BIN => self.efi32.clone(),
            EFI64_BIN => self.efi64.clone(),
            IPXE_BIN => self.ipxe.clone(),
            _ => self.dir.join(name),
        })
    }

    /// The file a TFTP path names.
    pub fn resolve(&self, path: &str) -> Option<PathBuf> {
        let path = path.trim_start_matches('/');
        if let Some((mac, fw)) = path.split_once('/') {
            mac.parse::<Mac>().ok()?;
            let fw = Firmware::from_number(fw.parse().ok()?)?;
            return Some(self.for_firmware(fw).to_path_buf());
        }
        self.by_name(path)
    }
}

/// A parsed read request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadRequest {
    pub file: String,
    pub mode: String,
    /// Options with lower-cased names, in request order.
    pub options: Vec<(String, String)>,
}

/// Why a request is refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TftpError {
    #[error("malformed request")]
    Malformed,
    #[error("only read requests are served")]
    NotRead,
    #[error("only octet mode is served")]
    Mode,
}

fn cstrings(b: &[u8]) -> Result<Vec<String>, TftpError> {
    if b.last() != Some(&0) {
        return Err(TftpError::Malformed);
    }
    b[..b.len() - 1]
        .split(|&c| c == 0)
        .map(|s| {
            std::str::from_utf8(s)
                .map(str::to_string)
                .map_err(|_| TftpError::Malformed)
        })
        .collect()
}

/// Parses the first packet of a transfer.
pub fn parse_request(b: &[u8]) -> Result<ReadRequest, TftpError> {
    if b.len() < 4 {
        return Err(TftpError::Malformed);
    }
    if u16::from_be_bytes([b[0], b[1]]) != RRQ {
        return Err(TftpError::NotRead);
    }
    let parts = cstrings(&b[2..])?;
    if parts.len() < 2 || parts.len() % 2 != 0 {
        return Err(TftpError::Malformed);
    }
    let mode = parts[1].to_ascii_lowercase();
    if mode != "octet" {
        return Err(TftpError::Mode);
    }
    let options = parts[2..]
        .chunks(2)
        .map(|kv| (kv[0].to_ascii_lowercase(), kv[1].clone()))
        .collect();
    Ok(ReadRequest {
        file: parts[0].clone(),
        mode,
        options,
    })
}

/// The transfer parameters after option negotiation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiated {
    pub blksize: usize,
    pub windowsize: u16,
    pub timeout: Duration,
    /// The OACK options; empty → no OACK, data starts at once.
    pub oack: Vec<(String, String)>,
}

/// Accepts the options the server supports, clamped to their valid ranges; unknown options
/// and invalid values are left out of the OACK (RFC 2347).
pub fn negotiate(options: &[(String, String)], size: u64) -> Negotiated {
    let mut n = Negotiated {
        blksize: 512,
        windowsize: 1,
        timeout: Duration::from_secs(3),
        oack: Vec::new(),
    };
    for (k, v) in options {
        let Ok(val) = v.parse::<u64>() else { continue };
        match k.as_str() {
            "blksize" if val >= 8 => {
                let b = val.min(65464);
                n.blksize = b as usize;
                n.oack.push((k.clone(), b.to_string()));
            }
            "windowsize" if val >= 1 => {
                let w = val.min(64) as u16;
                n.windowsize = w;
                n.oack.push((k.clone(), w.to_string()));
            }
            "timeout" if (1..=255).contains(&val) => {
                n.timeout = Duration::from_secs(val);
                n.oack.push((k.clone(), val.to_string()));
            }
            "tsize" => n.oack.push((k.clone(), size.to_string())),
            _ => {}
        }
    }
    n
}

pub fn error_packet(code: u16, msg: &str) -> Vec<u8> {
    let mut b = vec![0, ERROR as u8];
    b.extend_from_slice(&code.to_be_bytes());
    b.extend_from_slice(msg.as_bytes());
    b.push(0);
    b
}

fn oack_packet(opts: &[(String, String)]) -> Vec<u8> {
    let mut b = vec![0, OACK as u8];
    for (k, v) in opts {
        b.extend_from_slice(k.as_bytes());
        b.push(0);
        b.extend_from_slice(v.as_bytes());
        b.push(0);
    }
    b
}

fn data_packet(block: u16, data: &[u8]) -> Vec<u8> {
    let mut b = Vec::with_capacity(4 + data.len());
    b.extend_from_slice(&DATA.to_be_bytes());
    b.extend_from_slice(&block.to_be_bytes());
    b.extend_from_slice(data);
    b
}

/// Serves TFTP on `socket` until the task is dropped.
pub async fn serve(
    socket: UdpSocket,
    files: Arc<IpxeFiles>,
    metrics: Arc<Metrics>,
) -> std::io::Result<()> {
    let mut buf = vec![0u8; 1500];
    loop {
        let (n, peer) = socket.recv_from(&mut buf).await?;
        let req = buf[..n].to_vec();
        let files = files.clone();
        metrics.inc(&metrics.tftp_transfers);
        let local = socket.local_addr()?;
        tokio::spawn(async move {
            if let Err(e) = transfer(&req, peer, local, &files).await {
                tracing::info!(%peer, "tftp transfer ended: {e}");
            }
        });
    }
}

async fn transfer(
    req: &[u8],
    peer: SocketAddr,
    local: SocketAddr,
    files: &IpxeFiles,
) -> std::io::Result<()> {
    let bind: SocketAddr = SocketAddr::new(local.ip(), 0);
    let sock = UdpSocket::bind(bind).await?;
    sock.connect(peer).await?;
    let rr = match parse_request(req) {
        Ok(r) => r,
        Err(e) => {
            let code = if e == TftpError::NotRead { 2 } else { 4 };
            sock.send(&error_packet(code, &e.to_string())).await?;
            return Ok(());
        }
    };
    let data = match files.resolve(&rr.file) {
        Some(path) => tokio::fs::read(&path).await.ok(),
        None => None,
    };
    let Some(data) = data else {
        tracing::info!(%peer, file = %rr.file, "tftp: file not found");
        sock.send(&error_packet(1, "file not found")).await?;
        return Ok(());
    };
    tracing::info!(%peer, file = %rr.file, bytes = data.len(), "tftp: sending");
    let neg = negotiate(&rr.options, data.len() as u64);
    send_file(&sock, &data, &neg).await
}

/// Sends `data` to the connected peer: OACK if options were accepted, then windows of DATA
/// blocks, retransmitting from the last acknowledged block on timeout.
pub async fn send_file(sock: &UdpSocket, data: &[u8], neg: &Negotiated) -> std::io::Result<()> {
    let mut buf = vec![0u8; 1500];
    if !neg.oack.is_empty() {
        let oack = oack_packet(&neg.oack);
        let mut tries = 0;
        loop {
            sock.send(&oack).await?;
            match wait_ack(sock, &mut buf, neg.timeout).await? {
                Some(0) => break,
                Some(_) => {}
                None => {
                    tries += 1;
                    if tries >= RETRIES {
                        return Err(std::io::Error::other("no ACK for OACK"));
                    }
                }
            }
        }
    }
    // Blocks are numbered from 1; the last one is shorter than blksize (possibly empty).
    let blocks = (data.len() / neg.blksize + 1) as u64;
    let mut base: u64 = 1;
    let mut tries = 0;
    while base <= blocks {
        let end = (base + u64::from(neg.windowsize) - 1).min(blocks);
        for b in base..=end {
            let start = ((b - 1) as usize) * neg.blksize;
            let stop = (start + neg.blksize).min(data.len());
            sock.send(&data_packet(b as u16, &data[start..stop]))
                .await?;
        }
        match wait_ack(sock, &mut buf, neg.timeout).await? {
            Some(ack) => {
                // Map the 16-bit ACK into the window just sent.
                if let Some(acked) = (base - 1..=end).rev().find(|b| *b as u16 == ack) {
                    if acked >= base {
                        base = acked + 1;
                        tries = 0;
                    }
                }
            }
            None => {
                tries += 1;
                if tries >= RETRIES {
                    return Err(std::io::Error::other("transfer timed out"));
                }
            }
        }
    }
    Ok(())
}

/// The next ACK's block number; `None` on timeout. An ERROR from the peer ends the transfer.
async fn wait_ack(
    sock: &UdpSocket,
    buf: &mut [u8],
    timeout: Duration,
) -> std::io::Result<Option<u16>> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let n = match tokio::time::timeout_at(deadline, sock.recv(buf)).await {
            Ok(r) => r?,
            Err(_) => return Ok(None),
        };
        if n >= 4 {
            let op = u16::from_be_bytes([buf[0], buf[1]]);
            if op == ACK {
                return Ok(Some(u16::from_be_bytes([buf[2], buf[3]])));
            }
            if op == ERROR {
                return Err(std::io::Error::other("peer sent an error"));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rrq(parts: &[&str]) -> Vec<u8> {
        let mut b = vec![0, 1];
        for p in parts {
            b.extend_from_slice(p.as_bytes());
            b.push(0);
        }
        b
    }

    #[test]
    fn parses_read_requests() {
        let r = parse_request(&rrq(&["aa:bb:cc:dd:ee:ff/0", "OCTET", "BLKSIZE", "1468"])).unwrap();
        assert_eq!(r.file, "aa:bb:cc:dd:ee:ff/0");
        assert_eq!(r.options, vec![("blksize".into(), "1468".into())]);
        assert_eq!(
            parse_request(&rrq(&["f", "netascii"])),
            Err(TftpError::Mode)
        );
        let mut wrq = rrq(&["f", "octet"]);
        wrq[1] = 2;
        assert_eq!(parse_request(&wrq), Err(TftpError::NotRead));
        assert_eq!(parse_request(b"\0\x01f\0octet"), Err(TftpError::Malformed));
        assert_eq!(
            parse_request(&rrq(&["f", "octet", "tsize"])),
            Err(TftpError::Malformed)
        );
        assert_eq!(parse_request(&[0, 1]), Err(TftpError::Malformed));
    }

    #[test]
    fn negotiates_options() {
        let o = |kv: &[(&str, &str)]| -> Vec<(String, String)> {
            kv.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let n = negotiate(&[], 100);
        assert_eq!((n.blksize, n.windowsize, n.oack.len()), (512, 1, 0));
        let n = negotiate(
            &o(&[
                ("blksize", "1468"),
                ("tsize", "0"),
                ("windowsize", "8"),
                ("timeout", "2"),
            ]),
            12345,
        );
        assert_eq!(n.blksize, 1468);
        assert_eq!(n.windowsize, 8);
        assert_eq!(n.timeout, Duration::from_secs(2));
        assert_eq!(
            n.oack,
            o(&[
                ("blksize", "1468"),
                ("tsize", "12345"),
                ("windowsize", "8"),
                ("timeout", "2")
            ])
        );
        let n = negotiate(
            &o(&[
                ("blksize", "4"),
                ("timeout", "0"),
                ("multicast", ""),
                ("blksize", "99999"),
            ]),
            1,
        );
        assert_eq!(n.blksize, 65464);
        assert_eq!(n.oack, o(&[("blksize", "65464")]));
        assert_eq!(
            oack_packet(&o(&[("tsize", "7")])),
            b"\0\x06tsize\x007\0".to_vec()
        );
    }

    #[test]
    fn resolves_paths() {
        let f = IpxeFiles::in_dir(Path::new("/ipxe"));
        let p = |s: &str| f.resolve(s).map(|p| p.display().to_string());
        assert_eq!(
            p("52:54:00:00:00:01/0").as_deref(),
            Some("/ipxe/undionly.kpxe")
        );
        assert_eq!(p("/52:54:00:00:00:01/2").as_deref(), Some("/ipxe/ipxe.efi"));
        assert_eq!(p("52:54:00:00:00:01/3").as_deref(), Some("/ipxe/ipxe.efi"));
        assert_eq!(p("52:54:00:00:00:01/4").as_deref(), Some("/ipxe/ipxe.pxe"));
        assert_eq!(p("snponly.efi").as_deref(), Some("/ipxe/snponly.efi"));
        for bad in [
            "52:54:00:00:00:01/9",
            "nomac/0",
            "../etc/passwd",
            ".hidden",
            "a/b/c",
            "",
        ] {
            assert_eq!(p(bad), None, "{bad}");
        }
    }

    /// A whole windowed transfer over loopback, with a client that drops the first DATA of
    /// block 3 once to force a retransmission.
    #[tokio::test]
    async fn windowed_transfer_with_retransmission() {
        let data: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
        let server = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        server.connect(client.local_addr().unwrap()).await.unwrap();
        client.connect(server.local_addr().unwrap()).await.unwrap();
        let neg = negotiate(
            &[
                ("blksize".into(), "1000".into()),
                ("windowsize".into(), "2".into()),
                ("timeout".into(), "1".into()),
            ],
            data.len() as u64,
        );
        let sent = data.clone();
        let srv = tokio::spawn(async move { send_file(&server, &sent, &neg).await });
        let mut buf = vec![0u8; 2000];
        let n = client.recv(&mut buf).await.unwrap();
        assert_eq!(u16::from_be_bytes([buf[0], buf[1]]), OACK);
        assert!(n > 2);
        client.send(&[0, 4, 0, 0]).await.unwrap();
        let mut got = Vec::new();
        let mut expect: u16 = 1;
        let mut dropped = false;
        loop {
            let n = client.recv(&mut buf).await.unwrap();
            assert_eq!(u16::from_be_bytes([buf[0], buf[1]]), DATA);
            let block = u16::from_be_bytes([buf[2], buf[3]]);
            if block == 3 && !dropped {
                dropped = true;
                continue;
            }
            if block != expect {
                continue;
            }
            got.extend_from_slice(&buf[4..n]);
            expect += 1;
            // ACK at the end of each window and on the last block.
            if block & 1 == 0 || n - 4 < 1000 {
                client.send(&[0, 4, 0, block as u8]).await.unwrap();
            }
            if n - 4 < 1000 {
                break;
            }
        }
        srv.await.unwrap().unwrap();
        assert!(dropped);
        assert_eq!(got, data);
    }
}
