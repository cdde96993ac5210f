//! LLDP for the agents: metal-hammer announces itself on every `eth*` interface (system name =
//! machine uuid) and learns the switch ports it is cabled to; metal-core listens on the switch
//! ports for the "provisioned" beacons of installed machines.
//!
//! Frames are sent and received on raw packet sockets (`pnet_datalink`), one thread per
//! interface and direction; the frame codec is pure and unit-tested.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const ETHERTYPE_LLDP: u16 = 0x88cc;
/// The nearest-bridge multicast address.
pub const LLDP_MULTICAST: [u8; 6] = [0x01, 0x80, 0xc2, 0x00, 0x00, 0x0e];

const TLV_END: u8 = 0;
const TLV_CHASSIS_ID: u8 = 1;
const TLV_PORT_ID: u8 = 2;
const TLV_TTL: u8 = 3;
const TLV_PORT_DESCRIPTION: u8 = 4;
const TLV_SYSTEM_NAME: u8 = 5;
const TLV_SYSTEM_DESCRIPTION: u8 = 6;

const CHASSIS_SUBTYPE_MAC: u8 = 4;
const CHASSIS_SUBTYPE_IFNAME: u8 = 7;
const PORT_SUBTYPE_IFNAME: u8 = 5;
const PORT_SUBTYPE_MAC: u8 = 3;
const PORT_SUBTYPE_LOCAL: u8 = 7;

/// What one LLDP frame says about its sender.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Neighbor {
    pub chassis_subtype: u8,
    /// A MAC as `aa:bb:..`, else the text.
    pub chassis_id: String,
    pub port_subtype: u8,
    pub port_id: String,
    pub system_name: String,
    pub system_description: String,
    pub port_description: String,
}

impl Neighbor {
    /// Whether metal-stack counts this neighbour as a switch: chassis id is a MAC and the port
    /// id a MAC or locally assigned.
    pub fn is_switch(&self) -> bool {
        self.chassis_subtype == CHASSIS_SUBTYPE_MAC
            && matches!(self.port_subtype, PORT_SUBTYPE_MAC | PORT_SUBTYPE_LOCAL)
    }
}

fn fmt_mac(b: &[u8]) -> String {
    b.iter()
        .map(|x| format!("{x:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

pub fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let mut out = [0u8; 6];
    let mut parts = s.split(':');
    for b in &mut out {
        *b = u8::from_str_radix(parts.next()?, 16).ok()?;
    }
    parts.next().is_none().then_some(out)
}

fn tlv(out: &mut Vec<u8>, typ: u8, value: &[u8]) {
    let len = value.len().min(511);
    let header = (u16::from(typ) << 9) | len as u16;
    out.extend_from_slice(&header.to_be_bytes());
    out.extend_from_slice(&value[..len]);
}

/// An LLDP frame from `src` (chassis and port id = that MAC) with the given names.
pub fn build_frame(src: [u8; 6], system_name: &str, system_description: &str, ttl: u16) -> Vec<u8> {
    let mut f = Vec::with_capacity(128);
    f.extend_from_slice(&LLDP_MULTICAST);
    f.extend_from_slice(&src);
    f.extend_from_slice(&ETHERTYPE_LLDP.to_be_bytes());
    let mut v = vec![CHASSIS_SUBTYPE_MAC];
    v.extend_from_slice(&src);
    tlv(&mut f, TLV_CHASSIS_ID, &v);
    let mut v = vec![PORT_SUBTYPE_MAC];
    v.extend_from_slice(&src);
    tlv(&mut f, TLV_PORT_ID, &v);
    tlv(&mut f, TLV_TTL, &ttl.to_be_bytes());
    tlv(&mut f, TLV_SYSTEM_NAME, system_name.as_bytes());
    tlv(
        &mut f,
        TLV_SYSTEM_DESCRIPTION,
        system_description.as_bytes(),
    );
    tlv(&mut f, TLV_END, &[]);
    while f.len() < 60 {
        f.push(0);
    }
    f
}

fn id_value(subtype: u8, v: &[u8], mac_subtype: u8) -> String {
    if subtype == mac_subtype && v.len() == 6 {
        fmt_mac(v)
    } else {
        String::from_utf8_lossy(v)
            .trim_end_matches('\0')
            .to_string()
    }
}

/// Parses an Ethernet frame; None if it is not a well-formed LLDP frame.
pub fn parse_frame(frame: &[u8]) -> Option<(Neighbor, [u8; 6])> {
    if frame.len() < 14 || u16::from_be_bytes([frame[12], frame[13]]) != ETHERTYPE_LLDP {
        return None;
    }
    let mut src = [0u8; 6];
    src.copy_from_slice(&frame[6..12]);
    let mut n = Neighbor::default();
    let mut rest = &frame[14..];
    let mut seen_chassis = false;
    let mut seen_port = false;
    while rest.len() >= 2 {
        let header = u16::from_be_bytes([rest[0], rest[1]]);
        let typ = (header >> 9) as u8;
        let len = usize::from(header & 0x1ff);
        if rest.len() < 2 + len {
            return None;
        }
        let v = &rest[2..2 + len];
        match typ {
            TLV_END => break,
            TLV_CHASSIS_ID if !v.is_empty() => {
                n.chassis_subtype = v[0];
                n.chassis_id = id_value(v[0], &v[1..], CHASSIS_SUBTYPE_MAC);
                if v[0] == CHASSIS_SUBTYPE_IFNAME {
                    n.chassis_id = String::from_utf8_lossy(&v[1..]).to_string();
                }
                seen_chassis = true;
            }
            TLV_PORT_ID if !v.is_empty() => {
                n.port_subtype = v[0];
                n.port_id = id_value(v[0], &v[1..], PORT_SUBTYPE_MAC);
                if v[0] == PORT_SUBTYPE_IFNAME {
                    n.port_id = String::from_utf8_lossy(&v[1..]).to_string();
                }
                seen_port = true;
            }
            TLV_PORT_DESCRIPTION => n.port_description = String::from_utf8_lossy(v).to_string(),
            TLV_SYSTEM_NAME => n.system_name = String::from_utf8_lossy(v).to_string(),
            TLV_SYSTEM_DESCRIPTION => {
                n.system_description = String::from_utf8_lossy(v).to_string();
            }
            _ => {}
        }
        rest = &rest[2 + len..];
    }
    (seen_chassis && seen_port).then_some((n, src))
}

/// Neighbours per interface name, deduplicated by (chassis, port).
#[derive(Debug, Clone, Default)]
pub struct Neighbors {
    inner: Arc<Mutex<BTreeMap<String, Vec<Neighbor>>>>,
}

impl Neighbors {
    pub fn add(&self, interface: &str, n: Neighbor) {
        let mut m = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let list = m.entry(interface.to_string()).or_default();
        if !list
            .iter()
            .any(|o| o.chassis_id == n.chassis_id && o.port_id == n.port_id)
        {
            list.push(n);
        }
    }

    pub fn snapshot(&self) -> BTreeMap<String, Vec<Neighbor>> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// metal-stack's condition to register: switches seen on at least `interfaces`
    /// interfaces, with at least that many distinct chassis.
    pub fn satisfied(&self, interfaces: usize) -> bool {
        let m = self.snapshot();
        let with_switch = m
            .values()
            .filter(|l| l.iter().any(Neighbor::is_switch))
            .count();
        let chassis: std::collections::BTreeSet<_> = m
            .values()
            .flatten()
            .filter(|n| n.is_switch())
            .map(|n| n.chassis_id.clone())
            .collect();
        with_switch >= interfaces && chassis.len() >= interfaces
    }

    /// Waits until [`Self::satisfied`] or the timeout; returns whether it was satisfied.
    pub async fn wait(&self, interfaces: usize, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.satisfied(interfaces) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

fn channel(
    iface: &pnet_datalink::NetworkInterface,
) -> std::io::Result<(
    Box<dyn pnet_datalink::DataLinkSender>,
    Box<dyn pnet_datalink::DataLinkReceiver>,
)> {
    let config = pnet_datalink::Config {
        read_timeout: Some(Duration::from_secs(1)),
        ..Default::default()
    };
    match pnet_datalink::channel(iface, config)? {
        pnet_datalink::Channel::Ethernet(tx, rx) => Ok((tx, rx)),
        _ => Err(std::io::Error::other("not an Ethernet channel")),
    }
}

/// The interfaces of this network namespace with the given names, and their MACs.
fn selected(interfaces: &[String]) -> Vec<(pnet_datalink::NetworkInterface, [u8; 6])> {
    pnet_datalink::interfaces()
        .into_iter()
        .filter(|i| interfaces.contains(&i.name))
        .filter_map(|i| {
            let mac = i.mac?.octets();
            Some((i, mac))
        })
        .collect()
}

/// Sends `frame(mac)` every `interval` on each interface, from a thread per interface that
/// lives as long as the process.
pub fn send(
    interfaces: &[String],
    interval: Duration,
    frame: impl Fn([u8; 6]) -> Vec<u8>,
) -> std::io::Result<usize> {
    let mut n = 0;
    for (iface, mac) in selected(interfaces) {
        let (mut tx, _) = channel(&iface)
            .map_err(|e| std::io::Error::other(format!("{}: raw socket: {e}", iface.name)))?;
        let frame = frame(mac);
        let name = iface.name.clone();
        std::thread::spawn(move || loop {
            if let Some(Err(e)) = tx.send_to(&frame, None) {
                tracing::debug!(interface = name, error = %e, "LLDP frame not sent");
            }
            std::thread::sleep(interval);
        });
        n += 1;
    }
    Ok(n)
}

/// Calls `seen(interface, neighbour)` for every LLDP frame received on the interfaces from
/// another MAC, from a thread per interface that lives as long as the process. A port that goes
/// down (a reboot of the machine behind it, the switch moving it into a VRF) makes the raw
/// socket fail; the thread then opens a new one on the interface of that name, once a second
/// until it succeeds, so a flap never ends the listening.
pub fn listen(
    interfaces: &[String],
    seen: impl Fn(&str, Neighbor) + Send + Clone + 'static,
) -> std::io::Result<usize> {
    let mut n = 0;
    for (iface, mac) in selected(interfaces) {
        let (_, rx) = channel(&iface)
            .map_err(|e| std::io::Error::other(format!("{}: raw socket: {e}", iface.name)))?;
        let name = iface.name.clone();
        let seen = seen.clone();
        std::thread::spawn(move || receive(&name, mac, rx, seen));
        n += 1;
    }
    Ok(n)
}

fn receive(
    name: &str,
    mac: [u8; 6],
    mut rx: Box<dyn pnet_datalink::DataLinkReceiver>,
    seen: impl Fn(&str, Neighbor),
) {
    loop {
        match rx.next() {
            Ok(f) => {
                if let Some((nb, src)) = parse_frame(f) {
                    if src != mac {
                        seen(name, nb);
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(e) => {
                tracing::info!(interface = name, error = %e, "LLDP receiver failed, reopening");
                rx = reopen(name);
            }
        }
    }
}

/// A new receiver on the interface called `name`, once it exists and takes a raw socket.
fn reopen(name: &str) -> Box<dyn pnet_datalink::DataLinkReceiver> {
    let mut logged = false;
    loop {
        std::thread::sleep(Duration::from_secs(1));
        let opened = selected(&[name.to_string()])
            .into_iter()
            .next()
            .ok_or_else(|| std::io::Error::other("no such interface"))
            .and_then(|(iface, _)| channel(&iface));
        match opened {
            Ok((_, rx)) => {
                tracing::info!(interface = name, "LLDP receiver reopened");
                return rx;
            }
            Err(e) if !logged => {
                tracing::warn!(interface = name, error = %e, "LLDP receiver cannot reopen yet");
                logged = true;
            }
            Err(_) => {}
        }
    }
}

/// Announces `system_name`/`system_description` every `interval` on each interface and
/// collects what the other side announces into `neighbors`.
pub fn start(
    interfaces: &[String],
    system_name: &str,
    system_description: &str,
    interval: Duration,
    neighbors: &Neighbors,
) -> std::io::Result<()> {
    let (name, desc) = (system_name.to_string(), system_description.to_string());
    send(interfaces, interval, move |mac| {
        build_frame(mac, &name, &desc, 120)
    })?;
    let neighbors = neighbors.clone();
    listen(interfaces, move |iface, nb| {
        tracing::debug!(
            interface = iface,
            chassis = nb.chassis_id,
            port = nb.port_id,
            "LLDP neighbour"
        );
        neighbors.add(iface, nb);
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_round_trip() {
        let mac = [0x52, 0x54, 0, 0xaa, 0, 1];
        let f = build_frame(mac, "machine-uuid", "metal-hammer IP:10.0.0.5", 120);
        assert_eq!(&f[..6], &LLDP_MULTICAST);
        let (n, src) = parse_frame(&f).unwrap();
        assert_eq!(src, mac);
        assert_eq!(n.chassis_id, "52:54:00:aa:00:01");
        assert_eq!(n.port_id, "52:54:00:aa:00:01");
        assert_eq!(n.system_name, "machine-uuid");
        assert_eq!(n.system_description, "metal-hammer IP:10.0.0.5");
        assert!(n.is_switch());
    }

    #[test]
    fn switch_frame_with_ifname_port() {
        // a switch: chassis MAC, port subtype ifname "swp1", port description, system name
        let mut f = LLDP_MULTICAST.to_vec();
        f.extend_from_slice(&[2, 0, 0, 0, 0, 9]);
        f.extend_from_slice(&ETHERTYPE_LLDP.to_be_bytes());
        let mut v = vec![CHASSIS_SUBTYPE_MAC, 2, 0, 0, 0, 0, 9];
        tlv(&mut f, TLV_CHASSIS_ID, &v);
        v = vec![PORT_SUBTYPE_IFNAME];
        v.extend_from_slice(b"swp1");
        tlv(&mut f, TLV_PORT_ID, &v);
        tlv(&mut f, TLV_TTL, &120u16.to_be_bytes());
        tlv(&mut f, TLV_PORT_DESCRIPTION, b"swp1 to machine");
        tlv(&mut f, TLV_SYSTEM_NAME, b"leaf01");
        tlv(&mut f, TLV_END, &[]);
        let (n, _) = parse_frame(&f).unwrap();
        assert_eq!(n.port_id, "swp1");
        assert_eq!(n.system_name, "leaf01");
        assert_eq!(n.port_description, "swp1 to machine");
        // ifname port ids do not count as switch ports for registration
        assert!(!n.is_switch());
        // truncated frame
        assert!(parse_frame(&f[..20]).is_none());
        // not LLDP
        let mut ip = f.clone();
        ip[12] = 0x08;
        ip[13] = 0x00;
        assert!(parse_frame(&ip).is_none());
    }

    #[test]
    fn registration_condition() {
        let n = Neighbors::default();
        let sw = |chassis: &str, port: &str| Neighbor {
            chassis_subtype: CHASSIS_SUBTYPE_MAC,
            chassis_id: chassis.into(),
            port_subtype: PORT_SUBTYPE_MAC,
            port_id: port.into(),
            ..Default::default()
        };
        assert!(n.satisfied(0));
        n.add("eth0", sw("02:00:00:00:00:01", "p1"));
        n.add("eth0", sw("02:00:00:00:00:01", "p1"));
        assert_eq!(n.snapshot()["eth0"].len(), 1);
        assert!(!n.satisfied(2));
        // same chassis on the second interface: still one chassis
        n.add("eth1", sw("02:00:00:00:00:01", "p2"));
        assert!(!n.satisfied(2));
        n.add("eth1", sw("02:00:00:00:00:02", "p3"));
        assert!(n.satisfied(2));
        assert_eq!(parse_mac("02:00:00:00:00:02"), Some([2, 0, 0, 0, 0, 2]));
        assert_eq!(parse_mac("02:00:00"), None);
    }
}
