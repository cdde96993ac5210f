//! The Redfish driver against a real Redfish service: sushy-tools' emulator (OpenStack's
//! Redfish emulator, the peer the sushy and Ironic Redfish clients are tested against) with its
//! fake systems driver, over HTTPS with a self-signed certificate and basic auth. Each test
//! starts its own emulator on a free port with its own state directory.
//!
//! The fake driver applies a power change 1 to 11 s after the request (like real hardware, not
//! at once), so the tests poll with a deadline. What it does not have, the tests do not ask for:
//! no BIOS version, no SKU/Model/SerialNumber on the system, no chassis `Power` resource, and a
//! reset list without `PowerCycle` (so a cycle goes the ForceOff, Off, ForceOn way).
//!
//! Without sushy-tools installed the emulator tests print a loud skip, unless
//! `METAL_PRIVILEGED_TESTS=1` or `CI` is set: then they fail and say how to install it.

use std::process::Stdio;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use metal_bmc::bmc::{Action, Credentials, FirmwareUpdate, Led, PowerState, Reading};
use metal_bmc::redfish::Redfish;
use metal_domain::firmware::FirmwareKind;
use metal_testkit::{try_until, until_every};
use serde_json::Value;

const USER: &str = "metal";
const PASSWORD: &str = "redfish-test-secret";
/// bcrypt (cost 4) of [`PASSWORD`]; the emulator's auth file takes bcrypt digests only.
const PASSWORD_BCRYPT: &str = "$2b$04$PYJzKMS/KtMm55ncaIcc5.Wsrd.2iQRmppZMzc/PFfRkbEDrUIzPu";
/// Upper-case on purpose: the driver reports it lower-cased.
const SYSTEM_UUID: &str = "3A0B1C2D-4E5F-4A6B-8C7D-0123456789AB";
/// The fake driver's chassis (its default configuration).
const CHASSIS: &str = "/redfish/v1/Chassis/15693887-7984-9484-3272-842188918912";
/// Bound of every driver call; above the fake driver's 11 s power delay, which a power cycle
/// waits for.
const TIMEOUT: Duration = Duration::from_secs(20);
/// How long a test waits for the emulator to come up or a power change to show.
const DEADLINE: Duration = Duration::from_secs(40);

const INSTALL: &str =
    "install sushy-tools: python3 -m pip install 'sushy-tools==2.2.0' (as .ci/run does)";

/// How to start the emulator: `sushy-emulator` on PATH, else `python3 -m ...`; None when
/// neither works.
fn emulator_command() -> Option<&'static [String]> {
    static COMMAND: OnceLock<Option<Vec<String>>> = OnceLock::new();
    COMMAND
        .get_or_init(|| {
            let works = |cmd: &[&str]| {
                std::process::Command::new(cmd[0])
                    .args(&cmd[1..])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()
                    .is_ok_and(|s| s.success())
            };
            let on_path = std::env::var_os("PATH").is_some_and(|path| {
                std::env::split_paths(&path).any(|dir| dir.join("sushy-emulator").is_file())
            });
            if on_path && works(&["sushy-emulator", "--help"]) {
                return Some(vec!["sushy-emulator".to_string()]);
            }
            if works(&["python3", "-c", "import sushy_tools.emulator.main"]) {
                return Some(
                    ["python3", "-m", "sushy_tools.emulator.main"]
                        .map(String::from)
                        .to_vec(),
                );
            }
            None
        })
        .as_deref()
}

/// The emulator command, or None after a loud skip; panics where the tests must run.
fn emulator_or_skip(test: &str) -> Option<&'static [String]> {
    let cmd = emulator_command();
    metal_testkit::tool_or_skip(test, cmd.is_some(), "sushy-emulator", INSTALL);
    cmd
}

/// A running emulator; killed and its directory removed on drop.
struct Emulator {
    base: String,
    child: tokio::process::Child,
    dir: tempfile::TempDir,
}

impl Emulator {
    async fn start(cmd: &[String]) -> Emulator {
        let dir = tempfile::tempdir().unwrap();
        let path = |name: &str| dir.path().join(name).display().to_string();
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        std::fs::write(path("tls.crt"), cert.pem()).unwrap();
        std::fs::write(path("tls.key"), key.serialize_pem()).unwrap();
        std::fs::write(path("htpasswd"), format!("{USER}:{PASSWORD_BCRYPT}\n")).unwrap();
        // the configuration is Python: logging at INFO makes the emulator log each request's
        // effect ("power state set to ..."), which the tests read back
        let config = format!(
            "import logging\n\
             logging.basicConfig(level=logging.INFO)\n\
             SUSHY_EMULATOR_FAKE_DRIVER = True\n\
             SUSHY_EMULATOR_STATE_DIR = {state:?}\n\
             SUSHY_EMULATOR_AUTH_FILE = {auth:?}\n\
             SUSHY_EMULATOR_FAKE_SYSTEMS = [{{\n\
             \x20   'uuid': '{SYSTEM_UUID}', 'name': 'machine-1', 'power_state': 'Off',\n\
             \x20   'nics': [{{'mac': '00:5c:52:31:3a:9c', 'ip': '10.0.0.11'}}],\n\
             }}]\n",
            state = path("state"),
            auth = path("htpasswd"),
        );
        std::fs::write(path("emulator.conf"), config).unwrap();
        let port = free_port();
        let log = std::fs::File::create(path("emulator.log")).unwrap();
        let child = tokio::process::Command::new(&cmd[0])
            .args(&cmd[1..])
            .args(["--config", &path("emulator.conf")])
            .args(["--interface", "127.0.0.1", "--port", &port.to_string()])
            .args(["--ssl-certificate", &path("tls.crt")])
            .args(["--ssl-key", &path("tls.key")])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {cmd:?}: {e}"));
        let mut emulator = Emulator {
            base: format!("https://127.0.0.1:{port}"),
            child,
            dir,
        };
        emulator.wait_until_it_answers().await;
        emulator
    }

    async fn wait_until_it_answers(&mut self) {
        let http = http();
        let answered = try_until(
            "the emulator to answer",
            DEADLINE,
            Duration::from_millis(100),
            async || {
                let answer = http.get(format!("{}/redfish/v1/", self.base)).send().await;
                if answer.is_ok_and(|r| r.status().is_success()) {
                    return true;
                }
                if let Ok(Some(status)) = self.child.try_wait() {
                    panic!("the emulator exited ({status}):\n{}", self.log());
                }
                false
            },
        )
        .await;
        if let Err(e) = answered {
            panic!("{e}:\n{}", self.log());
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("emulator.log")).unwrap_or_default()
    }

    async fn connect(&self) -> Redfish {
        Redfish::connect(self.base.clone(), creds(PASSWORD), TIMEOUT)
            .await
            .unwrap_or_else(|e| panic!("connect: {e:#}\n{}", self.log()))
    }

    /// A plain authenticated GET, to look at the emulator's state without the driver.
    async fn get(&self, path: &str) -> Value {
        http()
            .get(format!("{}{path}", self.base))
            .basic_auth(USER, Some(PASSWORD))
            .send()
            .await
            .unwrap()
            .error_for_status()
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap()
}

fn creds(password: &str) -> Credentials {
    Credentials {
        user: USER.into(),
        password: password.into(),
    }
}

/// Reads until `done` holds, for at most [`DEADLINE`].
async fn read_until(bmc: &Redfish, what: &str, done: impl Fn(&Reading) -> bool) -> Reading {
    until_every(what, DEADLINE, Duration::from_millis(250), async || {
        let reading = bmc.read().await.unwrap();
        if done(&reading) {
            Ok(reading)
        } else {
            Err(format!("last reading {reading:?}"))
        }
    })
    .await
}

macro_rules! emulator {
    ($test:literal) => {
        match emulator_or_skip($test) {
            Some(cmd) => Emulator::start(cmd).await,
            None => return,
        }
    };
}

/// The emulator with firmware versions on its fake systems (`sushy_firmware.py` beside this
/// file), so that its `UpdateService.SimpleUpdate` works as with libvirt.
async fn emulator_with_firmware(test: &str) -> Option<Emulator> {
    emulator_or_skip(test)?;
    let shim = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sushy_firmware.py");
    let cmd = ["python3".to_string(), shim.display().to_string()];
    Some(Emulator::start(&cmd).await)
}

#[tokio::test]
async fn connect_and_read_what_the_emulator_has() {
    let emulator = emulator!("connect_and_read_what_the_emulator_has");
    let bmc = emulator.connect().await;
    let reading = bmc.read().await.unwrap();
    assert_eq!(reading.uuid, SYSTEM_UUID.to_lowercase());
    assert_eq!(reading.power_state, PowerState::Off);
    // the manager's firmware; the fake driver has no BIOS version
    assert_eq!(reading.bmc_version, "1.00");
    assert_eq!(reading.bios_version, "");
    assert_eq!(reading.fru.product_manufacturer, "Sushy Emulator");
    assert_eq!(reading.fru.board_mfg, "Sushy Emulator");
    assert_eq!(reading.fru.product_part_number, "");
    // the only chassis (ChassisType Enclosure, so the fallback to the first one)
    assert_eq!(reading.fru.chassis_part_number, "224071-J23");
    assert_eq!(reading.fru.chassis_part_serial, "437XR1138R2");
    // the emulator's indicators start Lit
    assert_eq!(reading.led, Led::On);
    // no Power resource on the chassis: nothing, and no error
    assert_eq!(reading.power_metric, None);
    assert!(reading.power_supplies.is_empty());
}

#[tokio::test]
async fn power_on_then_off() {
    let emulator = emulator!("power_on_then_off");
    let bmc = emulator.connect().await;
    bmc.run(Action::PowerOn).await.unwrap();
    read_until(&bmc, "power on", |r| r.power_state == PowerState::On).await;
    bmc.run(Action::PowerOff).await.unwrap();
    read_until(&bmc, "power off", |r| r.power_state == PowerState::Off).await;
}

#[tokio::test]
async fn reset_and_cycle_end_on() {
    let emulator = emulator!("reset_and_cycle_end_on");
    let bmc = emulator.connect().await;
    bmc.run(Action::PowerOn).await.unwrap();
    read_until(&bmc, "power on", |r| r.power_state == PowerState::On).await;
    // the emulator does not list (and refuses) PowerCycle: ForceOff, wait for Off, ForceOn
    bmc.run(Action::PowerCycle).await.unwrap();
    read_until(&bmc, "on after cycle", |r| r.power_state == PowerState::On).await;
    bmc.run(Action::PowerReset).await.unwrap();
    read_until(&bmc, "on after reset", |r| r.power_state == PowerState::On).await;
    // what the emulator was asked, from its log
    let resets: Vec<String> = emulator
        .log()
        .lines()
        .filter_map(|line| line.split_once("power state set to \"")?.1.split_once('"'))
        .map(|(kind, _)| kind.to_string())
        .collect();
    assert_eq!(resets, ["ForceOn", "ForceOff", "ForceOn", "ForceRestart"]);
}

#[tokio::test]
async fn boot_overrides_show_on_the_system() {
    let emulator = emulator!("boot_overrides_show_on_the_system");
    let bmc = emulator.connect().await;
    let system = format!("/redfish/v1/Systems/{SYSTEM_UUID}");
    for (action, target) in [
        (Action::BootPxe, "Pxe"),
        (Action::BootDisk, "Hdd"),
        (Action::BootBios, "BiosSetup"),
        (Action::BootPxe, "Pxe"),
    ] {
        bmc.run(action).await.unwrap();
        let boot = &emulator.get(&system).await["Boot"];
        assert_eq!(
            boot["BootSourceOverrideTarget"], target,
            "{action:?}: {boot}"
        );
        assert_eq!(boot["BootSourceOverrideMode"], "UEFI", "{action:?}: {boot}");
    }
}

#[tokio::test]
async fn led_on_and_off() {
    let emulator = emulator!("led_on_and_off");
    let bmc = emulator.connect().await;
    bmc.run(Action::LedOff).await.unwrap();
    assert_eq!(bmc.read().await.unwrap().led, Led::Off);
    assert_eq!(emulator.get(CHASSIS).await["IndicatorLED"], "Off");
    bmc.run(Action::LedOn).await.unwrap();
    assert_eq!(bmc.read().await.unwrap().led, Led::On);
    assert_eq!(emulator.get(CHASSIS).await["IndicatorLED"], "Lit");
}

#[tokio::test]
async fn wrong_password_is_refused_without_showing_it() {
    let emulator = emulator!("wrong_password_is_refused_without_showing_it");
    let wrong = "not-the-Secret-42";
    let started = Instant::now();
    let error = match Redfish::connect(emulator.base.clone(), creds(wrong), TIMEOUT).await {
        Ok(_) => panic!("a wrong password connected"),
        Err(e) => format!("{e:#} {e:?}"),
    };
    assert!(started.elapsed() < TIMEOUT);
    assert!(!error.contains(wrong), "{error}");
    assert!(!error.contains(PASSWORD), "{error}");
    assert!(error.contains("401"), "{error}");
    // the service's Redfish error message
    assert!(error.contains("Incorrect username or password"), "{error}");
    assert!(error.contains(&emulator.base), "{error}");
}

/// Needs no emulator: a TCP listener that accepts and never answers the TLS handshake.
#[tokio::test]
async fn a_peer_that_does_not_answer_fails_within_the_timeout() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("https://{}", listener.local_addr().unwrap());
    let timeout = Duration::from_millis(500);
    let started = Instant::now();
    let result = Redfish::connect(base.clone(), creds(PASSWORD), timeout).await;
    let elapsed = started.elapsed();
    let error = match result {
        Ok(_) => panic!("connected to a silent peer"),
        Err(e) => format!("{e:#}"),
    };
    assert!(
        elapsed < timeout + Duration::from_secs(2),
        "took {elapsed:?}"
    );
    assert!(error.contains(&format!("{base}/redfish/v1/")), "{error}");
    assert!(!error.contains(PASSWORD), "{error}");
    drop(listener);
}

#[tokio::test]
async fn a_bios_update_is_flashed_by_simple_update() {
    let Some(emulator) = emulator_with_firmware("a_bios_update_is_flashed_by_simple_update").await
    else {
        return;
    };
    let bmc = emulator.connect().await;
    assert_eq!(bmc.read().await.unwrap().bios_version, "1.0.0");
    let update = FirmwareUpdate {
        kind: FirmwareKind::Bios,
        url: "http://127.0.0.1:9/firmware-download/bios/sushy/X1/1.1.0?signature=s3cr3t".into(),
    };
    bmc.update_firmware(&update)
        .await
        .unwrap_or_else(|e| panic!("{e:#}\n{}", emulator.log()));
    // the emulator raises the minor version of the system it was given as the target
    read_until(&bmc, "the new BIOS version", |r| r.bios_version == "1.1.0").await;
    assert!(!format!("{update:?}").contains("s3cr3t"), "{update:?}");
}

#[tokio::test]
async fn a_refused_update_fails_with_the_services_message() {
    let Some(emulator) =
        emulator_with_firmware("a_refused_update_fails_with_the_services_message").await
    else {
        return;
    };
    let bmc = emulator.connect().await;
    let update = FirmwareUpdate {
        kind: FirmwareKind::Bmc,
        url: "https://127.0.0.1:9/firmware/bmc.bin?token=s3cr3t".into(),
    };
    let e = format!("{:#}", bmc.update_firmware(&update).await.unwrap_err());
    // sushy-tools flashes BIOSes only; a manager target is refused with a Redfish error
    assert!(e.contains("UpdateService.SimpleUpdate"), "{e}");
    assert!(e.contains("400"), "{e}");
    assert!(
        e.contains("Manager is not currently a supported Target"),
        "{e}"
    );
    assert!(
        !e.contains("s3cr3t"),
        "the download URL is not part of the error: {e}"
    );
    assert_eq!(bmc.read().await.unwrap().bios_version, "1.0.0");
}
