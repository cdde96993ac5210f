//! metal-bmc: the BMC agent of one partition (metal-stack's metal-bmc, without its message
//! queue).
//!
//! - [`leases`]: which BMCs exist, from the BMC network's ISC dhcpd lease file;
//! - [`bmc`]: the protocol-independent view of one BMC, driven by [`ipmi`] (ipmitool, IPMI over
//!   LAN) or [`redfish`] (HTTPS);
//! - [`agent`]: the reporter (`POST /v1/machine/ipmi` at start and every report interval) and
//!   the consumer of metal-api's gRPC command stream (power, boot device, identify LED), which
//!   acknowledges every command.
//!
//! Credentials never reach a log line or a command line.

pub mod agent;
pub mod bmc;
pub mod config;
pub mod ipmi;
pub mod leases;
pub mod redfish;
