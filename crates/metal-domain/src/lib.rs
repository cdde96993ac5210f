//! Entities and pure business rules of the metal-stack control plane.
//!
//! Nothing in this crate does I/O or is async: every decision (which image an id resolves to,
//! whether a size overlaps another, which filesystem layout a size and image get, whether a
//! layout is valid) is a deterministic function over values, unit-tested here.
//!
//! The entity structs serialize in the JSON shape of metal-stack's v1 REST API
//! (`metal-api-v1.swagger.json`), so the stored document and the wire response are the same
//! value. Request bodies (create, update, find, try) have their own structs beside them.

pub mod allocation;
pub mod audit;
pub mod error;
pub mod event;
pub mod firmware;
pub mod fsl;
pub mod ids;
pub mod image;
pub mod ip;
pub mod issues;
pub mod machine;
pub mod misc;
pub mod network;
pub mod partition;
pub mod pool;
pub mod prefix;
pub mod project;
pub mod reservation;
pub mod sic;
pub mod size;
pub mod switch;
pub mod version;
pub mod vpn;
pub mod wire;

pub use error::{DomainError, DomainResult};
