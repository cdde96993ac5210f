//! A simulated BMC speaking IPMI over LAN: OpenIPMI's `ipmi_sim` (Debian package openipmi),
//! started by the test on a loopback address, with a FRU, a system GUID and a chassis-control
//! script that keeps the simulated machine's power, boot device and identify LED in files the
//! test can read. Power on/off/reset/cycle over IPMI really change what the BMC reports.
//!
//! ipmitool talks to it with cipher suite 3 (`-C 3`): ipmi_sim does not answer the cipher
//! suite query, which would cost ipmitool a 10 s timeout per call.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};

use crate::poll::try_until;

/// What the simulated BMC reports.
#[derive(Debug, Clone)]
pub struct SimBmc {
    /// machine uuid (what `ipmitool mc guid` prints)
    pub uuid: String,
    pub user: String,
    pub password: String,
    pub chassis_part_number: String,
    pub chassis_serial: String,
    pub board_mfg: String,
    pub board_serial: String,
    pub board_part_number: String,
    pub product_manufacturer: String,
    pub product_part_number: String,
    pub product_serial: String,
    /// firmware revision major.minor (what `ipmitool mc info` prints as `Firmware Revision`)
    pub firmware: (u8, u8),
}

impl SimBmc {
    /// A BMC of the simulated vendor with account `ADMIN`/`password`: chassis `CH-1`
    /// (`CSE-819`), board `X11-SIM` serial `BS-<n>`, product `SYS-SIM` serial `PS-<n>`,
    /// firmware 3.14.
    pub fn example(uuid: &str, password: &str, n: u8) -> SimBmc {
        SimBmc {
            uuid: uuid.into(),
            user: "ADMIN".into(),
            password: password.into(),
            chassis_part_number: "CSE-819".into(),
            chassis_serial: "CH-1".into(),
            board_mfg: "Simulated".into(),
            board_serial: format!("BS-{n}"),
            board_part_number: "X11-SIM".into(),
            product_manufacturer: "Simulated".into(),
            product_part_number: "SYS-SIM".into(),
            product_serial: format!("PS-{n}"),
            firmware: (3, 0x14),
        }
    }
}

/// An ISC dhcpd lease file with one never-ending lease per address (MACs `aa:bb:cc:00:00:<i>`).
pub fn lease_file(ips: &[&str]) -> String {
    ips.iter()
        .enumerate()
        .map(|(i, ip)| {
            format!(
                "lease {ip} {{\n  starts 6 2026/11/21 00:00:00;\n  ends never;\n  hardware ethernet aa:bb:cc:00:00:{i:02x};\n}}\n"
            )
        })
        .collect()
}

/// A running ipmi_sim; killed on drop.
pub struct IpmiSim {
    child: std::process::Child,
    pub ip: String,
    pub port: u16,
    dir: tempfile::TempDir,
}

/// Whether the simulator's tools are installed; CI (`METAL_PRIVILEGED_TESTS=1` or `CI`) must
/// have them, so tests fail there instead of skipping.
pub fn tools_present(test: &str) -> bool {
    let have = |t: &str| {
        std::process::Command::new("sh")
            .args(["-c", &format!("command -v {t}")])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    };
    crate::tool_or_skip(
        test,
        have("ipmi_sim") && have("ipmitool"),
        "ipmi_sim and ipmitool",
        "apt-get install openipmi ipmitool, as .ci/run does",
    )
}

/// The IPMI GUID bytes (reverse order of the uuid's bytes) as ipmi_sim's `guid` wants them.
pub fn ipmi_guid(uuid: &str) -> anyhow::Result<String> {
    let hex: String = uuid.chars().filter(|c| *c != '-').collect();
    if hex.len() != 32 {
        bail!("{uuid} is not a uuid");
    }
    let bytes: Vec<&str> = (0..16).map(|i| &hex[2 * i..2 * i + 2]).collect();
    Ok(bytes.into_iter().rev().collect())
}

/// A type/length encoded ASCII field of a FRU area.
fn field(out: &mut Vec<u8>, s: &str) {
    let b = s.as_bytes();
    out.push(0xC0 | (b.len().min(63) as u8));
    out.extend_from_slice(&b[..b.len().min(63)]);
}

/// Closes a FRU area: end marker, padding to 8 bytes, length byte, zero checksum.
fn close_area(mut a: Vec<u8>) -> Vec<u8> {
    a.push(0xC1);
    while !(a.len() + 1).is_multiple_of(8) {
        a.push(0);
    }
    a[1] = ((a.len() + 1) / 8) as u8;
    let sum: u8 = a.iter().fold(0u8, |s, b| s.wrapping_add(*b));
    a.push(0u8.wrapping_sub(sum));
    a
}

/// The FRU image (IPMI FRU information storage definition v1.0): common header, chassis,
/// board and product areas.
pub fn fru_image(b: &SimBmc) -> Vec<u8> {
    let mut chassis = vec![0x01, 0, 0x17]; // rack mount chassis
    field(&mut chassis, &b.chassis_part_number);
    field(&mut chassis, &b.chassis_serial);
    let chassis = close_area(chassis);
    let mut board = vec![0x01, 0, 0x00, 0, 0, 0];
    field(&mut board, &b.board_mfg);
    field(&mut board, "metal board");
    field(&mut board, &b.board_serial);
    field(&mut board, &b.board_part_number);
    field(&mut board, "");
    let board = close_area(board);
    let mut product = vec![0x01, 0, 0x00];
    field(&mut product, &b.product_manufacturer);
    field(&mut product, "metal server");
    field(&mut product, &b.product_part_number);
    field(&mut product, "1.0");
    field(&mut product, &b.product_serial);
    field(&mut product, "");
    field(&mut product, "");
    let product = close_area(product);
    let chassis_at = 1u8;
    let board_at = chassis_at + (chassis.len() / 8) as u8;
    let product_at = board_at + (board.len() / 8) as u8;
    let mut header = vec![0x01, 0, chassis_at, board_at, product_at, 0, 0];
    let sum: u8 = header.iter().fold(0u8, |s, b| s.wrapping_add(*b));
    header.push(0u8.wrapping_sub(sum));
    [header, chassis, board, product].concat()
}

/// ipmi_sim's configuration (`-c`): IPMI over LAN on `ip:port` (UDP) with the BMC's GUID, its
/// account as administrator and an anonymous user, and `power` — the lines that say how the
/// chassis is powered (a `chassis_control` script, or a VM connection with its `startcmd`).
pub fn lan_conf(
    name: &str,
    ip: &str,
    port: u16,
    bmc: &SimBmc,
    power: &str,
) -> anyhow::Result<String> {
    Ok(format!(
        r#"name "{name}"
set_working_mc 0x20
  startlan 1
    addr {ip} {port}
    priv_limit admin
    allowed_auths_callback none md2 md5 straight
    allowed_auths_user none md2 md5 straight
    allowed_auths_operator none md2 md5 straight
    allowed_auths_admin none md2 md5 straight
    guid {guid}
  endlan
{power}  user 1 true  ""  "" user 10 none md2 md5 straight
  user 2 true  "{user}" "{password}" admin 10 none md2 md5 straight
"#,
        guid = ipmi_guid(&bmc.uuid)?,
        user = bmc.user,
        password = bmc.password,
    ))
}

/// ipmi_sim's command file (`-f`): the BMC at 0x20 with its firmware revision and FRU.
pub fn emu_commands(bmc: &SimBmc) -> String {
    let fru = fru_image(bmc);
    let bytes: Vec<String> = fru.iter().map(|b| format!("0x{b:02x}")).collect();
    format!(
        "mc_setbmc 0x20\nmc_add 0x20 0 no-device-sdrs 0x23 0x{:x} 0x{:x} 0x9f 0x1291 0xf02 persist_sdr\nmc_add_fru_data 0x20 0 {} data {}\nmc_enable 0x20\n",
        bmc.firmware.0,
        bmc.firmware.1,
        fru.len(),
        bytes.join(" ")
    )
}

const CHASSIS_SCRIPT: &str = r#"#!/bin/sh
# ipmi_sim chassis control: <device> get|set <parm> [<value>] ...
dir=$(dirname "$0")
shift
op=$1; shift
echo "$op $*" >> "$dir/chassis.log"
if [ "$op" = get ]; then
  for p in "$@"; do
    case $p in
      power) echo "power:$(cat "$dir/power" 2>/dev/null || echo 0)";;
      boot) echo "boot:$(cat "$dir/boot" 2>/dev/null || echo default)";;
    esac
  done
  exit 0
fi
while [ $# -ge 2 ]; do
  case $1 in
    power) echo "$2" > "$dir/power";;
    reset) echo reset >> "$dir/resets";;
    boot) echo "$2" > "$dir/boot";;
  esac
  shift 2
done
"#;

impl IpmiSim {
    /// Starts ipmi_sim on `ip:port` (UDP) with the machine powered off; waits until it answers.
    pub async fn start(ip: &str, port: u16, bmc: &SimBmc) -> anyhow::Result<IpmiSim> {
        let dir = tempfile::tempdir()?;
        let d = dir.path();
        let script = d.join("chassis.sh");
        std::fs::write(&script, CHASSIS_SCRIPT)?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755))?;
        std::fs::write(d.join("power"), "0\n")?;
        let lan = lan_conf(
            "metal-sim",
            ip,
            port,
            bmc,
            &format!("  chassis_control \"{} 0x20\"\n", script.display()),
        )?;
        std::fs::write(d.join("lan.conf"), lan)?;
        std::fs::write(d.join("sim.emu"), emu_commands(bmc))?;
        std::fs::create_dir(d.join("state"))?;
        let log = std::fs::File::create(d.join("ipmi_sim.log"))?;
        let child = std::process::Command::new("ipmi_sim")
            .arg("-c")
            .arg(d.join("lan.conf"))
            .arg("-f")
            .arg(d.join("sim.emu"))
            .arg("-s")
            .arg(d.join("state"))
            .args(["-n", "-p"])
            .stdin(std::process::Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("starting ipmi_sim")?;
        let sim = IpmiSim {
            child,
            ip: ip.to_string(),
            port,
            dir,
        };
        let answers = try_until(
            &format!("ipmi_sim on {ip}:{port} to answer"),
            Duration::from_secs(10),
            Duration::from_millis(100),
            async || {
                sim.ipmitool(bmc, &["chassis", "power", "status"])
                    .await
                    .is_ok()
            },
        )
        .await;
        if let Err(e) = answers {
            bail!(
                "{e}; its log: {}",
                std::fs::read_to_string(sim.dir.path().join("ipmi_sim.log")).unwrap_or_default()
            );
        }
        Ok(sim)
    }

    /// Runs ipmitool against this BMC (for the test's own checks).
    pub async fn ipmitool(&self, bmc: &SimBmc, args: &[&str]) -> anyhow::Result<String> {
        let out = tokio::process::Command::new("ipmitool")
            .args([
                "-I", "lanplus", "-C", "3", "-N", "1", "-R", "1", "-H", &self.ip,
            ])
            .args(["-p", &self.port.to_string(), "-U", &bmc.user, "-E"])
            .args(args)
            .env("IPMITOOL_PASSWORD", &bmc.password)
            .kill_on_drop(true)
            .output()
            .await?;
        if !out.status.success() {
            bail!(
                "ipmitool {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Whether the simulated machine is powered on (the chassis-control state).
    pub fn powered(&self) -> bool {
        std::fs::read_to_string(self.dir.path().join("power"))
            .map(|p| p.trim() == "1")
            .unwrap_or(false)
    }

    /// The boot device last set (`pxe`, `default`, …), if any.
    pub fn boot_device(&self) -> Option<String> {
        std::fs::read_to_string(self.dir.path().join("boot"))
            .ok()
            .map(|b| b.trim().to_string())
    }

    /// What the chassis-control script was asked, one line per call.
    pub fn chassis_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("chassis.log")).unwrap_or_default()
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("ipmi_sim.log")
    }
}

impl Drop for IpmiSim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A UDP port free on both loopback addresses.
pub fn free_udp_port(ips: &[&str]) -> u16 {
    loop {
        let s = std::net::UdpSocket::bind((ips[0], 0)).expect("binding a UDP port");
        let port = s.local_addr().expect("local address").port();
        drop(s);
        if ips
            .iter()
            .all(|ip| std::net::UdpSocket::bind((*ip, port)).is_ok())
        {
            return port;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guid_is_the_reversed_uuid() {
        assert_eq!(
            ipmi_guid("00112233-4455-6677-8899-aabbccddeeff").unwrap(),
            "ffeeddccbbaa99887766554433221100"
        );
    }

    #[test]
    fn fru_areas_have_zero_checksums() {
        let b = SimBmc::example("00112233-4455-6677-8899-aabbccddeeff", "pw", 1);
        let f = fru_image(&b);
        let sum = |s: &[u8]| s.iter().fold(0u8, |a, b| a.wrapping_add(*b));
        assert_eq!(sum(&f[..8]), 0);
        for off in [f[2], f[3], f[4]] {
            let start = off as usize * 8;
            let len = f[start + 1] as usize * 8;
            assert_eq!(sum(&f[start..start + len]), 0, "area at {start}");
        }
    }
}
