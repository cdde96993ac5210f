//! `BootService`: what pixie asks when a machine PXE-boots and what metal-hammer asks while it
//! registers, waits, installs and reports.

use std::pin::Pin;
use std::time::Duration;

use metal_domain::event::EventType;
use metal_proto::api::v1 as pb;
use metal_proto::api::v1::boot_service_server::BootService;
use tokio_stream::Stream;
use tonic::{Request, Response, Status};

use super::{convert, status};
use crate::app::boot::{self, Registration};
use crate::state::App;

/// How often an open Wait stream sends a keep-alive message.
const KEEPALIVE: Duration = Duration::from_secs(5);
/// How often an open Wait stream re-reads the machine (a safety net: wake-ups come by signal).
const RECHECK: Duration = Duration::from_secs(60);

pub struct BootServer {
    pub app: App,
}

type WaitStream = Pin<Box<dyn Stream<Item = Result<pb::BootServiceWaitResponse, Status>> + Send>>;

#[tonic::async_trait]
impl BootService for BootServer {
    async fn dhcp(
        &self,
        req: Request<pb::BootServiceDhcpRequest>,
    ) -> Result<Response<pb::BootServiceDhcpResponse>, Status> {
        let uuid = req.into_inner().uuid;
        boot::event(
            &self.app,
            &uuid,
            EventType::PxeBooting,
            "machine sent extended dhcp request",
        )
        .await
        .map_err(status)?;
        Ok(Response::new(pb::BootServiceDhcpResponse {}))
    }

    async fn boot(
        &self,
        req: Request<pb::BootServiceBootRequest>,
    ) -> Result<Response<pb::BootServiceBootResponse>, Status> {
        let r = req.into_inner();
        let b = boot::boot_config(&self.app, &r.partition_id)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::BootServiceBootResponse {
            kernel: b.kernelurl,
            init_ram_disks: vec![b.imageurl],
            cmdline: Some(b.commandline).filter(|c| !c.is_empty()),
        }))
    }

    async fn super_user_password(
        &self,
        _req: Request<pb::BootServiceSuperUserPasswordRequest>,
    ) -> Result<Response<pb::BootServiceSuperUserPasswordResponse>, Status> {
        let pw = self
            .app
            .config
            .bmc_superuser_pwd
            .clone()
            .unwrap_or_default();
        Ok(Response::new(pb::BootServiceSuperUserPasswordResponse {
            feature_disabled: pw.is_empty(),
            super_user_password: pw,
        }))
    }

    async fn register(
        &self,
        req: Request<pb::BootServiceRegisterRequest>,
    ) -> Result<Response<pb::BootServiceRegisterResponse>, Status> {
        let r = req.into_inner();
        let (Some(hw), Some(bios)) = (r.hardware, r.bios) else {
            return Err(Status::invalid_argument("hardware and bios are required"));
        };
        let m = boot::register(
            &self.app,
            Registration {
                uuid: r.uuid,
                partition_id: r.partition_id,
                hardware: convert::hardware(hw),
                bios: convert::bios(bios),
                ipmi: r.ipmi.map(convert::ipmi).unwrap_or_default(),
                tags: r.tags,
                metal_hammer_version: r.metal_hammer_version,
            },
        )
        .await
        .map_err(status)?;
        Ok(Response::new(pb::BootServiceRegisterResponse {
            uuid: m.id,
            size: m.sizeid,
            partition_id: m.partitionid,
        }))
    }

    type WaitStream = WaitStream;

    /// Ends as soon as the machine is allocated: woken by the allocation (in-process or by
    /// PostgreSQL NOTIFY from another replica), with a periodic re-check as a safety net. The
    /// machine counts as waiting only while the stream is open.
    async fn wait(
        &self,
        req: Request<pb::BootServiceWaitRequest>,
    ) -> Result<Response<Self::WaitStream>, Status> {
        let id = req.into_inner().machine_id;
        let app = self.app.clone();
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<pb::BootServiceWaitResponse, Status>>(1);
        tokio::spawn(async move {
            // registered before looking, so an allocation in between is not missed
            let mut guard = app.waiters.register(&id);
            match boot::set_waiting(&app, &id, true).await {
                Ok(true) => return, // allocated already: the stream ends at once
                Ok(false) => {}
                Err(e) => {
                    let _ = tx.send(Err(status(e))).await;
                    return;
                }
            }
            let mut keepalive = tokio::time::interval(KEEPALIVE);
            let mut recheck = tokio::time::interval(RECHECK);
            keepalive.tick().await;
            recheck.tick().await;
            loop {
                tokio::select! {
                    _ = guard.rx.changed() => {
                        if app.waiters.closing() {
                            let _ = tx.send(Err(Status::unavailable("metal-api is shutting down, wait again"))).await;
                            break;
                        }
                        if boot::is_allocated(&app, &id).await.unwrap_or(false) { break; }
                    }
                    _ = recheck.tick() => {
                        if boot::is_allocated(&app, &id).await.unwrap_or(false) { break; }
                    }
                    _ = keepalive.tick() => {
                        if tx.send(Ok(pb::BootServiceWaitResponse {})).await.is_err() {
                            break; // the client is gone
                        }
                    }
                    _ = tx.closed() => break,
                }
            }
            drop(guard);
            if let Err(e) = boot::set_waiting(&app, &id, false).await {
                tracing::warn!(machine = id, error = %e, "could not clear the waiting flag");
            }
        });
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(rx),
        )))
    }

    async fn report(
        &self,
        req: Request<pb::BootServiceReportRequest>,
    ) -> Result<Response<pb::BootServiceReportResponse>, Status> {
        let r = req.into_inner();
        boot::report(
            &self.app,
            &r.uuid,
            r.boot_info.map(convert::boot_info_in),
            &r.console_password,
        )
        .await
        .map_err(status)?;
        Ok(Response::new(pb::BootServiceReportResponse {}))
    }

    async fn abort_reinstall(
        &self,
        req: Request<pb::BootServiceAbortReinstallRequest>,
    ) -> Result<Response<pb::BootServiceAbortReinstallResponse>, Status> {
        let r = req.into_inner();
        let b = boot::abort_reinstall(&self.app, &r.uuid, r.primary_disk_wiped)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::BootServiceAbortReinstallResponse {
            boot_info: b.map(convert::boot_info_out),
        }))
    }
}
