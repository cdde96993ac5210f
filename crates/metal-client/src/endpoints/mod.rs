//! Typed methods of [`crate::Client`], one module per resource of the v1 REST API. Each
//! method maps to exactly one endpoint of `metal-api-v1.swagger.json`: `PUT` creates, `POST`
//! updates or acts, `/find` takes a search body.

mod audit;
pub mod firmware;
mod fsl;
mod image;
mod ip;
pub mod machine;
mod misc;
mod network;
mod partition;
mod project;
mod reservation;
mod sic;
mod size;

use crate::client::encode_path_segment;

/// `v1/<resource>/<id>` with the id percent-encoded.
fn id_path(resource: &str, id: &str) -> String {
    format!("v1/{resource}/{}", encode_path_segment(id))
}
