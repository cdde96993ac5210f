//! Typed searches of document tables: one enum per kind of document, one variant per indexed
//! column. A search names a variant, never a column, so a typo does not compile and the domain
//! crate stays free of the storage layout. Every variant's column is tested to be one of the
//! kind's [`Document::COLUMNS`] (or the id).

use std::borrow::Cow;

use metal_domain::switch::SwitchFindRequest;

#[cfg(doc)]
use super::Document;

/// A condition `column = value` on an indexed column of a document table.
pub trait Filter {
    /// The column the condition is on.
    fn column(&self) -> &'static str;
    /// The value as stored in the column.
    fn value(&self) -> Cow<'_, str>;
}

/// A search field's value when it is given: absent and empty both mean "any".
pub fn given(v: &Option<String>) -> Option<&str> {
    v.as_deref().filter(|v| !v.is_empty())
}

/// The kinds without indexed columns are searched by id only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ById<'a> {
    Id(&'a str),
}

impl Filter for ById<'_> {
    fn column(&self) -> &'static str {
        "id"
    }
    fn value(&self) -> Cow<'_, str> {
        let Self::Id(v) = self;
        Cow::Borrowed(v)
    }
}

/// Declares a filter enum whose variants all hold a `&str` stored as is.
macro_rules! str_filter {
    ($(#[$doc:meta])* $name:ident { $($variant:ident => $column:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum $name<'a> {
            $($variant(&'a str)),+
        }

        impl Filter for $name<'_> {
            fn column(&self) -> &'static str {
                match self {
                    $(Self::$variant(_) => $column),+
                }
            }
            fn value(&self) -> Cow<'_, str> {
                match self {
                    $(Self::$variant(v) => Cow::Borrowed(v)),+
                }
            }
        }

        #[cfg(test)]
        impl $name<'static> {
            /// One value of every variant, for the column check.
            pub(crate) fn every() -> Vec<Self> {
                vec![$(Self::$variant("")),+]
            }
        }
    };
}

str_filter!(
    /// Searches of partitions.
    PartitionFilter { Id => "id", Name => "name" }
);
str_filter!(
    /// Searches of tenants.
    TenantFilter { Id => "id", Name => "name" }
);
str_filter!(
    /// Searches of projects.
    ProjectFilter { Id => "id", Name => "name", Tenant => "tenant_id" }
);
str_filter!(
    /// Searches of images; `Os` is the operating system part of the id (`ubuntu` of
    /// `ubuntu-20.04`), `Classification` the stored classification (`preview`, ...).
    ImageFilter { Id => "id", Name => "name", Os => "os", Classification => "classification" }
);
str_filter!(
    /// Searches of sizes.
    SizeFilter { Id => "id", Name => "name" }
);
str_filter!(
    /// Searches of size reservations.
    SizeReservationFilter { Id => "id", Size => "size_id", Project => "project_id" }
);
str_filter!(
    /// Searches of provisioning event containers (id = machine id).
    EventContainerFilter { Id => "id", Liveliness => "liveliness" }
);
str_filter!(
    /// Searches of switches.
    SwitchFilter {
        Id => "id",
        Name => "name",
        Partition => "partition_id",
        Rack => "rack_id",
        OsVendor => "os_vendor",
        OsVersion => "os_version",
    }
);

impl<'a> SwitchFilter<'a> {
    /// The conditions of a switch search: every field given with a non-empty value.
    pub fn of_request(q: &'a SwitchFindRequest) -> Vec<Self> {
        [
            given(&q.id).map(Self::Id),
            given(&q.name).map(Self::Name),
            given(&q.partitionid).map(Self::Partition),
            given(&q.rackid).map(Self::Rack),
            given(&q.osvendor).map(Self::OsVendor),
            given(&q.osversion).map(Self::OsVersion),
        ]
        .into_iter()
        .flatten()
        .collect()
    }
}

/// Searches of networks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetworkFilter<'a> {
    Id(&'a str),
    Name(&'a str),
    Partition(&'a str),
    Project(&'a str),
    Parent(&'a str),
    PrivateSuper(bool),
    Underlay(bool),
    Vrf(u32),
}

impl Filter for NetworkFilter<'_> {
    fn column(&self) -> &'static str {
        match self {
            Self::Id(_) => "id",
            Self::Name(_) => "name",
            Self::Partition(_) => "partition_id",
            Self::Project(_) => "project_id",
            Self::Parent(_) => "parent_id",
            Self::PrivateSuper(_) => "privatesuper",
            Self::Underlay(_) => "underlay",
            Self::Vrf(_) => "vrf",
        }
    }
    fn value(&self) -> Cow<'_, str> {
        match self {
            Self::Id(v)
            | Self::Name(v)
            | Self::Partition(v)
            | Self::Project(v)
            | Self::Parent(v) => Cow::Borrowed(v),
            Self::PrivateSuper(b) | Self::Underlay(b) => Cow::Owned(b.to_string()),
            Self::Vrf(v) => Cow::Owned(v.to_string()),
        }
    }
}

/// Searches of machines. `Project` and `Image` are those of the allocation; `Waiting` and the
/// state are stored as text (`true`, `LOCKED`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MachineFilter<'a> {
    Id(&'a str),
    Partition(&'a str),
    Size(&'a str),
    Project(&'a str),
    Image(&'a str),
    Rack(&'a str),
    Waiting(bool),
    State(metal_domain::machine::MachineStateValue),
    /// The allocation's role as stored (`machine`, `firewall`).
    Role(&'a str),
}

impl Filter for MachineFilter<'_> {
    fn column(&self) -> &'static str {
        match self {
            Self::Id(_) => "id",
            Self::Partition(_) => "partition_id",
            Self::Size(_) => "size_id",
            Self::Project(_) => "project_id",
            Self::Image(_) => "image_id",
            Self::Rack(_) => "rack_id",
            Self::Waiting(_) => "waiting",
            Self::State(_) => "state_value",
            Self::Role(_) => "role",
        }
    }
    fn value(&self) -> Cow<'_, str> {
        match self {
            Self::Id(v)
            | Self::Partition(v)
            | Self::Size(v)
            | Self::Project(v)
            | Self::Image(v)
            | Self::Rack(v)
            | Self::Role(v) => Cow::Borrowed(v),
            Self::Waiting(b) => Cow::Owned(b.to_string()),
            Self::State(s) => Cow::Borrowed(s.as_str()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::docs::Document;
    use metal_domain::machine::{Machine, MachineStateValue, Role};
    use metal_domain::network::Network;

    fn check<T: Document>(filters: impl IntoIterator<Item = impl Filter>) {
        for f in filters {
            let c = f.column();
            assert!(
                c == "id" || T::COLUMNS.contains(&c),
                "{c} is not a column of {}",
                T::TABLE
            );
        }
    }

    #[test]
    fn every_filter_names_a_column_of_its_table() {
        check::<metal_domain::partition::Partition>(PartitionFilter::every());
        check::<metal_domain::project::Tenant>(TenantFilter::every());
        check::<metal_domain::project::Project>(ProjectFilter::every());
        check::<metal_domain::image::Image>(ImageFilter::every());
        check::<metal_domain::size::Size>(SizeFilter::every());
        check::<metal_domain::reservation::SizeReservation>(SizeReservationFilter::every());
        check::<metal_domain::event::EventContainer>(EventContainerFilter::every());
        check::<metal_domain::switch::Switch>(SwitchFilter::every());
        check::<metal_domain::fsl::FilesystemLayout>([ById::Id("")]);
        check::<Network>([
            NetworkFilter::Id(""),
            NetworkFilter::Name(""),
            NetworkFilter::Partition(""),
            NetworkFilter::Project(""),
            NetworkFilter::Parent(""),
            NetworkFilter::PrivateSuper(true),
            NetworkFilter::Underlay(true),
            NetworkFilter::Vrf(1),
        ]);
        check::<Machine>([
            MachineFilter::Id(""),
            MachineFilter::Partition(""),
            MachineFilter::Size(""),
            MachineFilter::Project(""),
            MachineFilter::Image(""),
            MachineFilter::Rack(""),
            MachineFilter::Waiting(true),
            MachineFilter::State(MachineStateValue::Locked),
            MachineFilter::Role(Role::Firewall.as_str()),
        ]);
    }

    #[test]
    fn values_are_stored_as_the_columns_hold_them() {
        assert_eq!(NetworkFilter::PrivateSuper(true).value(), "true");
        assert_eq!(NetworkFilter::Vrf(42).value(), "42");
        assert_eq!(MachineFilter::Waiting(false).value(), "false");
        assert_eq!(
            MachineFilter::State(MachineStateValue::Locked).value(),
            MachineStateValue::Locked.as_str()
        );
    }

    #[test]
    fn switch_search_skips_empty_values() {
        let q = SwitchFindRequest {
            partitionid: Some("fra".into()),
            rackid: Some(String::new()),
            osvendor: Some("SONiC".into()),
            ..Default::default()
        };
        assert_eq!(
            SwitchFilter::of_request(&q),
            [
                SwitchFilter::Partition("fra"),
                SwitchFilter::OsVendor("SONiC")
            ]
        );
    }
}
