//! Integration tests of metal-api: each test starts the server in-process on port 0 with a
//! fresh SQLite file or PostgreSQL database (both backends for every suite) and talks HTTP to
//! it with requests signed as metal-stack's clients sign them.

mod audit;
mod auditforward;
mod auth;
mod bmc;
mod catalog;
mod concurrency;
mod document_bounds;
mod firmware;
mod firmware_s3;
mod fsl;
mod grpc;
mod hec_double;
mod image;
mod ip;
mod issues;
mod jobs;
mod machine;
mod metrics;
mod network;
mod nulls;
mod openapi;
mod project;
mod python_client;
mod required;
mod reservation;
mod server;
mod size;
mod stress;
mod switch;
mod switch_migrate;
mod update_firmware;
mod vpn;

use serde_json::{json, Value};

/// A partition body as operators create them.
pub fn partition(id: &str) -> Value {
    json!({
        "id": id, "name": id, "description": "test partition",
        "bootconfig": {"imageurl": "http://images.test/hammer.img", "kernelurl": "http://images.test/vmlinuz", "commandline": "console=ttyS0"}
    })
}

/// An image body.
pub fn image(id: &str, features: &[&str]) -> Value {
    json!({"id": id, "name": id, "url": format!("http://images.test/{id}.tar.lz4"), "features": features})
}

/// A size body with cores and memory ranges.
pub fn size(id: &str, cores: (u64, u64), mem: (u64, u64)) -> Value {
    json!({"id": id, "name": id, "constraints": [
        {"type": "cores", "min": cores.0, "max": cores.1},
        {"type": "memory", "min": mem.0, "max": mem.1}
    ]})
}
