//! Builds a gzip-compressed newc initramfs from host files, busybox, programs with their
//! libraries and kernel modules.
//!
//! Entries are collected in a map keyed by absolute path (parents are added on demand) and
//! written sorted, so every directory precedes its content. File contents are read at
//! [`Initramfs::build`]. A later entry replaces an earlier one at the same path, except that
//! [`Initramfs::busybox`] never replaces what is there: real programs win over applets.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use flate2::write::GzEncoder;
use flate2::Compression;

use super::cpio::CpioWriter;
use super::init;
use super::kernel::DebianKernel;
use super::ldd;
use super::run_checked;

/// Modules for virtio disks and NICs, md RAID 0/1, device-mapper (linear and striped are part
/// of dm-mod), ext4, vfat and crc32c.
pub const DISK_MODULES: &[&str] = &[
    "virtio_pci",
    "virtio_blk",
    "virtio_net",
    "md_mod",
    "raid0",
    "raid1",
    "dm_mod",
    "ext4",
    "vfat",
    "nls_cp437",
    "nls_ascii",
    "crc32c_generic",
    "af_packet",
];

/// Programs for partitioning, RAID, LVM, file systems and kexec (plus `findmnt`, `lsblk`).
pub const DISK_TOOLS: &[&str] = &[
    "sgdisk",
    "mdadm",
    "lvm",
    "mke2fs",
    "mkfs.ext4",
    "mkfs.vfat",
    "mkfs.fat",
    "kexec",
    "wipefs",
    "blkid",
    "findmnt",
    "lsblk",
];

const GCONV_DIR: &str = "/usr/lib/x86_64-linux-gnu/gconv";
const GCONV_FILES: &[&str] = &[
    "gconv-modules",
    "gconv-modules.cache",
    "gconv-modules.d/gconv-modules-extra.conf",
    "IBM850.so",
    "IBM437.so",
];

#[derive(Debug, Clone)]
enum Source {
    Bytes(Vec<u8>),
    Host(PathBuf),
}

#[derive(Debug, Clone)]
enum Entry {
    Dir(u32),
    File { mode: u32, source: Source },
    Symlink(String),
    CharDev { mode: u32, major: u32, minor: u32 },
}

/// An initramfs under construction.
#[derive(Debug, Clone)]
pub struct Initramfs {
    entries: BTreeMap<String, Entry>,
    modules: Vec<String>,
}

/// What [`Initramfs::build`] wrote.
#[derive(Debug, Clone)]
pub struct BuiltInitramfs {
    pub path: PathBuf,
    /// Bytes of the gzip file.
    pub size: u64,
    /// Bytes of the cpio archive before compression.
    pub uncompressed: u64,
    pub build_time: Duration,
}

impl Default for Initramfs {
    fn default() -> Self {
        Self::new()
    }
}

impl Initramfs {
    /// Nothing at all: for archives appended to a base with [`Self::build_on`].
    pub fn empty() -> Self {
        Self {
            entries: BTreeMap::new(),
            modules: Vec::new(),
        }
    }

    /// The skeleton: `/dev/console` and `/dev/null` (the kernel opens the console before
    /// `/init` runs), and the usual top folders. No `/init` yet.
    pub fn new() -> Self {
        let mut s = Self::empty();
        for d in [
            "/dev", "/proc", "/sys", "/tmp", "/run", "/root", "/etc", "/var", "/mnt",
        ] {
            s.insert(d, Entry::Dir(0o755));
        }
        s.insert("/tmp", Entry::Dir(0o1777));
        s.insert(
            "/dev/console",
            Entry::CharDev {
                mode: 0o600,
                major: 5,
                minor: 1,
            },
        );
        s.insert(
            "/dev/null",
            Entry::CharDev {
                mode: 0o666,
                major: 1,
                minor: 3,
            },
        );
        s
    }

    /// busybox, `disk_tools`, the disk modules, lvm.conf and the standard `/init`: what the
    /// boot-chain tests use. Add a command with [`Self::command`].
    pub fn standard(kernel: &DebianKernel) -> Result<Self> {
        Self::new()
            .busybox()?
            .disk_tools()?
            .modules(kernel, DISK_MODULES)?
            .standard_init()
    }

    pub fn dir(mut self, path: &str, mode: u32) -> Self {
        self.insert(path, Entry::Dir(mode));
        self
    }

    pub fn file(mut self, path: &str, mode: u32, data: impl Into<Vec<u8>>) -> Self {
        let source = Source::Bytes(data.into());
        self.insert(path, Entry::File { mode, source });
        self
    }

    /// A host file, read when the archive is built (symlinks followed).
    pub fn host_file(mut self, path: &str, mode: u32, host: impl Into<PathBuf>) -> Self {
        let source = Source::Host(host.into());
        self.insert(path, Entry::File { mode, source });
        self
    }

    pub fn symlink(mut self, path: &str, target: &str) -> Self {
        self.insert(path, Entry::Symlink(target.to_string()));
        self
    }

    pub fn char_device(mut self, path: &str, mode: u32, major: u32, minor: u32) -> Self {
        self.insert(path, Entry::CharDev { mode, major, minor });
        self
    }

    /// `/bin/busybox` (the host's static one) and a symlink for each applet where
    /// `busybox --list-full` puts it, unless something is already there.
    pub fn busybox(mut self) -> Result<Self> {
        let bb = find_program("busybox")?;
        let list = run_checked(Command::new(&bb).arg("--list-full"))?;
        self.insert(
            "/bin/busybox",
            Entry::File {
                mode: 0o755,
                source: Source::Host(bb),
            },
        );
        for applet in list.lines().map(str::trim).filter(|l| !l.is_empty()) {
            let path = format!("/{applet}");
            if !self.entries.contains_key(&path) {
                self.insert(&path, Entry::Symlink("/bin/busybox".into()));
            }
        }
        Ok(self)
    }

    /// A program (a name looked up in `PATH` and the sbin folders, or a path) as
    /// `/usr/sbin/<name>`, with the libraries `ldd` names. A symlink such as `mkfs.vfat` is
    /// copied as a file under the name given, so programs that look at `argv[0]` behave.
    pub fn binary(self, program: &str) -> Result<Self> {
        let name = Path::new(program)
            .file_name()
            .with_context(|| format!("{program}: no file name"))?
            .to_string_lossy()
            .into_owned();
        self.binary_as(program, &format!("/usr/sbin/{name}"))
    }

    /// A program at `dest` (e.g. `/bin/metal-hammer` or `/init`) with its libraries.
    pub fn binary_as(mut self, program: &str, dest: &str) -> Result<Self> {
        let host = find_program(program)?;
        let real =
            fs::canonicalize(&host).with_context(|| format!("resolving {}", host.display()))?;
        self = self.libraries_of(&real)?;
        self.insert(
            dest,
            Entry::File {
                mode: 0o755,
                source: Source::Host(real),
            },
        );
        Ok(self)
    }

    /// The shared libraries (and the loader) of a host program, at the paths `ldd` names.
    pub fn libraries_of(mut self, program: &Path) -> Result<Self> {
        // `ldd` exits 1 for static programs: not an error.
        let out = Command::new("ldd")
            .arg(program)
            .output()
            .context("running ldd (libc-bin)")?;
        let libs = ldd::parse(&String::from_utf8_lossy(&out.stdout));
        if !libs.missing.is_empty() {
            bail!(
                "{}: libraries not found: {:?}",
                program.display(),
                libs.missing
            );
        }
        for lib in libs.paths {
            let real =
                fs::canonicalize(&lib).with_context(|| format!("resolving library {lib}"))?;
            self.insert(
                &lib,
                Entry::File {
                    mode: 0o755,
                    source: Source::Host(real),
                },
            );
        }
        Ok(self)
    }

    /// [`DISK_TOOLS`], `/etc/lvm/lvm.conf` for LVM without udev, mke2fs.conf and the iconv
    /// modules mkfs.fat uses.
    pub fn disk_tools(mut self) -> Result<Self> {
        for tool in DISK_TOOLS {
            self = self.binary(tool)?;
        }
        if Path::new("/etc/mke2fs.conf").is_file() {
            self = self.host_file("/etc/mke2fs.conf", 0o644, "/etc/mke2fs.conf");
        }
        // mkfs.fat converts labels through iconv's CP850 and warns without it.
        for f in GCONV_FILES {
            let host = format!("{GCONV_DIR}/{f}");
            if Path::new(&host).is_file() {
                self = self.host_file(&host, 0o644, &host);
            }
        }
        Ok(self.file("/etc/lvm/lvm.conf", 0o644, init::LVM_CONF))
    }

    /// Kernel modules `names` (module names or aliases) and everything they depend on, under
    /// `/lib/modules/<kver>/`, with a `modules.dep` for `modprobe` and the load order for
    /// `/init` in [`init::MODULE_LIST`]. Built-in names are skipped. Several calls add up.
    pub fn modules(mut self, kernel: &DebianKernel, names: &[&str]) -> Result<Self> {
        let db = kernel.module_db()?;
        for path in db.resolve(names)? {
            if !self.modules.contains(&path) {
                self.modules.push(path);
            }
        }
        let base = format!("/lib/modules/{}", kernel.version);
        for rel in self.modules.clone() {
            let host = kernel.modules_dir.join(&rel);
            if !host.is_file() {
                bail!("module {} missing", host.display());
            }
            self.insert(
                &format!("{base}/{rel}"),
                Entry::File {
                    mode: 0o644,
                    source: Source::Host(host),
                },
            );
        }
        let dep = db.dep_subset(&self.modules);
        let list = self.modules.join("\n") + "\n";
        Ok(self.file(&format!("{base}/modules.dep"), 0o644, dep).file(
            init::MODULE_LIST,
            0o644,
            list,
        ))
    }

    /// The standard `/init` script (see [`init`]), the udhcpc event script and `wait-dev`.
    pub fn standard_init(self) -> Result<Self> {
        Ok(self
            .file("/init", 0o755, init::init_script())
            .file(
                "/usr/share/udhcpc/default.script",
                0o755,
                init::UDHCPC_SCRIPT,
            )
            .file("/usr/local/bin/wait-dev", 0o755, init::WAIT_DEV_SCRIPT))
    }

    /// A host program as `/init` (PID 1), e.g. metal-hammer; replaces the standard script.
    pub fn init_binary(self, program: &str) -> Result<Self> {
        self.binary_as(program, "/init")
    }

    /// The shell command the standard `/init` runs (a script body; several lines are fine).
    pub fn command(self, command: &str) -> Self {
        self.file(init::RUN_SCRIPT, 0o755, init::run_script(command))
    }

    /// Whether the standard `/init` runs DHCP on eth0 (default: yes).
    pub fn dhcp(mut self, on: bool) -> Self {
        if on {
            self.entries.remove(init::NO_DHCP);
            self
        } else {
            self.file(init::NO_DHCP, 0o644, "")
        }
    }

    /// Writes the archive, gzip level 1.
    pub fn build(&self, dest: &Path) -> Result<BuiltInitramfs> {
        let started = Instant::now();
        let file = File::create(dest).with_context(|| format!("creating {}", dest.display()))?;
        let uncompressed = self
            .write_to(BufWriter::new(file))
            .with_context(|| format!("writing {}", dest.display()))?;
        let size = fs::metadata(dest)?.len();
        Ok(BuiltInitramfs {
            path: dest.to_path_buf(),
            size,
            uncompressed,
            build_time: started.elapsed(),
        })
    }

    /// A digest of everything that goes into the archive: entry paths, kinds, modes, inline
    /// contents, and for host files their path, size and mtime.
    pub fn fingerprint(&self) -> Result<String> {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        h.update(b"metal-vm-initramfs-v1\0");
        for (path, entry) in &self.entries {
            h.update(path.as_bytes());
            match entry {
                Entry::Dir(mode) => h.update(format!("\0d{mode:o}\0")),
                Entry::Symlink(t) => h.update(format!("\0l{t}\0")),
                Entry::CharDev { mode, major, minor } => {
                    h.update(format!("\0c{mode:o}:{major}:{minor}\0"))
                }
                Entry::File { mode, source } => {
                    h.update(format!("\0f{mode:o}\0"));
                    match source {
                        Source::Bytes(b) => {
                            h.update(b.len().to_le_bytes());
                            h.update(b);
                        }
                        Source::Host(p) => {
                            let m = fs::metadata(p)
                                .with_context(|| format!("reading {}", p.display()))?;
                            let mtime = m
                                .modified()
                                .ok()
                                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                                .unwrap_or_default();
                            h.update(format!(
                                "{}\0{}\0{}\0",
                                p.display(),
                                m.len(),
                                mtime.as_nanos()
                            ));
                        }
                    }
                }
            }
        }
        Ok(hex::encode(h.finalize()))
    }

    /// Like [`Self::build`] into `<dir>/<fingerprint>.cpio.gz`, reusing that file when it
    /// exists (written to a temp file and renamed, so concurrent builders are safe). Archives
    /// in `dir` unused for a week are deleted.
    /// `build_time` is zero for a reused file.
    pub fn build_cached(&self, dir: &Path) -> Result<BuiltInitramfs> {
        let dest = dir.join(format!("{}.cpio.gz", self.fingerprint()?));
        if let Ok(m) = fs::metadata(&dest) {
            // Marks it as used for the pruning below.
            if let Ok(f) = File::options().append(true).open(&dest) {
                let _ = f.set_modified(std::time::SystemTime::now());
            }
            return Ok(BuiltInitramfs {
                path: dest,
                size: m.len(),
                uncompressed: 0,
                build_time: Duration::ZERO,
            });
        }
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let tmp = tempfile::Builder::new()
            .prefix(".initramfs.")
            .tempfile_in(dir)
            .with_context(|| format!("creating a temp file in {}", dir.display()))?;
        let mut built = self.build(tmp.path())?;
        tmp.persist(&dest)
            .with_context(|| format!("renaming to {}", dest.display()))?;
        built.path = dest;
        prune(dir, &built.path, Duration::from_secs(7 * 24 * 3600));
        Ok(built)
    }

    /// Writes `base` followed by this archive to `dest`: the kernel unpacks concatenated
    /// archives in order, later files replacing earlier ones. Cheap per-test additions (a run
    /// script) on top of one built base.
    pub fn build_on(&self, base: &Path, dest: &Path) -> Result<BuiltInitramfs> {
        let started = Instant::now();
        fs::copy(base, dest)
            .with_context(|| format!("copying {} to {}", base.display(), dest.display()))?;
        let file = fs::OpenOptions::new()
            .append(true)
            .open(dest)
            .with_context(|| format!("opening {}", dest.display()))?;
        let uncompressed = self.write_to(BufWriter::new(file))?;
        Ok(BuiltInitramfs {
            path: dest.to_path_buf(),
            size: fs::metadata(dest)?.len(),
            uncompressed,
            build_time: started.elapsed(),
        })
    }

    fn write_to<W: Write>(&self, out: W) -> Result<u64> {
        let gz = GzEncoder::new(out, Compression::new(1));
        let mut cpio = CpioWriter::new(gz);
        for (path, entry) in &self.entries {
            match entry {
                Entry::Dir(mode) => cpio.dir(path, *mode)?,
                Entry::Symlink(target) => cpio.symlink(path, target)?,
                Entry::CharDev { mode, major, minor } => {
                    cpio.char_device(path, *mode, *major, *minor)?
                }
                Entry::File { mode, source } => match source {
                    Source::Bytes(b) => cpio.file(path, *mode, b)?,
                    Source::Host(h) => {
                        let data =
                            fs::read(h).with_context(|| format!("reading {}", h.display()))?;
                        cpio.file(path, *mode, &data)?
                    }
                },
            }
        }
        let written = cpio.written();
        cpio.finish()?.finish()?.flush()?;
        Ok(written)
    }

    /// Inserts `entry` at `path`, adding missing parent folders.
    fn insert(&mut self, path: &str, entry: Entry) {
        let path = format!("/{}", path.trim_matches('/'));
        let mut parent = Path::new(&path).parent();
        while let Some(p) = parent {
            let s = p.to_string_lossy();
            if s == "/" {
                break;
            }
            self.entries
                .entry(s.into_owned())
                .or_insert(Entry::Dir(0o755));
            parent = p.parent();
        }
        self.entries.insert(path, entry);
    }

    /// The paths in the archive (sorted), for tests and debugging.
    pub fn paths(&self) -> impl Iterator<Item = &str> {
        self.entries.keys().map(String::as_str)
    }
}

/// Deletes `*.cpio.gz` in `dir` other than `keep` not modified for `age`.
fn prune(dir: &Path, keep: &Path, age: Duration) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        let old = e
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|a| a > age);
        if p != keep && old && p.to_string_lossy().ends_with(".cpio.gz") {
            let _ = fs::remove_file(&p);
        }
    }
}

/// A program by path, or by name in `PATH` plus the sbin folders.
pub fn find_program(program: &str) -> Result<PathBuf> {
    if program.contains('/') {
        let p = PathBuf::from(program);
        if p.exists() {
            return Ok(p);
        }
        bail!("{program} does not exist");
    }
    let path = std::env::var("PATH").unwrap_or_default();
    let dirs = path
        .split(':')
        .chain(["/usr/local/sbin", "/usr/sbin", "/sbin", "/usr/bin", "/bin"]);
    for dir in dirs.filter(|d| !d.is_empty()) {
        let p = Path::new(dir).join(program);
        if p.is_file() {
            return Ok(p);
        }
    }
    bail!("program {program} not found in PATH or the sbin folders")
}
