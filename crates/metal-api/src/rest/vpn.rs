//! `/v1/vpn`: auth keys for the VPN of a project (headscale). The route and its handler.

use axum::extract::State;
use axum::routing::post;
use axum::Json;
use metal_domain::vpn::{VpnRequest, VpnResponse};

use super::extract::JsonBody;
use super::table::{Op, RouteTable};
use super::ADMIN;
use crate::app;
use crate::error::ApiResult;
use crate::state::App;

/// The VPN routes.
pub(super) fn routes(t: &mut RouteTable) {
    t.add(
        Op::post("/v1/vpn/authkey", "getVPNAuthKey", ADMIN)
            .summary("create auth key to connect to project's VPN")
            .body::<VpnRequest>()
            .returns::<VpnResponse>(200)
            .error(400)
            .error(404)
            .error(422)
            .error(502),
        post(vpn_auth_key),
    );
}

pub async fn vpn_auth_key(
    State(a): State<App>,
    JsonBody(req): JsonBody<VpnRequest>,
) -> ApiResult<Json<VpnResponse>> {
    Ok(Json(app::vpn::auth_key(&a, req).await?))
}
