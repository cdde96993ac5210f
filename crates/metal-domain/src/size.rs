//! Machine sizes: the `Size` entity (wire shape of `v1.SizeResponse`) with its constraints,
//! the create/update/suggest requests, validation and the overlap rule between sizes (§4.6),
//! and matching a machine's hardware to exactly one size (§4.5, the v0.30 rules).
//!
//! Reservations are not part of this module.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{DomainError, DomainResult};

/// The size a machine gets when no size, or more than one, matches its hardware.
pub const UNKNOWN_SIZE_ID: &str = "unknown";

/// What a size constraint measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum ConstraintType {
    /// Number of CPU cores.
    Cores,
    /// Main memory in bytes.
    Memory,
    /// Sum of all disk sizes in bytes.
    Storage,
    /// Number of GPUs of a model matching the identifier glob.
    Gpu,
}

impl ConstraintType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Cores => "cores",
            Self::Memory => "memory",
            Self::Storage => "storage",
            Self::Gpu => "gpu",
        }
    }
}

/// One constraint of a size (`v1.SizeConstraint`): the value of `kind` must lie in `[min, max]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SizeConstraint {
    #[serde(rename = "type")]
    pub kind: ConstraintType,
    #[serde(default)]
    pub min: u64,
    #[serde(default)]
    pub max: u64,
    /// Glob (`*`, `?`) on the GPU model; required for gpu constraints.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub identifier: String,
}

impl SizeConstraint {
    pub fn new(kind: ConstraintType, min: u64, max: u64) -> Self {
        Self {
            kind,
            min,
            max,
            identifier: String::new(),
        }
    }

    fn in_range(&self, value: u64) -> bool {
        self.min <= value && value <= self.max
    }

    fn overlaps(&self, other: &Self) -> bool {
        self.kind == other.kind
            && self.identifier == other.identifier
            && self.min <= other.max
            && other.min <= self.max
    }
}

/// A machine size (`v1.SizeResponse`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Size {
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub constraints: Vec<SizeConstraint>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub created: Option<DateTime<Utc>>,
    #[serde(default)]
    pub changed: Option<DateTime<Utc>>,
}

/// Body of `PUT /v1/size`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct SizeCreateRequest {
    pub id: String,
    pub name: Option<String>,
    pub description: Option<String>,
    pub constraints: Vec<SizeConstraint>,
    pub labels: BTreeMap<String, String>,
}

/// Body of `POST /v1/size`: only the given fields change.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct SizeUpdateRequest {
    pub id: String,
    pub name: Option<String>,
    pub description: Option<String>,
    pub constraints: Option<Vec<SizeConstraint>>,
    pub labels: Option<BTreeMap<String, String>>,
}

/// Body of `POST /v1/size/suggest`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct SizeSuggestRequest {
    #[serde(rename = "machineID")]
    pub machine_id: String,
}

/// The hardware facts size matching looks at, taken from a machine's hardware report.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MachineHardwareSummary {
    pub cpu_cores: u64,
    /// Bytes.
    pub memory: u64,
    /// `(name, size in bytes)` of every disk.
    pub disks: Vec<(String, u64)>,
    /// The model of every GPU, one entry per card.
    pub gpus: Vec<String>,
}

impl MachineHardwareSummary {
    /// Sum of all disk sizes in bytes.
    pub fn storage(&self) -> u64 {
        self.disks
            .iter()
            .fold(0u64, |sum, (_, size)| sum.saturating_add(*size))
    }

    /// Number of GPUs per model, ordered by model.
    pub fn gpu_counts(&self) -> BTreeMap<&str, u64> {
        let mut counts = BTreeMap::new();
        for model in &self.gpus {
            *counts.entry(model.as_str()).or_insert(0u64) += 1;
        }
        counts
    }
}

/// Shell-like glob: `*` matches any sequence (also empty), `?` one character, all else is
/// literal (`[` included, so PCI model strings such as `AD102GL [RTX 6000]` match verbatim).
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let mut backtrack: Option<(usize, usize)> = None;
    while ti < t.len() {
        match p.get(pi) {
            Some('*') => {
                backtrack = Some((pi, ti));
                pi += 1;
            }
            Some(&c) if c == '?' || c == t[ti] => {
                pi += 1;
                ti += 1;
            }
            _ => match backtrack {
                Some((star, matched)) => {
                    pi = star + 1;
                    ti = matched + 1;
                    backtrack = Some((star, matched + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

fn validate_id(id: &str) -> DomainResult<()> {
    if id.is_empty() {
        return Err(DomainError::invalid("size id must not be empty"));
    }
    if id == UNKNOWN_SIZE_ID {
        return Err(DomainError::invalid(format!(
            "size id {UNKNOWN_SIZE_ID:?} is reserved"
        )));
    }
    Ok(())
}

impl Size {
    /// Builds and validates a new size from a create request.
    pub fn from_create(req: &SizeCreateRequest) -> DomainResult<Self> {
        let size = Self {
            id: req.id.clone(),
            name: req.name.clone().unwrap_or_default(),
            description: req.description.clone().unwrap_or_default(),
            constraints: req.constraints.clone(),
            labels: req.labels.clone(),
            created: None,
            changed: None,
        };
        size.validate()?;
        Ok(size)
    }

    /// Applies the given fields of an update and validates the result; nothing changes
    /// when it fails.
    pub fn apply_update(&mut self, req: &SizeUpdateRequest) -> DomainResult<()> {
        let mut next = self.clone();
        if let Some(name) = &req.name {
            next.name = name.clone();
        }
        if let Some(description) = &req.description {
            next.description = description.clone();
        }
        if let Some(constraints) = &req.constraints {
            next.constraints = constraints.clone();
        }
        if let Some(labels) = &req.labels {
            next.labels = labels.clone();
        }
        next.validate()?;
        *self = next;
        Ok(())
    }

    /// §4.6: a usable id, `max ≥ min`, one constraint per type, gpu names its model.
    pub fn validate(&self) -> DomainResult<()> {
        validate_id(&self.id)?;
        let mut seen = Vec::new();
        for c in &self.constraints {
            let kind = c.kind.as_str();
            if c.max < c.min {
                return Err(DomainError::invalid(format!(
                    "size constraint type {kind:?} has max {} lower than min {}",
                    c.max, c.min
                )));
            }
            if seen.contains(&c.kind) {
                return Err(DomainError::invalid(format!(
                    "size constraint type {kind:?} is given more than once"
                )));
            }
            seen.push(c.kind);
            if c.kind == ConstraintType::Gpu && c.identifier.is_empty() {
                return Err(DomainError::invalid(format!(
                    "size constraint type {kind:?} requires an identifier"
                )));
            }
        }
        Ok(())
    }

    /// The asymmetric overlap of §4.6: `other` has constraints, and for every constraint of
    /// `self` it has one of the same type, with the same identifier and an intersecting range.
    /// A size without constraints overlaps nothing (it never matches a machine).
    pub fn overlaps(&self, other: &Size) -> bool {
        !self.constraints.is_empty()
            && !other.constraints.is_empty()
            && self.constraints.iter().all(|mine| {
                let theirs: Vec<&SizeConstraint> = other
                    .constraints
                    .iter()
                    .filter(|c| c.kind == mine.kind)
                    .collect();
                !theirs.is_empty() && theirs.iter().all(|c| c.overlaps(mine))
            })
    }

    /// The first size among `others` (other than `self`) that `self` overlaps with.
    pub fn overlapping<'a>(&self, others: &'a [Size]) -> Option<&'a Size> {
        others.iter().find(|o| o.id != self.id && self.overlaps(o))
    }

    /// 400 "size overlaps with <id>" when `self` overlaps one of `others`.
    pub fn check_overlap(&self, others: &[Size]) -> DomainResult<()> {
        match self.overlapping(others) {
            Some(o) => Err(DomainError::invalid(format!("size overlaps with {}", o.id))),
            None => Ok(()),
        }
    }

    /// True when the hardware fulfils every constraint (and there is at least one).
    pub fn matches(&self, hw: &MachineHardwareSummary) -> bool {
        !self.constraints.is_empty()
            && self.constraints.iter().all(|c| match c.kind {
                ConstraintType::Cores => c.in_range(hw.cpu_cores),
                ConstraintType::Memory => c.in_range(hw.memory),
                ConstraintType::Storage => c.in_range(hw.storage()),
                ConstraintType::Gpu => hw
                    .gpu_counts()
                    .into_iter()
                    .any(|(model, count)| glob_match(&c.identifier, model) && c.in_range(count)),
            })
    }
}

/// The one size whose constraints the hardware fulfils; `None` when no size or more than one
/// does (the machine then gets the size [`UNKNOWN_SIZE_ID`]).
pub fn match_size<'a>(sizes: &'a [Size], hw: &MachineHardwareSummary) -> Option<&'a Size> {
    let mut matching = sizes.iter().filter(|s| s.matches(hw));
    match (matching.next(), matching.next()) {
        (Some(size), None) => Some(size),
        _ => None,
    }
}

/// The constraints of a size made to measure for this hardware (`POST /v1/size/suggest`):
/// cores, memory and storage with min = max, and one gpu constraint per model.
pub fn suggest(hw: &MachineHardwareSummary) -> Vec<SizeConstraint> {
    let mut out = vec![
        SizeConstraint::new(ConstraintType::Cores, hw.cpu_cores, hw.cpu_cores),
        SizeConstraint::new(ConstraintType::Memory, hw.memory, hw.memory),
        SizeConstraint::new(ConstraintType::Storage, hw.storage(), hw.storage()),
    ];
    for (model, count) in hw.gpu_counts() {
        out.push(SizeConstraint {
            kind: ConstraintType::Gpu,
            min: count,
            max: count,
            identifier: model.to_string(),
        });
    }
    out
}

#[cfg(test)]
mod tests;
