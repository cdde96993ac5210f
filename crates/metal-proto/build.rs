//! Generates the gRPC server and client code of `proto/api/v1/*.proto` and
//! `proto/droptailer/droptailer.proto` into `OUT_DIR`.
//!
//! protoc and the well-known type includes (`google/protobuf/timestamp.proto`) come from the
//! `protoc-bin-vendored` crate: no system protoc is needed and nothing is downloaded.

use std::path::PathBuf;

const PROTOS: &[&str] = &[
    "proto/api/v1/boot.proto",
    "proto/api/v1/event.proto",
    "proto/api/v1/bmc.proto",
    "proto/droptailer/droptailer.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    let well_known = protoc_bin_vendored::include_path()?;
    let own = PathBuf::from("proto");

    let mut config = tonic_build::Config::new();
    config.protoc_executable(protoc);

    println!("cargo:rerun-if-changed=build.rs");
    tonic_build::configure()
        .build_server(true)
        .build_client(true)
        .compile_protos_with_config(config, PROTOS, &[own, well_known])?;
    Ok(())
}
