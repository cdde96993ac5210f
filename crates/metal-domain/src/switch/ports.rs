//! Switch port names across operating systems. Cumulus names the front panel ports `swpN`
//! (from 1), or `swpNsM` when a port is broken out into four lanes; SONiC names the lanes
//! `EthernetL` (from 0). Both map to a lane number (`swpN` = lane 4(N-1), `swpNsM` = lane
//! 4(N-1)+M, `EthernetL` = lane L), as metal-stack maps them: `swp1` is `Ethernet0`, `swp2`
//! is `Ethernet4`, `swp2s1` is `Ethernet5`. This is how twins with different OSes are compared
//! and how a switch's connections migrate to a switch of another OS.

use std::collections::BTreeMap;

use crate::error::{DomainError, DomainResult};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Naming {
    Cumulus,
    Sonic,
}

fn naming(vendor: &str) -> Option<Naming> {
    match vendor.to_ascii_lowercase().as_str() {
        "cumulus" => Some(Naming::Cumulus),
        "sonic" => Some(Naming::Sonic),
        _ => None,
    }
}

fn number(port: &str, digits: &str) -> DomainResult<u32> {
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(DomainError::unprocessable(format!(
            "invalid port name {port}: cannot read the lane number"
        )));
    }
    digits.parse().map_err(|_| {
        DomainError::unprocessable(format!("invalid port name {port}: lane number too large"))
    })
}

fn lane(port: &str, from: Naming) -> DomainResult<u32> {
    match from {
        Naming::Sonic => {
            let digits = port.strip_prefix("Ethernet").ok_or_else(|| {
                DomainError::unprocessable(format!(
                    "invalid port name {port}, expected the prefix 'Ethernet'"
                ))
            })?;
            number(port, digits)
        }
        Naming::Cumulus => {
            let rest = port.strip_prefix("swp").ok_or_else(|| {
                DomainError::unprocessable(format!(
                    "invalid port name {port}, expected the prefix 'swp'"
                ))
            })?;
            let (front, sub) = match rest.split_once('s') {
                Some((f, s)) => (number(port, f)?, number(port, s)?),
                None => (number(port, rest)?, 0),
            };
            if front == 0 {
                return Err(DomainError::unprocessable(format!(
                    "invalid port name {port}: Cumulus numbers ports from swp1"
                )));
            }
            if sub > 3 {
                return Err(DomainError::unprocessable(format!(
                    "invalid port name {port}: a port breaks out into the lanes s0 to s3"
                )));
            }
            (front - 1)
                .checked_mul(4)
                .and_then(|l| l.checked_add(sub))
                .ok_or_else(|| {
                    DomainError::unprocessable(format!(
                        "invalid port name {port}: lane number too large"
                    ))
                })
        }
    }
}

/// The name of a lane; a Cumulus port whose other lanes are present is broken out (`swpNs0`).
fn name(lane: u32, to: Naming, lanes: &[u32]) -> String {
    match to {
        Naming::Sonic => format!("Ethernet{lane}"),
        Naming::Cumulus => {
            let broken_out =
                !lane.is_multiple_of(4) || lanes.iter().any(|&l| l != lane && l / 4 == lane / 4);
            if broken_out {
                format!("swp{}s{}", lane / 4 + 1, lane % 4)
            } else {
                format!("swp{}", lane / 4 + 1)
            }
        }
    }
}

/// The names `ports` (all ports of one switch, named as `from_vendor` names them) have on a
/// switch of `to_vendor`, as a map from old to new name. The same or an unset vendor keeps the
/// names; an unknown vendor or a malformed name is an error (422).
pub fn translate(
    ports: &[&str],
    from_vendor: &str,
    to_vendor: &str,
) -> DomainResult<BTreeMap<String, String>> {
    let identity = || {
        ports
            .iter()
            .map(|p| (p.to_string(), p.to_string()))
            .collect()
    };
    if from_vendor.is_empty() || to_vendor.is_empty() || from_vendor.eq_ignore_ascii_case(to_vendor)
    {
        return Ok(identity());
    }
    let (Some(from), Some(to)) = (naming(from_vendor), naming(to_vendor)) else {
        return Err(DomainError::unprocessable(format!(
            "cannot translate port names from switch os {from_vendor} to {to_vendor}"
        )));
    };
    let lanes = ports
        .iter()
        .map(|p| lane(p, from))
        .collect::<DomainResult<Vec<u32>>>()?;
    Ok(ports
        .iter()
        .zip(&lanes)
        .map(|(p, &l)| (p.to_string(), name(l, to, &lanes)))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(ports: &[&str], from: &str, to: &str) -> Vec<(String, String)> {
        translate(ports, from, to).unwrap().into_iter().collect()
    }

    #[test]
    fn cumulus_to_sonic_and_back() {
        let cumulus = ["swp1", "swp2s0", "swp2s1", "swp2s3", "swp32"];
        let to_sonic = pairs(&cumulus, "Cumulus", "SONiC");
        let expect = [
            ("swp1", "Ethernet0"),
            ("swp2s0", "Ethernet4"),
            ("swp2s1", "Ethernet5"),
            ("swp2s3", "Ethernet7"),
            ("swp32", "Ethernet124"),
        ];
        assert_eq!(
            to_sonic,
            expect
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect::<Vec<_>>()
        );
        let sonic: Vec<&str> = expect.iter().map(|(_, s)| *s).collect();
        let back = translate(&sonic, "sonic", "cumulus").unwrap();
        for (c, s) in expect {
            assert_eq!(back[s], c, "{s}");
        }
    }

    #[test]
    fn same_or_unset_vendor_keeps_names() {
        for (from, to) in [("SONiC", "sonic"), ("", "SONiC"), ("Cumulus", "")] {
            assert_eq!(
                pairs(&["anything", "swp1"], from, to),
                [
                    ("anything".to_string(), "anything".to_string()),
                    ("swp1".into(), "swp1".into())
                ]
            );
        }
    }

    #[test]
    fn bad_names_and_vendors() {
        for (ports, from, to, msg) in [
            (
                vec!["Ethernet-1"],
                "SONiC",
                "Cumulus",
                "invalid port name Ethernet-1: cannot read the lane number",
            ),
            (
                vec!["eth0"],
                "Cumulus",
                "SONiC",
                "invalid port name eth0, expected the prefix 'swp'",
            ),
            (
                vec!["swp1s"],
                "Cumulus",
                "SONiC",
                "invalid port name swp1s: cannot read the lane number",
            ),
            (
                vec!["swp99999999999"],
                "Cumulus",
                "SONiC",
                "invalid port name swp99999999999: lane number too large",
            ),
            (
                vec!["swp0"],
                "Cumulus",
                "SONiC",
                "invalid port name swp0: Cumulus numbers ports from swp1",
            ),
            (
                vec!["swp1s4"],
                "Cumulus",
                "SONiC",
                "invalid port name swp1s4: a port breaks out into the lanes s0 to s3",
            ),
            (
                vec!["swp1"],
                "Cumulus",
                "OS10",
                "cannot translate port names from switch os Cumulus to OS10",
            ),
        ] {
            assert_eq!(
                translate(&ports, from, to),
                Err(DomainError::unprocessable(msg))
            );
        }
    }
}
