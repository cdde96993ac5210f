//! gRPC protocol between metal-api and its agents (pixie, metal-hammer, metal-core, metal-bmc).
//!
//! The `.proto` files under `proto/api/v1/` define the package `api.v1` after metal-stack's
//! metal-api, with the same service, message and field names and numbers, so the protocol stays
//! recognisable and wire-compatible:
//!
//! - `BootService` (`boot.proto`): `Dhcp` and `Boot` for pixie; `SuperUserPassword`,
//!   `Register`, `Wait` (server stream), `Report` and `AbortReinstall` for metal-hammer.
//! - `EventService` (`event.proto`): `Send` with a batch of provisioning events keyed by
//!   machine id.
//! - `BmcService` (`bmc.proto`): `Commands` (server stream) and `Ack` for metal-bmc, the
//!   partition's BMC agent (power, boot device and LED commands).
//!
//! [`api::v1`] holds the generated messages, the clients
//! ([`api::v1::boot_service_client::BootServiceClient`],
//! [`api::v1::event_service_client::EventServiceClient`]) and the server traits and wrappers
//! ([`api::v1::boot_service_server::BootService`],
//! [`api::v1::boot_service_server::BootServiceServer`], and the same for the event service).
//! [`droptailer`] is metal-stack's droptailer protocol (package `proto`), for the firewall log
//! forwarder.
//!
//! [`tls`] builds mutual-TLS configurations from PEM files, and [`keepalive`] applies the
//! HTTP/2 keepalive settings of metal-stack to servers and client endpoints.
//!
//! [`metal_config::MetalConfig`] is the configuration pixie hands to metal-hammer over HTTP
//! before the gRPC connection exists (JSON, not protobuf): part of the contract between the
//! agents, so it lives next to the `.proto` files rather than in either agent.
//!
//! `tonic`, `prost` and `prost_types` are re-exported so that users build against the versions
//! the generated code was made for.

pub mod keepalive;
pub mod metal_config;
#[cfg(feature = "pki")]
pub mod pki;
pub mod tls;

pub use prost;
pub use prost_types;
pub use tonic;

/// Generated code of the proto package `api`.
pub mod api {
    /// Generated code of the proto package `api.v1`: messages, clients and servers of
    /// `BootService` and `EventService`.
    #[allow(clippy::all, clippy::pedantic, missing_docs)]
    pub mod v1 {
        tonic::include_proto!("api.v1");
    }
}

/// Generated code of the proto package `proto`: metal-stack's droptailer protocol
/// (`Droptailer.Push(Drop) -> Void`), spoken between a firewall's droptailer client and the
/// droptailer server.
#[allow(clippy::all, clippy::pedantic, missing_docs)]
pub mod droptailer {
    tonic::include_proto!("proto");
}

/// The TCP port metal-api serves gRPC on by default.
pub const DEFAULT_GRPC_PORT: u16 = 50051;
