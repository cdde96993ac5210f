//! Firmware files (`/v1/firmware`, admin): listed per kind, vendor and board (for one machine:
//! its board as its BMC reported it), uploaded and removed; and downloaded by metal-bmc through
//! the signed URLs of a directory store. The files live in the firmware store, not in the
//! database.

use axum::http::StatusCode;
use metal_domain::firmware::{self, FirmwareFilter, FirmwareKey, FirmwaresResponse};
use metal_domain::machine::Machine;

use crate::error::{ApiError, ApiResult};
use crate::firmware_store::s3::S3Error;
use crate::state::AppState;

/// The query of `GET /v1/firmware`.
#[derive(Debug, Clone, Default)]
pub struct FirmwareQuery {
    pub machine_id: Option<String>,
    pub kind: Option<String>,
    pub vendor: Option<String>,
    pub board: Option<String>,
}

/// A failure of the store: 502 with its message when the S3 store failed (the operation,
/// bucket, key and S3's code tell the operator what to fix; never the secret), else 500.
fn io_err(what: &str, e: std::io::Error) -> ApiError {
    if e.get_ref().is_some_and(|inner| inner.is::<S3Error>()) {
        tracing::warn!(error = %e, "{what}");
        return ApiError::Status(StatusCode::BAD_GATEWAY, format!("{what}: {e}"));
    }
    ApiError::Internal(anyhow::anyhow!("{what}: {e}"))
}

/// `GET /v1/firmware`: with `machine-id`, only the firmware for that machine's board (none
/// when its BMC reported no board); a missing machine is a 404.
pub async fn list(app: &AppState, q: &FirmwareQuery) -> ApiResult<FirmwaresResponse> {
    let mut filter =
        FirmwareFilter::new(q.kind.as_deref(), q.vendor.as_deref(), q.board.as_deref())?;
    if let Some(id) = q.machine_id.as_deref().filter(|s| !s.is_empty()) {
        let m = super::get::<Machine>(app, id).await?;
        match filter.for_board(&m.ipmi.fru.board_mfg, &m.ipmi.fru.board_part_number) {
            Some(f) => filter = f,
            None => return Ok(FirmwaresResponse::default()),
        }
    }
    let keys = app
        .firmware
        .list()
        .await
        .map_err(|e| io_err("listing the firmware files", e))?;
    Ok(firmware::listing(&keys, &filter))
}

/// The checked key of a firmware path.
pub fn key(kind: &str, vendor: &str, board: &str, revision: &str) -> ApiResult<FirmwareKey> {
    Ok(FirmwareKey::new(kind, vendor, board, revision)?)
}

/// `DELETE /v1/firmware/{kind}/{vendor}/{board}/{revision}`: 404 when there is no such file.
pub async fn remove(app: &AppState, key: &FirmwareKey) -> ApiResult<()> {
    let removed = app
        .firmware
        .delete(key)
        .await
        .map_err(|e| io_err("removing the firmware file", e))?;
    if !removed {
        return Err(ApiError::not_found(format!(
            "no firmware {} found",
            key.path()
        )));
    }
    tracing::info!(firmware = key.path(), "firmware removed");
    Ok(())
}

/// `PUT /v1/firmware/{kind}/{vendor}/{board}/{revision}`: stores the uploaded file (replacing
/// an earlier one of the same key). The file is streamed to disk, never held in memory; an
/// upload that breaks off or is empty leaves nothing behind (400).
pub async fn upload<S, B>(app: &AppState, key: &FirmwareKey, mut data: S) -> ApiResult<u64>
where
    S: futures::Stream<Item = Result<B, String>> + Unpin,
    B: AsRef<[u8]>,
{
    use futures::StreamExt;
    let mut file = app
        .firmware
        .upload(key)
        .await
        .map_err(|e| io_err("storing the firmware file", e))?;
    while let Some(chunk) = data.next().await {
        let chunk = chunk.map_err(|e| ApiError::bad_request(format!("file: {e}")))?;
        file.write(chunk.as_ref())
            .await
            .map_err(|e| io_err("storing the firmware file", e))?;
    }
    let size = file.written();
    if size == 0 {
        return Err(ApiError::bad_request("file: the firmware file is empty"));
    }
    file.finish()
        .await
        .map_err(|e| io_err("storing the firmware file", e))?;
    tracing::info!(firmware = key.path(), size, "firmware uploaded");
    Ok(size)
}

/// `GET {base}firmware-download/{kind}/{vendor}/{board}/{revision}?expires=&signature=`: the
/// file of a directory store, for a URL [`crate::firmware_store::FirmwareStore::download_url`]
/// signed (the signature is the authorization: 403 when it is missing, wrong or expired), with
/// its length; 404 when the file is gone or the store is S3 (whose URLs point at S3).
pub async fn download(
    app: &AppState,
    parts: [&str; 4],
    expires: Option<&str>,
    signature: Option<&str>,
) -> ApiResult<(tokio::fs::File, u64)> {
    let path = parts.join("/");
    let (Some(expires), Some(signature)) = (expires, signature) else {
        return Err(ApiError::Forbidden(
            "a firmware download URL needs its expires and signature parameters: metal-api hands out complete URLs".into(),
        ));
    };
    let expires: u64 = expires.parse().map_err(|_| {
        ApiError::Forbidden(format!(
            "expires of a firmware download URL must be unix seconds, got {expires:?}"
        ))
    })?;
    match app.firmware.check_download(&path, expires, signature) {
        None => {
            return Err(ApiError::not_found(
                "firmware files are kept in S3: download them through the presigned URLs metal-api hands out",
            ))
        }
        Some(Err(denied)) => return Err(ApiError::Forbidden(denied.to_string())),
        Some(Ok(())) => {}
    }
    let missing = || ApiError::not_found(format!("no firmware {path} found"));
    let key = FirmwareKey::from_path(&path).ok_or_else(missing)?;
    app.firmware
        .open(&key)
        .await
        .map_err(|e| io_err("reading the firmware file", e))?
        .ok_or_else(missing)
}
