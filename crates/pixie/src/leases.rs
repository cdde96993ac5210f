//! Address ranges and the lease table of full DHCP mode: allocation, expiry, and persistence
//! to a JSON file written atomically (temp file + rename) and reloaded at start.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::dhcp::Mac;

/// How long an offered address stays reserved for the client that was offered it.
pub const OFFER_HOLD_SECS: u64 = 60;

/// One `--dhcp-range`: `<first>-<last>/<prefixlen>[,router=<ip>][,dns=<ip>[:<ip>...]]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Range {
    pub first: Ipv4Addr,
    pub last: Ipv4Addr,
    pub prefix: u8,
    pub router: Option<Ipv4Addr>,
    pub dns: Vec<Ipv4Addr>,
}

impl Range {
    pub fn netmask(&self) -> Ipv4Addr {
        Ipv4Addr::from(
            u32::MAX
                .checked_shl(32 - u32::from(self.prefix))
                .unwrap_or(0),
        )
    }

    /// Whether `ip` is in the subnet of the range (not only between first and last).
    pub fn subnet_contains(&self, ip: Ipv4Addr) -> bool {
        let m = u32::from(self.netmask());
        u32::from(ip) & m == u32::from(self.first) & m
    }

    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        (u32::from(self.first)..=u32::from(self.last)).contains(&u32::from(ip))
    }
}

impl FromStr for Range {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = |why: &str| {
            format!("dhcp range {s:?}: {why} (want <first>-<last>/<prefixlen>[,router=<ip>][,dns=<ip>])")
        };
        let mut parts = s.split(',');
        let head = parts.next().unwrap_or_default();
        let (ips, prefix) = head.split_once('/').ok_or_else(|| bad("no /prefixlen"))?;
        let (first, last) = ips.split_once('-').ok_or_else(|| bad("no first-last"))?;
        let first: Ipv4Addr = first.parse().map_err(|_| bad("bad first address"))?;
        let last: Ipv4Addr = last.parse().map_err(|_| bad("bad last address"))?;
        let prefix: u8 = prefix.parse().map_err(|_| bad("bad prefix length"))?;
        if !(1..=30).contains(&prefix) {
            return Err(bad("prefix length must be 1..30"));
        }
        let mut r = Range {
            first,
            last,
            prefix,
            router: None,
            dns: Vec::new(),
        };
        if u32::from(first) > u32::from(last) || !r.subnet_contains(last) {
            return Err(bad("first and last must be ordered and in one subnet"));
        }
        for p in parts {
            match p.split_once('=') {
                Some(("router", v)) => r.router = Some(v.parse().map_err(|_| bad("bad router"))?),
                Some(("dns", v)) => {
                    for d in v.split(':') {
                        r.dns.push(d.parse().map_err(|_| bad("bad dns"))?);
                    }
                }
                _ => return Err(bad("unknown parameter")),
            }
        }
        Ok(r)
    }
}

/// One lease (or offer, or declined address).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    pub ip: Ipv4Addr,
    /// `None` for an address a client declined (in use by someone unknown).
    pub mac: Option<Mac>,
    /// Unix seconds.
    pub expires: u64,
    pub bound: bool,
}

/// The lease table, keyed by address.
#[derive(Debug, Default)]
pub struct Leases {
    by_ip: HashMap<Ipv4Addr, Lease>,
    file: Option<PathBuf>,
}

/// Why the lease file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum LeaseFileError {
    #[error("reading lease file {path}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("lease file {path} is not a JSON lease list")]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("writing lease file {path}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl Leases {
    /// The table persisted in `file` (loaded now if it exists; expired entries are dropped).
    pub fn load(file: Option<PathBuf>, now: u64) -> Result<Self, LeaseFileError> {
        let mut l = Leases {
            by_ip: HashMap::new(),
            file,
        };
        if let Some(path) = &l.file {
            match std::fs::read(path) {
                Ok(b) => {
                    let list: Vec<Lease> =
                        serde_json::from_slice(&b).map_err(|source| LeaseFileError::Parse {
                            path: path.clone(),
                            source,
                        })?;
                    l.by_ip = list
                        .into_iter()
                        .filter(|x| x.bound && x.expires > now)
                        .map(|x| (x.ip, x))
                        .collect();
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => {
                    return Err(LeaseFileError::Read {
                        path: path.clone(),
                        source,
                    })
                }
            }
        }
        Ok(l)
    }

    /// Writes the bound leases atomically.
    pub fn save(&self) -> Result<(), LeaseFileError> {
        let Some(path) = &self.file else {
            return Ok(());
        };
        let mut list: Vec<&Lease> = self.by_ip.values().filter(|l| l.bound).collect();
        list.sort_by_key(|l| l.ip);
        let tmp = path.with_extension("tmp");
        let write = || -> std::io::Result<()> {
            let body = serde_json::to_vec_pretty(&list).map_err(std::io::Error::other)?;
            std::fs::write(&tmp, body)?;
            std::fs::rename(&tmp, path)
        };
        write().map_err(|source| LeaseFileError::Write {
            path: path.clone(),
            source,
        })
    }

    fn live(&self, ip: Ipv4Addr, now: u64) -> Option<&Lease> {
        self.by_ip.get(&ip).filter(|l| l.expires > now)
    }

    /// The current address of `mac` in `range`, if any.
    pub fn of_mac(&self, mac: Mac, range: &Range, now: u64) -> Option<&Lease> {
        self.by_ip
            .values()
            .find(|l| l.mac == Some(mac) && l.expires > now && range.contains(l.ip))
    }

    /// Whether `ip` is free for `mac` (unused, expired, or already its own).
    pub fn free_for(&self, ip: Ipv4Addr, mac: Mac, now: u64) -> bool {
        self.live(ip, now).is_none_or(|l| l.mac == Some(mac))
    }

    /// Picks an address for `mac`: its current one, the requested one if free, or the first
    /// free one of the range.
    pub fn pick(
        &self,
        mac: Mac,
        range: &Range,
        requested: Option<Ipv4Addr>,
        now: u64,
    ) -> Option<Ipv4Addr> {
        if let Some(l) = self.of_mac(mac, range, now) {
            return Some(l.ip);
        }
        if let Some(r) = requested.filter(|r| range.contains(*r) && self.free_for(*r, mac, now)) {
            return Some(r);
        }
        (u32::from(range.first)..=u32::from(range.last))
            .map(Ipv4Addr::from)
            .find(|ip| self.live(*ip, now).is_none())
    }

    /// Records an offer (held for [`OFFER_HOLD_SECS`]) or a bound lease of `ip` in `range`,
    /// replacing the client's other address in that range: a client has one address per
    /// subnet. Its addresses in other ranges stay: with a segment relayed by several relays, a
    /// late copy of a DISCOVER through another relay must not free the address the client was
    /// just given (that address went to the next client, and two machines had it).
    pub fn put(&mut self, ip: Ipv4Addr, mac: Mac, range: &Range, expires: u64, bound: bool) {
        self.by_ip
            .retain(|k, l| *k == ip || l.mac != Some(mac) || !range.contains(*k));
        self.by_ip.insert(
            ip,
            Lease {
                ip,
                mac: Some(mac),
                expires,
                bound,
            },
        );
    }

    /// Forgets the lease of `mac` on `ip` (RELEASE, or a client that chose another server).
    pub fn release(&mut self, ip: Ipv4Addr, mac: Mac) -> bool {
        if self.by_ip.get(&ip).is_some_and(|l| l.mac == Some(mac)) {
            self.by_ip.remove(&ip);
            return true;
        }
        false
    }

    /// Marks an address a client found in use (DECLINE) as unavailable until `until`.
    pub fn decline(&mut self, ip: Ipv4Addr, until: u64) {
        self.by_ip.insert(
            ip,
            Lease {
                ip,
                mac: None,
                expires: until,
                bound: true,
            },
        );
    }

    pub fn get(&self, ip: Ipv4Addr) -> Option<&Lease> {
        self.by_ip.get(&ip)
    }

    pub fn len(&self) -> usize {
        self.by_ip.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_ip.is_empty()
    }
}

/// Seconds since the Unix epoch.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range() -> Range {
        "10.0.0.10-10.0.0.12/24,router=10.0.0.1,dns=10.0.0.2:10.0.0.3"
            .parse()
            .unwrap()
    }

    fn mac(n: u8) -> Mac {
        Mac([2, 0, 0, 0, 0, n])
    }

    #[test]
    fn parses_ranges() {
        let r = range();
        assert_eq!(r.first, Ipv4Addr::new(10, 0, 0, 10));
        assert_eq!(r.netmask(), Ipv4Addr::new(255, 255, 255, 0));
        assert_eq!(r.router, Some(Ipv4Addr::new(10, 0, 0, 1)));
        assert_eq!(r.dns.len(), 2);
        assert!(r.subnet_contains(Ipv4Addr::new(10, 0, 0, 200)));
        assert!(!r.contains(Ipv4Addr::new(10, 0, 0, 200)));
        for bad in [
            "10.0.0.10-10.0.0.12",
            "10.0.0.12-10.0.0.10/24",
            "10.0.0.10-10.0.1.12/24",
            "10.0.0.10-10.0.0.12/24,gw=1.2.3.4",
            "10.0.0.10-10.0.0.12/33",
        ] {
            assert!(bad.parse::<Range>().is_err(), "{bad}");
        }
    }

    #[test]
    fn allocates_sticky_requested_and_first_free() {
        let r = range();
        let mut l = Leases::default();
        assert_eq!(l.pick(mac(1), &r, None, 100), Some(r.first));
        l.put(r.first, mac(1), &r, 160, false);
        assert_eq!(l.pick(mac(1), &r, None, 100), Some(r.first));
        let want = Ipv4Addr::new(10, 0, 0, 12);
        assert_eq!(l.pick(mac(2), &r, Some(want), 100), Some(want));
        assert_eq!(
            l.pick(mac(2), &r, Some(r.first), 100),
            Some(Ipv4Addr::new(10, 0, 0, 11))
        );
        l.put(Ipv4Addr::new(10, 0, 0, 11), mac(2), &r, 1000, true);
        l.decline(want, 1000);
        assert_eq!(l.pick(mac(3), &r, None, 100), None, "range exhausted");
        assert_eq!(
            l.pick(mac(3), &r, None, 200),
            Some(r.first),
            "offer expired"
        );
        assert!(l.release(Ipv4Addr::new(10, 0, 0, 11), mac(2)));
        assert!(!l.release(Ipv4Addr::new(10, 0, 0, 11), mac(2)));
    }

    #[test]
    fn persists_bound_leases_and_reloads_them() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("leases.json");
        let mut l = Leases::load(Some(path.clone()), 0).unwrap();
        let r = range();
        l.put(Ipv4Addr::new(10, 0, 0, 10), mac(1), &r, 1000, true);
        l.put(Ipv4Addr::new(10, 0, 0, 11), mac(2), &r, 1000, false);
        l.put(Ipv4Addr::new(10, 0, 0, 12), mac(3), &r, 50, true);
        l.save().unwrap();
        assert!(!path.with_extension("tmp").exists());
        let back = Leases::load(Some(path.clone()), 100).unwrap();
        assert_eq!(back.len(), 1, "offers and expired leases are not kept");
        let lease = back.get(Ipv4Addr::new(10, 0, 0, 10)).unwrap();
        assert_eq!(lease.mac, Some(mac(1)));
        assert!(lease.bound);
        std::fs::write(&path, "nonsense").unwrap();
        assert!(matches!(
            Leases::load(Some(path), 0),
            Err(LeaseFileError::Parse { .. })
        ));
    }
}
