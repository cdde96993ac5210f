//! os-installer: the part of an OS image that turns an allocation into a configured system.
//! metal-hammer unpacks the image, writes `/etc/metal/install.yaml` ([`config`]) and runs the
//! image's `/install.sh` in a chroot, which calls `os-installer`.
//!
//! - [`net`]: the allocation's networks as the renderers need them (kinds, VRFs, VLAN ids).
//! - [`networkd`], [`frr`], [`nftables`], [`system`]: pure renderers of the files.
//! - [`tasks`]: the installation against an image root, task by task, with the checks.

pub mod config;
pub mod frr;
pub mod net;
pub mod networkd;
pub mod nftables;
pub mod system;
pub mod tasks;
