//! Version constraints in Masterminds/semver v3 syntax: comparators `= != > < >= => <= =< ~ ~>
//! ^` (or none, meaning `=`) before a version that may use wildcards (`1.2.x`, `*`), AND-groups
//! separated by commas or spaces, `||` between groups, and hyphen ranges (`1.2 - 1.4.5`).
//! Also the strict shape check for constraints that are stored (§4.8).

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use super::{parse_number, split_suffix, Version};
use crate::error::{DomainError, DomainResult};

/// The operators of a comparator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Gt,
    Lt,
    Ge,
    Le,
    Tilde,
    Caret,
}

/// The operator spellings accepted in front of a version (the empty one is a bare version).
pub const OPERATORS: [&str; 12] = [
    "", "=", "!=", ">", "<", ">=", "=>", "<=", "=<", "~", "~>", "^",
];

fn op_from_text(text: &str) -> Option<Op> {
    Some(match text {
        "" | "=" => Op::Eq,
        "!=" => Op::Ne,
        ">" => Op::Gt,
        "<" => Op::Lt,
        ">=" | "=>" => Op::Ge,
        "<=" | "=<" => Op::Le,
        "~" | "~>" => Op::Tilde,
        "^" => Op::Caret,
        _ => return None,
    })
}

/// One `<op><version>` term; missing or wildcard parts (`x`, `X`, `*`) are `None`, and every
/// part after a wildcard is treated as a wildcard too.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Comparator {
    op: Op,
    op_text: String,
    orig: String,
    major: Option<u64>,
    minor: Option<u64>,
    patch: Option<u64>,
    pre: String,
}

enum Bound {
    Open,
    Incl(Version),
    Excl(Version),
}

impl Comparator {
    fn parse(op_text: &str, text: &str) -> Result<Self, String> {
        let op = op_from_text(op_text).ok_or_else(|| format!("unknown operator {op_text:?}"))?;
        let body = text.strip_prefix('v').unwrap_or(text);
        let (rest, _build) = split_suffix(body, '+')?;
        let (core, pre) = split_suffix(rest, '-')?;
        let parts: Vec<&str> = core.split('.').collect();
        if parts.len() > 3 {
            return Err(format!("{text:?} has more than three parts"));
        }
        let mut nums: [Option<u64>; 3] = [None; 3];
        let mut wild = false;
        for (slot, part) in nums.iter_mut().zip(&parts) {
            if matches!(*part, "x" | "X" | "*") {
                wild = true;
            } else {
                let n = parse_number(part)?;
                if !wild {
                    *slot = Some(n);
                }
            }
        }
        let [major, minor, patch] = nums;
        let orig = text.to_string();
        Ok(Self {
            op,
            op_text: op_text.to_string(),
            orig,
            major,
            minor,
            patch,
            pre,
        })
    }

    /// The version with wildcards filled by zero, keeping the prerelease.
    fn floor(&self) -> Version {
        Version {
            major: self.major.unwrap_or(0),
            minor: self.minor.unwrap_or(0),
            patch: self.patch.unwrap_or(0),
            pre: self.pre.clone(),
            build: String::new(),
        }
    }

    /// The first release above everything the wildcards of this comparator cover
    /// (`1.2.x` → 1.3.0, `1.x` → 2.0.0, `1.2.3` → the version itself as inclusive bound).
    fn wildcard_ceiling(&self) -> Bound {
        match (self.major, self.minor, self.patch) {
            (None, _, _) => Bound::Open,
            (Some(x), None, _) => bump(x, 0, 0, 0),
            (Some(x), Some(y), None) => bump(x, y, 1, 1),
            (Some(_), Some(_), Some(_)) => Bound::Incl(self.floor()),
        }
    }

    fn accepts(&self, v: &Version) -> bool {
        let (lower, upper) = match self.op {
            Op::Eq => (Bound::Incl(self.floor()), self.wildcard_ceiling()),
            Op::Ne => {
                let eq = Comparator {
                    op: Op::Eq,
                    ..self.clone()
                };
                return !eq.accepts(v);
            }
            Op::Gt => match self.wildcard_ceiling() {
                Bound::Open => return false,
                Bound::Incl(c) => (Bound::Excl(c), Bound::Open),
                Bound::Excl(c) => (Bound::Incl(c), Bound::Open),
            },
            Op::Ge => (Bound::Incl(self.floor()), Bound::Open),
            Op::Lt => (Bound::Open, Bound::Excl(self.floor())),
            Op::Le => (Bound::Open, self.wildcard_ceiling()),
            Op::Tilde => match (self.major, self.minor) {
                (None, _) => (Bound::Open, Bound::Open),
                (Some(x), None) => (Bound::Incl(self.floor()), bump(x, 0, 0, 0)),
                (Some(x), Some(y)) => (Bound::Incl(self.floor()), bump(x, y, 1, 1)),
            },
            Op::Caret => match (self.major, self.minor, self.patch) {
                (None, _, _) => (Bound::Open, Bound::Open),
                (Some(x), None, _) => (Bound::Incl(self.floor()), bump(x, 0, 0, 0)),
                (Some(x), _, _) if x > 0 => (Bound::Incl(self.floor()), bump(x, 0, 0, 0)),
                (Some(x), Some(y), None) => (Bound::Incl(self.floor()), bump(x, y, 1, 1)),
                (Some(x), Some(y), _) if y > 0 => (Bound::Incl(self.floor()), bump(x, y, 1, 1)),
                (Some(x), Some(y), Some(z)) => (Bound::Incl(self.floor()), bump(x, y, z, 2)),
            },
        };
        let above = match &lower {
            Bound::Open => true,
            Bound::Incl(b) => v.precedence(b) != Ordering::Less,
            Bound::Excl(b) => v.precedence(b) == Ordering::Greater,
        };
        let below = match &upper {
            Bound::Open => true,
            Bound::Incl(b) => v.precedence(b) != Ordering::Greater,
            Bound::Excl(b) => v.precedence(b) == Ordering::Less,
        };
        above && below
    }
}

/// The exclusive bound one above `x.y.z` at position `at` (0 major, 1 minor, 2 patch), lower
/// positions reset to 0. An overflowing part leaves the range open.
fn bump(x: u64, y: u64, z: u64, at: usize) -> Bound {
    let next = match at {
        0 => x.checked_add(1).map(|x| Version::new(x, 0, 0)),
        1 => y.checked_add(1).map(|y| Version::new(x, y, 0)),
        _ => z.checked_add(1).map(|z| Version::new(x, y, z)),
    };
    next.map_or(Bound::Open, Bound::Excl)
}

impl fmt::Display for Comparator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.op_text, self.orig)
    }
}

/// A version constraint: AND-groups of comparators (separated by commas or spaces) joined by
/// `||`. Displays the way Masterminds prints constraints (`>= 20.04` shows as `>=20.04`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Constraint {
    groups: Vec<Vec<Comparator>>,
}

impl Constraint {
    /// Parses a constraint such as `>= 1.2, < 2 || ~3.1`, `1.2.x`, `1.2 - 1.4` or `*`.
    pub fn parse(s: &str) -> DomainResult<Self> {
        let err =
            |why: String| DomainError::invalid(format!("invalid version constraint {s:?}: {why}"));
        let groups = s
            .split("||")
            .map(parse_group)
            .collect::<Result<Vec<_>, _>>()
            .map_err(err)?;
        Ok(Self { groups })
    }

    /// True when `v` satisfies one of the OR-groups.
    pub fn check(&self, v: &Version) -> bool {
        self.groups.iter().any(|group| {
            let prerelease_allowed = !v.is_prerelease()
                || group
                    .iter()
                    .any(|c| !c.pre.is_empty() && c.floor().core() == v.core());
            prerelease_allowed && group.iter().all(|c| c.accepts(v))
        })
    }
}

fn parse_group(group: &str) -> Result<Vec<Comparator>, String> {
    let tokens: Vec<&str> = group
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|t| !t.is_empty())
        .collect();
    if tokens.is_empty() {
        return Err("empty constraint".into());
    }
    let is_op_char = |c: char| "=!<>~^".contains(c);
    let mut out = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        let token = tokens[i];
        let split = token.find(|c: char| !is_op_char(c)).unwrap_or(token.len());
        let (op, mut version) = token.split_at(split);
        i += 1;
        if version.is_empty() {
            version = tokens
                .get(i)
                .ok_or_else(|| format!("operator {op:?} lacks a version"))?;
            i += 1;
        }
        if op.is_empty() && tokens.get(i) == Some(&"-") {
            let upper = tokens
                .get(i + 1)
                .ok_or("hyphen range lacks an upper version")?;
            out.push(Comparator::parse(">=", version)?);
            out.push(Comparator::parse("<=", upper)?);
            i += 2;
        } else {
            out.push(Comparator::parse(op, version)?);
        }
    }
    Ok(out)
}

impl fmt::Display for Constraint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (gi, group) in self.groups.iter().enumerate() {
            if gi > 0 {
                f.write_str(" || ")?;
            }
            for (ci, c) in group.iter().enumerate() {
                if ci > 0 {
                    f.write_str(" ")?;
                }
                write!(f, "{c}")?;
            }
        }
        Ok(())
    }
}

impl FromStr for Constraint {
    type Err = DomainError;
    fn from_str(s: &str) -> DomainResult<Self> {
        Self::parse(s)
    }
}

/// The strict shape of a stored constraint (§4.8): `*`, a bare version, or
/// `<op> <version>` with exactly one space. Anything else is a 400.
pub fn validate_stored_constraint(s: &str) -> DomainResult<Constraint> {
    let well_formed = match s.split_once(' ') {
        _ if s == "*" => true,
        None => Version::parse(s).is_ok(),
        Some((op, version)) => {
            !op.is_empty() && OPERATORS.contains(&op) && Version::parse(version).is_ok()
        }
    };
    if !well_formed {
        return Err(DomainError::invalid(format!(
            "version constraint {s:?} is invalid: it must be \"*\", a version, or \"<operator> <version>\" \
             with operator one of = != > < >= => <= =< ~ ~> ^"
        )));
    }
    Constraint::parse(s)
}

/// The version a stored constraint is written against (`>= 20.04` → 20.4.0); `None` for `*`.
pub fn stored_constraint_version(s: &str) -> Option<Version> {
    let text = s.rsplit(' ').next().unwrap_or(s);
    let text = text.trim_start_matches(|c: char| "=!<>~^".contains(c));
    Version::parse(text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        Version::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn check(c: &str, version: &str) -> bool {
        Constraint::parse(c)
            .unwrap_or_else(|e| panic!("{c}: {e}"))
            .check(&v(version))
    }

    #[test]
    fn satisfaction_table() {
        // (constraint, version, expected)
        let cases = [
            ("*", "0.0.1", true),
            ("*", "20.4.20201026", true),
            ("1.2.3", "1.2.3", true),
            ("1.2.3", "1.2.4", false),
            ("=1.2.3", "1.2.3+build", true),
            ("= 20.04", "20.4.0", true),
            ("20.04", "20.4.20201026", true), // partial bare version is a wildcard range
            ("20.04", "20.5.0", false),
            ("1.2.x", "1.2.9", true),
            ("1.2.X", "1.3.0", false),
            ("1.*", "1.9.9", true),
            ("1.x", "2.0.0", false),
            ("!=1.2.3", "1.2.3", false),
            ("!=1.2.3", "1.2.4", true),
            ("!=1.2", "1.2.7", false),
            ("!=1.2", "1.3.0", true),
            (">1.2.3", "1.2.4", true),
            (">1.2.3", "1.2.3", false),
            (">1.2", "1.2.9", false),
            (">1.2", "1.3.0", true),
            (">1", "1.9.0", false),
            (">1", "2.0.0", true),
            ("<1.2.3", "1.2.2", true),
            ("<1.2.3", "1.2.3", false),
            ("<1.2", "1.1.99", true),
            ("<1.2", "1.2.0", false),
            (">=1.2.3", "1.2.3", true),
            ("=>1.2.3", "1.2.2", false),
            (">= 2.0.20210912", "2.0.20210912", true),
            (">= 2.0.20210912", "2.0.20201126", false),
            ("<=1.2.3", "1.2.3", true),
            ("=<1.2.3", "1.2.4", false),
            ("<=1.2", "1.2.99", true),
            ("<=1.2", "1.3.0", false),
            ("<= 12.0", "13.0.20260131", false),
            ("~1.2.3", "1.2.3", true),
            ("~1.2.3", "1.2.99", true),
            ("~1.2.3", "1.3.0", false),
            ("~1.2.3", "1.2.2", false),
            ("~>1.2", "1.2.0", true),
            ("~1.2", "1.3.0", false),
            ("~1", "1.0.0", true),
            ("~1", "1.99.0", true),
            ("~1", "2.0.0", false),
            ("~20.4.0", "20.4.20201026", true),
            ("~20.4.0", "20.10.0", false),
            ("~20.0.0", "20.4.0", false),
            ("^1.2.3", "1.2.3", true),
            ("^1.2.3", "1.9.0", true),
            ("^1.2.3", "2.0.0", false),
            ("^1.2.3", "1.2.2", false),
            ("^0.2.3", "0.2.9", true),
            ("^0.2.3", "0.3.0", false),
            ("^0.0.3", "0.0.3", true),
            ("^0.0.3", "0.0.4", false),
            ("^0.0", "0.0.9", true),
            ("^0.0", "0.1.0", false),
            ("^0", "0.9.0", true),
            ("^0", "1.0.0", false),
            ("^1", "1.5.0", true),
            ("^*", "7.0.0", true),
            ("~*", "7.0.0", true),
            (">*", "7.0.0", false),
            ("v1.2.3", "1.2.3", true),
        ];
        for (c, version, want) in cases {
            assert_eq!(check(c, version), want, "{c:?} against {version}");
        }
    }

    #[test]
    fn and_or_and_hyphen_ranges() {
        let cases = [
            (">= 1.2, < 2", "1.9.0", true),
            (">= 1.2, < 2", "2.0.0", false),
            (">=1.2 <2", "1.1.0", false),
            (">= 1.2 < 2", "1.5.0", true),
            ("<1.0 || >=2.0", "0.9.0", true),
            ("<1.0 || >=2.0", "1.5.0", false),
            ("<1.0||>=2.0", "2.1.0", true),
            ("1.2 - 1.4.5", "1.2.0", true),
            ("1.2 - 1.4.5", "1.4.5", true),
            ("1.2 - 1.4.5", "1.4.6", false),
            ("1.2 - 1.4", "1.4.9", true), // <=1.4 covers all of 1.4.x
            ("1.2 - 1.4", "1.1.9", false),
        ];
        for (c, version, want) in cases {
            assert_eq!(check(c, version), want, "{c:?} against {version}");
        }
    }

    #[test]
    fn prereleases_need_a_comparator_with_the_same_core() {
        let cases = [
            ("~1.2.3", "1.3.0-rc1", false),
            ("^1.2.3", "1.5.0-rc1", false),
            (">=1.2.3", "1.2.4-rc1", false),
            ("*", "1.0.0-rc1", false),
            (">=1.2.3-rc1", "1.2.3-rc2", true),
            (">=1.2.3-rc2", "1.2.3-rc1", false),
            (">=1.2.3-rc1", "1.2.4-rc1", false),
            (">=1.2.3-rc1", "1.2.4", true),
            (">=1.2.3-rc1 <1.3", "1.2.3", true),
            ("1.2.3-rc1", "1.2.3-rc1", true),
            ("=1.2.3-rc1", "1.2.3", false),
            ("<1.2.3 || >=1.2.4-beta", "1.2.4-rc", true),
        ];
        for (c, version, want) in cases {
            assert_eq!(check(c, version), want, "{c:?} against {version}");
        }
    }

    #[test]
    fn rejects_malformed_constraints() {
        for c in [
            "", " ", ">=", ">= ", "1.2 ||", "|| 1.2", ">== 1.2", "!1.2", "<> 1.2", "~~1",
            "1.2.3.4", "abc", ">=a.b", "1.2 -", "1.2 - ", "=1.2.3-", "1..2", "> =1.2",
        ] {
            assert!(Constraint::parse(c).is_err(), "{c:?} should be rejected");
        }
    }

    #[test]
    fn displays_like_masterminds() {
        let cases = [
            (">= 20.04", ">=20.04"),
            ("20.04", "20.04"),
            ("*", "*"),
            ("~1.2, < 2 || ^3", "~1.2 <2 || ^3"),
            ("1.2 - 1.4", ">=1.2 <=1.4"),
            ("=> 2.0.20210912", "=>2.0.20210912"),
        ];
        for (input, shown) in cases {
            assert_eq!(
                Constraint::parse(input).unwrap().to_string(),
                shown,
                "{input}"
            );
        }
    }

    #[test]
    fn huge_parts_do_not_overflow() {
        let max = u64::MAX;
        assert!(check(&format!("~{max}"), &format!("{max}.3.0")));
        assert!(check(&format!("^{max}.1.1"), &format!("{max}.9.0")));
        assert!(!check(&format!(">{max}"), &format!("{max}.9.0")));
    }

    #[test]
    fn stored_constraint_shape() {
        let ok = [
            "*",
            "20.04",
            "2.0.20201126",
            "v1",
            "= 1.2.3",
            "!= 1.2",
            "> 1",
            "< 1",
            ">= 20.04",
            "=> 20.04",
            "<= 20.04",
            "=< 20.04",
            "~ 1.2",
            "~> 1.2",
            "^ 1.2",
            ">= 1.2.3-rc1",
        ];
        for c in ok {
            assert!(
                validate_stored_constraint(c).is_ok(),
                "{c:?} should be accepted"
            );
        }
        let bad = [
            "",
            "**",
            ">=20.04",
            ">=  20.04",
            ">= 20.04 < 21",
            "1.2.x",
            "** 1.2",
            "gt 1.2",
            " 1.2",
            "1.2 ",
            ">= *",
            ">= 1.2, <2",
            "1.2 || 2.0",
            "ubuntu",
        ];
        for c in bad {
            let err = validate_stored_constraint(c).expect_err(c);
            assert!(
                matches!(err, DomainError::InvalidArgument(_)),
                "{c:?}: {err:?}"
            );
        }
    }

    #[test]
    fn base_version_of_stored_constraints() {
        assert_eq!(
            stored_constraint_version(">= 20.04"),
            Some(Version::new(20, 4, 0))
        );
        assert_eq!(
            stored_constraint_version("2.0.20201126"),
            Some(Version::new(2, 0, 20201126))
        );
        assert_eq!(
            stored_constraint_version("~1.2"),
            Some(Version::new(1, 2, 0))
        );
        assert_eq!(stored_constraint_version("*"), None);
    }
}
