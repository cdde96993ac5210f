//! Lenient semantic versions and version constraints in the syntax metal-stack stores
//! (Masterminds/semver v3).
//!
//! Image ids end in a version that is only loosely semver (`ubuntu-20.04`,
//! `firewall-ubuntu-2.0.20201126`), and size-image constraints and filesystem layouts hold
//! constraints such as `>= 20.04` or `~1.2`. This module owns parsing both, ordering versions
//! by semver precedence, deciding whether a version satisfies a constraint, and the strict
//! shape check for constraints that are stored (§4.8 of the spec).
//!
//! Prerelease versions satisfy a constraint only when a comparator of the same AND-group
//! carries a prerelease on the same `major.minor.patch`, so `~1.2.3` does not admit
//! `1.3.0-rc1`, while `>= 1.3.0-rc0` does.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{DomainError, DomainResult};

mod constraint;

pub use constraint::{
    stored_constraint_version, validate_stored_constraint, Constraint, OPERATORS,
};

/// A semantic version, parsed leniently: `20.04` is 20.4.0, `1` is 1.0.0, a leading `v` and
/// leading zeros are accepted.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Version {
    pub major: u64,
    pub minor: u64,
    pub patch: u64,
    /// Dot-separated prerelease identifiers (the part after `-`), empty when none.
    pub pre: String,
    /// Build metadata (the part after `+`), empty when none. Ignored by precedence.
    pub build: String,
}

impl Version {
    /// A release version without prerelease or build metadata.
    pub fn new(major: u64, minor: u64, patch: u64) -> Self {
        Self {
            major,
            minor,
            patch,
            pre: String::new(),
            build: String::new(),
        }
    }

    /// Parses a version leniently (missing minor or patch are 0, optional `v` prefix).
    pub fn parse(s: &str) -> DomainResult<Self> {
        let err = |why: String| DomainError::invalid(format!("invalid version {s:?}: {why}"));
        let body = s.strip_prefix('v').unwrap_or(s);
        let (rest, build) = split_suffix(body, '+').map_err(err)?;
        let (core, pre) = split_suffix(rest, '-').map_err(err)?;
        let parts: Vec<&str> = core.split('.').collect();
        if parts.len() > 3 {
            return Err(err("more than three numeric parts".into()));
        }
        let mut nums = [0u64; 3];
        for (slot, part) in nums.iter_mut().zip(&parts) {
            *slot = parse_number(part).map_err(err)?;
        }
        Ok(Self {
            major: nums[0],
            minor: nums[1],
            patch: nums[2],
            pre,
            build,
        })
    }

    /// True when the version carries a prerelease (`1.2.3-rc1`).
    pub fn is_prerelease(&self) -> bool {
        !self.pre.is_empty()
    }

    /// Semver precedence: numeric core, then prerelease (a release ranks above its
    /// prereleases); build metadata is ignored.
    pub fn precedence(&self, other: &Self) -> Ordering {
        (self.major, self.minor, self.patch)
            .cmp(&(other.major, other.minor, other.patch))
            .then_with(|| compare_prerelease(&self.pre, &other.pre))
    }

    pub(crate) fn core(&self) -> (u64, u64, u64) {
        (self.major, self.minor, self.patch)
    }
}

/// Total order: semver precedence, then build metadata as text (so that `Ord` agrees with
/// `Eq`; use [`Version::precedence`] for the semver-only comparison).
impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        self.precedence(other)
            .then_with(|| self.build.cmp(&other.build))
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)?;
        if !self.pre.is_empty() {
            write!(f, "-{}", self.pre)?;
        }
        if !self.build.is_empty() {
            write!(f, "+{}", self.build)?;
        }
        Ok(())
    }
}

impl FromStr for Version {
    type Err = DomainError;
    fn from_str(s: &str) -> DomainResult<Self> {
        Self::parse(s)
    }
}

impl Serialize for Version {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Version {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Splits `s` at the first `sep` into the head and validated dot-separated identifiers.
pub(crate) fn split_suffix(s: &str, sep: char) -> Result<(&str, String), String> {
    match s.split_once(sep) {
        None => Ok((s, String::new())),
        Some((head, tail)) => {
            let valid = tail.split('.').all(|id| {
                !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            });
            if valid {
                Ok((head, tail.to_string()))
            } else {
                Err(format!("invalid identifiers {tail:?} after {sep:?}"))
            }
        }
    }
}

pub(crate) fn parse_number(part: &str) -> Result<u64, String> {
    if part.is_empty() || !part.chars().all(|c| c.is_ascii_digit()) {
        return Err(format!("{part:?} is not a number"));
    }
    part.parse().map_err(|_| format!("{part:?} is too large"))
}

fn compare_prerelease(a: &str, b: &str) -> Ordering {
    match (a.is_empty(), b.is_empty()) {
        (true, true) => return Ordering::Equal,
        (true, false) => return Ordering::Greater,
        (false, true) => return Ordering::Less,
        (false, false) => {}
    }
    let mut left = a.split('.');
    let mut right = b.split('.');
    loop {
        match (left.next(), right.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) => {
                let ord = compare_identifier(x, y);
                if ord != Ordering::Equal {
                    return ord;
                }
            }
        }
    }
}

fn compare_identifier(x: &str, y: &str) -> Ordering {
    let numeric = |s: &str| s.chars().all(|c| c.is_ascii_digit());
    match (numeric(x), numeric(y)) {
        (true, true) => {
            let (x, y) = (x.trim_start_matches('0'), y.trim_start_matches('0'));
            x.len().cmp(&y.len()).then_with(|| x.cmp(y))
        }
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        (false, false) => x.cmp(y),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        Version::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn parses_leniently() {
        let cases = [
            ("20.04", (20, 4, 0, "", "")),
            ("2.0.20201126", (2, 0, 20201126, "", "")),
            ("1", (1, 0, 0, "", "")),
            ("v1.2.3", (1, 2, 3, "", "")),
            ("01.002.0003", (1, 2, 3, "", "")),
            ("1.2.3-rc1", (1, 2, 3, "rc1", "")),
            ("1.2.3-rc-1.2", (1, 2, 3, "rc-1.2", "")),
            ("1.2.3+build.7", (1, 2, 3, "", "build.7")),
            (
                "1.2-beta+exp.sha.5114f85",
                (1, 2, 0, "beta", "exp.sha.5114f85"),
            ),
        ];
        for (input, (major, minor, patch, pre, build)) in cases {
            let got = v(input);
            assert_eq!(
                (got.major, got.minor, got.patch),
                (major, minor, patch),
                "{input}"
            );
            assert_eq!(
                (got.pre.as_str(), got.build.as_str()),
                (pre, build),
                "{input}"
            );
        }
    }

    #[test]
    fn rejects_malformed() {
        for input in [
            "",
            "v",
            "1.",
            ".1",
            "1..2",
            "1.2.3.4",
            "a.b",
            "1.2.x",
            "1.2.3-",
            "1.2.3+",
            "1.2.3-rc..1",
            "1.2.3-rc_1",
            "-1",
            "1.2.3 ",
            "99999999999999999999",
        ] {
            assert!(
                Version::parse(input).is_err(),
                "{input:?} should be rejected"
            );
        }
    }

    #[test]
    fn displays_normalized() {
        assert_eq!(v("20.04").to_string(), "20.4.0");
        assert_eq!(v("v1.2.3-rc.1+b5").to_string(), "1.2.3-rc.1+b5");
    }

    #[test]
    fn orders_by_semver_precedence() {
        // Each entry ranks strictly below the next (semver.org §11 example plus numeric parts).
        let ascending = [
            "1.0.0-alpha",
            "1.0.0-alpha.1",
            "1.0.0-alpha.beta",
            "1.0.0-beta",
            "1.0.0-beta.2",
            "1.0.0-beta.11",
            "1.0.0-rc.1",
            "1.0.0",
            "1.0.1",
            "1.2.0",
            "1.10.0",
            "2.0.20201126",
            "2.0.20210912",
            "20.4.0",
        ];
        for pair in ascending.windows(2) {
            assert_eq!(
                v(pair[0]).precedence(&v(pair[1])),
                Ordering::Less,
                "{pair:?}"
            );
            assert!(v(pair[0]) < v(pair[1]), "{pair:?}");
        }
    }

    #[test]
    fn precedence_ignores_build_but_ord_stays_total() {
        let (a, b) = (v("1.0.0+a"), v("1.0.0+b"));
        assert_eq!(a.precedence(&b), Ordering::Equal);
        assert_ne!(a, b);
        assert_eq!(a.cmp(&b), Ordering::Less);
        assert_eq!(v("20.04").precedence(&v("20.4.0")), Ordering::Equal);
    }

    #[test]
    fn long_numeric_prerelease_identifiers_compare_numerically() {
        assert_eq!(
            v("1.0.0-123456789012345678901").precedence(&v("1.0.0-99999999999999999999")),
            Ordering::Greater
        );
        assert_eq!(v("1.0.0-01").precedence(&v("1.0.0-1")), Ordering::Equal);
    }

    #[test]
    fn serde_roundtrip_as_string() {
        let json = serde_json::to_string(&v("20.04")).unwrap();
        assert_eq!(json, "\"20.4.0\"");
        let back: Version = serde_json::from_str(&json).unwrap();
        assert_eq!(back, Version::new(20, 4, 0));
        assert!(serde_json::from_str::<Version>("\"nope\"").is_err());
    }
}
