//! metal-core, the agent on every leaf switch.
//!
//! - [`register`]: registers the switch and its ports with metal-api;
//! - [`phonehome`]: turns LLDP "provisioned" beacons into Phoned Home events;
//! - [`model`]: the switch configuration as a pure function of the switch document
//!   (`GET /v1/switch/{id}`), the [`settings`] and the VLANs the [`kernel`] maps.
//!
//! Not built yet: rendering the configuration into files, the reconcile loop (fetch, render,
//! validate, apply, notify metal-api).

pub mod kernel;
pub mod model;
pub mod phonehome;
pub mod register;
pub mod settings;
