//! The test OS image: a busybox root filesystem packed the way metal-images ships an image
//! (`img.tar.lz4`, lz4 frame, with `img.tar.lz4.md5` in md5sum format), built by tests and
//! never downloaded; [`crate::fileserver`] serves it.
//!
//! The image holds `/bin/busybox` (from busybox-static) with applet symlinks, `/sbin/init`,
//! `/etc/os-release` (`ID=debian`), `/etc/passwd`, `/etc/group`, a root-and-group-owned
//! `/etc/shadow` (0640, gid 42), a hard link, `/etc/lvm/`, placeholder `/boot/vmlinuz` and
//! `/boot/initrd.img` (or the caller's), and an executable `/install.sh` following metal-hammer's
//! installer contract (§9): it checks `/etc/metal/install.yaml`, echoes the hostname, writes
//! `/etc/hostname` and `/etc/metal/boot-info.yaml` and exits 0 (or 3 with
//! [`OsImageBuilder::failing_installer`]). Every tar header is owned by uid/gid 0 unless stated.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use md5::{Digest, Md5};

/// Where busybox-static installs the binary.
pub const BUSYBOX_PATHS: &[&str] = &["/bin/busybox", "/usr/bin/busybox"];

/// The applets linked in `/bin`.
const APPLETS: &[&str] = &[
    "sh", "ash", "cat", "echo", "sed", "tr", "grep", "ls", "mkdir", "rm", "cp", "mv", "ln",
    "chmod", "chown", "test", "[", "true", "false", "mount", "umount", "uname", "sleep", "awk",
    "cut", "head", "tail", "hostname", "poweroff", "reboot", "sync", "id", "wc", "touch", "env",
    "printf",
];

/// The image's `/install.sh` when it succeeds.
pub const INSTALL_SH: &str = r#"#!/bin/sh
# metal-testkit test image installer: the legacy metal-hammer installer contract
set -e
if [ ! -f /etc/metal/install.yaml ]; then
    echo "install.sh: /etc/metal/install.yaml is missing" >&2
    exit 2
fi
value() { sed -n "s/^$1: *//p" /etc/metal/install.yaml | head -n 1 | tr -d "'\""; }
hostname="$(value hostname)"
root_uuid="$(value root_uuid)"
echo "install.sh: installing $hostname"
__FAIL__
echo "$hostname" > /etc/hostname
cat > /etc/metal/boot-info.yaml <<EOF
kernel: /boot/vmlinuz
initrd: /boot/initrd.img
cmdline: console=ttyS0 root=UUID=$root_uuid init=/sbin/init
bootloader_id: metal-test
EOF
echo "install.sh: done"
exit 0
"#;

/// The busybox binary of this machine, if busybox-static is installed.
pub fn busybox() -> Option<PathBuf> {
    BUSYBOX_PATHS
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
}

/// One file of the image beyond the defaults.
#[derive(Debug, Clone)]
struct Extra {
    path: String,
    contents: Vec<u8>,
    mode: u32,
}

/// Builds a test image.
#[derive(Debug, Clone, Default)]
pub struct OsImageBuilder {
    extras: Vec<Extra>,
    failing_installer: bool,
    installer: Option<String>,
    filler_bytes: u64,
}

/// A built image in its directory.
#[derive(Debug, Clone)]
pub struct OsImage {
    /// The directory with `img.tar.lz4` and `img.tar.lz4.md5`.
    pub dir: PathBuf,
    pub archive: PathBuf,
    /// MD5 (hex) of `img.tar.lz4`.
    pub md5: String,
    /// Size of the uncompressed tar.
    pub tar_bytes: u64,
    /// Size of `img.tar.lz4`.
    pub compressed_bytes: u64,
}

impl OsImageBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) a file, e.g. a real kernel at `/boot/vmlinuz`.
    pub fn file(mut self, path: &str, contents: impl Into<Vec<u8>>, mode: u32) -> Self {
        let path = path.trim_start_matches('/').to_string();
        self.extras.retain(|e| e.path != path);
        self.extras.push(Extra {
            path,
            contents: contents.into(),
            mode,
        });
        self
    }

    /// `/install.sh` prints a message and exits 3 after checking its input.
    pub fn failing_installer(mut self) -> Self {
        self.failing_installer = true;
        self
    }

    /// Replaces `/install.sh` entirely.
    pub fn installer_script(mut self, script: impl Into<String>) -> Self {
        self.installer = Some(script.into());
        self
    }

    /// Adds about `bytes` of extra files of mixed sizes (1 KiB to 4 MiB, compressible about
    /// 2:1) under `/usr/share/filler`, for benchmarks.
    pub fn filler(mut self, bytes: u64) -> Self {
        self.filler_bytes = bytes;
        self
    }

    /// Packs the image into `dir/img.tar.lz4` and writes `dir/img.tar.lz4.md5`.
    pub fn build(&self, dir: &Path) -> anyhow::Result<OsImage> {
        let busybox = busybox().context("busybox-static is needed for the test image")?;
        std::fs::create_dir_all(dir)?;
        let archive = dir.join("img.tar.lz4");
        let file = std::fs::File::create(&archive)
            .with_context(|| format!("creating {}", archive.display()))?;
        let encoder = lz4_flex::frame::FrameEncoder::new(std::io::BufWriter::new(file));
        let mut counting = CountingWriter {
            inner: encoder,
            bytes: 0,
        };
        {
            let mut tar = tar::Builder::new(&mut counting);
            self.append_all(&mut tar, &busybox)?;
            tar.finish()?;
        }
        let tar_bytes = counting.bytes;
        let mut w = counting.inner.finish().context("finishing lz4")?;
        w.flush()?;
        drop(w);
        let md5 = md5_file(&archive)?;
        std::fs::write(dir.join("img.tar.lz4.md5"), format!("{md5}  img.tar.lz4\n"))?;
        Ok(OsImage {
            dir: dir.to_path_buf(),
            compressed_bytes: std::fs::metadata(&archive)?.len(),
            archive,
            md5,
            tar_bytes,
        })
    }

    fn append_all<W: Write>(
        &self,
        tar: &mut tar::Builder<W>,
        busybox: &Path,
    ) -> anyhow::Result<()> {
        for (d, mode) in [
            ("bin", 0o755),
            ("boot", 0o755),
            ("dev", 0o755),
            ("etc", 0o755),
            ("etc/lvm", 0o755),
            ("proc", 0o555),
            ("root", 0o700),
            ("sbin", 0o755),
            ("sys", 0o555),
            ("tmp", 0o1777),
            ("usr", 0o755),
            ("usr/bin", 0o755),
            ("usr/sbin", 0o755),
            ("usr/share", 0o755),
            ("var", 0o755),
            ("var/tmp", 0o1777),
        ] {
            dir(tar, d, mode)?;
        }
        let bb =
            std::fs::read(busybox).with_context(|| format!("reading {}", busybox.display()))?;
        file(tar, "bin/busybox", &bb, 0o755, 0, 0)?;
        for applet in APPLETS {
            symlink(tar, &format!("bin/{applet}"), "busybox")?;
        }
        symlink(tar, "sbin/init", "../bin/busybox")?;
        file(
            tar,
            "etc/os-release",
            b"PRETTY_NAME=\"metal-testkit test image\"\nNAME=\"Debian GNU/Linux\"\nID=debian\nVERSION_ID=\"12\"\n",
            0o644,
            0,
            0,
        )?;
        file(
            tar,
            "etc/passwd",
            b"root:x:0:0:root:/root:/bin/sh\n",
            0o644,
            0,
            0,
        )?;
        file(tar, "etc/group", b"root:x:0:\nshadow:x:42:\n", 0o644, 0, 0)?;
        file(
            tar,
            "etc/shadow",
            b"root:*:19000:0:99999:7:::\n",
            0o640,
            0,
            42,
        )?;
        file(tar, "etc/issue", b"metal-testkit test image\n", 0o644, 0, 0)?;
        hardlink(tar, "etc/issue.net", "etc/issue")?;
        file(
            tar,
            "etc/fstab",
            b"# placeholder from the image\n",
            0o644,
            0,
            0,
        )?;
        let script = match &self.installer {
            Some(s) => s.clone(),
            None => INSTALL_SH.replace(
                "__FAIL__",
                if self.failing_installer {
                    "echo \"install.sh: failing on purpose\" >&2\nexit 3"
                } else {
                    ""
                },
            ),
        };
        let defaults = [
            ("boot/vmlinuz", b"placeholder kernel\n".to_vec(), 0o644),
            ("boot/initrd.img", b"placeholder initrd\n".to_vec(), 0o644),
            ("install.sh", script.into_bytes(), 0o755),
        ];
        for (path, contents, mode) in defaults {
            if !self.extras.iter().any(|e| e.path == path) {
                file(tar, path, &contents, mode, 0, 0)?;
            }
        }
        for e in &self.extras {
            if let Some(parent) = Path::new(&e.path).parent() {
                let p = parent.to_string_lossy();
                if !p.is_empty() && !is_default_dir(&p) {
                    dir(tar, &p, 0o755)?;
                }
            }
            file(tar, &e.path, &e.contents, e.mode, 0, 0)?;
        }
        if self.filler_bytes > 0 {
            filler(tar, self.filler_bytes)?;
        }
        Ok(())
    }
}

fn is_default_dir(p: &str) -> bool {
    matches!(
        p,
        "bin"
            | "boot"
            | "dev"
            | "etc"
            | "etc/lvm"
            | "proc"
            | "root"
            | "sbin"
            | "sys"
            | "tmp"
            | "usr"
            | "usr/bin"
            | "usr/sbin"
            | "usr/share"
            | "var"
            | "var/tmp"
    )
}

fn header(kind: tar::EntryType, mode: u32, uid: u64, gid: u64, size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_uid(uid);
    h.set_gid(gid);
    h.set_mtime(1_700_000_000);
    h.set_size(size);
    h
}

fn dir<W: Write>(tar: &mut tar::Builder<W>, path: &str, mode: u32) -> std::io::Result<()> {
    let mut h = header(tar::EntryType::Directory, mode, 0, 0, 0);
    tar.append_data(&mut h, format!("{path}/"), std::io::empty())
}

fn file<W: Write>(
    tar: &mut tar::Builder<W>,
    path: &str,
    contents: &[u8],
    mode: u32,
    uid: u64,
    gid: u64,
) -> std::io::Result<()> {
    let mut h = header(
        tar::EntryType::Regular,
        mode,
        uid,
        gid,
        contents.len() as u64,
    );
    tar.append_data(&mut h, path, contents)
}

fn symlink<W: Write>(tar: &mut tar::Builder<W>, path: &str, target: &str) -> std::io::Result<()> {
    let mut h = header(tar::EntryType::Symlink, 0o777, 0, 0, 0);
    tar.append_link(&mut h, path, target)
}

fn hardlink<W: Write>(tar: &mut tar::Builder<W>, path: &str, target: &str) -> std::io::Result<()> {
    let mut h = header(tar::EntryType::Link, 0o644, 0, 0, 0);
    tar.append_link(&mut h, path, target)
}

/// Deterministic files of mixed sizes: text-like runs (compressible) mixed with noise.
fn filler<W: Write>(tar: &mut tar::Builder<W>, total: u64) -> std::io::Result<()> {
    const SIZES: &[usize] = &[1 << 10, 6 << 10, 40 << 10, 300 << 10, 1 << 20, 4 << 20];
    const WORDS: &[&str] = &[
        "metal",
        "stack",
        "machine",
        "partition",
        "switch",
        "network",
        "image",
        "install",
        "kernel",
        "initrd",
        "lvm",
        "raid",
        "firmware",
        "bios",
        "uefi",
        "boot",
        "disk",
    ];
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    dir(tar, "usr/share/filler", 0o755)?;
    let mut written = 0u64;
    let mut i = 0usize;
    let mut current_dir = None;
    while written < total {
        let size = SIZES[i % SIZES.len()].min((total - written).max(1) as usize);
        if current_dir != Some(i / 64) {
            current_dir = Some(i / 64);
            dir(tar, &format!("usr/share/filler/{:04}", i / 64), 0o755)?;
        }
        let mut data = Vec::with_capacity(size);
        while data.len() < size {
            let r = next();
            if r % 3 < 1 {
                data.extend_from_slice(&r.to_le_bytes());
            } else {
                data.extend_from_slice(WORDS[(r % WORDS.len() as u64) as usize].as_bytes());
                data.push(b' ');
            }
        }
        data.truncate(size);
        file(
            tar,
            &format!("usr/share/filler/{:04}/f{i:06}", i / 64),
            &data,
            0o644,
            0,
            0,
        )?;
        written += size as u64;
        i += 1;
    }
    Ok(())
}

struct CountingWriter<W> {
    inner: W,
    bytes: u64,
}

impl<W: Write> Write for CountingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// MD5 (hex) of a file.
pub fn md5_file(path: &Path) -> anyhow::Result<String> {
    let mut f = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut h = Md5::new();
    std::io::copy(&mut f, &mut h)?;
    Ok(hex::encode(h.finalize()))
}
