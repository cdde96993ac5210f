//! Typed async REST client for metal-api v1, shared by metalctl, the agents and the tests.
//!
//! ```no_run
//! # async fn demo() -> Result<(), metal_client::Error> {
//! use metal_client::{Client, HmacAuthType};
//! let client = Client::builder("http://localhost:8080/metal/")
//!     .hmac("admin-key", HmacAuthType::Admin)
//!     .build()?;
//! let sizes = client.list_sizes().await?;
//! # Ok(()) }
//! ```
//!
//! - [`auth`]: HMAC signing exactly as metal-stack does it, and bearer tokens;
//! - [`client`]: base URL handling and the generic [`Client::request`];
//! - `endpoints`: one typed method per REST endpoint (images, sizes, size-image constraints,
//!   partitions, filesystem layouts, projects, tenants, networks, IPs, machines, firewalls,
//!   health, version, user, audit, firmware);
//! - [`error`]: the error enum carrying the server's status and message.
//!
//! Wire types are those of `metal-domain`.

pub mod auth;
pub mod client;
mod endpoints;
pub mod error;

pub use auth::{hmac_headers, hmac_signature, Auth, HmacAuthType, HmacHeaders};
pub use client::{join_url, Client, ClientBuilder, Method};
pub use endpoints::firmware::FirmwareQuery;
pub use error::{Error, Result};
