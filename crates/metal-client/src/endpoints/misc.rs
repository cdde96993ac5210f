//! Endpoints without an entity: health, version and the calling user.

use metal_domain::misc::{HealthResponse, User, VersionResponse};

use crate::client::Method;
use crate::{Client, Error, Result};

impl Client {
    /// `GET /v1/health`. The server answers 500 with the same body when it is unhealthy; that
    /// body is returned as `Ok` too, so look at [`HealthResponse::status`].
    pub async fn health(&self) -> Result<HealthResponse> {
        let path = "v1/health";
        let (status, body) = self.request_raw::<()>(Method::GET, path, None).await?;
        if status == 500 {
            return match serde_json::from_slice::<HealthResponse>(&body) {
                Ok(h) if !h.status.is_empty() => Ok(h),
                _ => Err(Error::from_response(status, &body)),
            };
        }
        if !(200..300).contains(&status) {
            return Err(Error::from_response(status, &body));
        }
        serde_json::from_slice(&body).map_err(|source| Error::Decode {
            method: "GET".into(),
            url: self.url(path),
            source,
        })
    }

    /// `GET /v1/version`
    pub async fn version(&self) -> Result<VersionResponse> {
        self.get("v1/version").await
    }

    /// `GET /v1/user/me`: the user the credentials belong to.
    pub async fn whoami(&self) -> Result<User> {
        self.get("v1/user/me").await
    }
}
