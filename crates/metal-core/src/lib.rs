//! metal-core, the agent on every leaf switch.
//!
//! - [`register`]: registers the switch and its ports with metal-api;
//! - [`phonehome`]: turns LLDP "provisioned" beacons into Phoned Home events;
//! - [`model`]: the switch configuration as a pure function of the switch document
//!   (`GET /v1/switch/{id}`), the [`settings`] and the VLANs the [`kernel`] maps;
//! - [`render`]: Cumulus (ifupdown2, FRR, DHCP relay) and SONiC (CONFIG_DB, FRR) files from it;
//! - [`validate`]: FRR's check of a rendered `frr.conf`;
//! - [`apply`]: the rendered Cumulus files checked, moved into place and reloaded, all or
//!   nothing;
//! - [`reconcile`]: the loop of `metal-core run` (fetch, render, apply, notify metal-api), with
//!   its [`metrics`] and what it reads from the [`host`];
//! - [`bench`]: the render benchmark.

pub mod apply;
pub mod bench;
pub mod host;
pub mod kernel;
pub mod metrics;
pub mod model;
pub mod phonehome;
pub mod reconcile;
pub mod register;
pub mod render;
pub mod settings;
pub mod validate;

use metal_domain::switch::SwitchResponse;

use model::vlan::KernelVlans;
use model::{ConfigError, Flavor, SwitchConfig};
use render::RenderedFile;
use settings::Settings;

/// Why a switch document could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("decoding the switch document (v1.SwitchResponse)")]
    Json(#[from] serde_json::Error),
    #[error(transparent)]
    Config(#[from] ConfigError),
}

/// The files of `flavor` for the switch document `json` (as `GET /v1/switch/{id}` answers).
pub fn render_document(
    json: &str,
    settings: &Settings,
    kernel: &KernelVlans,
    flavor: Flavor,
) -> Result<Vec<RenderedFile>, RenderError> {
    let doc: SwitchResponse = serde_json::from_str(json)?;
    let config = SwitchConfig::build(&doc, settings, kernel, flavor)?;
    Ok(render::render(&config))
}
