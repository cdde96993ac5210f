//! Tests of size validation, overlap, matching and suggestion.

use super::*;
use ConstraintType::{Cores, Gpu, Memory, Storage};

const GIB: u64 = 1 << 30;

fn c(kind: ConstraintType, min: u64, max: u64) -> SizeConstraint {
    SizeConstraint::new(kind, min, max)
}

fn gpu(identifier: &str, min: u64, max: u64) -> SizeConstraint {
    SizeConstraint {
        identifier: identifier.into(),
        ..c(Gpu, min, max)
    }
}

fn size(id: &str, constraints: Vec<SizeConstraint>) -> Size {
    Size {
        id: id.into(),
        name: String::new(),
        description: String::new(),
        constraints,
        labels: BTreeMap::new(),
        created: None,
        changed: None,
    }
}

#[test]
fn glob_table() {
    let cases = [
        ("*", "", true),
        ("*", "anything", true),
        ("", "", true),
        ("", "a", false),
        ("AD102GL*", "AD102GL [RTX 6000 Ada Generation]", true),
        (
            "AD102GL [RTX 6000 Ada Generation]",
            "AD102GL [RTX 6000 Ada Generation]",
            true,
        ),
        ("*RTX 6000*", "AD102GL [RTX 6000 Ada Generation]", true),
        ("*RTX 4000*", "AD102GL [RTX 6000 Ada Generation]", false),
        ("GA10?", "GA102", true),
        ("GA10?", "GA10", false),
        ("GA10?", "GA1022", false),
        ("a*b*c", "aXXbYYc", true),
        ("a*b*c", "aXXbYY", false),
        ("a*a*a", "aaaa", true),
        ("*/*", "nvidia/h100", true),
        ("h100", "H100", false),
    ];
    for (pattern, text, want) in cases {
        assert_eq!(glob_match(pattern, text), want, "{pattern:?} vs {text:?}");
    }
}

#[test]
fn validation_rules() {
    let ok = [
        vec![],
        vec![
            c(Cores, 1, 1),
            c(Memory, 0, GIB),
            c(Storage, 10, 20),
            gpu("*", 1, 2),
        ],
    ];
    for constraints in ok {
        assert!(
            size("s", constraints.clone()).validate().is_ok(),
            "{constraints:?}"
        );
    }
    let bad = [
        ("", vec![], "size id must not be empty"),
        ("unknown", vec![], "size id \"unknown\" is reserved"),
        (
            "s",
            vec![c(Cores, 4, 2)],
            "size constraint type \"cores\" has max 2 lower than min 4",
        ),
        (
            "s",
            vec![c(Memory, 1, 2), c(Memory, 3, 4)],
            "size constraint type \"memory\" is given more than once",
        ),
        (
            "s",
            vec![gpu("a", 1, 1), gpu("b", 1, 1)],
            "size constraint type \"gpu\" is given more than once",
        ),
        (
            "s",
            vec![c(Gpu, 1, 1)],
            "size constraint type \"gpu\" requires an identifier",
        ),
    ];
    for (id, constraints, msg) in bad {
        let err = size(id, constraints).validate().expect_err(msg);
        assert_eq!(err, DomainError::invalid(msg));
    }
}

#[test]
fn create_and_update() {
    let req = SizeCreateRequest {
        id: "c1-large-x86".into(),
        name: Some("c1".into()),
        constraints: vec![c(Cores, 8, 8)],
        labels: BTreeMap::from([("a".to_string(), "b".to_string())]),
        ..Default::default()
    };
    let mut s = Size::from_create(&req).unwrap();
    assert_eq!((s.name.as_str(), s.description.as_str()), ("c1", ""));
    assert!(Size::from_create(&SizeCreateRequest {
        id: "unknown".into(),
        ..req.clone()
    })
    .is_err());

    let before = s.clone();
    let err = s.apply_update(&SizeUpdateRequest {
        id: s.id.clone(),
        name: Some("changed".into()),
        constraints: Some(vec![c(Cores, 9, 8)]),
        ..Default::default()
    });
    assert!(err.is_err());
    assert_eq!(s, before, "a failed update changes nothing");

    s.apply_update(&SizeUpdateRequest {
        id: s.id.clone(),
        description: Some("d".into()),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(s.description, "d");
    assert_eq!(
        s.constraints, before.constraints,
        "constraints kept when not given"
    );
    assert_eq!(s.labels, before.labels, "labels kept when not given");

    s.apply_update(&SizeUpdateRequest {
        id: s.id.clone(),
        constraints: Some(vec![]),
        labels: Some(BTreeMap::new()),
        ..Default::default()
    })
    .unwrap();
    assert!(s.constraints.is_empty() && s.labels.is_empty());
}

#[test]
fn overlap_table() {
    // (a, b, a overlaps b)
    let cases = [
        (vec![c(Cores, 1, 4)], vec![c(Cores, 4, 8)], true),
        (vec![c(Cores, 1, 4)], vec![c(Cores, 5, 8)], false),
        (vec![c(Cores, 5, 8)], vec![c(Cores, 1, 4)], false),
        (
            vec![c(Cores, 1, 4), c(Memory, 1, 2)],
            vec![c(Cores, 2, 3), c(Memory, 2, 3)],
            true,
        ),
        (
            vec![c(Cores, 1, 4), c(Memory, 1, 2)],
            vec![c(Cores, 2, 3), c(Memory, 3, 4)],
            false,
        ),
        // asymmetric: a has a type b lacks → no overlap; the other way round there is one.
        (
            vec![c(Cores, 1, 4), c(Memory, 1, 2)],
            vec![c(Cores, 1, 4)],
            false,
        ),
        (
            vec![c(Cores, 1, 4)],
            vec![c(Cores, 1, 4), c(Memory, 1, 2)],
            true,
        ),
        (vec![gpu("a*", 1, 1)], vec![gpu("a*", 1, 2)], true),
        (vec![gpu("a*", 1, 1)], vec![gpu("b*", 1, 2)], false),
        (vec![c(Cores, 1, 4)], vec![], false),
        (vec![], vec![c(Cores, 1, 4)], false),
    ];
    for (a, b, want) in cases {
        assert_eq!(
            size("a", a.clone()).overlaps(&size("b", b.clone())),
            want,
            "{a:?} vs {b:?}"
        );
    }
}

#[test]
fn check_overlap_names_the_other_size_and_skips_itself() {
    let existing = vec![
        size("s1", vec![c(Cores, 1, 4)]),
        size("s2", vec![c(Cores, 8, 16)]),
    ];
    let new = size("s3", vec![c(Cores, 10, 12)]);
    assert_eq!(
        new.check_overlap(&existing),
        Err(DomainError::invalid("size overlaps with s2"))
    );
    let updated = size("s2", vec![c(Cores, 10, 12)]);
    assert_eq!(updated.check_overlap(&existing), Ok(()));
    assert_eq!(
        size("s4", vec![c(Cores, 5, 7)]).check_overlap(&existing),
        Ok(())
    );
}

fn hw(cores: u64, memory: u64, disks: &[u64], gpus: &[&str]) -> MachineHardwareSummary {
    MachineHardwareSummary {
        cpu_cores: cores,
        memory,
        disks: disks
            .iter()
            .enumerate()
            .map(|(i, s)| (format!("sd{i}"), *s))
            .collect(),
        gpus: gpus.iter().map(|g| g.to_string()).collect(),
    }
}

#[test]
fn matches_constraints() {
    let s = size(
        "gpu-large",
        vec![
            c(Cores, 32, 64),
            c(Memory, 256 * GIB, 512 * GIB),
            c(Storage, GIB, 4 * GIB),
            gpu("AD102GL*", 2, 2),
        ],
    );
    let rtx = "AD102GL [RTX 6000 Ada Generation]";
    let cases = [
        (hw(32, 256 * GIB, &[GIB, GIB], &[rtx, rtx]), true),
        (hw(64, 512 * GIB, &[4 * GIB], &[rtx, rtx, "other"]), true),
        (hw(31, 256 * GIB, &[GIB], &[rtx, rtx]), false),
        (hw(65, 256 * GIB, &[GIB], &[rtx, rtx]), false),
        (hw(32, 255 * GIB, &[GIB], &[rtx, rtx]), false),
        (hw(32, 256 * GIB, &[3 * GIB, 2 * GIB], &[rtx, rtx]), false),
        (hw(32, 256 * GIB, &[], &[rtx, rtx]), false),
        (hw(32, 256 * GIB, &[GIB], &[rtx]), false),
        (hw(32, 256 * GIB, &[GIB], &[rtx, rtx, rtx]), false),
        (hw(32, 256 * GIB, &[GIB], &[]), false),
    ];
    for (machine, want) in cases {
        assert_eq!(s.matches(&machine), want, "{machine:?}");
    }
    assert!(
        !size("empty", vec![]).matches(&hw(1, 1, &[], &[])),
        "sizes without constraints never match"
    );
}

#[test]
fn storage_sum_saturates() {
    assert_eq!(hw(1, 1, &[u64::MAX, 5], &[]).storage(), u64::MAX);
}

#[test]
fn match_size_needs_exactly_one() {
    let small = size("small", vec![c(Cores, 1, 4)]);
    let big = size("big", vec![c(Cores, 5, 64)]);
    let wide = size("wide", vec![c(Cores, 1, 64), c(Memory, 0, GIB)]);
    let empty = size("empty", vec![]);
    let sizes = vec![empty.clone(), small.clone(), big.clone()];
    assert_eq!(
        match_size(&sizes, &hw(2, GIB, &[], &[])).map(|s| s.id.as_str()),
        Some("small")
    );
    assert_eq!(
        match_size(&sizes, &hw(8, GIB, &[], &[])).map(|s| s.id.as_str()),
        Some("big")
    );
    assert_eq!(
        match_size(&sizes, &hw(128, GIB, &[], &[])),
        None,
        "no match"
    );
    let ambiguous = vec![small, big, wide];
    assert_eq!(
        match_size(&ambiguous, &hw(2, GIB, &[], &[])),
        None,
        "two matches"
    );
    assert_eq!(
        match_size(&ambiguous, &hw(2, 2 * GIB, &[], &[])).map(|s| s.id.as_str()),
        Some("small")
    );
    assert_eq!(match_size(&[empty], &hw(2, GIB, &[], &[])), None);
}

#[test]
fn suggest_measures_the_machine() {
    let machine = hw(
        16,
        64 * GIB,
        &[GIB, 2 * GIB],
        &["b-model", "a-model", "b-model"],
    );
    let got = suggest(&machine);
    let want = vec![
        c(Cores, 16, 16),
        c(Memory, 64 * GIB, 64 * GIB),
        c(Storage, 3 * GIB, 3 * GIB),
        gpu("a-model", 1, 1),
        gpu("b-model", 2, 2),
    ];
    assert_eq!(got, want);
    let suggested = size("suggested", got);
    assert!(
        suggested.matches(&machine),
        "a suggested size matches the machine it was made for"
    );
    assert_eq!(suggest(&hw(4, GIB, &[], &[])).len(), 3);
}

#[test]
fn wire_shape() {
    let s = size("c1", vec![c(Cores, 1, 2), gpu("H100*", 1, 1)]);
    let json = serde_json::to_value(&s).unwrap();
    assert_eq!(
        json["constraints"][0],
        serde_json::json!({"type": "cores", "min": 1, "max": 2})
    );
    assert_eq!(json["constraints"][1]["identifier"], "H100*");
    assert_eq!(json["labels"], serde_json::json!({}));
    assert!(json["created"].is_null());
    let req: SizeSuggestRequest = serde_json::from_str(r#"{"machineID":"m-1"}"#).unwrap();
    assert_eq!(req.machine_id, "m-1");
    let partial: SizeConstraint = serde_json::from_str(r#"{"type":"memory"}"#).unwrap();
    assert_eq!(partial, c(Memory, 0, 0));
    assert!(serde_json::from_str::<SizeConstraint>(r#"{"type":"disks"}"#).is_err());
    let update: SizeUpdateRequest = serde_json::from_str(r#"{"id":"c1"}"#).unwrap();
    assert!(update.constraints.is_none() && update.labels.is_none());
}
