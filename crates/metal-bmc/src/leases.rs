//! The BMC network's DHCP leases, from ISC dhcpd's lease file: which BMC (MAC) holds which
//! address right now.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDateTime, Utc};
use ipnet::IpNet;

/// One lease block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub ip: std::net::IpAddr,
    pub mac: String,
    pub starts: DateTime<Utc>,
    /// `None`: `ends never;`
    pub ends: Option<DateTime<Utc>>,
}

/// `<weekday> YYYY/MM/DD HH:MM:SS` (UTC) or `never`; `epoch <n>` too.
fn parse_time(v: &str) -> Option<Option<DateTime<Utc>>> {
    let v = v.trim();
    if v == "never" {
        return Some(None);
    }
    if let Some(n) = v.strip_prefix("epoch ") {
        return Some(DateTime::from_timestamp(n.trim().parse().ok()?, 0));
    }
    let (_, rest) = v.split_once(' ')?;
    let t = NaiveDateTime::parse_from_str(rest.trim(), "%Y/%m/%d %H:%M:%S").ok()?;
    Some(Some(t.and_utc()))
}

/// A lease block being read: address, MAC, starts, ends.
type Partial = (
    String,
    Option<String>,
    Option<DateTime<Utc>>,
    Option<Option<DateTime<Utc>>>,
);

/// Every complete lease block of the file, in file order. Incomplete or malformed blocks are
/// skipped (logged), as metal-bmc does.
pub fn parse(text: &str) -> Vec<Lease> {
    let mut out = Vec::new();
    let mut current: Option<Partial> = None;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("lease ") {
            let ip = rest.trim_end_matches('{').trim().to_string();
            current = Some((ip, None, None, None));
            continue;
        }
        if line == "}" {
            if let Some((ip, mac, starts, ends)) = current.take() {
                match (ip.parse(), mac, starts, ends) {
                    (Ok(ip), Some(mac), Some(starts), Some(ends)) => out.push(Lease {
                        ip,
                        mac,
                        starts,
                        ends,
                    }),
                    _ => tracing::warn!(lease = ip, "skipping an incomplete lease"),
                }
            }
            continue;
        }
        let Some(c) = current.as_mut() else { continue };
        let stmt = line.trim_end_matches(';');
        if let Some(v) = stmt.strip_prefix("starts ") {
            c.2 = parse_time(v).flatten();
        } else if let Some(v) = stmt.strip_prefix("ends ") {
            c.3 = parse_time(v);
        } else if let Some(v) = stmt.strip_prefix("hardware ethernet ") {
            c.1 = Some(v.trim().to_ascii_lowercase());
        }
    }
    out
}

/// The leases in force at `now`, the newest per MAC, inside `allowed` and not of an ignored
/// MAC.
pub fn active(
    leases: Vec<Lease>,
    now: DateTime<Utc>,
    allowed: &[IpNet],
    ignore_macs: &[String],
) -> Vec<Lease> {
    let mut newest: HashMap<String, Lease> = HashMap::new();
    for l in leases {
        if l.ends.is_some_and(|e| e <= now) {
            continue;
        }
        if !allowed.is_empty() && !allowed.iter().any(|n| n.contains(&l.ip)) {
            continue;
        }
        if ignore_macs.iter().any(|m| m.eq_ignore_ascii_case(&l.mac)) {
            continue;
        }
        match newest.get(&l.mac) {
            Some(o) if o.starts > l.starts => {}
            _ => {
                newest.insert(l.mac.clone(), l);
            }
        }
    }
    let mut out: Vec<Lease> = newest.into_values().collect();
    out.sort_by_key(|l| l.ip);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"
# The format of this file is documented in the dhcpd.leases(5) manual page.
lease 10.0.0.5 {
  starts 3 2026/11/18 10:00:00;
  ends 3 2026/11/18 22:00:00;
  cltt 3 2026/11/18 10:00:00;
  binding state active;
  hardware ethernet AA:BB:CC:00:00:01;
}
lease 10.0.0.6 {
  starts 6 2026/11/21 10:00:00;
  ends 6 2026/11/21 22:00:00;
  hardware ethernet aa:bb:cc:00:00:01;
}
lease 10.0.0.7 {
  starts 6 2026/11/21 10:00:00;
  ends never;
  hardware ethernet aa:bb:cc:00:00:02;
}
lease 10.0.0.8 {
  starts 6 2026/11/21 10:00:00;
  ends 6 2026/11/21 22:00:00;
}
lease 192.168.1.9 {
  starts 6 2026/11/21 10:00:00;
  ends 6 2026/11/21 22:00:00;
  hardware ethernet aa:bb:cc:00:00:09;
}
"#;

    #[test]
    fn newest_active_lease_per_mac_inside_the_allowed_networks() {
        let now = "2026-11-21T12:00:00Z".parse().unwrap();
        let all = parse(FILE);
        assert_eq!(all.len(), 4, "the lease without MAC is skipped");
        let allowed = vec!["10.0.0.0/24".parse().unwrap()];
        let a = active(all.clone(), now, &allowed, &[]);
        let ips: Vec<String> = a.iter().map(|l| l.ip.to_string()).collect();
        assert_eq!(ips, ["10.0.0.6", "10.0.0.7"]);
        let a = active(all, now, &[], &["AA:BB:CC:00:00:02".into()]);
        let ips: Vec<String> = a.iter().map(|l| l.ip.to_string()).collect();
        assert_eq!(ips, ["10.0.0.6", "192.168.1.9"]);
    }
}
