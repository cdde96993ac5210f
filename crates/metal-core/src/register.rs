//! Switch registration (metal-core at startup): the switch's ports (Cumulus: every `swp*` link
//! with a MAC, as `{name, mac}`) are sent to metal-api with `POST /v1/switch/register`, retried
//! every 30 s until metal-api accepts them. metal-api connects machines to the ports their LLDP
//! neighbours name (the port MAC is what the switch announces as LLDP port id).

use std::time::Duration;

use metal_client::{Client, Method};
use serde_json::{json, Value};

/// metal-core's retry interval of the registration.
pub const RETRY: Duration = Duration::from_secs(30);

/// What the switch tells metal-api about itself.
#[derive(Debug, Clone)]
pub struct SwitchInfo {
    pub id: String,
    pub partition_id: String,
    pub rack_id: String,
    pub management_ip: String,
    pub management_user: String,
    /// (name, mac) of every switch port
    pub ports: Vec<(String, String)>,
}

/// The switch ports of this network namespace: links named `<prefix>*` with a MAC, sorted by
/// name (swp2 before swp10).
pub fn ports(prefix: &str) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = pnet_datalink::interfaces()
        .into_iter()
        .filter(|i| i.name.starts_with(prefix))
        .filter_map(|i| {
            let mac = i.mac?;
            (mac.octets() != [0; 6]).then(|| (i.name.clone(), mac.to_string()))
        })
        .collect();
    v.sort_by_key(|p| natural_key(&p.0));
    v
}

/// `swp10` → ("swp", 10): ports sort by number, not by text.
fn natural_key(name: &str) -> (String, u64, String) {
    let head: String = name.chars().take_while(|c| !c.is_ascii_digit()).collect();
    let digits: String = name[head.len()..]
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .collect();
    let rest = name[head.len() + digits.len()..].to_string();
    (head, digits.parse().unwrap_or(0), rest)
}

/// The registration request body (metal-stack's Cumulus flavour).
pub fn request(s: &SwitchInfo) -> Value {
    let nics: Vec<Value> = s
        .ports
        .iter()
        .map(|(name, mac)| json!({"name": name, "mac": mac}))
        .collect();
    json!({
        "id": s.id,
        "name": s.id,
        "partition_id": s.partition_id,
        "rack_id": s.rack_id,
        "nics": nics,
        "os": {"vendor": "Cumulus", "version": "", "metal_core_version": format!("v{}", env!("CARGO_PKG_VERSION"))},
        "management_ip": s.management_ip,
        "management_user": s.management_user,
    })
}

/// Registers until metal-api accepts the switch (every [`RETRY`] on failure).
pub async fn register(client: &Client, s: &SwitchInfo, retry: Duration) {
    let body = request(s);
    loop {
        match client
            .request::<Value, Value>(Method::POST, "v1/switch/register", Some(&body))
            .await
        {
            Ok(_) => {
                tracing::info!(switch = s.id, ports = s.ports.len(), "switch registered");
                return;
            }
            Err(e) => {
                tracing::warn!(switch = s.id, error = %e, ?retry, "switch registration failed, retrying");
                tokio::time::sleep(retry).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_sort_by_number() {
        let mut v = vec!["swp10", "swp2", "swp1s1", "swp1"];
        v.sort_by_key(|n| natural_key(n));
        assert_eq!(v, ["swp1", "swp1s1", "swp2", "swp10"]);
    }

    #[test]
    fn request_is_metal_cores() {
        let r = request(&SwitchInfo {
            id: "leaf01".into(),
            partition_id: "lab".into(),
            rack_id: "r1".into(),
            management_ip: "10.0.0.2".into(),
            management_user: "cumulus".into(),
            ports: vec![("swp1".into(), "52:54:00:aa:00:01".into())],
        });
        assert_eq!(r["id"], "leaf01");
        assert_eq!(r["name"], "leaf01");
        assert_eq!(r["nics"][0]["mac"], "52:54:00:aa:00:01");
        assert_eq!(r["nics"][0]["name"], "swp1");
        assert!(r["nics"][0].get("identifier").is_none());
        assert_eq!(r["os"]["vendor"], "Cumulus");
    }
}
