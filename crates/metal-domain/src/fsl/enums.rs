//! The closed value sets of a filesystem layout. They travel as strings; an unknown value is
//! a 422 naming the field and the accepted values.

use crate::error::{DomainError, DomainResult};

fn unknown(field: &str, value: &str, accepted: &[&str]) -> DomainError {
    DomainError::unprocessable(format!(
        "{field} {value:?} is not supported, must be one of {}",
        accepted.join(", ")
    ))
}

macro_rules! string_enum {
    ($(#[$doc:meta])* $name:ident, $field:literal, { $($(#[$vdoc:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vdoc])* $variant),+
        }

        impl $name {
            /// Every value, in wire spelling.
            pub const ALL: &'static [&'static str] = &[$($text),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text),+
                }
            }

            /// Parses the wire spelling; anything else is a 422.
            pub fn parse(s: &str) -> DomainResult<Self> {
                match s {
                    $($text => Ok(Self::$variant),)+
                    other => Err(unknown($field, other, Self::ALL)),
                }
            }
        }
    };
}

string_enum!(
    /// GPT partition type codes.
    GptType, "gpttype", {
        /// EFI system partition.
        Boot = "ef00",
        /// Linux filesystem.
        Linux = "8300",
        /// Linux LVM physical volume.
        LinuxLvm = "8e00",
        /// Linux RAID member.
        LinuxRaid = "fd00",
    }
);

string_enum!(
    /// Filesystem formats metal-hammer can create.
    Format, "filesystem format", {
        Vfat = "vfat",
        Ext3 = "ext3",
        Ext4 = "ext4",
        Swap = "swap",
        Tmpfs = "tmpfs",
        /// Leave the device unformatted.
        None = "none",
    }
);

string_enum!(
    /// mdadm raid levels.
    RaidLevel, "raid level", {
        Raid0 = "0",
        Raid1 = "1",
    }
);

string_enum!(
    /// LVM logical volume types.
    LvmType, "lvmtype", {
        Linear = "linear",
        Striped = "striped",
        Raid1 = "raid1",
    }
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_round_trips_and_others_are_unprocessable() {
        for s in GptType::ALL {
            assert_eq!(GptType::parse(s).map(GptType::as_str), Ok(*s));
        }
        for s in Format::ALL {
            assert_eq!(Format::parse(s).map(Format::as_str), Ok(*s));
        }
        for s in RaidLevel::ALL {
            assert_eq!(RaidLevel::parse(s).map(RaidLevel::as_str), Ok(*s));
        }
        for s in LvmType::ALL {
            assert_eq!(LvmType::parse(s).map(LvmType::as_str), Ok(*s));
        }
        assert_eq!(Format::ALL.len(), 6);
        assert_eq!(
            RaidLevel::parse("5"),
            Err(DomainError::unprocessable(
                "raid level \"5\" is not supported, must be one of 0, 1"
            ))
        );
        for bad in ["", "EF00", "ext2", "raid5"] {
            assert!(
                GptType::parse(bad).is_err()
                    && Format::parse(bad).is_err()
                    && LvmType::parse(bad).is_err()
            );
        }
    }
}
