//! Size reservations (§2.3; their own entity as in metal-api v0.36+): `amount` machines of a
//! size kept back for one project, in each partition listed. Wire shapes:
//! `v1.SizeReservationResponse` (the entity), `v1.SizeReservationCreateRequest`,
//! `v1.SizeReservationUpdateRequest`, `v1.SizeReservationListRequest` (find and usage filters)
//! and `v1.SizeReservationUsageResponse`.
//!
//! The rules here are pure: the entity's own validation (400), which reservations apply to an
//! allocation (§4.1 5d), the usage per partition and the reservation numbers of the partition
//! capacity (§4.14). Whether the referenced size, project and partitions exist is checked by
//! the app layer (422).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::allocation::Reservation;
use crate::error::{DomainError, DomainResult};

/// A size reservation as stored and as answered on the wire.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct SizeReservation {
    pub id: String,
    pub name: String,
    pub description: String,
    /// the size whose machines are reserved
    pub sizeid: String,
    /// the project the machines are kept for
    pub projectid: String,
    /// the partitions the reservation applies to; the amount applies to each
    pub partitionids: Vec<String>,
    /// how many machines are kept back per partition
    pub amount: i32,
    pub labels: BTreeMap<String, String>,
    pub created: Option<DateTime<Utc>>,
    pub changed: Option<DateTime<Utc>>,
}

/// Body of `PUT /v1/size/reservations`. An empty id gets a generated UUID.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct SizeReservationCreateRequest {
    pub id: String,
    pub name: Option<String>,
    pub description: Option<String>,
    pub sizeid: String,
    pub projectid: String,
    pub partitionids: Vec<String>,
    pub amount: i32,
    pub labels: BTreeMap<String, String>,
}

/// Body of `POST /v1/size/reservations`: absent fields keep their value; size and project
/// cannot change.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct SizeReservationUpdateRequest {
    pub id: String,
    pub name: Option<String>,
    pub description: Option<String>,
    pub partitionids: Option<Vec<String>>,
    pub amount: Option<i32>,
    pub labels: Option<BTreeMap<String, String>>,
}

/// Body of `POST /v1/size/reservations/find` and `/usage`: every given field must match; an
/// empty string is not a filter.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct SizeReservationListRequest {
    pub id: Option<String>,
    pub sizeid: Option<String>,
    pub projectid: Option<String>,
    pub partitionid: Option<String>,
}

/// One reservation in one of its partitions with what its project uses there
/// (`v1.SizeReservationUsageResponse`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct SizeReservationUsage {
    pub id: String,
    pub name: String,
    pub description: String,
    pub sizeid: String,
    pub partitionid: String,
    pub projectid: String,
    pub amount: i32,
    /// machines of the project that count against the reservation: min(amount, allocations)
    pub usedamount: i32,
    /// machines of the size the project holds in the partition
    pub projectallocations: i32,
    pub labels: BTreeMap<String, String>,
}

impl SizeReservationCreateRequest {
    /// Validates the request and builds the reservation (timestamps are set by the store).
    pub fn into_reservation(self) -> DomainResult<SizeReservation> {
        crate::misc::validate_id("size reservation", &self.id)?;
        let r = SizeReservation {
            id: self.id,
            name: self.name.unwrap_or_default(),
            description: self.description.unwrap_or_default(),
            sizeid: self.sizeid,
            projectid: self.projectid,
            partitionids: self.partitionids,
            amount: self.amount,
            labels: self.labels,
            created: None,
            changed: None,
        };
        r.validate()?;
        Ok(r)
    }
}

impl SizeReservationUpdateRequest {
    /// Applies the given fields to `r` and validates the result.
    pub fn apply(self, r: &mut SizeReservation) -> DomainResult<()> {
        if let Some(v) = self.name {
            r.name = v;
        }
        if let Some(v) = self.description {
            r.description = v;
        }
        if let Some(v) = self.partitionids {
            r.partitionids = v;
        }
        if let Some(v) = self.amount {
            r.amount = v;
        }
        if let Some(v) = self.labels {
            r.labels = v;
        }
        r.validate()
    }
}

fn given(filter: &Option<String>) -> Option<&str> {
    filter.as_deref().filter(|s| !s.is_empty())
}

impl SizeReservationListRequest {
    /// The filter value of `id`, if given.
    pub fn id(&self) -> Option<&str> {
        given(&self.id)
    }
    /// The filter value of `sizeid`, if given.
    pub fn sizeid(&self) -> Option<&str> {
        given(&self.sizeid)
    }
    /// The filter value of `projectid`, if given.
    pub fn projectid(&self) -> Option<&str> {
        given(&self.projectid)
    }
    /// The filter value of `partitionid`, if given.
    pub fn partitionid(&self) -> Option<&str> {
        given(&self.partitionid)
    }

    /// Whether a reservation passes every given filter.
    pub fn matches(&self, r: &SizeReservation) -> bool {
        self.id().is_none_or(|v| r.id == v)
            && self.sizeid().is_none_or(|v| r.sizeid == v)
            && self.projectid().is_none_or(|v| r.projectid == v)
            && self.partitionid().is_none_or(|p| r.applies_to(p))
    }
}

impl SizeReservation {
    /// The rules of the entity itself (400 naming the field): a positive amount, a size and a
    /// project, and at least one partition, each given once.
    pub fn validate(&self) -> DomainResult<()> {
        if self.amount <= 0 {
            return Err(DomainError::invalid(format!(
                "amount must be a positive integer, got {}",
                self.amount
            )));
        }
        if self.sizeid.is_empty() {
            return Err(DomainError::invalid("sizeid should not be empty"));
        }
        if self.projectid.is_empty() {
            return Err(DomainError::invalid("projectid should not be empty"));
        }
        if self.partitionids.is_empty() {
            return Err(DomainError::invalid(
                "partitionids: at least one partition id must be given",
            ));
        }
        let mut seen = BTreeSet::new();
        for p in &self.partitionids {
            if p.is_empty() {
                return Err(DomainError::invalid(
                    "partitionids: a partition id should not be empty",
                ));
            }
            if !seen.insert(p.as_str()) {
                return Err(DomainError::invalid(format!(
                    "partitionids: partition {p:?} is given more than once"
                )));
            }
        }
        Ok(())
    }

    /// Whether the reservation keeps machines in this partition.
    pub fn applies_to(&self, partition: &str) -> bool {
        self.partitionids.iter().any(|p| p == partition)
    }

    /// The amount as a count (amounts are validated positive).
    pub fn amount(&self) -> u64 {
        u64::try_from(self.amount).unwrap_or(0)
    }
}

/// How many allocated machines each project holds per partition and size.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Allocations(BTreeMap<(String, String, String), u64>);

impl Allocations {
    /// Counts `n` more machines of `project` in `partition` with `size`.
    pub fn add(&mut self, project: &str, partition: &str, size: &str, n: u64) {
        *self
            .0
            .entry((project.into(), partition.into(), size.into()))
            .or_default() += n;
    }

    /// The machines of `project` in `partition` with `size`.
    pub fn count(&self, project: &str, partition: &str, size: &str) -> u64 {
        self.0
            .get(&(project.into(), partition.into(), size.into()))
            .copied()
            .unwrap_or(0)
    }
}

/// The reservations an allocation of `size` in `partition` must respect, in a stable order
/// (by id), as the allocation decision takes them (§4.1 5d).
pub fn for_allocation(
    reservations: &[SizeReservation],
    size: &str,
    partition: &str,
) -> Vec<Reservation> {
    let mut applying: Vec<&SizeReservation> = reservations
        .iter()
        .filter(|r| r.sizeid == size && r.applies_to(partition))
        .collect();
    applying.sort_by(|a, b| a.id.cmp(&b.id));
    applying
        .into_iter()
        .map(|r| Reservation {
            project: r.projectid.clone(),
            amount: r.amount(),
        })
        .collect()
}

fn as_i32(n: u64) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// One usage row per reservation and partition (only `partition` when given), in the order
/// of `reservations`.
pub fn usage(
    reservations: &[SizeReservation],
    partition: Option<&str>,
    allocations: &Allocations,
) -> Vec<SizeReservationUsage> {
    let mut out = Vec::new();
    for r in reservations {
        for p in &r.partitionids {
            if partition.is_some_and(|want| want != p) {
                continue;
            }
            let held = allocations.count(&r.projectid, p, &r.sizeid);
            out.push(SizeReservationUsage {
                id: r.id.clone(),
                name: r.name.clone(),
                description: r.description.clone(),
                sizeid: r.sizeid.clone(),
                partitionid: p.clone(),
                projectid: r.projectid.clone(),
                amount: r.amount,
                usedamount: as_i32(held.min(r.amount())),
                projectallocations: as_i32(held),
                labels: r.labels.clone(),
            });
        }
    }
    out
}

/// The reservation numbers of one size in one partition (§4.14, v0.35).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReservedCapacity {
    /// sum of the amounts
    pub reservations: u64,
    /// sum over the reservations of min(machines of its project, amount)
    pub used: u64,
    /// `reservations - used`
    pub remaining: u64,
    /// the open reservations of projects other than the asking one (all projects when none
    /// asks): machines that are not free for the asker
    pub kept_back: u64,
}

/// Reservation numbers of `size` in `partition`; `project` is the project asking, whose own
/// open reservations are not kept back from it.
pub fn reserved_capacity(
    reservations: &[SizeReservation],
    partition: &str,
    size: &str,
    allocations: &Allocations,
    project: Option<&str>,
) -> ReservedCapacity {
    let mut c = ReservedCapacity::default();
    for r in reservations
        .iter()
        .filter(|r| r.sizeid == size && r.applies_to(partition))
    {
        let used = allocations
            .count(&r.projectid, partition, size)
            .min(r.amount());
        c.reservations += r.amount();
        c.used += used;
        if project != Some(r.projectid.as_str()) {
            c.kept_back += r.amount() - used;
        }
    }
    c.remaining = c.reservations - c.used;
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resv(id: &str, project: &str, partitions: &[&str], amount: i32) -> SizeReservation {
        SizeReservation {
            id: id.into(),
            sizeid: "c1".into(),
            projectid: project.into(),
            partitionids: partitions.iter().map(|p| p.to_string()).collect(),
            amount,
            ..Default::default()
        }
    }

    fn create(id: &str, partitions: &[&str], amount: i32) -> SizeReservationCreateRequest {
        SizeReservationCreateRequest {
            id: id.into(),
            sizeid: "c1".into(),
            projectid: "p1".into(),
            partitionids: partitions.iter().map(|p| p.to_string()).collect(),
            amount,
            ..Default::default()
        }
    }

    #[test]
    fn create_validates() {
        let ok = create("r1", &["fra", "ams"], 2).into_reservation().unwrap();
        assert_eq!(ok.partitionids, vec!["fra", "ams"]);
        assert_eq!(ok.name, "");
        let cases: Vec<(SizeReservationCreateRequest, &str)> = vec![
            (
                create("", &["fra"], 1),
                "size reservation id should not be empty",
            ),
            (
                create("a b", &["fra"], 1),
                "size reservation id \"a b\" must not contain whitespace, '/', '?', '#' or '%'",
            ),
            (
                create("r", &["fra"], 0),
                "amount must be a positive integer, got 0",
            ),
            (
                create("r", &["fra"], -3),
                "amount must be a positive integer, got -3",
            ),
            (
                SizeReservationCreateRequest {
                    sizeid: String::new(),
                    ..create("r", &["fra"], 1)
                },
                "sizeid should not be empty",
            ),
            (
                SizeReservationCreateRequest {
                    projectid: String::new(),
                    ..create("r", &["fra"], 1)
                },
                "projectid should not be empty",
            ),
            (
                create("r", &[], 1),
                "partitionids: at least one partition id must be given",
            ),
            (
                create("r", &["fra", ""], 1),
                "partitionids: a partition id should not be empty",
            ),
            (
                create("r", &["fra", "ams", "fra"], 1),
                "partitionids: partition \"fra\" is given more than once",
            ),
        ];
        for (req, want) in cases {
            let err = req.clone().into_reservation().unwrap_err();
            assert_eq!(err, DomainError::invalid(want), "{req:?}");
        }
    }

    #[test]
    fn update_applies_given_fields_and_validates() {
        let mut r = resv("r1", "p1", &["fra"], 1);
        r.name = "keep".into();
        SizeReservationUpdateRequest {
            id: "r1".into(),
            amount: Some(3),
            partitionids: Some(vec!["fra".into(), "ams".into()]),
            ..Default::default()
        }
        .apply(&mut r)
        .unwrap();
        assert_eq!(
            (r.amount, r.partitionids.len(), r.name.as_str()),
            (3, 2, "keep")
        );
        let cases = [
            (
                SizeReservationUpdateRequest {
                    amount: Some(0),
                    ..Default::default()
                },
                "amount must be a positive integer, got 0",
            ),
            (
                SizeReservationUpdateRequest {
                    partitionids: Some(vec![]),
                    ..Default::default()
                },
                "partitionids: at least one partition id must be given",
            ),
        ];
        for (req, want) in cases {
            let mut r = resv("r1", "p1", &["fra"], 1);
            assert_eq!(req.apply(&mut r), Err(DomainError::invalid(want)));
        }
    }

    #[test]
    fn list_request_filters() {
        let r = resv("r1", "p1", &["fra", "ams"], 1);
        let q = |id: &str, size: &str, project: &str, partition: &str| {
            let o = |s: &str| (!s.is_empty()).then(|| s.to_string());
            SizeReservationListRequest {
                id: o(id),
                sizeid: o(size),
                projectid: o(project),
                partitionid: o(partition),
            }
        };
        let cases = [
            (q("", "", "", ""), true),
            (q("r1", "c1", "p1", "ams"), true),
            (q("r2", "", "", ""), false),
            (q("", "c2", "", ""), false),
            (q("", "", "p2", ""), false),
            (q("", "", "", "ber"), false),
        ];
        for (req, want) in cases {
            assert_eq!(req.matches(&r), want, "{req:?}");
        }
        let empty = SizeReservationListRequest {
            id: Some(String::new()),
            ..Default::default()
        };
        assert!(empty.matches(&r), "an empty string is not a filter");
    }

    #[test]
    fn allocation_gets_the_applying_reservations_by_id() {
        let mut other_size = resv("a", "p9", &["fra"], 5);
        other_size.sizeid = "c2".into();
        let all = vec![
            resv("r2", "p2", &["fra"], 2),
            other_size,
            resv("r1", "p1", &["ams", "fra"], 1),
            resv("r3", "p3", &["ams"], 4),
        ];
        assert_eq!(
            for_allocation(&all, "c1", "fra"),
            vec![
                Reservation {
                    project: "p1".into(),
                    amount: 1
                },
                Reservation {
                    project: "p2".into(),
                    amount: 2
                },
            ]
        );
        assert!(for_allocation(&all, "c1", "ber").is_empty());
    }

    #[test]
    fn usage_rows_per_partition() {
        let all = vec![resv("r1", "p1", &["fra", "ams"], 2)];
        let mut a = Allocations::default();
        a.add("p1", "fra", "c1", 3);
        a.add("p1", "ams", "c2", 1);
        a.add("p2", "ams", "c1", 1);
        let rows = usage(&all, None, &a);
        let got: Vec<(&str, i32, i32, i32)> = rows
            .iter()
            .map(|u| {
                (
                    u.partitionid.as_str(),
                    u.amount,
                    u.usedamount,
                    u.projectallocations,
                )
            })
            .collect();
        assert_eq!(got, vec![("fra", 2, 2, 3), ("ams", 2, 0, 0)]);
        let rows = usage(&all, Some("ams"), &a);
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].partitionid, "ams");
    }

    #[test]
    fn capacity_numbers() {
        let all = vec![
            resv("r1", "p1", &["fra"], 2),
            resv("r2", "p2", &["fra", "ams"], 3),
        ];
        let mut a = Allocations::default();
        a.add("p1", "fra", "c1", 5);
        a.add("p2", "fra", "c1", 1);
        let cases = [
            (
                "fra",
                None,
                ReservedCapacity {
                    reservations: 5,
                    used: 3,
                    remaining: 2,
                    kept_back: 2,
                },
            ),
            (
                "fra",
                Some("p2"),
                ReservedCapacity {
                    reservations: 5,
                    used: 3,
                    remaining: 2,
                    kept_back: 0,
                },
            ),
            (
                "ams",
                Some("p1"),
                ReservedCapacity {
                    reservations: 3,
                    used: 0,
                    remaining: 3,
                    kept_back: 3,
                },
            ),
            ("ber", None, ReservedCapacity::default()),
        ];
        for (partition, project, want) in cases {
            assert_eq!(
                reserved_capacity(&all, partition, "c1", &a, project),
                want,
                "{partition} {project:?}"
            );
        }
    }
}
