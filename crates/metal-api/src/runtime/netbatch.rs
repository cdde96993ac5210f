//! A batching front for requests that are cheaper served together: concurrent requests under
//! one key queue at one worker per key (see [`super::batch`]), which hands everything queued to
//! the serving function the caller gives, and each request gets its own answer back. The
//! tenant network allocator uses it per partition (`app::netgroup`).

use std::future::Future;
use std::sync::Arc;

use tokio::sync::oneshot;

use super::batch::Groups;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// The most requests one group serves.
const MAX_GROUP: usize = 32;

struct Job<P, R> {
    request: P,
    reply: oneshot::Sender<ApiResult<R>>,
}

/// Requests of type `P` answered with `R`, grouped per key.
pub struct GroupServer<P, R> {
    groups: Groups<Job<P, R>>,
}

impl<P, R> Default for GroupServer<P, R>
where
    P: Send + 'static,
    R: Send + 'static,
{
    fn default() -> Self {
        Self {
            groups: Groups::new(MAX_GROUP),
        }
    }
}

impl<P, R> GroupServer<P, R>
where
    P: Send + 'static,
    R: Send + 'static,
{
    /// Queues `request` under `key` and waits for its answer. `serve` gets the whole group and
    /// answers each request, in order.
    pub async fn submit<F, Fut>(
        &self,
        app: &AppState,
        key: &str,
        request: P,
        serve: F,
    ) -> ApiResult<R>
    where
        F: Fn(Arc<AppState>, Vec<P>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Vec<ApiResult<R>>> + Send,
    {
        let Some(state) = app.me() else {
            return Err(ApiError::Internal(anyhow::anyhow!(
                "the server state is not shared: no group worker can run"
            )));
        };
        let (reply, answer) = oneshot::channel();
        let serve = Arc::new(serve);
        self.groups
            .submit(key, Job { request, reply }, move |group| {
                let state = state.clone();
                let serve = serve.clone();
                async move {
                    let Some(app) = state.upgrade() else {
                        for j in group {
                            let _ = j.reply.send(Err(ApiError::Internal(anyhow::anyhow!(
                                "server is shutting down"
                            ))));
                        }
                        return;
                    };
                    let (requests, replies): (Vec<P>, Vec<_>) =
                        group.into_iter().map(|j| (j.request, j.reply)).unzip();
                    let answers = serve(app, requests).await;
                    for (reply, answer) in replies.into_iter().zip(answers) {
                        let _ = reply.send(answer);
                    }
                }
            })?;
        answer
            .await
            .map_err(|_| ApiError::Internal(anyhow::anyhow!("group worker stopped")))?
    }
}
