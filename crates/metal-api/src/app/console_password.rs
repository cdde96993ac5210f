//! The console password of an allocated machine, as metal-hammer reported it; every request is
//! logged with its reason.

use metal_domain::machine::{
    Machine, MachineConsolePasswordRequest, MachineConsolePasswordResponse,
};

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// `GET /v1/machine/consolepassword`: the password metal-hammer reported, with a reason that is
/// logged (never the password).
pub async fn console_password(
    app: &AppState,
    req: &MachineConsolePasswordRequest,
    caller: &str,
) -> ApiResult<MachineConsolePasswordResponse> {
    let min = app.config.password_reason_minlength;
    if req.reason.trim().chars().count() < min {
        return Err(ApiError::bad_request(format!(
            "reason must be at least {min} characters"
        )));
    }
    let m = super::get::<Machine>(app, &req.id).await?;
    let Some(a) = m.allocation else {
        return Err(ApiError::bad_request(format!(
            "machine {} is not allocated",
            req.id
        )));
    };
    tracing::info!(
        machine = req.id,
        user = caller,
        reason = req.reason,
        "console password requested"
    );
    Ok(MachineConsolePasswordResponse {
        id: m.id,
        name: a.name,
        description: a.description,
        console_password: a.console_password,
    })
}
