//! Typed ids for the places where two ids of different kinds travel side by side (a machine
//! and its partition, a partition and a size), so that swapping them does not compile. They
//! are transparent: serialized as the plain string, so stored documents and the wire keep
//! their shape, and they read as `&str` where a string is wanted.

use std::fmt;
use std::ops::Deref;

use serde::{Deserialize, Serialize};

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn new(id: impl Into<String>) -> Self {
                Self(id.into())
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                Self(s)
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                Self(s.to_string())
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, o: &str) -> bool {
                self.0 == o
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, o: &&str) -> bool {
                self.0 == *o
            }
        }
    };
}

id_type!(
    /// The id of a machine (its SMBIOS uuid).
    MachineId
);
id_type!(
    /// The id of a partition.
    PartitionId
);
id_type!(
    /// The id of a size.
    SizeId
);
id_type!(
    /// The id of a project.
    ProjectId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_plain_strings_on_the_wire() {
        let m = MachineId::new("6c61622d");
        assert_eq!(serde_json::to_string(&m).unwrap(), "\"6c61622d\"");
        let back: PartitionId = serde_json::from_str("\"fra\"").unwrap();
        assert_eq!(back, "fra");
        assert_eq!(back.to_string(), "fra");
        assert_eq!(&*back, "fra");
        assert_eq!(SizeId::from("c1").into_string(), "c1");
        assert_eq!(ProjectId::default().as_str(), "");
    }
}
