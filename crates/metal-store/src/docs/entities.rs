//! Where each catalog entity is stored and which of its fields are indexed.

use chrono::{DateTime, Utc};
use metal_domain::partition::Partition;
use metal_domain::project::{Project, Tenant};

use super::Document;

impl Document for Partition {
    const TABLE: &'static str = "partitions";
    const KIND: &'static str = "partition";
    const COLUMNS: &'static [&'static str] = &["name"];
    fn id(&self) -> &str {
        &self.id
    }
    fn column_values(&self) -> Vec<Option<String>> {
        vec![Some(self.name.clone())]
    }
    fn set_times(&mut self, created: DateTime<Utc>, changed: DateTime<Utc>) {
        self.created = Some(created);
        self.changed = Some(changed);
    }
    fn created(&self) -> Option<DateTime<Utc>> {
        self.created
    }
}

impl Document for Tenant {
    const TABLE: &'static str = "tenants";
    const KIND: &'static str = "tenant";
    const COLUMNS: &'static [&'static str] = &["name"];
    fn id(&self) -> &str {
        &self.meta.id
    }
    fn column_values(&self) -> Vec<Option<String>> {
        vec![Some(self.name.clone())]
    }
    fn set_times(&mut self, created: DateTime<Utc>, changed: DateTime<Utc>) {
        self.meta.created_time = Some(created);
        self.meta.updated_time = Some(changed);
    }
    fn created(&self) -> Option<DateTime<Utc>> {
        self.meta.created_time
    }
}

impl Document for Project {
    const TABLE: &'static str = "projects";
    const KIND: &'static str = "project";
    const COLUMNS: &'static [&'static str] = &["name", "tenant_id"];
    fn id(&self) -> &str {
        &self.meta.id
    }
    fn column_values(&self) -> Vec<Option<String>> {
        vec![Some(self.name.clone()), Some(self.tenant_id.clone())]
    }
    fn set_times(&mut self, created: DateTime<Utc>, changed: DateTime<Utc>) {
        self.meta.created_time = Some(created);
        self.meta.updated_time = Some(changed);
    }
    fn created(&self) -> Option<DateTime<Utc>> {
        self.meta.created_time
    }
}

impl Document for metal_domain::image::Image {
    const TABLE: &'static str = "images";
    const KIND: &'static str = "image";
    const COLUMNS: &'static [&'static str] = &["name", "os", "classification"];
    fn id(&self) -> &str {
        &self.id
    }
    fn column_values(&self) -> Vec<Option<String>> {
        let os = metal_domain::image::parse_image_id(&self.id)
            .ok()
            .map(|(os, _)| os);
        vec![
            Some(self.name.clone()),
            os,
            Some(self.classification.as_str().to_string()),
        ]
    }
    fn set_times(&mut self, created: DateTime<Utc>, changed: DateTime<Utc>) {
        self.created = Some(created);
        self.changed = Some(changed);
    }
    fn created(&self) -> Option<DateTime<Utc>> {
        self.created
    }
}

impl Document for metal_domain::size::Size {
    const TABLE: &'static str = "sizes";
    const KIND: &'static str = "size";
    const COLUMNS: &'static [&'static str] = &["name"];
    fn id(&self) -> &str {
        &self.id
    }
    fn column_values(&self) -> Vec<Option<String>> {
        vec![Some(self.name.clone())]
    }
    fn set_times(&mut self, created: DateTime<Utc>, changed: DateTime<Utc>) {
        self.created = Some(created);
        self.changed = Some(changed);
    }
    fn created(&self) -> Option<DateTime<Utc>> {
        self.created
    }
}

impl Document for metal_domain::sic::SizeImageConstraint {
    const TABLE: &'static str = "size_image_constraints";
    const KIND: &'static str = "size image constraint";
    fn id(&self) -> &str {
        &self.id
    }
    fn set_times(&mut self, created: DateTime<Utc>, changed: DateTime<Utc>) {
        self.created = Some(created);
        self.changed = Some(changed);
    }
    fn created(&self) -> Option<DateTime<Utc>> {
        self.created
    }
}

impl Document for metal_domain::fsl::FilesystemLayout {
    const TABLE: &'static str = "filesystem_layouts";
    const KIND: &'static str = "filesystemlayout";
    fn id(&self) -> &str {
        &self.id
    }
    fn set_times(&mut self, created: DateTime<Utc>, changed: DateTime<Utc>) {
        self.created = Some(created);
        self.changed = Some(changed);
    }
    fn created(&self) -> Option<DateTime<Utc>> {
        self.created
    }
}

impl Document for metal_domain::network::Network {
    const TABLE: &'static str = "networks";
    const KIND: &'static str = "network";
    const COLUMNS: &'static [&'static str] = &[
        "name",
        "partition_id",
        "project_id",
        "parent_id",
        "privatesuper",
        "underlay",
        "vrf",
    ];
    fn id(&self) -> &str {
        &self.id
    }
    fn column_values(&self) -> Vec<Option<String>> {
        let opt = |s: &str| Some(s.to_string()).filter(|s| !s.is_empty());
        vec![
            Some(self.name.clone()),
            opt(&self.partitionid),
            opt(&self.projectid),
            opt(&self.parentnetworkid),
            Some(self.privatesuper.to_string()),
            Some(self.underlay.to_string()),
            (self.vrf != 0).then(|| self.vrf.to_string()),
        ]
    }
    fn set_times(&mut self, created: DateTime<Utc>, changed: DateTime<Utc>) {
        self.created = Some(created);
        self.changed = Some(changed);
    }
    fn created(&self) -> Option<DateTime<Utc>> {
        self.created
    }
}
