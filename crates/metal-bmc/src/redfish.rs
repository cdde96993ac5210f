//! The Redfish driver: speaks to a BMC's Redfish service over HTTPS (self-signed certificates
//! accepted, HTTP basic auth) to read the first system, the machine's chassis and the first
//! manager, and to run power (`ComputerSystem.Reset`), boot-override and identify-LED actions.
//!
//! Every request is bounded by the driver's timeout, connect and total. Errors name the method,
//! the URL and the HTTP status with the service's Redfish error message; they never carry the
//! password (it only travels in the `Authorization` header, never in a URL).
//!
//! The mapping from Redfish JSON to a [`Reading`] and the choice of reset types are pure
//! functions below, tested on their own; `tests/redfish.rs` runs the driver against
//! sushy-tools' Redfish emulator.

use std::time::Duration;

use anyhow::Context;
use metal_domain::machine::{MachineFru, PowerMetric, PowerSupply, PowerSupplyStatus};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::bmc::{Action, Credentials, FirmwareUpdate, Led, PowerState, Reading};
use metal_domain::firmware::FirmwareKind;

/// Chassis types of the chassis that holds the machine itself (not a rack, not an enclosure).
const MACHINE_CHASSIS_TYPES: [&str; 3] = ["RackMount", "Sled", "Blade"];

/// How often a power cycle looks whether the system reports `Off` yet.
const POWER_POLL: Duration = Duration::from_millis(500);

/// A connected Redfish service: its first system, the machine's chassis and the managers.
pub struct Redfish {
    http: reqwest::Client,
    base: String,
    creds: Credentials,
    timeout: Duration,
    /// path of the system, e.g. `/redfish/v1/Systems/1`
    system: String,
    /// path of the chassis, when the service has one
    chassis: Option<String>,
    /// path of the managers collection, when the service has one
    managers: Option<String>,
}

impl Redfish {
    /// Connects: `GET {base}/redfish/v1/` answers, and finds the first system, the first
    /// chassis of type RackMount/Sled/Blade (else the first chassis) and the managers.
    pub async fn connect(
        base: String,
        creds: Credentials,
        timeout: Duration,
    ) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .danger_accept_invalid_certs(true)
            .connect_timeout(timeout)
            .timeout(timeout)
            .build()
            .context("building the HTTPS client")?;
        let mut this = Redfish {
            http,
            base: base.trim_end_matches('/').to_string(),
            creds,
            timeout,
            system: String::new(),
            chassis: None,
            managers: None,
        };
        let root = this.get("/redfish/v1/").await?;
        let systems = link(&root, "Systems")
            .with_context(|| format!("{}/redfish/v1/ names no Systems collection", this.base))?;
        this.system = this
            .first_member(&systems)
            .await?
            .with_context(|| format!("{}{systems}: the Systems collection is empty", this.base))?;
        if let Some(chassis) = link(&root, "Chassis") {
            this.chassis = this.machine_chassis(&chassis).await?;
        }
        this.managers = link(&root, "Managers");
        Ok(this)
    }

    /// Reads the system, the chassis (with its `Power` resource) and the first manager.
    pub async fn read(&self) -> anyhow::Result<Reading> {
        let (system, chassis, bmc_version) = tokio::join!(
            self.get(&self.system),
            self.get_chassis(),
            self.bmc_version()
        );
        let system = system?;
        let chassis = chassis?;
        let power = self.power(chassis.as_ref()).await;
        let power_metric = power.as_ref().and_then(power_metric);
        let power_supplies = power.as_ref().map(power_supplies).unwrap_or_default();
        Ok(Reading {
            uuid: text(&system, "UUID").to_lowercase(),
            bmc_version,
            bios_version: text(&system, "BiosVersion"),
            fru: fru(&system, chassis.as_ref()),
            power_state: power_state(&system),
            led: led(chassis.as_ref().unwrap_or(&system)),
            power_metric,
            power_supplies,
        })
    }

    /// Runs one action; a non-2xx answer is an error with the status and the service's message.
    pub async fn run(&self, action: Action) -> anyhow::Result<()> {
        match action {
            Action::PowerOn | Action::PowerOff | Action::PowerReset | Action::PowerCycle => {
                self.reset(action).await
            }
            Action::BootPxe => self.boot("Continuous", "Pxe").await,
            Action::BootDisk => self.boot("Continuous", "Hdd").await,
            Action::BootBios => self.boot("Once", "BiosSetup").await,
            Action::LedOn => self.set_led(true).await,
            Action::LedOff => self.set_led(false).await,
        }
    }

    /// Flashes a firmware file with `UpdateService.SimpleUpdate`: the BMC downloads it from
    /// the update's URL (`ImageURI`) and applies it to the target, the system for a BIOS, the
    /// first manager for the BMC. The service answers at once (the flashing runs on in the BMC);
    /// a refusal is an error with the service's message. The URL is never part of a message.
    pub async fn update_firmware(&self, update: &FirmwareUpdate) -> anyhow::Result<()> {
        let root = self.get("/redfish/v1/").await?;
        let service = link(&root, "UpdateService").with_context(|| {
            format!(
                "{}/redfish/v1/ names no UpdateService: this BMC cannot flash firmware over Redfish",
                self.base
            )
        })?;
        let action = self.get(&service).await?["Actions"]["#UpdateService.SimpleUpdate"]["target"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| format!("{service}/Actions/UpdateService.SimpleUpdate"));
        let target = match update.kind {
            FirmwareKind::Bios => self.system.clone(),
            FirmwareKind::Bmc => {
                let managers = self.managers.as_deref().with_context(|| {
                    format!("{}: no Managers collection, so no BMC to flash", self.base)
                })?;
                self.first_member(managers).await?.with_context(|| {
                    format!("{}{managers}: the Managers collection is empty", self.base)
                })?
            }
        };
        let protocol = if update.url.starts_with("https://") {
            "HTTPS"
        } else {
            "HTTP"
        };
        let body = json!({
            "ImageURI": update.url,
            "TransferProtocol": protocol,
            "Targets": [target],
        });
        self.send(Method::POST, &action, body).await
    }

    async fn reset(&self, action: Action) -> anyhow::Result<()> {
        let system = self.get(&self.system).await?;
        let reset = &system["Actions"]["#ComputerSystem.Reset"];
        let target = reset["target"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| format!("{}/Actions/ComputerSystem.Reset", self.system));
        let allowed: Option<Vec<&str>> = reset["ResetType@Redfish.AllowableValues"]
            .as_array()
            .map(|values| values.iter().filter_map(Value::as_str).collect());
        for step in reset_steps(action, allowed.as_deref(), power_state(&system)) {
            match step {
                ResetStep::Reset(kind) => {
                    self.send(Method::POST, &target, json!({ "ResetType": kind }))
                        .await?;
                }
                ResetStep::AwaitOff => self.await_off().await?,
            }
        }
        Ok(())
    }

    /// Polls the system until it reports `Off`, for at most the driver's timeout.
    async fn await_off(&self) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + self.timeout;
        loop {
            if power_state(&self.get(&self.system).await?) == PowerState::Off {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                anyhow::bail!(
                    "{}{}: ForceOff sent, but the system does not report Off after {:?}",
                    self.base,
                    self.system,
                    self.timeout
                );
            }
            tokio::time::sleep(POWER_POLL).await;
        }
    }

    async fn boot(&self, enabled: &str, target: &str) -> anyhow::Result<()> {
        let body = json!({ "Boot": {
            "BootSourceOverrideEnabled": enabled,
            "BootSourceOverrideMode": "UEFI",
            "BootSourceOverrideTarget": target,
        }});
        self.send(Method::PATCH, &self.system, body).await
    }

    /// PATCHes `IndicatorLED` of the chassis (the system's when there is no chassis), or
    /// `LocationIndicatorActive` on a resource that only has the newer property.
    async fn set_led(&self, on: bool) -> anyhow::Result<()> {
        let path = self.chassis.as_deref().unwrap_or(&self.system);
        let resource = self.get(path).await?;
        let body = if resource.get("IndicatorLED").is_none()
            && resource["LocationIndicatorActive"].is_boolean()
        {
            json!({ "LocationIndicatorActive": on })
        } else {
            json!({ "IndicatorLED": if on { "Lit" } else { "Off" } })
        };
        self.send(Method::PATCH, path, body).await
    }

    /// The chassis' `Power` resource; None (and logged) when it has none or it cannot be read.
    async fn power(&self, chassis: Option<&Value>) -> Option<Value> {
        let path = link(chassis?, "Power")?;
        self.get(&path)
            .await
            .map_err(|e| tracing::debug!(bmc = %self.base, error = format!("{e:#}"), "no power readings"))
            .ok()
    }

    async fn get_chassis(&self) -> anyhow::Result<Option<Value>> {
        match &self.chassis {
            Some(path) => self.get(path).await.map(Some),
            None => Ok(None),
        }
    }

    /// The first manager's `FirmwareVersion`; empty (and logged) when there is none to read.
    async fn bmc_version(&self) -> String {
        let Some(managers) = &self.managers else {
            return String::new();
        };
        let version = async {
            match self.first_member(managers).await? {
                Some(manager) => Ok(text(&self.get(&manager).await?, "FirmwareVersion")),
                None => Ok(String::new()),
            }
        };
        version.await.unwrap_or_else(|e: anyhow::Error| {
            tracing::debug!(bmc = %self.base, error = format!("{e:#}"), "no BMC version");
            String::new()
        })
    }

    async fn first_member(&self, collection: &str) -> anyhow::Result<Option<String>> {
        Ok(members(&self.get(collection).await?).into_iter().next())
    }

    /// The first chassis of a machine type, else the first chassis.
    async fn machine_chassis(&self, collection: &str) -> anyhow::Result<Option<String>> {
        let all = members(&self.get(collection).await?);
        for path in &all {
            let chassis = self.get(path).await?;
            if MACHINE_CHASSIS_TYPES.contains(&chassis["ChassisType"].as_str().unwrap_or("")) {
                return Ok(Some(path.clone()));
            }
        }
        Ok(all.into_iter().next())
    }

    fn url(&self, path: &str) -> String {
        if path.starts_with("https://") || path.starts_with("http://") {
            path.to_string()
        } else {
            format!("{}{path}", self.base)
        }
    }

    async fn get(&self, path: &str) -> anyhow::Result<Value> {
        let url = self.url(path);
        let response = self.request(Method::GET, &url, None).await?;
        response
            .json()
            .await
            .with_context(|| format!("GET {url}: reading the JSON answer"))
    }

    async fn send(&self, method: Method, path: &str, body: Value) -> anyhow::Result<()> {
        let url = self.url(path);
        self.request(method, &url, Some(body)).await.map(drop)
    }

    /// One request with basic auth; any answer but 2xx is an error naming the status.
    async fn request(
        &self,
        method: Method,
        url: &str,
        body: Option<Value>,
    ) -> anyhow::Result<reqwest::Response> {
        let mut request = self
            .http
            .request(method.clone(), url)
            .basic_auth(&self.creds.user, Some(&self.creds.password))
            .header("Accept", "application/json")
            .header("OData-Version", "4.0");
        if method == Method::PATCH {
            // any ETag: some services refuse a PATCH without If-Match
            request = request.header("If-Match", "*");
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("{method} {url}"))?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let message = response
            .json::<Value>()
            .await
            .ok()
            .and_then(|body| error_message(&body));
        Err(status_error(&method, url, status, message))
    }
}

fn status_error(
    method: &Method,
    url: &str,
    status: StatusCode,
    message: Option<String>,
) -> anyhow::Error {
    match message {
        Some(message) => anyhow::anyhow!("{method} {url}: HTTP {status}: {message}"),
        None => anyhow::anyhow!("{method} {url}: HTTP {status}"),
    }
}

/// One step of a power action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ResetStep {
    /// POST `ComputerSystem.Reset` with this `ResetType`
    Reset(&'static str),
    /// wait until the system reports `Off`
    AwaitOff,
}

/// The reset types for a power action. `allowed` is the service's
/// `ResetType@Redfish.AllowableValues` (None: not listed, anything goes). A service without
/// `PowerCycle` is cycled by ForceOff (skipped when already off), waiting for Off, and on; one
/// without `ForceOn` is switched on by `On`.
fn reset_steps(action: Action, allowed: Option<&[&str]>, state: PowerState) -> Vec<ResetStep> {
    let allows = |kind: &str| allowed.is_none_or(|values| values.contains(&kind));
    let on = if allows("ForceOn") || !allows("On") {
        "ForceOn"
    } else {
        "On"
    };
    match action {
        Action::PowerOn => vec![ResetStep::Reset(on)],
        Action::PowerOff => vec![ResetStep::Reset("ForceOff")],
        Action::PowerReset => vec![ResetStep::Reset("ForceRestart")],
        Action::PowerCycle if allows("PowerCycle") => vec![ResetStep::Reset("PowerCycle")],
        Action::PowerCycle if state == PowerState::Off => vec![ResetStep::Reset(on)],
        Action::PowerCycle => vec![
            ResetStep::Reset("ForceOff"),
            ResetStep::AwaitOff,
            ResetStep::Reset(on),
        ],
        _ => Vec::new(),
    }
}

/// `{"Name": {"@odata.id": path}}` → path.
fn link(resource: &Value, name: &str) -> Option<String> {
    resource[name]["@odata.id"].as_str().map(str::to_string)
}

/// The member paths of a collection.
fn members(collection: &Value) -> Vec<String> {
    collection["Members"]
        .as_array()
        .map(|m| {
            m.iter()
                .filter_map(|m| m["@odata.id"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// A string property, empty when missing or not a string.
fn text(resource: &Value, name: &str) -> String {
    resource[name]
        .as_str()
        .unwrap_or_default()
        .trim()
        .to_string()
}

fn power_state(system: &Value) -> PowerState {
    match system["PowerState"].as_str() {
        Some("On") => PowerState::On,
        Some("Off") => PowerState::Off,
        _ => PowerState::Unknown,
    }
}

/// `IndicatorLED` (`Lit`/`Blinking` on, `Off` off), else the newer `LocationIndicatorActive`.
fn led(resource: &Value) -> Led {
    match (
        resource["IndicatorLED"].as_str(),
        resource["LocationIndicatorActive"].as_bool(),
    ) {
        (Some("Lit" | "Blinking"), _) => Led::On,
        (Some("Off"), _) => Led::Off,
        (_, Some(true)) => Led::On,
        (_, Some(false)) => Led::Off,
        _ => Led::Unknown,
    }
}

fn fru(system: &Value, chassis: Option<&Value>) -> MachineFru {
    let sku = text(system, "SKU");
    let chassis_text = |name| chassis.map(|c| text(c, name)).unwrap_or_default();
    MachineFru {
        chassis_part_number: chassis_text("PartNumber"),
        chassis_part_serial: chassis_text("SerialNumber"),
        board_mfg: text(system, "Manufacturer"),
        board_mfg_serial: String::new(),
        board_part_number: text(system, "Model"),
        product_manufacturer: text(system, "Manufacturer"),
        product_part_number: if sku.is_empty() {
            text(system, "PartNumber")
        } else {
            sku
        },
        product_serial: text(system, "SerialNumber"),
    }
}

/// `PowerControl[0].PowerMetrics` of a `Power` resource.
fn power_metric(power: &Value) -> Option<PowerMetric> {
    let metrics = power["PowerControl"].get(0)?.get("PowerMetrics")?;
    let watts = |name: &str| metrics[name].as_f64().unwrap_or_default() as f32;
    Some(PowerMetric {
        averageconsumedwatts: watts("AverageConsumedWatts"),
        intervalinmin: watts("IntervalInMin"),
        maxconsumedwatts: watts("MaxConsumedWatts"),
        minconsumedwatts: watts("MinConsumedWatts"),
    })
}

/// `PowerSupplies[].Status` of a `Power` resource.
fn power_supplies(power: &Value) -> Vec<PowerSupply> {
    let Some(supplies) = power["PowerSupplies"].as_array() else {
        return Vec::new();
    };
    supplies
        .iter()
        .map(|supply| PowerSupply {
            status: PowerSupplyStatus {
                health: text(&supply["Status"], "Health"),
                state: text(&supply["Status"], "State"),
            },
        })
        .collect()
}

fn non_empty(value: &Value) -> Option<&str> {
    value.as_str().map(str::trim).filter(|m| !m.is_empty())
}

/// The message of a Redfish error answer: `error.message`, and the first extended message
/// when it says more.
fn error_message(body: &Value) -> Option<String> {
    let error = &body["error"];
    let message = non_empty(&error["message"]);
    let extended = error["@Message.ExtendedInfo"]
        .get(0)
        .and_then(|info| non_empty(&info["Message"]));
    match (message, extended) {
        (Some(m), Some(x)) if m != x => Some(format!("{m} ({x})")),
        (Some(m), _) => Some(m.to_string()),
        (None, x) => x.map(str::to_string),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reset_types_follow_the_allowable_values() {
        use ResetStep::*;
        let all: &[&str] = &["On", "ForceOn", "ForceOff", "ForceRestart", "PowerCycle"];
        let no_cycle: &[&str] = &["On", "ForceOn", "ForceOff", "ForceRestart"];
        let on_only: &[&str] = &["On", "ForceOff", "GracefulRestart"];
        type Case<'a> = (Action, Option<&'a [&'a str]>, PowerState, Vec<ResetStep>);
        let cases: &[Case] = &[
            (
                Action::PowerOn,
                None,
                PowerState::Off,
                vec![Reset("ForceOn")],
            ),
            (
                Action::PowerOn,
                Some(on_only),
                PowerState::Off,
                vec![Reset("On")],
            ),
            (
                Action::PowerOff,
                Some(all),
                PowerState::On,
                vec![Reset("ForceOff")],
            ),
            (
                Action::PowerReset,
                None,
                PowerState::On,
                vec![Reset("ForceRestart")],
            ),
            (
                Action::PowerCycle,
                None,
                PowerState::On,
                vec![Reset("PowerCycle")],
            ),
            (
                Action::PowerCycle,
                Some(all),
                PowerState::On,
                vec![Reset("PowerCycle")],
            ),
            (
                Action::PowerCycle,
                Some(no_cycle),
                PowerState::On,
                vec![Reset("ForceOff"), AwaitOff, Reset("ForceOn")],
            ),
            (
                Action::PowerCycle,
                Some(on_only),
                PowerState::Unknown,
                vec![Reset("ForceOff"), AwaitOff, Reset("On")],
            ),
            (
                Action::PowerCycle,
                Some(no_cycle),
                PowerState::Off,
                vec![Reset("ForceOn")],
            ),
            (Action::BootPxe, None, PowerState::On, vec![]),
        ];
        for (action, allowed, state, want) in cases {
            assert_eq!(
                &reset_steps(*action, *allowed, *state),
                want,
                "{action:?} allowed={allowed:?} state={state:?}"
            );
        }
    }

    #[test]
    fn led_states() {
        let cases = [
            (json!({"IndicatorLED": "Lit"}), Led::On),
            (json!({"IndicatorLED": "Blinking"}), Led::On),
            (json!({"IndicatorLED": "Off"}), Led::Off),
            (json!({"IndicatorLED": "Unknown"}), Led::Unknown),
            (json!({"LocationIndicatorActive": true}), Led::On),
            (json!({"LocationIndicatorActive": false}), Led::Off),
            (
                json!({"IndicatorLED": "Off", "LocationIndicatorActive": true}),
                Led::Off,
            ),
            (json!({}), Led::Unknown),
        ];
        for (resource, want) in cases {
            assert_eq!(led(&resource), want, "{resource}");
        }
    }

    #[test]
    fn power_states() {
        let cases = [
            ("On", PowerState::On),
            ("Off", PowerState::Off),
            ("PoweringOn", PowerState::Unknown),
            ("Paused", PowerState::Unknown),
        ];
        for (state, want) in cases {
            assert_eq!(
                power_state(&json!({ "PowerState": state })),
                want,
                "{state}"
            );
        }
        assert_eq!(power_state(&json!({})), PowerState::Unknown);
    }

    #[test]
    fn fru_from_system_and_chassis() {
        let system = json!({
            "Manufacturer": "Supermicro", "Model": "X11DPT-B", "SKU": "",
            "PartNumber": "SYS-2029BT", "SerialNumber": "S123 ",
        });
        let chassis = json!({"PartNumber": "CSE-217", "SerialNumber": "C999"});
        let fru = fru(&system, Some(&chassis));
        assert_eq!(
            fru,
            MachineFru {
                chassis_part_number: "CSE-217".into(),
                chassis_part_serial: "C999".into(),
                board_mfg: "Supermicro".into(),
                board_mfg_serial: String::new(),
                board_part_number: "X11DPT-B".into(),
                product_manufacturer: "Supermicro".into(),
                product_part_number: "SYS-2029BT".into(),
                product_serial: "S123".into(),
            }
        );
        let with_sku = json!({"SKU": "SKU-1", "PartNumber": "P"});
        assert_eq!(super::fru(&with_sku, None).product_part_number, "SKU-1");
        assert_eq!(super::fru(&with_sku, None).chassis_part_number, "");
    }

    #[test]
    fn power_resource() {
        let power = json!({
            "PowerControl": [{"PowerMetrics": {
                "AverageConsumedWatts": 210, "MinConsumedWatts": 180.5,
                "MaxConsumedWatts": 320, "IntervalInMin": 1
            }}],
            "PowerSupplies": [
                {"Status": {"Health": "OK", "State": "Enabled"}},
                {"Status": {"Health": "Critical", "State": "UnavailableOffline"}},
                {}
            ]
        });
        assert_eq!(
            power_metric(&power),
            Some(PowerMetric {
                averageconsumedwatts: 210.0,
                intervalinmin: 1.0,
                maxconsumedwatts: 320.0,
                minconsumedwatts: 180.5,
            })
        );
        let supplies = power_supplies(&power);
        assert_eq!(supplies.len(), 3);
        assert_eq!(supplies[1].status.health, "Critical");
        assert_eq!(supplies[2].status, PowerSupplyStatus::default());
        assert_eq!(power_metric(&json!({"PowerControl": []})), None);
        assert_eq!(power_metric(&json!({"PowerControl": [{}]})), None);
        assert!(power_supplies(&json!({})).is_empty());
    }

    #[test]
    fn error_messages() {
        let cases = [
            (
                json!({"error": {"message": "Incorrect username or password"}}),
                Some("Incorrect username or password"),
            ),
            (
                json!({"error": {"code": "Base.1.0.GeneralError",
                    "@Message.ExtendedInfo": [{"Message": "The property X is read-only."}]}}),
                Some("The property X is read-only."),
            ),
            (
                json!({"error": {"message": "A general error has occurred.",
                    "@Message.ExtendedInfo": [{"Message": "Server is already powered OFF."}]}}),
                Some("A general error has occurred. (Server is already powered OFF.)"),
            ),
            (json!({"error": {"message": " "}}), None),
            (json!({"Name": "not an error"}), None),
        ];
        for (body, want) in cases {
            assert_eq!(error_message(&body).as_deref(), want, "{body}");
        }
    }
}
