//! The gRPC services of metal-api for its agents (§6.3): the boot service (pixie and
//! metal-hammer), the event service (batched provisioning events) and the BMC command stream
//! (metal-bmc). Handlers convert the
//! messages and call the app layer, like the REST handlers; errors map to gRPC status codes once,
//! here.

mod bmc;
mod boot;
mod convert;
mod event;

use tonic::Status;

pub use bmc::BmcServer;
pub use boot::BootServer;
pub use event::EventServer;

use crate::error::ApiError;

/// The one mapping of API errors to gRPC status codes. Internal errors answer a generic message
/// and log the cause.
pub fn status(e: ApiError) -> Status {
    match e {
        ApiError::BadRequest(m) => Status::invalid_argument(m),
        ApiError::Unauthenticated(m) => Status::unauthenticated(m),
        ApiError::Forbidden(m) => Status::permission_denied(m),
        ApiError::NotFound(m) => Status::not_found(m),
        ApiError::Conflict(m) => Status::aborted(m),
        ApiError::Unprocessable(m) => Status::failed_precondition(m),
        ApiError::Status(_, m) => Status::unknown(m),
        ApiError::Internal(e) => {
            tracing::error!(error = format!("{e:#}"), "internal error in a gRPC call");
            Status::internal("internal server error, see the server log")
        }
    }
}
