//! `metalctl image`: the generic verbs over `/v1/image`, `list --show-usage`.
//! Table: `ID | NAME | DESCRIPTION | FEATURES | EXPIRATION | STATUS` (+ `USEDBY` with
//! `--show-usage`: the number of machines, their ids when wide).
//!
//! Files are read as update requests, so a document without `expirationDate` (the server
//! then picks the default) is accepted too.

use chrono::Utc;
use clap::Args;
use metal_client::{Client, Result};
use metal_domain::image::{Image, ImageCreateRequest, ImageUpdateRequest};

use crate::crud::{ListArgs, Resource};
use crate::output::{humanize, Table};
use crate::sort::{SortArgs, SortKey};

/// Arguments of `image list`.
#[derive(Args, Debug, Clone, Default)]
pub struct ImageList {
    /// Show which machines use each image.
    #[arg(long)]
    pub show_usage: bool,
    #[command(flatten)]
    pub sort: SortArgs,
}

impl ListArgs for ImageList {
    fn sort(&self) -> &SortArgs {
        &self.sort
    }
}

pub struct ImageResource;

fn features(i: &Image) -> String {
    i.features
        .iter()
        .map(|f| f.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

impl Resource for ImageResource {
    const KIND: &'static str = "image";
    const SORT_KEYS: &'static [&'static str] =
        &["id", "name", "description", "expiration", "classification"];

    type Entity = Image;
    type Doc = ImageUpdateRequest;
    type Create = ImageCreateRequest;
    type Update = ImageUpdateRequest;
    type List = ImageList;

    fn id(e: &Image) -> String {
        e.id.clone()
    }

    fn doc_id(d: &ImageUpdateRequest) -> String {
        d.id.clone()
    }

    fn to_create(d: &ImageUpdateRequest) -> ImageCreateRequest {
        ImageCreateRequest {
            id: d.id.clone(),
            name: d.name.clone(),
            description: d.description.clone(),
            url: d.url.clone().unwrap_or_default(),
            features: d.features.clone(),
            expiration_date: d.expiration_date,
            classification: d.classification.clone(),
        }
    }

    fn to_update(d: &ImageUpdateRequest) -> ImageUpdateRequest {
        ImageUpdateRequest {
            usedby: None,
            ..d.clone()
        }
    }

    fn table(items: &[Image], wide: bool, args: &ImageList) -> Table {
        let mut header = vec![
            "ID",
            "NAME",
            "DESCRIPTION",
            "FEATURES",
            "EXPIRATION",
            "STATUS",
        ];
        if args.show_usage {
            header.push("USEDBY");
        }
        let now = Utc::now();
        let mut t = Table::new(header);
        for i in items {
            let mut row = vec![
                i.id.clone(),
                i.name.clone(),
                i.description.clone(),
                features(i),
                humanize::duration(i.expiration_date - now),
                i.classification.as_str().to_string(),
            ];
            if args.show_usage {
                let used = i.usedby.clone().unwrap_or_default();
                row.push(if wide {
                    used.join("\n")
                } else {
                    used.len().to_string()
                });
            }
            t.push(row);
        }
        t
    }

    fn sort_key(i: &Image, key: &str) -> SortKey {
        match key {
            "name" => i.name.as_str().into(),
            "description" => i.description.as_str().into(),
            "expiration" => Some(i.expiration_date).into(),
            "classification" => i.classification.as_str().into(),
            _ => i.id.as_str().into(),
        }
    }

    async fn list(c: &Client, args: &ImageList) -> Result<Vec<Image>> {
        c.list_images(args.show_usage).await
    }
    async fn get(c: &Client, id: &str) -> Result<Image> {
        c.get_image(id).await
    }
    async fn create(c: &Client, req: &ImageCreateRequest) -> Result<Image> {
        c.create_image(req).await
    }
    async fn update(c: &Client, req: ImageUpdateRequest) -> Result<Image> {
        c.update_image(&req).await
    }
    async fn delete(c: &Client, id: &str) -> Result<Image> {
        c.delete_image(id).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;
    use metal_domain::image::{ImageClassification, ImageFeature};

    fn image(id: &str, days: i64) -> Image {
        Image {
            id: id.into(),
            name: "Ubuntu".into(),
            description: "LTS".into(),
            url: "http://images/ubuntu.tar.lz4".into(),
            features: vec![ImageFeature::Firewall, ImageFeature::Machine],
            // the seconds are not shown next to days and hours, so the test does not flip
            expiration_date: Utc::now() + Duration::days(days) + Duration::minutes(90),
            classification: ImageClassification::Supported,
            created: None,
            changed: None,
            usedby: Some(vec!["m1".into(), "m2".into()]),
        }
    }

    #[test]
    fn table_columns() {
        let items = [image("ubuntu-22.04.20240101", 3)];
        let t = ImageResource::table(&items, false, &ImageList::default());
        assert_eq!(
            t.header,
            [
                "ID",
                "NAME",
                "DESCRIPTION",
                "FEATURES",
                "EXPIRATION",
                "STATUS"
            ]
        );
        assert_eq!(
            t.rows[0],
            [
                "ubuntu-22.04.20240101",
                "Ubuntu",
                "LTS",
                "firewall,machine",
                "3d 1h",
                "supported"
            ]
        );
        let usage = ImageList {
            show_usage: true,
            ..Default::default()
        };
        let t = ImageResource::table(&items, false, &usage);
        assert_eq!(t.header.last().unwrap(), "USEDBY");
        assert_eq!(t.rows[0].last().unwrap(), "2");
        let t = ImageResource::table(&items, true, &usage);
        assert_eq!(t.rows[0].last().unwrap(), "m1\nm2");
    }

    #[test]
    fn documents_without_expiration_are_accepted() {
        let docs: Vec<ImageUpdateRequest> = crate::input::parse_documents(
            "id: ubuntu-22.04.20240101\nurl: http://x/img.tar.lz4\nfeatures: [machine]\ncreated: 2024-01-01T00:00:00Z\nusedby: [m1]\n",
            "test",
        )
        .unwrap();
        let c = ImageResource::to_create(&docs[0]);
        assert_eq!(c.url, "http://x/img.tar.lz4");
        assert_eq!(c.expiration_date, None);
        assert_eq!(c.features, ["machine"]);
        assert_eq!(ImageResource::to_update(&docs[0]).usedby, None);
    }
}
