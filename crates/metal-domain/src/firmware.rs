//! Firmware files for machines' BIOS and BMC (`/v1/firmware`): where a file belongs (kind,
//! vendor, board, revision, as metal-stack keys it: `kind/lower(vendor)/UPPER(board)/revision`),
//! the checks of the key's parts, and the listing answer `kind → vendor → board → [revision]`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{DomainError, DomainResult};

/// What a firmware file updates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FirmwareKind {
    Bios,
    Bmc,
}

impl FirmwareKind {
    pub const ALL: [FirmwareKind; 2] = [FirmwareKind::Bios, FirmwareKind::Bmc];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Bios => "bios",
            Self::Bmc => "bmc",
        }
    }

    /// `bios` or `bmc`; anything else is a 400 naming the field.
    pub fn parse(s: &str) -> DomainResult<Self> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| DomainError::invalid(format!("kind must be bios or bmc, got {s:?}")))
    }
}

/// Where one firmware file is kept.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FirmwareKey {
    pub kind: FirmwareKind,
    /// lower case
    pub vendor: String,
    /// upper case
    pub board: String,
    pub revision: String,
}

/// A part of a key must be usable as one path segment of a file or object name.
fn segment(field: &str, v: &str) -> DomainResult<()> {
    let bad = v.is_empty()
        || v == "."
        || v == ".."
        || v.len() > 255
        || v.chars().any(|c| c == '/' || c == '\\' || c.is_control());
    if bad {
        return Err(DomainError::invalid(format!(
            "{field} {v:?} must be a non-empty name without '/', '\\' or control characters"
        )));
    }
    Ok(())
}

impl FirmwareKey {
    /// The key of a file as given in a request: vendor in lower case, board in upper case.
    pub fn new(kind: &str, vendor: &str, board: &str, revision: &str) -> DomainResult<Self> {
        let kind = FirmwareKind::parse(kind)?;
        segment("vendor", vendor)?;
        segment("board", board)?;
        segment("revision", revision)?;
        Ok(Self {
            kind,
            vendor: vendor.to_lowercase(),
            board: board.to_uppercase(),
            revision: revision.to_string(),
        })
    }

    /// The relative path (or object name) of the file: `kind/vendor/board/revision`.
    pub fn path(&self) -> String {
        format!(
            "{}/{}/{}/{}",
            self.kind.as_str(),
            self.vendor,
            self.board,
            self.revision
        )
    }

    /// The key of a stored path; `None` for a path that is not one.
    pub fn from_path(path: &str) -> Option<Self> {
        let mut parts = path.split('/');
        let (k, v, b, r) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let key = Self::new(k, v, b, r).ok()?;
        (key.vendor == v && key.board == b).then_some(key)
    }
}

/// Revisions per board (`v1.BoardRevisions`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BoardRevisions {
    #[serde(rename = "BoardRevisions", default)]
    pub board_revisions: BTreeMap<String, Vec<String>>,
}

/// Boards per vendor (`v1.VendorRevisions`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VendorRevisions {
    #[serde(rename = "VendorRevisions", default)]
    pub vendor_revisions: BTreeMap<String, BoardRevisions>,
}

/// Answer of `GET /v1/firmware`: kind → vendor → board → revisions (`v1.FirmwaresResponse`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FirmwaresResponse {
    /// list of firmwares per board per vendor per kind
    #[serde(default)]
    pub revisions: BTreeMap<String, VendorRevisions>,
}

/// The filters of a listing; empty means any. Vendor and board compare as stored (lower and
/// upper case).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FirmwareFilter {
    pub kind: Option<FirmwareKind>,
    pub vendor: Option<String>,
    pub board: Option<String>,
}

impl FirmwareFilter {
    /// The filter of the query parameters `kind`, `vendor` and `board`.
    pub fn new(
        kind: Option<&str>,
        vendor: Option<&str>,
        board: Option<&str>,
    ) -> DomainResult<Self> {
        fn given(v: Option<&str>) -> Option<&str> {
            v.filter(|v| !v.is_empty())
        }
        Ok(Self {
            kind: given(kind).map(FirmwareKind::parse).transpose()?,
            vendor: given(vendor).map(str::to_lowercase),
            board: given(board).map(str::to_uppercase),
        })
    }

    /// Narrowed to a machine's board as its BMC reported it (FRU board manufacturer and part
    /// number); `None` when the machine reported no board, so nothing can be for it.
    pub fn for_board(mut self, board_mfg: &str, board_part_number: &str) -> Option<Self> {
        if board_mfg.is_empty() || board_part_number.is_empty() {
            return None;
        }
        self.vendor = Some(board_mfg.to_lowercase());
        self.board = Some(board_part_number.to_uppercase());
        Some(self)
    }

    pub fn matches(&self, k: &FirmwareKey) -> bool {
        self.kind.is_none_or(|kind| kind == k.kind)
            && self.vendor.as_ref().is_none_or(|v| *v == k.vendor)
            && self.board.as_ref().is_none_or(|b| *b == k.board)
    }
}

/// The listing of the stored keys that match, revisions sorted.
pub fn listing<'a>(
    keys: impl IntoIterator<Item = &'a FirmwareKey>,
    f: &FirmwareFilter,
) -> FirmwaresResponse {
    let mut out = FirmwaresResponse::default();
    for k in keys.into_iter().filter(|k| f.matches(k)) {
        out.revisions
            .entry(k.kind.as_str().to_string())
            .or_default()
            .vendor_revisions
            .entry(k.vendor.clone())
            .or_default()
            .board_revisions
            .entry(k.board.clone())
            .or_default()
            .push(k.revision.clone());
    }
    for v in out.revisions.values_mut() {
        for b in v.vendor_revisions.values_mut() {
            for revs in b.board_revisions.values_mut() {
                revs.sort();
                revs.dedup();
            }
        }
    }
    out
}

/// Body of `POST /v1/machine/update-firmware/{id}` (`v1.MachineUpdateFirmwareRequest`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct MachineUpdateFirmwareRequest {
    /// the firmware kind, i.e. [bios|bmc] (an enum in the document: openapi_rules)
    pub kind: String,
    /// the update revision
    pub revision: String,
    /// a description why the machine has been updated
    pub description: String,
}

/// What a machine's BMC reported about its board and the firmware it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InstalledFirmware<'a> {
    pub board_mfg: &'a str,
    pub board_part_number: &'a str,
    pub bios_version: &'a str,
    pub bmc_version: &'a str,
}

/// The file a firmware update of a machine flashes (§4.15): `kind/lower(board
/// manufacturer)/UPPER(board part number)/revision`. A malformed kind or revision is a 400; a
/// machine whose BMC reported no board, or that already runs the revision, a 422. Whether the
/// file exists is the caller's check (the store is not the domain's).
pub fn update_key(
    machine_id: &str,
    r: &MachineUpdateFirmwareRequest,
    installed: InstalledFirmware<'_>,
) -> DomainResult<FirmwareKey> {
    let kind = FirmwareKind::parse(&r.kind)?;
    if r.revision.is_empty() {
        return Err(DomainError::invalid("revision is required"));
    }
    segment("revision", &r.revision)?;
    if installed.board_mfg.is_empty() || installed.board_part_number.is_empty() {
        return Err(DomainError::unprocessable(format!(
            "machine {machine_id} has no board information (FRU board manufacturer and part \
             number) from its BMC yet, so no firmware can be chosen for it"
        )));
    }
    let current = match kind {
        FirmwareKind::Bios => installed.bios_version,
        FirmwareKind::Bmc => installed.bmc_version,
    };
    if current == r.revision {
        return Err(DomainError::unprocessable(format!(
            "machine {machine_id} already has {} revision {current}",
            kind.as_str()
        )));
    }
    // the board comes from the machine's BMC, not from the request: a name that cannot be a
    // file's is the machine's state (422), as no board at all is
    for (field, v) in [
        ("board manufacturer", installed.board_mfg),
        ("board part number", installed.board_part_number),
    ] {
        if let Err(e) = segment(field, v) {
            return Err(DomainError::unprocessable(format!(
                "machine {machine_id} as its BMC reports it: {e}, so no firmware file can be named after it"
            )));
        }
    }
    FirmwareKey::new(
        kind.as_str(),
        installed.board_mfg,
        installed.board_part_number,
        &r.revision,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(k: &str, v: &str, b: &str, r: &str) -> FirmwareKey {
        FirmwareKey::new(k, v, b, r).unwrap()
    }

    #[test]
    fn a_board_that_cannot_name_a_file_is_the_machines_state() {
        let r = MachineUpdateFirmwareRequest {
            kind: "bios".into(),
            revision: "2.0".into(),
            ..Default::default()
        };
        let installed = |mfg| InstalledFirmware {
            board_mfg: mfg,
            board_part_number: "X11",
            bios_version: "1.0",
            bmc_version: "1.0",
        };
        let e = update_key("m1", &r, installed("Super/micro")).unwrap_err();
        assert!(matches!(e, DomainError::Unprocessable(_)), "{e:?}");
        assert!(e.to_string().contains("board manufacturer"), "{e}");
        let k = update_key("m1", &r, installed("Supermicro")).unwrap();
        assert_eq!(k.path(), "bios/supermicro/X11/2.0");
    }

    #[test]
    fn keys_are_normalized_and_checked() {
        let k = key("bios", "Supermicro", "x11dpt-b", "3.4");
        assert_eq!(k.path(), "bios/supermicro/X11DPT-B/3.4");
        assert_eq!(FirmwareKey::from_path(&k.path()), Some(k));
        // (kind, vendor, board, revision, message part)
        let bad = [
            ("uefi", "v", "b", "1", "kind must be bios or bmc"),
            ("bios", "", "b", "1", "vendor"),
            ("bios", "v", "a/b", "1", "board"),
            ("bmc", "v", "b", "..", "revision"),
            ("bmc", "v", "b", "1\n", "revision"),
        ];
        for (k, v, b, r, want) in bad {
            let e = FirmwareKey::new(k, v, b, r).unwrap_err();
            assert!(matches!(e, DomainError::InvalidArgument(_)), "{e:?}");
            assert!(e.to_string().contains(want), "{e}");
        }
        for path in [
            "bios/v/B",
            "bios/V/B/1",
            "bios/v/b/1",
            "x/v/B/1",
            "bios/v/B/1/2",
        ] {
            assert_eq!(FirmwareKey::from_path(path), None, "{path}");
        }
    }

    #[test]
    fn listing_groups_and_filters() {
        let keys = [
            key("bios", "supermicro", "X11", "2.0"),
            key("bios", "supermicro", "X11", "1.0"),
            key("bmc", "supermicro", "X11", "7.1"),
            key("bios", "dell", "R640", "1.2"),
        ];
        let all = listing(&keys, &FirmwareFilter::default());
        assert_eq!(
            serde_json::to_value(&all).unwrap(),
            serde_json::json!({"revisions": {
                "bios": {"VendorRevisions": {
                    "dell": {"BoardRevisions": {"R640": ["1.2"]}},
                    "supermicro": {"BoardRevisions": {"X11": ["1.0", "2.0"]}}}},
                "bmc": {"VendorRevisions": {"supermicro": {"BoardRevisions": {"X11": ["7.1"]}}}}
            }})
        );
        // (kind, vendor, board, number of revisions)
        let cases = [
            (Some("bmc"), None, None, 1),
            (None, Some("SuperMicro"), None, 3),
            (None, None, Some("r640"), 1),
            (Some("bios"), Some("dell"), Some("x11"), 0),
        ];
        for (k, v, b, n) in cases {
            let f = FirmwareFilter::new(k, v, b).unwrap();
            let got = listing(&keys, &f);
            let count: usize = got
                .revisions
                .values()
                .flat_map(|v| v.vendor_revisions.values())
                .flat_map(|b| b.board_revisions.values())
                .map(Vec::len)
                .sum();
            assert_eq!(count, n, "{k:?} {v:?} {b:?}");
        }
        assert!(FirmwareFilter::new(Some("uefi"), None, None).is_err());
    }

    #[test]
    fn a_machine_sees_its_board_only() {
        let f = FirmwareFilter::default()
            .for_board("Supermicro", "x11dpt-b")
            .unwrap();
        assert!(f.matches(&key("bios", "supermicro", "X11DPT-B", "1")));
        assert!(!f.matches(&key("bios", "supermicro", "X12", "1")));
        assert_eq!(FirmwareFilter::default().for_board("", "x"), None);
    }

    #[test]
    fn update_keys_follow_the_board_and_skip_the_installed_revision() {
        let installed = InstalledFirmware {
            board_mfg: "Supermicro",
            board_part_number: "x11dpt-b",
            bios_version: "3.3",
            bmc_version: "1.70",
        };
        let req = |kind: &str, revision: &str| MachineUpdateFirmwareRequest {
            kind: kind.into(),
            revision: revision.into(),
            description: "update".into(),
        };
        let k = update_key("m1", &req("bios", "3.4"), installed).unwrap();
        assert_eq!(k.path(), "bios/supermicro/X11DPT-B/3.4");
        let k = update_key("m1", &req("bmc", "3.3"), installed).unwrap();
        assert_eq!(k.path(), "bmc/supermicro/X11DPT-B/3.3");
        let no_board = InstalledFirmware {
            board_part_number: "",
            ..installed
        };
        // (request, installed, 400?, message part)
        let bad = [
            (
                req("uefi", "1"),
                installed,
                true,
                "kind must be bios or bmc",
            ),
            (req("bios", ""), installed, true, "revision is required"),
            (req("bios", "../1"), installed, true, "revision"),
            (
                req("bios", "3.3"),
                installed,
                false,
                "already has bios revision 3.3",
            ),
            (
                req("bmc", "1.70"),
                installed,
                false,
                "already has bmc revision 1.70",
            ),
            (req("bios", "3.4"), no_board, false, "no board information"),
        ];
        for (r, inst, invalid, want) in bad {
            let e = update_key("m1", &r, inst).unwrap_err();
            assert_eq!(
                matches!(e, DomainError::InvalidArgument(_)),
                invalid,
                "{e:?}"
            );
            assert!(e.to_string().contains(want), "{e}");
        }
    }
}
