//! metal-api: the control plane's server.
//!
//! Layers, as in `DESIGN.md`: [`rest`] (route table and thin handlers) → [`app`] (business
//! flows, one transaction per request) → `metal-store` (SQL). [`state`] is what every request
//! shares, with the [`runtime`] machinery (batching workers, stream wake-ups, background jobs).
//! [`auth`] decides who calls and what they may do, [`middleware`] adds request ids, metrics
//! and the audit trail, and [`server`] starts and stops it all.

pub mod app;
pub mod auth;
pub mod config;
pub mod error;
pub mod firmware_store;
pub mod firstrun;
pub mod fleetmetrics;
pub mod grpc;
pub mod headscale;
pub mod metrics;
pub mod middleware;
pub mod openapi;
pub mod openapi_bounds;
pub mod openapi_rules;
pub mod rest;
pub mod runtime;
pub mod server;
pub mod state;

pub use config::{Config, Secret};
pub use server::{run, start, RunningServer};
