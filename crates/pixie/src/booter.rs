//! Boot decisions: the [`Booter`] trait (`dhcp` when a PXE client with a GUID shows up, `boot`
//! when iPXE asks what to boot) and its gRPC implementation against metal-api's BootService.

use futures::future::BoxFuture;
use metal_proto::api::v1 as pb;
use metal_proto::api::v1::boot_service_client::BootServiceClient;
use tonic::transport::Channel;

use crate::dhcp::Mac;
use crate::ipxe::Spec;

/// Why the booter could not answer.
#[derive(Debug, thiserror::Error)]
pub enum BootError {
    #[error("metal-api {call} failed: {status}")]
    Grpc {
        call: &'static str,
        status: tonic::Status,
    },
}

/// Decides what machines boot.
pub trait Booter: Send + Sync {
    /// A PXE client with this machine UUID sent a DHCP request (metal-api records "PXE Booting").
    fn dhcp<'a>(&'a self, uuid: &'a str) -> BoxFuture<'a, Result<(), BootError>>;
    /// What `mac` boots; `None` when it should not netboot.
    fn boot(&self, mac: Mac) -> BoxFuture<'_, Result<Option<Spec>, BootError>>;
}

/// The booter of `pixie grpc`.
#[derive(Debug, Clone)]
pub struct GrpcBooter {
    client: BootServiceClient<Channel>,
    partition: String,
}

impl GrpcBooter {
    pub fn new(channel: Channel, partition: String) -> Self {
        Self {
            client: BootServiceClient::new(channel),
            partition,
        }
    }
}

impl Booter for GrpcBooter {
    fn dhcp<'a>(&'a self, uuid: &'a str) -> BoxFuture<'a, Result<(), BootError>> {
        Box::pin(async move {
            self.client
                .clone()
                .dhcp(pb::BootServiceDhcpRequest { uuid: uuid.into() })
                .await
                .map_err(|status| BootError::Grpc {
                    call: "Dhcp",
                    status,
                })?;
            Ok(())
        })
    }

    fn boot(&self, mac: Mac) -> BoxFuture<'_, Result<Option<Spec>, BootError>> {
        Box::pin(async move {
            let r = self
                .client
                .clone()
                .boot(pb::BootServiceBootRequest {
                    mac: mac.to_string(),
                    partition_id: self.partition.clone(),
                })
                .await;
            let r = match r {
                Ok(r) => r.into_inner(),
                Err(s) if s.code() == tonic::Code::NotFound => return Ok(None),
                Err(status) => {
                    return Err(BootError::Grpc {
                        call: "Boot",
                        status,
                    })
                }
            };
            if r.kernel.is_empty() {
                return Ok(None);
            }
            Ok(Some(Spec {
                kernel: r.kernel,
                initrds: r.init_ram_disks,
                cmdline: r.cmdline.unwrap_or_default(),
            }))
        })
    }
}
