//! metal-core's own settings that shape the switch configuration (agents.md §4.1): ASN,
//! loopback, PXE VLAN and its SVI address, spine uplinks, management VRF, additional bridge
//! ports and VLANs, the DHCP relay of the PXE VLAN. [`SettingsArgs`] reads them from flags and
//! `METAL_CORE_*` variables (metal-core's names); [`Settings`] is the checked value the pure
//! model takes.

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use ipnet::{IpNet, Ipv4Net};

/// A bridge VLAN id or an inclusive range of them, as `ADDITIONAL_BRIDGE_VIDS` lists them
/// (`4000`, `201-256`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct VidRange {
    pub first: u16,
    pub last: u16,
}

impl VidRange {
    pub fn contains(&self, vid: u16) -> bool {
        (self.first..=self.last).contains(&vid)
    }
}

impl FromStr for VidRange {
    type Err = SettingsError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || SettingsError::BridgeVid(s.to_string());
        let vid = |t: &str| {
            t.trim()
                .parse::<u16>()
                .ok()
                .filter(|v| (1..=4094).contains(v))
                .ok_or_else(bad)
        };
        let (first, last) = match s.split_once('-') {
            Some((a, b)) => (vid(a)?, vid(b)?),
            None => (vid(s)?, vid(s)?),
        };
        if first > last {
            return Err(bad());
        }
        Ok(Self { first, last })
    }
}

impl fmt::Display for VidRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.first == self.last {
            write!(f, "{}", self.first)
        } else {
            write!(f, "{}-{}", self.first, self.last)
        }
    }
}

/// The management VRF `mgmt` with eth0: its address (read from the switch at run time), the
/// gateway and the extra routes that leave through it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Management {
    /// eth0's address with its prefix length
    pub eth0: Option<IpNet>,
    pub gateway: Option<Ipv4Addr>,
    pub routes: Vec<Ipv4Net>,
}

/// The DHCP relay of the PXE VLAN: DHCP broadcasts of machines waiting there go to these
/// servers (where pixie and a DHCP server run), through the upstream interfaces.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DhcpRelay {
    pub servers: Vec<Ipv4Addr>,
    /// where the servers are reached; the spine uplinks when empty
    pub upstream: Vec<String>,
}

/// Everything besides the switch document that decides the switch configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub asn: u32,
    pub loopback: Ipv4Addr,
    /// the PXE VLAN's SVI address with its prefix length (`METAL_CORE_CIDR`)
    pub metal_core_cidr: IpNet,
    pub spine_uplinks: Vec<String>,
    pub pxe_vlan: u16,
    /// metal-core's log level (`debug`, `info`, `warn`, `error`)
    pub log_level: String,
    pub management: Management,
    pub additional_bridge_ports: Vec<String>,
    pub additional_bridge_vids: Vec<VidRange>,
    /// SONiC: BGP routes get the loopback as source address (`SET_SRC_LOOPBACK`)
    pub set_src_loopback: bool,
    pub dhcp_relay: DhcpRelay,
}

impl Settings {
    /// metal-core's defaults around a PXE SVI address: ASN 420000011, loopback 10.0.0.11,
    /// uplinks swp31 and swp32, PXE VLAN 4000.
    pub fn new(metal_core_cidr: IpNet) -> Self {
        Self {
            asn: 420000011,
            loopback: Ipv4Addr::new(10, 0, 0, 11),
            metal_core_cidr,
            spine_uplinks: vec!["swp31".into(), "swp32".into()],
            pxe_vlan: 4000,
            log_level: "info".into(),
            management: Management::default(),
            additional_bridge_ports: Vec::new(),
            additional_bridge_vids: Vec::new(),
            set_src_loopback: false,
            dhcp_relay: DhcpRelay::default(),
        }
    }

    /// FRR's `log syslog` level for metal-core's log level, as metal-core maps it.
    pub fn frr_log_level(&self) -> &'static str {
        match self.log_level.to_ascii_lowercase().as_str() {
            "debug" => "debugging",
            "info" => "informational",
            "warn" => "warnings",
            "error" => "errors",
            _ => "warnings",
        }
    }

    /// The VXLAN id that stretches the PXE VLAN: `10` and the VLAN id in four digits
    /// (VLAN 4000: 104000, VLAN 966: 100966).
    pub fn pxe_vni(&self) -> u32 {
        100_000 + u32::from(self.pxe_vlan)
    }

    /// The interfaces towards the DHCP servers.
    pub fn dhcp_relay_upstream(&self) -> &[String] {
        if self.dhcp_relay.upstream.is_empty() {
            &self.spine_uplinks
        } else {
            &self.dhcp_relay.upstream
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SettingsError {
    #[error("--cidr (METAL_CORE_CIDR), the PXE VLAN's SVI address, is required")]
    MissingCidr,
    #[error("{field}: {value:?} is not {what}")]
    Invalid {
        field: &'static str,
        value: String,
        what: &'static str,
    },
    #[error("additional bridge VLAN {0:?} is neither a VLAN id (1-4094) nor a range of them")]
    BridgeVid(String),
    #[error("PXE VLAN id {0} is not within 1-4094")]
    PxeVlan(u16),
}

fn parse<T: FromStr>(field: &'static str, what: &'static str, s: &str) -> Result<T, SettingsError> {
    s.trim().parse().map_err(|_| SettingsError::Invalid {
        field,
        value: s.to_string(),
        what,
    })
}

fn names(v: &[String]) -> Vec<String> {
    v.iter()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

/// The settings as flags and `METAL_CORE_*` variables, metal-core's names and defaults.
#[derive(Debug, Clone, clap::Args)]
pub struct SettingsArgs {
    /// the leaf's BGP AS number
    #[arg(long, env = "METAL_CORE_ASN", default_value = "420000011")]
    pub asn: String,
    /// the leaf's loopback address: BGP router id and VXLAN tunnel source
    #[arg(long, env = "METAL_CORE_LOOPBACK_IP", default_value = "10.0.0.11")]
    pub loopback_ip: String,
    /// the PXE VLAN's SVI address with prefix length (e.g. 10.255.255.2/24)
    #[arg(long, env = "METAL_CORE_CIDR")]
    pub cidr: Option<String>,
    /// ports to the spines (BGP unnumbered, peer group FABRIC)
    #[arg(
        long,
        env = "METAL_CORE_SPINE_UPLINKS",
        value_delimiter = ',',
        default_value = "swp31,swp32"
    )]
    pub spine_uplinks: Vec<String>,
    /// the VLAN of machines waiting for an allocation; not within 1001-2000
    #[arg(long, env = "METAL_CORE_PXE_VLAN_ID", default_value_t = 4000)]
    pub pxe_vlan_id: u16,
    /// gateway of the management VRF (eth0)
    #[arg(long, env = "METAL_CORE_MANAGEMENT_GATEWAY")]
    pub management_gateway: Option<String>,
    /// further prefixes routed through the management gateway
    #[arg(long, env = "METAL_CORE_ADDITIONAL_MGMT_ROUTES", value_delimiter = ',')]
    pub additional_mgmt_routes: Vec<String>,
    /// ports bridged with every bridge VLAN (blade chassis)
    #[arg(
        long,
        env = "METAL_CORE_ADDITIONAL_BRIDGE_PORTS",
        value_delimiter = ','
    )]
    pub additional_bridge_ports: Vec<String>,
    /// further bridge VLANs (ids or ranges such as 201-256)
    #[arg(long, env = "METAL_CORE_ADDITIONAL_BRIDGE_VIDS", value_delimiter = ',')]
    pub additional_bridge_vids: Vec<String>,
    /// SONiC: give BGP routes the loopback as source address
    #[arg(long, env = "METAL_CORE_SET_SRC_LOOPBACK")]
    pub set_src_loopback: bool,
    /// DHCP servers (IPv4) the PXE VLAN's DHCP requests are relayed to
    #[arg(long, env = "METAL_CORE_DHCP_RELAY_SERVERS", value_delimiter = ',')]
    pub dhcp_relay_servers: Vec<String>,
    /// interfaces the DHCP servers are reached through (default: the spine uplinks)
    #[arg(long, env = "METAL_CORE_DHCP_RELAY_INTERFACES", value_delimiter = ',')]
    pub dhcp_relay_interfaces: Vec<String>,
}

impl SettingsArgs {
    /// The checked settings; `eth0` is the management address found on the switch (or given).
    pub fn settings(
        &self,
        log_level: &str,
        eth0: Option<IpNet>,
    ) -> Result<Settings, SettingsError> {
        let cidr = self.cidr.as_deref().filter(|c| !c.trim().is_empty());
        let cidr = cidr.ok_or(SettingsError::MissingCidr)?;
        let mut s = Settings::new(parse("--cidr", "an address with prefix length", cidr)?);
        s.asn = parse("--asn", "a 32-bit AS number", &self.asn)?;
        s.loopback = parse("--loopback-ip", "an IPv4 address", &self.loopback_ip)?;
        s.spine_uplinks = names(&self.spine_uplinks);
        if !(1..=4094).contains(&self.pxe_vlan_id) {
            return Err(SettingsError::PxeVlan(self.pxe_vlan_id));
        }
        s.pxe_vlan = self.pxe_vlan_id;
        s.log_level = log_level.to_string();
        s.management = Management {
            eth0,
            gateway: match self.management_gateway.as_deref().map(str::trim) {
                None | Some("") => None,
                Some(g) => Some(parse("--management-gateway", "an IPv4 address", g)?),
            },
            routes: names(&self.additional_mgmt_routes)
                .iter()
                .map(|r| parse("--additional-mgmt-routes", "an IPv4 prefix", r))
                .collect::<Result<_, _>>()?,
        };
        s.additional_bridge_ports = names(&self.additional_bridge_ports);
        s.additional_bridge_vids = names(&self.additional_bridge_vids)
            .iter()
            .map(|v| v.parse())
            .collect::<Result<_, _>>()?;
        s.set_src_loopback = self.set_src_loopback;
        s.dhcp_relay = DhcpRelay {
            servers: names(&self.dhcp_relay_servers)
                .iter()
                .map(|a| parse("--dhcp-relay-servers", "an IPv4 address", a))
                .collect::<Result<_, _>>()?,
            upstream: names(&self.dhcp_relay_interfaces),
        };
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vid_ranges() {
        for (input, want) in [
            ("4000", Some((4000, 4000))),
            ("201-256", Some((201, 256))),
            (" 5 - 7 ", Some((5, 7))),
            ("0", None),
            ("4095", None),
            ("256-201", None),
            ("a-b", None),
            ("", None),
        ] {
            let got = input.parse::<VidRange>().ok().map(|r| (r.first, r.last));
            assert_eq!(got, want, "{input:?}");
        }
        assert_eq!(
            "201-256".parse::<VidRange>().unwrap().to_string(),
            "201-256"
        );
        assert_eq!("7".parse::<VidRange>().unwrap().to_string(), "7");
    }

    #[test]
    fn log_levels_and_pxe_vni() {
        let mut s = Settings::new("10.255.255.2/24".parse().unwrap());
        for (level, frr) in [
            ("debug", "debugging"),
            ("INFO", "informational"),
            ("warn", "warnings"),
            ("error", "errors"),
            ("trace", "warnings"),
        ] {
            s.log_level = level.into();
            assert_eq!(s.frr_log_level(), frr);
        }
        assert_eq!(s.pxe_vni(), 104000);
        s.pxe_vlan = 966;
        assert_eq!(s.pxe_vni(), 100966);
    }
}
