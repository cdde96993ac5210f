//! metal-hammer: the install agent that runs as PID 1 in a machine's network-booted ramdisk.
//!
//! - [`exec`]: runs the external tools (sgdisk, mdadm, lvm, mkfs, ...) with logged command
//!   lines and errors that name the command and its output;
//! - [`layout`]: a filesystem layout turned into the ordered command plan of metal-stack's
//!   metal-hammer (partitions, RAID, LVM, mkfs, mounts: one pure function each) and its
//!   execution, with fstab entries;
//! - [`image`]: the OS image (`.tar.lz4` with `.md5`) streamed from HTTP: download, checksum,
//!   decompress and unpack in one pass, verified before it counts as installed;
//! - [`install`]: the installation of an allocation onto the disks (layout, image,
//!   `/etc/metal/install.yaml`, userdata, the image's installer in a chroot, `boot-info.yaml`,
//!   fstab, unmount): its wire types, the files written into the image, and the flow;
//! - [`wipe`]: disk wiping before a machine waits for its next allocation;
//! - [`cmdline`], [`config`]: the kernel command line and the configuration pixie hands out;
//! - [`discover`]: hardware discovery; [`lldp`]: LLDP neighbours as metal-api wants them;
//! - [`agent`]: the run against metal-api (register, events, wait, install, report, kexec);
//!   [`bmc`]: the machine's BMC users and data; [`kexec`]: the jump into the installed kernel;
//! - [`cli`]: the subcommands (`run`, `install`, `plan`, `wipe`) and their exit codes;
//! - [`init`]: what PID 1 does before the agent runs (mounts, modules, network).

/// This metal-hammer's version: registered with metal-api, written into fstab, printed at start.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

pub mod agent;
pub mod bmc;
pub mod cli;
pub mod cmdline;
pub mod config;
pub mod discover;
pub mod exec;
pub mod image;
pub mod init;
pub mod install;
pub mod kexec;
pub mod layout;
pub mod lldp;
pub mod wipe;
