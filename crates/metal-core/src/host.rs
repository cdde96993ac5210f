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

/// A port's state as metal-core reports it: `UP` when its netdev is running (`IFF_RUNNING`:
/// its operational state is `up`, or `unknown` for a device that does not track it), `DOWN`
/// when not, `UNKNOWN` when there is no such link here. (sysfs' `flags` shows the flags as
/// set, without `IFF_RUNNING`; the kernel derives that from the operational state.)
pub fn link_state(port: &str) -> &'static str {
    if port.is_empty() || port.contains('/') || port.starts_with('.') {
        return "UNKNOWN";
    }
    let operstate = std::fs::read_to_string(format!("/sys/class/net/{port}/operstate"));
    state(operstate.ok().as_deref())
}

fn state(operstate: Option<&str>) -> &'static str {
    match operstate.map(str::trim) {
        Some("up" | "unknown") => "UP",
        Some(_) => "DOWN",
        None => "UNKNOWN",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_states() {
        assert_eq!(state(Some("up\n")), "UP");
        assert_eq!(state(Some("unknown\n")), "UP");
        for s in ["down", "lowerlayerdown", "dormant", "notpresent"] {
            assert_eq!(state(Some(s)), "DOWN", "{s}");
        }
        assert_eq!(state(None), "UNKNOWN");
        // a name that is no link here, or cannot be one, is unknown
        assert_eq!(link_state(""), "UNKNOWN");
        assert_eq!(link_state("no-such-link0"), "UNKNOWN");
        assert_eq!(link_state("../lo"), "UNKNOWN");
    }
}
