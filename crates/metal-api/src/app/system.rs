//! The server itself: the health of the services it depends on.

use metal_domain::misc::HealthResponse;

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// `GET /v1/health`: status `healthy` when the database answers, `unhealthy` otherwise, with
/// the database as the one service; `service` (`database`, or empty) asks for that service
/// alone, any other is a 404.
pub async fn health(app: &AppState, service: Option<&str>) -> ApiResult<HealthResponse> {
    if let Some(s) = service.filter(|s| !s.is_empty() && *s != "database") {
        return Err(ApiError::not_found(format!(
            "unknown service {s:?}: this server checks \"database\""
        )));
    }
    let db = match app.store.ping().await {
        Ok(()) => HealthResponse {
            status: "healthy".into(),
            message: format!("{:?} database answers", app.store.backend()).to_lowercase(),
            services: Default::default(),
        },
        Err(e) => {
            tracing::warn!(error = format!("{e:#}"), "health check failed");
            HealthResponse {
                status: "unhealthy".into(),
                message: "database does not answer".into(),
                services: Default::default(),
            }
        }
    };
    let healthy = db.status == "healthy";
    Ok(HealthResponse {
        status: db.status.clone(),
        message: if healthy {
            "all services are healthy".into()
        } else {
            "some services are unhealthy".into()
        },
        services: [("database".to_string(), db)].into_iter().collect(),
    })
}
