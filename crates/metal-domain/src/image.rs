//! Operating system images: the `Image` entity (wire shape of `v1.ImageResponse`), its
//! create/update/find requests, parsing an image id into os and version, and resolving a
//! requested id (`ubuntu-20.04`) to the newest stored image it stands for (§2.4, §4.7).
//!
//! Checking that an image url answers HEAD is I/O and belongs to the app layer.

use std::cmp::Ordering;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{DomainError, DomainResult};
use crate::version::{Constraint, Version};

/// How long a new image stays valid when the create request names no expiration date.
pub const DEFAULT_EXPIRATION_DAYS: i64 = 90;

/// What an image can be used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum ImageFeature {
    Firewall,
    Machine,
}

impl ImageFeature {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Firewall => "firewall",
            Self::Machine => "machine",
        }
    }

    /// Parses `machine` or `firewall`; anything else is a 400 naming the value.
    pub fn parse(s: &str) -> DomainResult<Self> {
        match s {
            "machine" => Ok(Self::Machine),
            "firewall" => Ok(Self::Firewall),
            other => Err(DomainError::invalid(format!(
                "image feature {other:?} is unknown, must be \"machine\" or \"firewall\""
            ))),
        }
    }
}

/// Informational support status of an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum ImageClassification {
    #[default]
    Preview,
    Supported,
    Deprecated,
}

impl ImageClassification {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Preview => "preview",
            Self::Supported => "supported",
            Self::Deprecated => "deprecated",
        }
    }

    /// Parses `preview`, `supported` or `deprecated`; anything else is a 400.
    pub fn parse(s: &str) -> DomainResult<Self> {
        match s {
            "preview" => Ok(Self::Preview),
            "supported" => Ok(Self::Supported),
            "deprecated" => Ok(Self::Deprecated),
            other => Err(DomainError::invalid(format!(
                "image classification {other:?} is unknown, must be one of preview, supported, deprecated"
            ))),
        }
    }
}

/// An image that can be installed on a machine (`v1.ImageResponse`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Image {
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub url: String,
    /// A set: sorted, without duplicates.
    #[serde(default)]
    pub features: Vec<ImageFeature>,
    #[serde(rename = "expirationDate")]
    pub expiration_date: DateTime<Utc>,
    #[serde(default)]
    pub classification: ImageClassification,
    #[serde(default)]
    pub created: Option<DateTime<Utc>>,
    #[serde(default)]
    pub changed: Option<DateTime<Utc>>,
    /// Machines using the image; only filled with `?show-usage=true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usedby: Option<Vec<String>>,
}

/// Body of `PUT /v1/image`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct ImageCreateRequest {
    pub id: String,
    pub name: Option<String>,
    pub description: Option<String>,
    pub url: String,
    pub features: Vec<String>,
    #[serde(rename = "expirationDate")]
    pub expiration_date: Option<DateTime<Utc>>,
    pub classification: Option<String>,
}

/// Body of `POST /v1/image`: only the given fields change.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct ImageUpdateRequest {
    pub id: String,
    pub name: Option<String>,
    pub description: Option<String>,
    pub url: Option<String>,
    /// Replaces the features only when non-empty.
    pub features: Vec<String>,
    #[serde(rename = "expirationDate")]
    pub expiration_date: Option<DateTime<Utc>>,
    pub classification: Option<String>,
    /// Part of the wire contract (`v1.ImageUpdateRequest` embeds `ImageBase`), ignored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usedby: Option<Vec<String>>,
}

/// Body of `POST /v1/image/find` (`datastore.ImageSearchQuery`): all given fields must match.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct ImageFindRequest {
    pub id: Option<String>,
    pub name: Option<String>,
    pub os: Option<String>,
    pub version: Option<String>,
    /// The image must have all of these.
    pub features: Vec<String>,
    pub classification: Option<ImageClassification>,
}

/// Splits an image id into os (everything before the last `-`) and its lenient version.
pub fn parse_image_id(id: &str) -> DomainResult<(String, Version)> {
    let Some((os, version)) = id.rsplit_once('-') else {
        return Err(DomainError::invalid(format!(
            "image {id:?} does not contain a version"
        )));
    };
    if os.is_empty() {
        return Err(DomainError::invalid(format!(
            "image {id:?} does not contain an os"
        )));
    }
    let version = Version::parse(version).map_err(|e| {
        DomainError::invalid(format!(
            "image {id:?} does not contain a valid version: {e}"
        ))
    })?;
    Ok((os.to_string(), version))
}

fn parse_features(features: &[String]) -> DomainResult<Vec<ImageFeature>> {
    let mut out = features
        .iter()
        .map(|f| ImageFeature::parse(f))
        .collect::<DomainResult<Vec<_>>>()?;
    out.sort();
    out.dedup();
    Ok(out)
}

impl Image {
    /// Builds a new image from a create request at time `now` (§4.7 defaults and checks).
    pub fn from_create(req: &ImageCreateRequest, now: DateTime<Utc>) -> DomainResult<Self> {
        if req.id.is_empty() {
            return Err(DomainError::invalid("image id is required"));
        }
        if req.url.is_empty() {
            return Err(DomainError::invalid("image url is required"));
        }
        parse_image_id(&req.id)?;
        let classification = match &req.classification {
            Some(c) => ImageClassification::parse(c)?,
            None => ImageClassification::default(),
        };
        Ok(Self {
            id: req.id.clone(),
            name: req.name.clone().unwrap_or_default(),
            description: req.description.clone().unwrap_or_default(),
            url: req.url.clone(),
            features: parse_features(&req.features)?,
            expiration_date: req
                .expiration_date
                .unwrap_or(now + Duration::days(DEFAULT_EXPIRATION_DAYS)),
            classification,
            created: None,
            changed: None,
            usedby: None,
        })
    }

    /// Applies the given fields of an update; nothing changes when it fails.
    pub fn apply_update(&mut self, req: &ImageUpdateRequest) -> DomainResult<()> {
        let features = if req.features.is_empty() {
            None
        } else {
            Some(parse_features(&req.features)?)
        };
        let classification = req
            .classification
            .as_deref()
            .map(ImageClassification::parse)
            .transpose()?;
        if req.url.as_deref() == Some("") {
            return Err(DomainError::invalid("image url must not be empty"));
        }
        if let Some(name) = &req.name {
            self.name = name.clone();
        }
        if let Some(description) = &req.description {
            self.description = description.clone();
        }
        if let Some(url) = &req.url {
            self.url = url.clone();
        }
        if let Some(features) = features {
            self.features = features;
        }
        if let Some(expiration) = req.expiration_date {
            self.expiration_date = expiration;
        }
        if let Some(classification) = classification {
            self.classification = classification;
        }
        Ok(())
    }

    /// The os and version encoded in the id.
    pub fn os_version(&self) -> DomainResult<(String, Version)> {
        parse_image_id(&self.id)
    }

    pub fn has_feature(&self, feature: ImageFeature) -> bool {
        self.features.contains(&feature)
    }
}

impl ImageFindRequest {
    /// True when every given field matches the image.
    pub fn matches(&self, image: &Image) -> bool {
        let parsed = image.os_version().ok();
        let id_ok = self.id.as_ref().is_none_or(|id| *id == image.id);
        let name_ok = self.name.as_ref().is_none_or(|name| *name == image.name);
        let os_ok = self
            .os
            .as_ref()
            .is_none_or(|os| parsed.as_ref().is_some_and(|(o, _)| o == os));
        let version_ok = self.version.as_ref().is_none_or(|wanted| {
            match (Version::parse(wanted), parsed.as_ref()) {
                (Ok(wanted), Some((_, v))) => wanted.precedence(v) == Ordering::Equal,
                _ => false,
            }
        });
        let features_ok = self
            .features
            .iter()
            .all(|f| ImageFeature::parse(f).is_ok_and(|f| image.has_feature(f)));
        let class_ok = self
            .classification
            .is_none_or(|c| c == image.classification);
        id_ok && name_ok && os_ok && version_ok && features_ok && class_ok
    }
}

/// The constraint a requested id stands for: exact when the patch is set, else `~x.y.z`.
fn request_constraint(id: &str) -> DomainResult<(String, Constraint)> {
    let (os, v) = parse_image_id(id)?;
    let text = if v.patch > 0 {
        format!("={v}")
    } else {
        format!("~{}.{}.{}", v.major, v.minor, v.patch)
    };
    Ok((os, Constraint::parse(&text)?))
}

/// Orders images by os ascending, then version descending; unparsable ids go last.
fn compare_newest_first(a: &Image, b: &Image) -> Ordering {
    match (a.os_version(), b.os_version()) {
        (Ok((ao, av)), Ok((bo, bv))) => ao.cmp(&bo).then_with(|| bv.precedence(&av)),
        (Ok(_), Err(_)) => Ordering::Less,
        (Err(_), Ok(_)) => Ordering::Greater,
        (Err(_), Err(_)) => a.id.cmp(&b.id),
    }
}

/// Resolves a requested id (`ubuntu-20.04`) to the newest image it stands for (§4.7).
pub fn resolve_latest<'a>(images: &'a [Image], id: &str) -> DomainResult<&'a Image> {
    let (os, constraint) = request_constraint(id)?;
    let mut sorted: Vec<&Image> = images.iter().collect();
    sorted.sort_by(|a, b| compare_newest_first(a, b));
    sorted
        .into_iter()
        .find(|image| {
            image
                .os_version()
                .is_ok_and(|(o, v)| o == os && constraint.check(&v))
        })
        .ok_or_else(|| {
            DomainError::not_found(format!(
                "no image for os:{os} and version:{constraint} found"
            ))
        })
}

/// All images the requested id stands for, in input order (`/v1/image/query`); may be empty.
pub fn query<'a>(images: &'a [Image], id: &str) -> DomainResult<Vec<&'a Image>> {
    let (os, constraint) = request_constraint(id)?;
    Ok(images
        .iter()
        .filter(|image| {
            image
                .os_version()
                .is_ok_and(|(o, v)| o == os && constraint.check(&v))
        })
        .collect())
}

#[cfg(test)]
mod tests;
