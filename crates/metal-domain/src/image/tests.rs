//! Tests of image parsing, creation, update, find and resolution.

use chrono::TimeZone;

use super::*;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 5, 27, 12, 0, 0).unwrap()
}

fn image(id: &str) -> Image {
    Image::from_create(
        &ImageCreateRequest {
            id: id.into(),
            url: format!("http://images/{id}.tar.lz4"),
            ..Default::default()
        },
        now(),
    )
    .unwrap_or_else(|e| panic!("{id}: {e}"))
}

#[test]
fn parses_image_ids() {
    let cases = [
        (
            "ubuntu-20.04.20201026",
            "ubuntu",
            Version::new(20, 4, 20201026),
        ),
        (
            "firewall-ubuntu-2.0.20201126",
            "firewall-ubuntu",
            Version::new(2, 0, 20201126),
        ),
        ("ubuntu-20.04", "ubuntu", Version::new(20, 4, 0)),
        ("ubuntu-20", "ubuntu", Version::new(20, 0, 0)),
        ("debian-v12.0.1", "debian", Version::new(12, 0, 1)),
    ];
    for (id, os, version) in cases {
        assert_eq!(
            parse_image_id(id).unwrap(),
            (os.to_string(), version),
            "{id}"
        );
    }
}

#[test]
fn rejects_bad_image_ids() {
    let cases = [
        ("ubuntu", "does not contain a version"),
        ("", "does not contain a version"),
        ("-20.04", "does not contain an os"),
        ("ubuntu-latest", "does not contain a valid version"),
        ("ubuntu-", "does not contain a valid version"),
        ("ubuntu-20.04-rc1", "does not contain a valid version"),
    ];
    for (id, msg) in cases {
        let err = parse_image_id(id).expect_err(id);
        assert!(
            matches!(&err, DomainError::InvalidArgument(m) if m.contains(msg)),
            "{id}: {err:?}"
        );
    }
}

#[test]
fn create_applies_defaults() {
    let img = image("ubuntu-20.04.20201026");
    assert_eq!(img.expiration_date, now() + Duration::days(90));
    assert_eq!(img.classification, ImageClassification::Preview);
    assert!(img.features.is_empty());
    assert_eq!(
        img.os_version().unwrap(),
        ("ubuntu".to_string(), Version::new(20, 4, 20201026))
    );
}

#[test]
fn create_takes_given_values_and_dedups_features() {
    let expiry = Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap();
    let req = ImageCreateRequest {
        id: "firewall-ubuntu-2.0.20201126".into(),
        name: Some("fw".into()),
        description: Some("firewall image".into()),
        url: "http://x".into(),
        features: vec!["machine".into(), "firewall".into(), "machine".into()],
        expiration_date: Some(expiry),
        classification: Some("supported".into()),
    };
    let img = Image::from_create(&req, now()).unwrap();
    assert_eq!(
        img.features,
        vec![ImageFeature::Firewall, ImageFeature::Machine]
    );
    assert_eq!(img.expiration_date, expiry);
    assert_eq!(img.classification, ImageClassification::Supported);
    assert_eq!(
        (img.name.as_str(), img.description.as_str()),
        ("fw", "firewall image")
    );
}

#[test]
fn create_rejects_invalid_requests() {
    let base = ImageCreateRequest {
        id: "ubuntu-20.04.1".into(),
        url: "http://x".into(),
        ..Default::default()
    };
    let cases = [
        (
            ImageCreateRequest {
                id: String::new(),
                ..base.clone()
            },
            "image id is required",
        ),
        (
            ImageCreateRequest {
                url: String::new(),
                ..base.clone()
            },
            "image url is required",
        ),
        (
            ImageCreateRequest {
                id: "ubuntu".into(),
                ..base.clone()
            },
            "does not contain a version",
        ),
        (
            ImageCreateRequest {
                features: vec!["router".into()],
                ..base.clone()
            },
            "feature \"router\" is unknown",
        ),
        (
            ImageCreateRequest {
                classification: Some("stable".into()),
                ..base.clone()
            },
            "classification \"stable\" is unknown",
        ),
    ];
    for (req, msg) in cases {
        let err = Image::from_create(&req, now()).expect_err(msg);
        assert!(
            matches!(&err, DomainError::InvalidArgument(m) if m.contains(msg)),
            "{msg}: {err:?}"
        );
    }
}

#[test]
fn update_changes_only_given_fields() {
    let mut img = image("ubuntu-20.04.20201026");
    img.features = vec![ImageFeature::Machine];
    let before = img.clone();
    img.apply_update(&ImageUpdateRequest {
        id: img.id.clone(),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(img, before, "an empty update changes nothing");

    img.apply_update(&ImageUpdateRequest {
        id: img.id.clone(),
        description: Some("new".into()),
        classification: Some("deprecated".into()),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(img.description, "new");
    assert_eq!(img.classification, ImageClassification::Deprecated);
    assert_eq!(
        img.features,
        vec![ImageFeature::Machine],
        "empty features keep the old ones"
    );
    assert_eq!(
        (img.name.as_str(), img.url.as_str()),
        (before.name.as_str(), before.url.as_str())
    );

    img.apply_update(&ImageUpdateRequest {
        id: img.id.clone(),
        features: vec!["firewall".into()],
        ..Default::default()
    })
    .unwrap();
    assert_eq!(img.features, vec![ImageFeature::Firewall]);
}

#[test]
fn failed_update_changes_nothing() {
    let mut img = image("ubuntu-20.04.20201026");
    let before = img.clone();
    for req in [
        ImageUpdateRequest {
            name: Some("x".into()),
            features: vec!["bogus".into()],
            ..Default::default()
        },
        ImageUpdateRequest {
            name: Some("x".into()),
            classification: Some("bogus".into()),
            ..Default::default()
        },
        ImageUpdateRequest {
            name: Some("x".into()),
            url: Some(String::new()),
            ..Default::default()
        },
    ] {
        assert!(img.apply_update(&req).is_err(), "{req:?}");
        assert_eq!(img, before);
    }
}

#[test]
fn serializes_as_image_response() {
    let mut img = image("ubuntu-20.04.20201026");
    img.features = vec![ImageFeature::Machine];
    let json = serde_json::to_value(&img).unwrap();
    assert_eq!(json["expirationDate"], "2024-08-25T12:00:00Z");
    assert_eq!(json["features"], serde_json::json!(["machine"]));
    assert_eq!(json["classification"], "preview");
    assert!(
        json.get("usedby").is_none(),
        "usedby is skipped unless asked for"
    );
    assert!(json["created"].is_null() && json["changed"].is_null());
    img.usedby = Some(vec!["m1".into()]);
    let json = serde_json::to_value(&img).unwrap();
    assert_eq!(json["usedby"], serde_json::json!(["m1"]));
    let back: Image = serde_json::from_value(json).unwrap();
    assert_eq!(back, img);
}

#[test]
fn create_request_deserializes_partial_json() {
    let req: ImageCreateRequest = serde_json::from_str(
        r#"{"id":"ubuntu-20.04.1","url":"http://x","expirationDate":"2030-01-01T00:00:00Z"}"#,
    )
    .unwrap();
    assert_eq!(req.id, "ubuntu-20.04.1");
    assert!(req.features.is_empty() && req.classification.is_none());
    assert!(req.expiration_date.is_some());
}

fn store() -> Vec<Image> {
    [
        "ubuntu-19.10.20200101",
        "ubuntu-20.04.20201026",
        "ubuntu-20.04.20210101",
        "ubuntu-20.04.20200501",
        "ubuntu-20.10.20210101",
        "ubuntu-20.0.5",
        "firewall-ubuntu-2.0.20201126",
        "firewall-ubuntu-2.0.20210912",
        "firewall-ubuntu-3.0.20220101",
        "debian-10.0.20201026",
    ]
    .into_iter()
    .map(image)
    .collect()
}

#[test]
fn resolves_latest() {
    let images = store();
    let cases = [
        ("ubuntu-20.04", "ubuntu-20.04.20210101"),
        ("ubuntu-20.04.20201026", "ubuntu-20.04.20201026"),
        ("ubuntu-20", "ubuntu-20.0.5"),
        ("ubuntu-20.10", "ubuntu-20.10.20210101"),
        ("ubuntu-19.10", "ubuntu-19.10.20200101"),
        ("firewall-ubuntu-2.0", "firewall-ubuntu-2.0.20210912"),
        (
            "firewall-ubuntu-2.0.20201126",
            "firewall-ubuntu-2.0.20201126",
        ),
        ("firewall-ubuntu-3", "firewall-ubuntu-3.0.20220101"),
        ("debian-10", "debian-10.0.20201026"),
    ];
    for (requested, want) in cases {
        assert_eq!(
            resolve_latest(&images, requested).unwrap().id,
            want,
            "{requested}"
        );
    }
}

#[test]
fn resolve_latest_failures() {
    let images = store();
    for requested in [
        "ubuntu-20.04.1",
        "ubuntu-21.04",
        "centos-7",
        "ubuntu-2",
        "firewall-2.0",
    ] {
        let err = resolve_latest(&images, requested).expect_err(requested);
        assert!(
            matches!(err, DomainError::NotFound(_)),
            "{requested}: {err:?}"
        );
    }
    assert!(matches!(
        resolve_latest(&images, "ubuntu"),
        Err(DomainError::InvalidArgument(_))
    ));
}

#[test]
fn resolve_skips_unparsable_stored_ids() {
    let mut images = store();
    images.insert(
        0,
        Image {
            id: "ubuntu-latest".into(),
            ..image("ubuntu-20.04.20201026")
        },
    );
    assert_eq!(
        resolve_latest(&images, "ubuntu-20.04").unwrap().id,
        "ubuntu-20.04.20210101"
    );
}

#[test]
fn query_returns_all_matches_in_input_order() {
    let images = store();
    let ids = |requested: &str| -> Vec<String> {
        query(&images, requested)
            .unwrap()
            .into_iter()
            .map(|i| i.id.clone())
            .collect()
    };
    assert_eq!(
        ids("ubuntu-20.04"),
        [
            "ubuntu-20.04.20201026",
            "ubuntu-20.04.20210101",
            "ubuntu-20.04.20200501"
        ]
    );
    assert_eq!(ids("ubuntu-20.04.20200501"), ["ubuntu-20.04.20200501"]);
    assert!(ids("centos-7").is_empty());
    assert!(query(&images, "centos").is_err());
}

#[test]
fn find_request_matches() {
    let mut img = image("firewall-ubuntu-2.0.20201126");
    img.name = "fw".into();
    img.features = vec![ImageFeature::Firewall, ImageFeature::Machine];
    img.classification = ImageClassification::Supported;
    let f = |json: &str| -> bool {
        let req: ImageFindRequest = serde_json::from_str(json).unwrap();
        req.matches(&img)
    };
    let cases = [
        ("{}", true),
        (r#"{"id":"firewall-ubuntu-2.0.20201126"}"#, true),
        (r#"{"id":"firewall-ubuntu-2.0"}"#, false),
        (r#"{"name":"fw"}"#, true),
        (r#"{"name":"other"}"#, false),
        (r#"{"os":"firewall-ubuntu"}"#, true),
        (r#"{"os":"ubuntu"}"#, false),
        (r#"{"version":"2.0.20201126"}"#, true),
        (r#"{"version":"v02.00.20201126"}"#, true),
        (r#"{"version":"2.0"}"#, false),
        (r#"{"version":"garbage"}"#, false),
        (r#"{"features":["machine","firewall"]}"#, true),
        (r#"{"features":["machine"]}"#, true),
        (r#"{"features":["router"]}"#, false),
        (r#"{"classification":"supported"}"#, true),
        (r#"{"classification":"preview"}"#, false),
        (
            r#"{"os":"firewall-ubuntu","version":"2.0.20201126","name":"fw"}"#,
            true,
        ),
        (
            r#"{"os":"firewall-ubuntu","version":"2.0.20201126","name":"x"}"#,
            false,
        ),
    ];
    for (json, want) in cases {
        assert_eq!(f(json), want, "{json}");
    }
}

#[test]
fn find_by_os_never_matches_unparsable_ids() {
    let img = Image {
        id: "legacy".into(),
        ..image("ubuntu-20.04.1")
    };
    let req = ImageFindRequest {
        os: Some("legacy".into()),
        ..Default::default()
    };
    assert!(!req.matches(&img));
    let req = ImageFindRequest {
        id: Some("legacy".into()),
        ..Default::default()
    };
    assert!(req.matches(&img));
}
