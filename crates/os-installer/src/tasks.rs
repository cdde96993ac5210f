//! The installation, task by task, against an image root (`/` when run chrooted by
//! metal-hammer): the rendered files written, checked with FRR's and nftables' own tools, the
//! `metal` user, SSH keys, user data, services, boot info. Task names are metal-stack's
//! os-installer's, so `--only` and `--except` take the same words.

use std::io::Write as _;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context};

use crate::config::{BootInfoFile, InstallConfig};
use crate::{frr, networkd, nftables, system};

/// The tasks in the order they run.
pub const TASKS: &[&str] = &[
    "write hostname",
    "write /etc/hosts",
    "write /etc/resolv.conf",
    "write ntp configuration",
    "create metal user",
    "configure network",
    "authorized ssh keys",
    "fix wrong filesystem permissions",
    "process userdata",
    "write /etc/metal/boot-info.yaml",
    "unset machine id",
    "deploy systemd services",
];

/// A file of the rendering: its path inside the image, its content and mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct File {
    pub path: String,
    pub content: String,
    pub mode: u32,
}

fn file(path: impl Into<String>, content: impl Into<String>) -> File {
    File {
        path: path.into(),
        content: content.into(),
        mode: 0o644,
    }
}

/// The files `task` renders from `install.yaml` alone (the tasks write them into the image
/// before their other work).
pub fn files(task: &str, cfg: &InstallConfig) -> Vec<File> {
    match task {
        "write hostname" => vec![file("etc/hostname", system::hostname(cfg))],
        "write /etc/hosts" => vec![file("etc/hosts", system::hosts(cfg))],
        "write /etc/resolv.conf" => vec![file("etc/resolv.conf", system::resolv_conf(cfg))],
        "write ntp configuration" => system::timesyncd_conf(cfg)
            .map(|t| file("etc/systemd/timesyncd.conf", t))
            .into_iter()
            .collect(),
        "configure network" => network(cfg),
        "deploy systemd services" if cfg.is_firewall() => system::droptailer_unit(cfg)
            .map(|u| file("etc/systemd/system/droptailer.service", u))
            .into_iter()
            .collect(),
        _ => Vec::new(),
    }
}

/// Every file the installation renders from `install.yaml` alone, in the order of the tasks
/// (what `os-installer render` writes and the golden tests compare).
pub fn rendered(cfg: &InstallConfig) -> Vec<File> {
    TASKS.iter().flat_map(|t| files(t, cfg)).collect()
}

/// The network files: systemd-networkd, FRR, and on firewalls nftables.
pub fn network(cfg: &InstallConfig) -> Vec<File> {
    let mut out: Vec<File> = networkd::render(cfg)
        .into_iter()
        .map(|(name, c)| file(format!("etc/systemd/network/{name}"), c))
        .collect();
    out.push(file("etc/frr/frr.conf", frr::render(cfg)));
    if cfg.is_firewall() {
        out.push(file("etc/nftables.conf", nftables::NFTABLES_CONF));
        out.push(file("etc/nftables/rules", nftables::render(cfg)));
    }
    out
}

/// Runs a checking tool on a file; the tool's output becomes the error when it refuses it.
pub fn check(program: &str, args: &[&str], what: &Path) -> anyhow::Result<()> {
    metal_util::tool::check_file(program, args, what).map_err(|e| match e {
        metal_util::tool::CheckError::Run { .. } => {
            anyhow::Error::new(e).context(format!("running {program} to check {}", what.display()))
        }
        metal_util::tool::CheckError::Refused { output } => anyhow::anyhow!(
            "{} was rejected by `{program} {}`: {output}",
            what.display(),
            args.join(" ")
        ),
    })
}

/// The checks of the network files: `vtysh --dryrun` (as `-C -f`) and `nft --check`.
pub fn check_network(root: &Path, cfg: &InstallConfig) -> anyhow::Result<()> {
    check("vtysh", &["-C", "-f"], &root.join("etc/frr/frr.conf"))?;
    if cfg.is_firewall() {
        check(
            "nft",
            &["--check", "--file"],
            &root.join("etc/nftables/rules"),
        )?;
    }
    Ok(())
}

#[derive(Debug)]
pub struct Installer {
    pub root: PathBuf,
    pub cfg: InstallConfig,
    /// run the checks of the written network files
    pub checks: bool,
    pub only: Vec<String>,
    pub except: Vec<String>,
}

impl Installer {
    fn p(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    fn write(&self, f: &File) -> anyhow::Result<()> {
        let path = self.p(&f.path);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        std::fs::write(&path, &f.content).with_context(|| format!("writing {}", path.display()))?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(f.mode))?;
        Ok(())
    }

    /// `--root` for the shadow tools when not installing into `/`.
    fn root_args(&self) -> Vec<String> {
        if self.root == Path::new("/") {
            vec![]
        } else {
            vec!["--root".into(), self.root.display().to_string()]
        }
    }

    pub fn selected(&self, task: &str) -> bool {
        (self.only.is_empty() || self.only.iter().any(|t| t == task))
            && !self.except.iter().any(|t| t == task)
    }

    /// Runs the selected tasks in order; the first failing one ends the installation.
    pub fn run(&self) -> anyhow::Result<()> {
        for t in self.only.iter().chain(&self.except) {
            if !TASKS.contains(&t.as_str()) {
                bail!("unknown task {t:?}; the tasks are: {}", TASKS.join(", "));
            }
        }
        for task in TASKS {
            if !self.selected(task) {
                tracing::info!(task, "skipped");
                continue;
            }
            let start = std::time::Instant::now();
            self.task(task).with_context(|| format!("task {task:?}"))?;
            tracing::info!(task, ms = start.elapsed().as_millis() as u64, "done");
        }
        Ok(())
    }

    fn task(&self, task: &str) -> anyhow::Result<()> {
        if task == "write /etc/resolv.conf" {
            // images often ship resolv.conf as a symlink into /run
            let _ = std::fs::remove_file(self.p("etc/resolv.conf"));
        }
        for f in files(task, &self.cfg) {
            self.write(&f)?;
        }
        match task {
            "write hostname"
            | "write /etc/hosts"
            | "write /etc/resolv.conf"
            | "write ntp configuration" => Ok(()),
            "create metal user" => self.create_user(),
            "configure network" => self.configure_network(),
            "authorized ssh keys" => self.authorized_keys(),
            "fix wrong filesystem permissions" => {
                for (p, mode) in [("var/tmp", 0o1777), ("etc/hosts", 0o644)] {
                    let path = self.p(p);
                    if path.exists() {
                        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))?;
                    }
                }
                Ok(())
            }
            "process userdata" => self.userdata(),
            "write /etc/metal/boot-info.yaml" => self.boot_info(),
            "unset machine id" => {
                for p in ["etc/machine-id", "var/lib/dbus/machine-id"] {
                    let path = self.p(p);
                    if path.is_file() {
                        std::fs::write(&path, "")?;
                    }
                }
                Ok(())
            }
            "deploy systemd services" => self.services(),
            other => bail!("unknown task {other:?}"),
        }
    }

    /// After the network files: FRR's daemons file, then the checks.
    fn configure_network(&self) -> anyhow::Result<()> {
        // FRR's packaged daemons file starts bgpd only when told to
        let daemons = self.p("etc/frr/daemons");
        let text = std::fs::read_to_string(&daemons).unwrap_or_default();
        let text = if text.lines().any(|l| l.starts_with("bgpd=")) {
            text.lines()
                .map(|l| {
                    if l.starts_with("bgpd=") {
                        "bgpd=yes"
                    } else {
                        l
                    }
                })
                .collect::<Vec<_>>()
                .join("\n")
                + "\n"
        } else {
            format!("{text}bgpd=yes\n")
        };
        std::fs::write(&daemons, text)?;
        if self.checks {
            check_network(&self.root, &self.cfg)?;
        }
        Ok(())
    }

    fn create_user(&self) -> anyhow::Result<()> {
        let passwd = std::fs::read_to_string(self.p("etc/passwd")).unwrap_or_default();
        if !passwd.lines().any(|l| l.starts_with("metal:")) {
            let group = if std::fs::read_to_string(self.p("etc/group"))
                .unwrap_or_default()
                .lines()
                .any(|l| l.starts_with("sudo:"))
            {
                "sudo"
            } else {
                "wheel"
            };
            let status = Command::new("useradd")
                .args(self.root_args())
                .args([
                    "--create-home",
                    "--uid",
                    "1000",
                    "--gid",
                    group,
                    "--shell",
                    "/bin/bash",
                    "metal",
                ])
                .status()
                .context("running useradd")?;
            if !status.success() {
                bail!("useradd metal failed ({status})");
            }
        }
        if self.cfg.password.is_empty() {
            return Ok(());
        }
        // the console password goes through stdin, never on a command line or into a log;
        // hashed by chpasswd itself (SHA-512 crypt), which needs no PAM stack in the image
        let mut child = Command::new("chpasswd")
            .args(self.root_args())
            .args(["--crypt-method", "SHA512"])
            .stdin(Stdio::piped())
            .spawn()
            .context("running chpasswd")?;
        child
            .stdin
            .take()
            .context("chpasswd's stdin")?
            .write_all(format!("metal:{}\n", self.cfg.password).as_bytes())?;
        let status = child.wait()?;
        if !status.success() {
            bail!("setting the password of metal failed ({status})");
        }
        Ok(())
    }

    /// uid, gid and home of `user` from the image's passwd.
    fn user(&self, user: &str) -> anyhow::Result<(u32, u32, String)> {
        let passwd = std::fs::read_to_string(self.p("etc/passwd"))?;
        let line = passwd
            .lines()
            .find(|l| l.split(':').next() == Some(user))
            .with_context(|| format!("no user {user} in the image"))?;
        let f: Vec<&str> = line.split(':').collect();
        anyhow::ensure!(f.len() >= 6, "malformed passwd line of {user}");
        Ok((f[2].parse()?, f[3].parse()?, f[5].to_string()))
    }

    fn authorized_keys(&self) -> anyhow::Result<()> {
        if self.cfg.sshpublickey.trim().is_empty() {
            return Ok(());
        }
        let (uid, gid, home) = self.user("metal")?;
        let dir = self.p(&format!("{}/.ssh", home.trim_start_matches('/')));
        std::fs::create_dir_all(&dir)?;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
        let keys = dir.join("authorized_keys");
        let mut text = self.cfg.sshpublickey.trim().to_string();
        text.push('\n');
        std::fs::write(&keys, text)?;
        std::fs::set_permissions(&keys, std::fs::Permissions::from_mode(0o600))?;
        for p in [&dir, &keys] {
            std::os::unix::fs::chown(p, Some(uid), Some(gid))
                .with_context(|| format!("chown {}", p.display()))?;
        }
        Ok(())
    }

    /// The allocation's user data for the OS: cloud-config and scripts to cloud-init's NoCloud
    /// seed, Ignition configs (JSON) to `/etc/metal/config.ign` and Ignition's files stage when
    /// the image has it.
    fn userdata(&self) -> anyhow::Result<()> {
        let path = self.p("etc/metal/userdata");
        let Ok(data) = std::fs::read(&path) else {
            return Ok(());
        };
        if data.is_empty() {
            return Ok(());
        }
        let text = String::from_utf8_lossy(&data);
        let is_ignition = serde_json::from_slice::<serde_json::Value>(&data)
            .is_ok_and(|v| v.get("ignition").is_some());
        if is_ignition {
            let dst = self.p("etc/metal/config.ign");
            std::fs::write(&dst, &data)?;
            std::fs::set_permissions(&dst, std::fs::Permissions::from_mode(0o600))?;
            let ignition = self.p("usr/local/bin/ignition");
            if ignition.exists() && self.root == Path::new("/") {
                let status = Command::new("/usr/local/bin/ignition")
                    .args([
                        "-oem",
                        "file",
                        "-stage",
                        "files",
                        "-log-to-stdout",
                        "-config-cache",
                        "/etc/metal/config.ign",
                    ])
                    .status();
                // metal-stack: Ignition's errors are logged, not fatal
                if !matches!(status, Ok(s) if s.success()) {
                    tracing::warn!(?status, "ignition's files stage failed");
                }
            }
            return Ok(());
        }
        if !text.trim_start().starts_with("#cloud-config") && !text.starts_with("#!") {
            tracing::warn!("user data is neither cloud-config, a script nor Ignition; handed to cloud-init as it is");
        }
        let seed = self.p("var/lib/cloud/seed/nocloud");
        std::fs::create_dir_all(&seed)?;
        std::fs::write(seed.join("user-data"), &data)?;
        std::fs::set_permissions(
            seed.join("user-data"),
            std::fs::Permissions::from_mode(0o600),
        )?;
        std::fs::write(
            seed.join("meta-data"),
            format!(
                "instance-id: {}\nlocal-hostname: {}\n",
                self.cfg.machineuuid, self.cfg.hostname
            ),
        )?;
        Ok(())
    }

    fn boot_info(&self) -> anyhow::Result<()> {
        let boot = self.p("boot");
        let mut kernels: Vec<String> = std::fs::read_dir(&boot)
            .with_context(|| format!("reading {}", boot.display()))?
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().to_str().map(str::to_string))
            .filter(|n| n.starts_with("vmlinuz-"))
            .collect();
        kernels.sort();
        let [kernel] = kernels.as_slice() else {
            bail!(
                "the image must have exactly one kernel in /boot, it has {}: {kernels:?}",
                kernels.len()
            );
        };
        let version = kernel.trim_start_matches("vmlinuz-");
        let initrd = [
            format!("initrd.img-{version}"),
            format!("initramfs-{version}.img"),
        ]
        .into_iter()
        .find(|i| boot.join(i).exists())
        .map(|i| format!("/boot/{i}"))
        .unwrap_or_default();
        let md_uuid = if self.cfg.raidenabled {
            Some(md_uuid(&self.cfg.root_uuid)?)
        } else {
            None
        };
        let os = std::fs::read_to_string(self.p("etc/os-release"))
            .unwrap_or_default()
            .lines()
            .find_map(|l| {
                l.strip_prefix("ID=")
                    .map(|v| v.trim_matches('"').to_string())
            })
            .unwrap_or_else(|| "linux".into());
        let info = BootInfoFile {
            kernel: format!("/boot/{kernel}"),
            initrd,
            cmdline: system::cmdline(&self.cfg, md_uuid.as_deref()),
            bootloader_id: format!("metal-{os}"),
        };
        self.write(&file(
            "etc/metal/boot-info.yaml",
            serde_yaml::to_string(&info)?,
        ))
    }

    fn services(&self) -> anyhow::Result<()> {
        // the droptailer unit of a firewall is written with the task's files
        let mut units = vec!["systemd-networkd.service", "frr.service"];
        if self.cfg.is_firewall() {
            units.extend(["nftables.service", "droptailer.service"]);
        }
        let wants = self.p("etc/systemd/system/multi-user.target.wants");
        std::fs::create_dir_all(&wants)?;
        for unit in units {
            let Some(target) = [
                "etc/systemd/system",
                "lib/systemd/system",
                "usr/lib/systemd/system",
            ]
            .iter()
            .map(|d| format!("{d}/{unit}"))
            .find(|p| self.p(p).exists()) else {
                bail!("the image has no {unit}");
            };
            let link = wants.join(unit);
            let _ = std::fs::remove_file(&link);
            std::os::unix::fs::symlink(format!("/{target}"), &link)
                .with_context(|| format!("enabling {unit}"))?;
        }
        Ok(())
    }
}

/// The MD UUID of the RAID array holding the filesystem `root_uuid` (`blkid`, `mdadm`).
fn md_uuid(root_uuid: &str) -> anyhow::Result<String> {
    let dev = Command::new("blkid").args(["-U", root_uuid]).output()?;
    let dev = String::from_utf8_lossy(&dev.stdout).trim().to_string();
    anyhow::ensure!(
        !dev.is_empty(),
        "no device has the root filesystem {root_uuid}"
    );
    let out = Command::new("mdadm")
        .args(["--detail", "--export", &dev])
        .output()?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("MD_UUID=").map(str::to_string))
        .with_context(|| format!("{dev} is not a RAID array"))
}
