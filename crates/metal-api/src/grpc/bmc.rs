//! `BmcService`: the command stream of metal-bmc and its acknowledgements.

use std::pin::Pin;
use std::time::Duration;

use metal_domain::machine::Machine;
use metal_proto::api::v1 as pb;
use metal_proto::api::v1::bmc_service_server::BmcService;
use metal_store::commands::QueuedCommand;
use tokio_stream::Stream;
use tonic::{Request, Response, Status};

use super::status;
use crate::app::commands;
use crate::state::{App, AppState};

/// Keep-alive period of an idle stream.
const KEEPALIVE: Duration = Duration::from_secs(5);
/// Safety-net poll: commands queued by a replica whose NOTIFY was missed, and redeliveries.
const POLL: Duration = Duration::from_secs(5);

pub struct BmcServer {
    pub app: App,
}

type CommandStream = Pin<Box<dyn Stream<Item = Result<pb::BmcCommand, Status>> + Send>>;

/// The command with the BMC's connection data. A machine without its own BMC user gets the
/// BMC superuser `root` when metal-api knows its password (§4.15); otherwise the agent uses
/// its own (factory) credentials. A firmware update carries a download URL of its file, made
/// now and valid for [`commands::FIRMWARE_URL_TTL`]; `Err` when none can be made.
async fn message(app: &AppState, c: &QueuedCommand, m: &Machine) -> Result<pb::BmcCommand, String> {
    let (user, password) = match (&m.ipmi.user, &app.config.bmc_superuser_pwd) {
        (u, Some(pwd)) if u.is_empty() && !pwd.is_empty() => ("root".to_string(), pwd.clone()),
        (u, _) => (u.clone(), m.ipmi.password.clone()),
    };
    let firmware_update = match &c.firmware {
        Some(key) => {
            let url = app
                .firmware
                .download_url(key, commands::FIRMWARE_URL_TTL)
                .await
                .map_err(|e| format!("no download URL for firmware {}: {e}", key.path()))?;
            Some(pb::FirmwareUpdate {
                kind: key.kind.as_str().to_string(),
                url,
                revision: key.revision.clone(),
            })
        }
        None => None,
    };
    Ok(pb::BmcCommand {
        seq: c.seq,
        machine_id: c.machine_id.clone(),
        command: c.command.to_string(),
        reason: c.reason.clone(),
        bmc: Some(pb::BmcConnection {
            address: m.ipmi.address.clone(),
            user,
            password,
            interface: m.ipmi.interface.clone(),
        }),
        attempt: c.attempts as i32,
        firmware_update,
    })
}

#[tonic::async_trait]
impl BmcService for BmcServer {
    type CommandsStream = CommandStream;

    async fn commands(
        &self,
        req: Request<pb::BmcServiceCommandsRequest>,
    ) -> Result<Response<Self::CommandsStream>, Status> {
        let r = req.into_inner();
        if r.partition_id.is_empty() {
            return Err(Status::invalid_argument("partition_id is required"));
        }
        crate::app::get::<metal_domain::partition::Partition>(&self.app, &r.partition_id)
            .await
            .map_err(status)?;
        let agent = if r.agent.is_empty() {
            "metal-bmc".to_string()
        } else {
            r.agent
        };
        // each stream holds its own commands: what it leaves unacknowledged when it closes is
        // released for the next stream
        let holder = format!(
            "{agent}/{}",
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        let partition = r.partition_id;
        let app = self.app.clone();
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<pb::BmcCommand, Status>>(16);
        tokio::spawn(async move {
            // registered before the first claim, so a command queued in between wakes us
            let mut guard = app.command_streams.register(&partition);
            tracing::info!(partition, agent, "metal-bmc command stream opened");
            let mut keepalive = tokio::time::interval(KEEPALIVE);
            let mut poll = tokio::time::interval(POLL);
            keepalive.tick().await;
            'stream: loop {
                if app.command_streams.closing() {
                    let _ = tx
                        .send(Err(Status::unavailable("metal-api is shutting down")))
                        .await;
                    break;
                }
                match commands::claim(&app, &partition, &holder, metal_store::time::now()).await {
                    Ok(batch) => {
                        for (c, m) in &batch {
                            let message = match message(&app, c, m).await {
                                Ok(message) => message,
                                Err(error) => {
                                    // not deliverable as it is: failed here, like a failed run
                                    tracing::warn!(
                                        partition,
                                        machine = c.machine_id,
                                        seq = c.seq,
                                        error,
                                        "BMC command failed before delivery"
                                    );
                                    if let Err(e) =
                                        commands::ack(&app, &partition, c.seq, &error).await
                                    {
                                        tracing::warn!(seq = c.seq, error = %e, "failing the command failed");
                                    }
                                    continue;
                                }
                            };
                            if tx.send(Ok(message)).await.is_err() {
                                break 'stream; // the agent is gone
                            }
                            tracing::info!(
                                partition,
                                agent = holder,
                                machine = c.machine_id,
                                command = %c.command,
                                seq = c.seq,
                                attempt = c.attempts,
                                "BMC command delivered"
                            );
                        }
                    }
                    Err(e) => tracing::warn!(partition, error = %e, "claiming BMC commands failed"),
                }
                tokio::select! {
                    _ = guard.rx.changed() => {}
                    _ = poll.tick() => {}
                    _ = keepalive.tick() => {
                        let alive = pb::BmcCommand { seq: 0, ..Default::default() };
                        if tx.send(Ok(alive)).await.is_err() {
                            break;
                        }
                    }
                    _ = tx.closed() => break,
                }
            }
            drop(guard);
            // what the agent did not acknowledge is deliverable again, to the next stream
            if let Err(e) = release(&app, &holder).await {
                tracing::warn!(error = %e, "could not release the stream's commands");
            }
            app.command_streams.wake(&partition);
            tracing::info!(partition, agent = holder, "metal-bmc command stream closed");
        });
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(rx),
        )))
    }

    async fn ack(
        &self,
        req: Request<pb::BmcServiceAckRequest>,
    ) -> Result<Response<pb::BmcServiceAckResponse>, Status> {
        let r = req.into_inner();
        if r.partition_id.is_empty() || r.seq <= 0 {
            return Err(Status::invalid_argument(
                "partition_id and a positive seq are required",
            ));
        }
        commands::ack(&self.app, &r.partition_id, r.seq, &r.error)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::BmcServiceAckResponse {}))
    }
}

async fn release(app: &AppState, holder: &str) -> crate::error::ApiResult<()> {
    let mut tx = app.store.begin().await?;
    metal_store::commands::release(&mut tx, holder).await?;
    tx.commit().await.map_err(crate::app::store_err)?;
    Ok(())
}
