//! `EventService.Send`: batched provisioning events, one per machine id.

use metal_domain::event::EventType;
use metal_proto::api::v1 as pb;
use metal_proto::api::v1::event_service_server::EventService;
use tonic::{Request, Response, Status};

use crate::state::App;

pub struct EventServer {
    pub app: App,
}

#[tonic::async_trait]
impl EventService for EventServer {
    /// Applies each event (server time; the client's time is ignored, as in metal-stack).
    /// Unknown machines are created empty. Events that fail are listed in `failed`, and the
    /// call then fails naming each of them.
    async fn send(
        &self,
        req: Request<pb::EventServiceSendRequest>,
    ) -> Result<Response<pb::EventServiceSendResponse>, Status> {
        let mut stored = 0u64;
        let mut failed = Vec::new();
        let mut reasons = Vec::new();
        let mut events: Vec<_> = req.into_inner().events.into_iter().collect();
        events.sort_by(|a, b| a.0.cmp(&b.0));
        for (machine, e) in events {
            let outcome = match EventType::parse(&e.event) {
                Ok(t) => crate::app::boot::event(&self.app, &machine, t, &e.message).await,
                Err(err) => Err(err.into()),
            };
            match outcome {
                Ok(()) => stored += 1,
                Err(err) => {
                    reasons.push(format!("{machine}: {err}"));
                    failed.push(machine);
                }
            }
        }
        if !failed.is_empty() {
            return Err(Status::invalid_argument(format!(
                "events failed: {}",
                reasons.join("; ")
            )));
        }
        Ok(Response::new(pb::EventServiceSendResponse {
            events: stored,
            failed,
        }))
    }
}
