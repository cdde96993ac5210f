//! Rules over all layouts and against a machine: collisions between the selection
//! constraints of layouts, the automatic choice of a layout for a size and image, and whether
//! a layout fits the disks of a machine (§4.9).

use std::collections::BTreeMap;

use super::FilesystemLayout;
use crate::error::{DomainError, DomainResult};
use crate::image::parse_image_id;
use crate::version::{stored_constraint_version, Constraint, Version};

/// One `(size, os, constraint)` selection entry of a layout.
struct Entry<'a> {
    layout: &'a str,
    os: &'a str,
    constraint: &'a str,
}

/// Whether two entries of different layouts for the same size and os collide.
///
/// This is deliberately the reference's weak test (§4.9), kept so that sets of layouts that
/// metal-stack accepts are accepted here too: a `*` collides with anything, otherwise two
/// constraints collide only when each accepts the version the other is written against
/// (`>= 20.04` and `>= 20.10` do *not* collide although they overlap, and selection then
/// takes the first layout in storage order). One difference: the reference skips pairs whose
/// constraint strings are equal, so two layouts with the very same constraint were accepted;
/// here entries of different layouts are always compared, and equal constraints collide.
fn collide(a: &Entry<'_>, b: &Entry<'_>) -> bool {
    if a.constraint == "*" || b.constraint == "*" {
        return true;
    }
    let accepts = |c: &str, v: &str| -> bool {
        match (Constraint::parse(c), stored_constraint_version(v)) {
            (Ok(c), Some(v)) => c.check(&v),
            _ => false,
        }
    };
    accepts(a.constraint, b.constraint) && accepts(b.constraint, a.constraint)
}

/// Checks a whole set of layouts for colliding selection constraints (400
/// "these combinations already exist: size->[os constraint (layout id), ...]").
/// Development layouts (no sizes and no images) are ignored.
pub fn validate_set(layouts: &[FilesystemLayout]) -> DomainResult<()> {
    let mut by_size: BTreeMap<&str, Vec<Entry<'_>>> = BTreeMap::new();
    for layout in layouts.iter().filter(|l| !l.is_development()) {
        for size in &layout.constraints.sizes {
            for (os, constraint) in &layout.constraints.images {
                by_size.entry(size).or_default().push(Entry {
                    layout: &layout.id,
                    os,
                    constraint,
                });
            }
        }
    }
    let mut violations = Vec::new();
    for (size, entries) in &by_size {
        let mut colliding: Vec<String> = Vec::new();
        for (i, a) in entries.iter().enumerate() {
            for b in &entries[i + 1..] {
                if a.os == b.os && a.layout != b.layout && collide(a, b) {
                    for e in [a, b] {
                        let text = format!("{} {} ({})", e.os, e.constraint, e.layout);
                        if !colliding.contains(&text) {
                            colliding.push(text);
                        }
                    }
                }
            }
        }
        if !colliding.is_empty() {
            violations.push(format!("{size}->[{}]", colliding.join(", ")));
        }
    }
    if violations.is_empty() {
        Ok(())
    } else {
        Err(DomainError::invalid(format!(
            "these combinations already exist: {}",
            violations.join(", ")
        )))
    }
}

/// [`validate_set`] over `existing` with `candidate` added, or replacing the layout with the
/// same id (create and update).
pub fn validate_with(
    existing: &[FilesystemLayout],
    candidate: &FilesystemLayout,
) -> DomainResult<()> {
    let mut all: Vec<FilesystemLayout> = existing
        .iter()
        .filter(|l| l.id != candidate.id)
        .cloned()
        .collect();
    all.push(candidate.clone());
    validate_set(&all)
}

/// The layout a machine of size `size_id` installed with image `image_id` gets: the first
/// (in the given, i.e. storage, order) whose sizes contain the size and whose images map has
/// a constraint for the image's os that the image version satisfies.
///
/// No such layout is a 404 (`NotFound`), as for `/v1/filesystemlayout/try` in the
/// reference: the combination refers to a layout that does not exist. The allocation flow
/// reports it in its own status. An image id without a parsable version is a 400.
pub fn from<'a>(
    layouts: &'a [FilesystemLayout],
    size_id: &str,
    image_id: &str,
) -> DomainResult<&'a FilesystemLayout> {
    let (os, version) = parse_image_id(image_id)?;
    layouts
        .iter()
        .find(|l| l.selects(size_id, &os, &version))
        .ok_or_else(|| {
            DomainError::not_found(format!(
            "could not find a matching filesystemLayout for size:{size_id} and image:{image_id}"
        ))
        })
}

impl FilesystemLayout {
    /// True when this layout is chosen for the size and the image os and version.
    pub fn selects(&self, size_id: &str, os: &str, version: &Version) -> bool {
        self.constraints.sizes.iter().any(|s| s == size_id)
            && self
                .constraints
                .images
                .get(os)
                .is_some_and(|c| Constraint::parse(c).is_ok_and(|c| c.check(version)))
    }

    /// Whether the machine's disks (`(name, size in bytes)`; names without `/dev/` get it
    /// prepended) can hold this layout: every layout disk must exist and be at least as big
    /// as the sum of its partition sizes (422 otherwise).
    pub fn matches(&self, disks: &[(String, u64)]) -> DomainResult<()> {
        let existing: BTreeMap<String, u64> = disks
            .iter()
            .map(|(name, size)| {
                let name = if name.starts_with("/dev/") {
                    name.clone()
                } else {
                    format!("/dev/{name}")
                };
                (name, *size)
            })
            .collect();
        for disk in &self.disks {
            let required: u64 = disk
                .partitions
                .iter()
                .fold(0u64, |sum, p| sum.saturating_add(p.size));
            let Some(&bytes) = existing.get(&disk.device) else {
                return Err(DomainError::unprocessable(format!(
                    "device {} does not exist on the machine",
                    disk.device
                )));
            };
            let mib = bytes / 1024 / 1024;
            if mib < required {
                return Err(DomainError::unprocessable(format!(
                    "device {} is not big enough, required: {required} MiB, existing: {mib} MiB",
                    disk.device
                )));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::fixtures::{from_json, raid_lvm, simple};
    use super::*;

    fn selecting(id: &str, sizes: &[&str], images: &[(&str, &str)]) -> FilesystemLayout {
        let mut layout = simple();
        layout.id = id.into();
        layout.constraints.sizes = sizes.iter().map(|s| s.to_string()).collect();
        layout.constraints.images = images
            .iter()
            .map(|(o, c)| (o.to_string(), c.to_string()))
            .collect();
        layout
    }

    #[test]
    fn collision_table() {
        // (constraint in layout a, constraint in layout b, collide) for size c1 and os ubuntu
        let cases = [
            ("*", ">= 20.04", true),
            (">= 20.04", "*", true),
            ("*", "*", true),
            (">= 20.04", ">= 20.04", true), // the reference skips equal strings; we do not
            (">= 20.04", "20.04", true),
            ("20.04", "20.04.20201026", false), // weak too: the exact one does not accept 20.4.0
            ("20.04", "~ 20.04", true),
            (">= 20.04", ">= 20.10", false), // the weak test of the reference, kept on purpose
            ("<= 20.04", ">= 20.10", false),
            ("< 20.04", ">= 20.04", false),
            ("~ 20.04", "~ 20.10", false),
            ("= 20.04.1", "!= 20.04.1", false),
            ("<= 22.04", ">= 20.04", true),
        ];
        for (a, b, want) in cases {
            let layouts = [
                selecting("a", &["c1"], &[("ubuntu", a)]),
                selecting("b", &["c1"], &[("ubuntu", b)]),
            ];
            assert_eq!(validate_set(&layouts).is_err(), want, "{a:?} vs {b:?}");
        }
    }

    #[test]
    fn collision_message_names_size_entries_and_layouts() {
        let layouts = [
            selecting(
                "a",
                &["c1", "c2"],
                &[("ubuntu", "*"), ("debian", ">= 10.0")],
            ),
            selecting("b", &["c1"], &[("ubuntu", ">= 20.04")]),
            selecting("c", &["c2"], &[("debian", ">= 10.0")]),
        ];
        assert_eq!(
            validate_set(&layouts),
            Err(DomainError::invalid(
                "these combinations already exist: c1->[ubuntu * (a), ubuntu >= 20.04 (b)], \
                 c2->[debian >= 10.0 (a), debian >= 10.0 (c)]"
            ))
        );
    }

    #[test]
    fn no_collision_across_sizes_oses_or_development_layouts() {
        let layouts = [
            selecting("a", &["c1"], &[("ubuntu", "*")]),
            selecting("b", &["c2"], &[("ubuntu", "*")]),
            selecting("c", &["c1"], &[("debian", "*")]),
            selecting("dev1", &[], &[]),
            selecting("dev2", &[], &[]),
            // sizes without images never select anything and cannot collide
            selecting("d", &["c1"], &[]),
        ];
        assert_eq!(validate_set(&layouts), Ok(()));
    }

    #[test]
    fn validate_with_adds_or_replaces() {
        let existing = vec![selecting("a", &["c1"], &[("ubuntu", "*")])];
        // replacing a with a narrower version of itself is fine
        assert_eq!(
            validate_with(
                &existing,
                &selecting("a", &["c1"], &[("ubuntu", ">= 20.04")])
            ),
            Ok(())
        );
        // a second layout for the same combination is not
        let err = validate_with(
            &existing,
            &selecting("b", &["c1"], &[("ubuntu", ">= 20.04")]),
        )
        .unwrap_err();
        assert!(
            matches!(err, DomainError::InvalidArgument(m) if m.starts_with("these combinations already exist"))
        );
    }

    #[test]
    fn auto_selection() {
        let layouts = vec![
            selecting("dev", &[], &[]),
            selecting("sizes-only", &["c1"], &[]),
            selecting("old-ubuntu", &["c1"], &[("ubuntu", "< 20.04")]),
            selecting("new-ubuntu", &["c1", "c2"], &[("ubuntu", ">= 20.04")]),
            selecting("firewall", &["c1"], &[("firewall-ubuntu", "*")]),
            selecting("debian", &["c1"], &[("debian", "~ 10.0")]),
        ];
        let cases = [
            ("c1", "ubuntu-20.04.20201026", Some("new-ubuntu")),
            ("c2", "ubuntu-22.04.20230101", Some("new-ubuntu")),
            ("c1", "ubuntu-19.10.20200101", Some("old-ubuntu")),
            ("c2", "ubuntu-19.10.20200101", None),
            ("c1", "firewall-ubuntu-2.0.20201126", Some("firewall")),
            ("c1", "debian-10.0.5", Some("debian")),
            ("c1", "debian-11.0.5", None),
            ("c3", "ubuntu-20.04.20201026", None),
            ("c1", "centos-7.0.1", None),
        ];
        for (size, image, want) in cases {
            match (from(&layouts, size, image), want) {
                (Ok(l), Some(id)) => assert_eq!(l.id, id, "{size} {image}"),
                (Err(e), None) => assert_eq!(
                    e,
                    DomainError::not_found(format!(
                        "could not find a matching filesystemLayout for size:{size} and image:{image}"
                    ))
                ),
                (got, want) => panic!("{size} {image}: got {got:?}, want {want:?}"),
            }
        }
        assert!(matches!(
            from(&layouts, "c1", "ubuntu"),
            Err(DomainError::InvalidArgument(_))
        ));
    }

    #[test]
    fn first_layout_wins_when_weakly_overlapping() {
        let layouts = vec![
            selecting("first", &["c1"], &[("ubuntu", ">= 20.04")]),
            selecting("second", &["c1"], &[("ubuntu", ">= 20.10")]),
        ];
        assert_eq!(validate_set(&layouts), Ok(()));
        assert_eq!(
            from(&layouts, "c1", "ubuntu-22.04.1").map(|l| l.id.as_str()),
            Ok("first")
        );
    }

    const MIB: u64 = 1024 * 1024;

    #[test]
    fn hardware_match() {
        // simple(): /dev/sda needs 500 + 5000 + 0 MiB
        let layout = simple();
        let ok = [
            vec![("sda".to_string(), 5500 * MIB)],
            vec![("/dev/sda".to_string(), 5500 * MIB), ("sdb".to_string(), 1)],
            vec![("sda".to_string(), 5501 * MIB - 1)],
        ];
        for disks in ok {
            assert_eq!(layout.matches(&disks), Ok(()), "{disks:?}");
        }
        let bad = [
            (vec![], "device /dev/sda does not exist on the machine"),
            (
                vec![("sdb".to_string(), 10_000 * MIB)],
                "device /dev/sda does not exist on the machine",
            ),
            (
                vec![("dev/sda".to_string(), 10_000 * MIB)],
                "device /dev/sda does not exist on the machine",
            ),
            (
                vec![("sda".to_string(), 5500 * MIB - 1)],
                "device /dev/sda is not big enough, required: 5500 MiB, existing: 5499 MiB",
            ),
        ];
        for (disks, msg) in bad {
            assert_eq!(
                layout.matches(&disks),
                Err(DomainError::unprocessable(msg)),
                "{disks:?}"
            );
        }
    }

    #[test]
    fn hardware_match_checks_every_disk() {
        let layout = raid_lvm();
        let mut disks: Vec<(String, u64)> = ["sda", "sdb", "nvme0n1", "nvme1n1"]
            .iter()
            .map(|d| (d.to_string(), 1000 * MIB))
            .collect();
        assert_eq!(layout.matches(&disks), Ok(()));
        disks.pop();
        assert_eq!(
            layout.matches(&disks),
            Err(DomainError::unprocessable(
                "device /dev/nvme1n1 does not exist on the machine"
            ))
        );
        let no_disks = from_json(json!({"id": "empty"}));
        assert_eq!(no_disks.matches(&[]), Ok(()));
    }
}
