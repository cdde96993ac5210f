//! Where each catalog entity is stored and which of its fields are indexed.

use chrono::{DateTime, Utc};
use metal_domain::partition::Partition;
use metal_domain::project::{Project, Tenant};

use super::{filter, Document};

/// The time keeping of entities with `created` and `changed` fields.
macro_rules! created_changed {
    () => {
        fn set_times(&mut self, created: DateTime<Utc>, changed: DateTime<Utc>) {
            self.created = Some(created);
            self.changed = Some(changed);
        }
        fn created(&self) -> Option<DateTime<Utc>> {
            self.created
        }
    };
}

impl Document for Partition {
    type Filter<'a> = filter::PartitionFilter<'a>;
    const TABLE: &'static str = "partitions";
    const KIND: &'static str = "partition";
    const COLUMNS: &'static [&'static str] = &["name"];
    fn id(&self) -> &str {
        &self.id
    }
    fn column_values(&self) -> Vec<Option<String>> {
        vec![Some(self.name.clone())]
    }
    created_changed!();
}

impl Document for Tenant {
    type Filter<'a> = filter::TenantFilter<'a>;
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
    type Filter<'a> = filter::ProjectFilter<'a>;
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
    type Filter<'a> = filter::ImageFilter<'a>;
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
    created_changed!();
}

impl Document for metal_domain::size::Size {
    type Filter<'a> = filter::SizeFilter<'a>;
    const TABLE: &'static str = "sizes";
    const KIND: &'static str = "size";
    const COLUMNS: &'static [&'static str] = &["name"];
    fn id(&self) -> &str {
        &self.id
    }
    fn column_values(&self) -> Vec<Option<String>> {
        vec![Some(self.name.clone())]
    }
    created_changed!();
}

impl Document for metal_domain::sic::SizeImageConstraint {
    type Filter<'a> = filter::ById<'a>;
    const TABLE: &'static str = "size_image_constraints";
    const KIND: &'static str = "size image constraint";
    fn id(&self) -> &str {
        &self.id
    }
    created_changed!();
}

impl Document for metal_domain::fsl::FilesystemLayout {
    type Filter<'a> = filter::ById<'a>;
    const TABLE: &'static str = "filesystem_layouts";
    const KIND: &'static str = "filesystemlayout";
    fn id(&self) -> &str {
        &self.id
    }
    created_changed!();
}

impl Document for metal_domain::network::Network {
    type Filter<'a> = filter::NetworkFilter<'a>;
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
    created_changed!();
}

impl Document for metal_domain::machine::Machine {
    type Filter<'a> = filter::MachineFilter<'a>;
    const TABLE: &'static str = "machines";
    const KIND: &'static str = "machine";
    const COLUMNS: &'static [&'static str] = &[
        "partition_id",
        "size_id",
        "project_id",
        "image_id",
        "rack_id",
        "waiting",
        "state_value",
        "role",
    ];
    fn id(&self) -> &str {
        &self.id
    }
    fn column_values(&self) -> Vec<Option<String>> {
        let opt = |s: &str| Some(s.to_string()).filter(|s| !s.is_empty());
        let a = self.allocation.as_ref();
        vec![
            opt(&self.partitionid),
            opt(&self.sizeid),
            a.map(|a| a.project.clone()),
            a.map(|a| a.imageid.clone()),
            opt(&self.rackid),
            Some(self.waiting.to_string()),
            Some(self.state.value.as_str().to_string()),
            a.map(|a| a.role.as_str().to_string()),
        ]
    }
    created_changed!();
}

impl Document for metal_domain::event::EventContainer {
    type Filter<'a> = filter::EventContainerFilter<'a>;
    const TABLE: &'static str = "event_containers";
    const KIND: &'static str = "provisioning event container";
    const COLUMNS: &'static [&'static str] = &["liveliness", "last_event_time"];
    fn id(&self) -> &str {
        &self.id
    }
    fn column_values(&self) -> Vec<Option<String>> {
        vec![
            Some(self.liveliness.as_str().to_string()),
            self.last_event_time.map(crate::time::to_db),
        ]
    }
    fn set_times(&mut self, _created: DateTime<Utc>, _changed: DateTime<Utc>) {}
    fn created(&self) -> Option<DateTime<Utc>> {
        None
    }
}

impl Document for metal_domain::switch::Switch {
    type Filter<'a> = filter::SwitchFilter<'a>;
    const TABLE: &'static str = "switches";
    const KIND: &'static str = "switch";
    const COLUMNS: &'static [&'static str] =
        &["name", "partition_id", "rack_id", "os_vendor", "os_version"];
    fn id(&self) -> &str {
        &self.id
    }
    fn column_values(&self) -> Vec<Option<String>> {
        let opt = |s: &str| Some(s.to_string()).filter(|s| !s.is_empty());
        vec![
            Some(self.name.clone()),
            opt(&self.partition_id),
            opt(&self.rack_id),
            self.os.as_ref().and_then(|o| opt(&o.vendor)),
            self.os.as_ref().and_then(|o| opt(&o.version)),
        ]
    }
    created_changed!();
}

impl Document for metal_domain::reservation::SizeReservation {
    type Filter<'a> = filter::SizeReservationFilter<'a>;
    const TABLE: &'static str = "size_reservations";
    const KIND: &'static str = "size reservation";
    const COLUMNS: &'static [&'static str] = &["size_id", "project_id"];
    fn id(&self) -> &str {
        &self.id
    }
    fn column_values(&self) -> Vec<Option<String>> {
        vec![Some(self.sizeid.clone()), Some(self.projectid.clone())]
    }
    created_changed!();
}
