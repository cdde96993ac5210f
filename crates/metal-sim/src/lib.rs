//! Virtual hardware for tests, benchmarks and the lab (`metal-lab`). Nothing here links
//! metal-api or a database: the pieces talk to a metal-api, where they need one, over its REST
//! and gRPC interfaces, like the real agents and machines do.
//!
//! - [`vm`]: qemu guests under TCG with the Debian kernel and a Rust-built initramfs, or
//!   firmware that network-boots; their disks and serial consoles;
//! - [`osimage`]: the test OS image (`img.tar.lz4` + `.md5`), and [`fileserver`], the HTTP
//!   server that serves it with fault injection;
//! - [`ipmisim`]: BMCs speaking IPMI over LAN (OpenIPMI's `ipmi_sim`);
//! - [`sim`]: simulated machines and leaf switches that play pixie, metal-hammer, metal-core
//!   and metal-bmc against a running metal-api;
//! - [`poll`]: waiting for a condition with a deadline ([`until`]);
//! - [`gate`]: whether a test that needs root or external tools runs ([`privileged`],
//!   [`tool_or_skip`]).

pub mod fileserver;
pub mod gate;
pub mod ipmisim;
pub mod osimage;
pub mod poll;
pub mod sim;
pub mod vm;

pub use gate::{privileged, tool_or_skip};
pub use poll::{try_until, try_until_blocking, until, until_blocking, until_every};
