//! Size-image constraints (§2.10, §4.8): per size (the id is the size id), a version
//! constraint per image os that images must satisfy to be installed on machines of that
//! size. Owns the entity (wire shape of `v1.SizeImageConstraintResponse`), its requests,
//! validation and the check done at allocation and by `/try`.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{DomainError, DomainResult};
use crate::image::Image;
use crate::version::{validate_stored_constraint, Constraint};

/// The os → version constraint map (`v1.SizeImageConstraintBase`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct SizeImageConstraintBase {
    pub images: BTreeMap<String, String>,
}

/// Image version constraints of one size (`v1.SizeImageConstraintResponse`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SizeImageConstraint {
    /// The id of the size this applies to.
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub constraints: SizeImageConstraintBase,
    #[serde(default)]
    pub created: Option<DateTime<Utc>>,
    #[serde(default)]
    pub changed: Option<DateTime<Utc>>,
}

/// Body of `PUT /v1/size/image-constraints`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct SizeImageConstraintCreateRequest {
    pub id: String,
    pub name: Option<String>,
    pub description: Option<String>,
    pub constraints: SizeImageConstraintBase,
}

/// Body of `POST /v1/size/image-constraints`: only the given fields change.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct SizeImageConstraintUpdateRequest {
    pub id: String,
    pub name: Option<String>,
    pub description: Option<String>,
    pub constraints: Option<SizeImageConstraintBase>,
}

/// Body of `POST /v1/size/image-constraints/try`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct SizeImageConstraintTryRequest {
    pub size: String,
    pub image: String,
}

/// §4.8: the os must not be `*` (nor empty) and every constraint has the strict stored shape.
pub fn validate_image_constraints(images: &BTreeMap<String, String>) -> DomainResult<()> {
    for (os, constraint) in images {
        if os == "*" {
            return Err(DomainError::invalid(
                "image os \"*\" is not allowed, name the os",
            ));
        }
        if os.is_empty() {
            return Err(DomainError::invalid("image os must not be empty"));
        }
        validate_stored_constraint(constraint)
            .map_err(|e| DomainError::invalid(format!("image constraint for os {os:?}: {e}")))?;
    }
    Ok(())
}

impl SizeImageConstraint {
    /// Builds and validates a new constraint set from a create request.
    pub fn from_create(req: &SizeImageConstraintCreateRequest) -> DomainResult<Self> {
        let sic = Self {
            id: req.id.clone(),
            name: req.name.clone().unwrap_or_default(),
            description: req.description.clone().unwrap_or_default(),
            constraints: req.constraints.clone(),
            created: None,
            changed: None,
        };
        sic.validate()?;
        Ok(sic)
    }

    /// Applies the given fields and validates; nothing changes when it fails.
    pub fn apply_update(&mut self, req: &SizeImageConstraintUpdateRequest) -> DomainResult<()> {
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
        next.validate()?;
        *self = next;
        Ok(())
    }

    pub fn validate(&self) -> DomainResult<()> {
        if self.id.is_empty() {
            return Err(DomainError::invalid(
                "size image constraint id (the size id) is required",
            ));
        }
        validate_image_constraints(&self.constraints.images)
    }
}

/// Whether `image` may be installed on machines of size `size_id` (§4.8). No constraint set
/// means no restriction. Violations are 422.
pub fn check(sic: Option<&SizeImageConstraint>, size_id: &str, image: &Image) -> DomainResult<()> {
    let Some(sic) = sic else {
        return Ok(());
    };
    let (os, version) = image
        .os_version()
        .map_err(|e| DomainError::unprocessable(e.to_string()))?;
    let Some(raw) = sic.constraints.images.get(&os) else {
        return Ok(());
    };
    if version.patch == 0 {
        return Err(DomainError::unprocessable("no patch version given"));
    }
    let constraint = Constraint::parse(raw).map_err(|e| {
        DomainError::unprocessable(format!(
            "image constraint of size {size_id} for os {os:?}: {e}"
        ))
    })?;
    if constraint.check(&version) {
        Ok(())
    } else {
        Err(DomainError::unprocessable(format!(
            "given size:{size_id} with image:{} does violate image constraint:{os} {constraint}",
            image.id
        )))
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::image::ImageCreateRequest;

    fn image(id: &str) -> Image {
        let req = ImageCreateRequest {
            id: id.into(),
            url: "http://x".into(),
            ..Default::default()
        };
        Image::from_create(&req, Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap()).unwrap()
    }

    fn sic(size: &str, images: &[(&str, &str)]) -> SizeImageConstraint {
        let req = SizeImageConstraintCreateRequest {
            id: size.into(),
            constraints: SizeImageConstraintBase {
                images: images
                    .iter()
                    .map(|(os, c)| (os.to_string(), c.to_string()))
                    .collect(),
            },
            ..Default::default()
        };
        SizeImageConstraint::from_create(&req).unwrap_or_else(|e| panic!("{images:?}: {e}"))
    }

    #[test]
    fn check_table() {
        let n1 = sic(
            "n1-medium-x86",
            &[("firewall-ubuntu", ">= 2.0.20210912"), ("ubuntu", "*")],
        );
        let cases = [
            (Some(&n1), "firewall-ubuntu-2.0.20210912", Ok(())),
            (Some(&n1), "firewall-ubuntu-3.0.20220101", Ok(())),
            (
                Some(&n1),
                "firewall-ubuntu-2.0.20201126",
                Err(DomainError::unprocessable(
                    "given size:n1-medium-x86 with image:firewall-ubuntu-2.0.20201126 does violate image \
                     constraint:firewall-ubuntu >=2.0.20210912",
                )),
            ),
            (Some(&n1), "firewall-ubuntu-2.0", Err(DomainError::unprocessable("no patch version given"))),
            (Some(&n1), "ubuntu-20.04.20201026", Ok(())),
            (Some(&n1), "ubuntu-20.04", Err(DomainError::unprocessable("no patch version given"))),
            (Some(&n1), "debian-12.0", Ok(())), // no entry for the os: unrestricted
            (None, "firewall-ubuntu-2.0.20201126", Ok(())),
        ];
        for (constraint, image_id, want) in cases {
            assert_eq!(
                check(constraint, "n1-medium-x86", &image(image_id)),
                want,
                "{image_id}"
            );
        }
    }

    #[test]
    fn check_with_upper_bound() {
        let c1 = sic("c1-large-x86", &[("debian", "<= 12.0")]);
        assert_eq!(
            check(Some(&c1), "c1-large-x86", &image("debian-13.0.20260131")),
            Err(DomainError::unprocessable(
                "given size:c1-large-x86 with image:debian-13.0.20260131 does violate image constraint:debian <=12.0"
            ))
        );
        assert_eq!(
            check(Some(&c1), "c1-large-x86", &image("debian-12.0.20251220")),
            Ok(())
        );
    }

    #[test]
    fn validation() {
        let cases = [
            (vec![("*", "*")], "image os \"*\" is not allowed"),
            (vec![("", "*")], "image os must not be empty"),
            (
                vec![("ubuntu", ">=20.04")],
                "image constraint for os \"ubuntu\": version constraint \">=20.04\" is invalid",
            ),
            (
                vec![("ubuntu", "1.2.x")],
                "image constraint for os \"ubuntu\"",
            ),
            (vec![("ubuntu", "")], "image constraint for os \"ubuntu\""),
        ];
        for (images, msg) in cases {
            let req = SizeImageConstraintCreateRequest {
                id: "s".into(),
                constraints: SizeImageConstraintBase {
                    images: images
                        .iter()
                        .map(|(os, c)| (os.to_string(), c.to_string()))
                        .collect(),
                },
                ..Default::default()
            };
            let err = SizeImageConstraint::from_create(&req).expect_err(msg);
            assert!(
                matches!(&err, DomainError::InvalidArgument(m) if m.contains(msg)),
                "{msg}: {err:?}"
            );
        }
        let no_id = SizeImageConstraintCreateRequest::default();
        assert!(SizeImageConstraint::from_create(&no_id).is_err());
        assert!(
            SizeImageConstraint::from_create(&SizeImageConstraintCreateRequest {
                id: "s".into(),
                ..no_id
            })
            .is_ok()
        );
    }

    #[test]
    fn update_applies_given_fields_only() {
        let mut c = sic("s", &[("ubuntu", ">= 20.04")]);
        let before = c.clone();
        let bad = SizeImageConstraintUpdateRequest {
            id: "s".into(),
            name: Some("n".into()),
            constraints: Some(SizeImageConstraintBase {
                images: BTreeMap::from([("*".into(), "*".into())]),
            }),
            ..Default::default()
        };
        assert!(c.apply_update(&bad).is_err());
        assert_eq!(c, before);
        c.apply_update(&SizeImageConstraintUpdateRequest {
            id: "s".into(),
            name: Some("n".into()),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(c.name, "n");
        assert_eq!(c.constraints, before.constraints);
    }

    #[test]
    fn wire_shape() {
        let c = sic("s", &[("ubuntu", ">= 20.04")]);
        let json = serde_json::to_value(&c).unwrap();
        assert_eq!(
            json["constraints"],
            serde_json::json!({"images": {"ubuntu": ">= 20.04"}})
        );
        assert_eq!(json["id"], "s");
        let req: SizeImageConstraintTryRequest =
            serde_json::from_str(r#"{"size":"s","image":"i-1.0.1"}"#).unwrap();
        assert_eq!((req.size.as_str(), req.image.as_str()), ("s", "i-1.0.1"));
        let req: SizeImageConstraintCreateRequest = serde_json::from_str(r#"{"id":"s"}"#).unwrap();
        assert!(req.constraints.images.is_empty());
    }
}
