//! What metal-core reads from the switch it runs on: the hostname, eth0's address and the link
//! state of a port.

/// The kernel's hostname.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default()
}

/// The first IPv4 address of eth0 with its prefix length, if any.
pub fn eth0_ipv4() -> Option<ipnet::IpNet> {
    let ip = pnet_datalink::interfaces()
        .into_iter()
        .find(|i| i.name == "eth0")?
        .ips
        .into_iter()
        .find(|ip| ip.is_ipv4())?;
    ipnet::IpNet::new(ip.ip(), ip.prefix()).ok()
}

/// `IFF_RUNNING` (linux/if.h): the link is up and carries traffic.
const IFF_RUNNING: u32 = 0x40;

/// A port's state as metal-core reports it: `UP` when its netdev is running, `DOWN` when not,
/// `UNKNOWN` when there is no such link here.
pub fn link_state(port: &str) -> &'static str {
    if port.is_empty() || port.contains('/') || port.starts_with('.') {
        return "UNKNOWN";
    }
    let flags = std::fs::read_to_string(format!("/sys/class/net/{port}/flags"));
    state(flags.ok().and_then(|f| parse_flags(&f)))
}

fn state(flags: Option<u32>) -> &'static str {
    match flags {
        Some(f) if f & IFF_RUNNING != 0 => "UP",
        Some(_) => "DOWN",
        None => "UNKNOWN",
    }
}

fn parse_flags(text: &str) -> Option<u32> {
    u32::from_str_radix(text.trim().trim_start_matches("0x"), 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_states() {
        assert_eq!(parse_flags("0x1043\n"), Some(0x1043));
        assert_eq!(parse_flags("junk"), None);
        // IFF_UP|IFF_BROADCAST|IFF_RUNNING|IFF_MULTICAST, and an admin-up port without carrier
        assert_eq!(state(Some(0x1043)), "UP");
        assert_eq!(state(Some(0x1003)), "DOWN");
        assert_eq!(state(None), "UNKNOWN");
        // a name that is no link here, or cannot be one, is unknown
        assert_eq!(link_state(""), "UNKNOWN");
        assert_eq!(link_state("no-such-link0"), "UNKNOWN");
        assert_eq!(link_state("../lo"), "UNKNOWN");
    }
}
