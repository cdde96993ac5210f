//! The VPN of projects (`POST /v1/vpn/authkey`): a pre-auth key from the configured headscale
//! server for the headscale user of the project. Without headscale configured the request is
//! refused (422) naming the missing flags; metal-stack answers 500 "feature disabled".

use axum::http::StatusCode;
use metal_domain::vpn::{VpnRequest, VpnResponse};
use metal_store::time;

use crate::config::Config;
use crate::error::{ApiError, ApiResult};
use crate::headscale::{Headscale, HeadscaleError};
use crate::state::AppState;

/// The configured headscale, or 422 naming the flags that are missing.
fn headscale<'a>(app: &'a AppState) -> ApiResult<(Headscale<'a>, &'a str)> {
    let c: &Config = &app.config;
    match (c.headscale_addr.as_deref(), c.headscale_api_key.as_ref()) {
        (Some(base), Some(key)) if !base.is_empty() && !key.expose().is_empty() => {
            let address = c
                .headscale_cp_addr
                .as_deref()
                .filter(|a| !a.is_empty())
                .unwrap_or(base);
            Ok((
                Headscale {
                    http: &app.http,
                    base,
                    key,
                },
                address,
            ))
        }
        (addr, key) => {
            let mut missing = Vec::new();
            if addr.is_none_or(str::is_empty) {
                missing.push("--headscale-addr (METAL_API_HEADSCALE_ADDR)");
            }
            if key.is_none_or(|k| k.expose().is_empty()) {
                missing.push("--headscale-api-key (METAL_API_HEADSCALE_API_KEY)");
            }
            Err(ApiError::unprocessable(format!(
                "the VPN is not configured: metal-api runs without {}",
                missing.join(" and ")
            )))
        }
    }
}

/// headscale failed or could not be reached: 502, with what headscale said.
fn upstream(e: HeadscaleError) -> ApiError {
    tracing::warn!(error = %e, cause = ?std::error::Error::source(&e), "headscale request failed");
    ApiError::Status(StatusCode::BAD_GATEWAY, format!("VPN server: {e}"))
}

/// A pre-auth key for the project's headscale user (404 when there is none), single-use,
/// ephemeral as asked, valid for the requested time (one hour by default).
pub async fn auth_key(app: &AppState, req: VpnRequest) -> ApiResult<VpnResponse> {
    req.validate()?;
    let (hs, address) = headscale(app)?;
    let Some(user) = hs.user_id(&req.pid).await.map_err(upstream)? else {
        return Err(ApiError::not_found(format!(
            "vpn user doesn't exist for project with ID {}",
            req.pid
        )));
    };
    let expires = req.expires_at(time::now());
    let key = hs
        .create_pre_auth_key(&user, req.ephemeral, expires)
        .await
        .map_err(upstream)?;
    tracing::info!(
        project = %req.pid,
        ephemeral = req.ephemeral,
        expires = %expires,
        reason = %req.reason,
        "created a VPN auth key"
    );
    Ok(VpnResponse {
        address: address.to_string(),
        auth_key: key,
    })
}
