//! `/v1/firmware`: the firmware files of BIOS and BMC (admin). The routes and their handlers;
//! and the download route of a directory store for metal-bmc, outside `/v1` and the API
//! document (not part of metal-stack's contract), authorized by its URL's signature alone.

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Multipart, Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, put};
use axum::{Json, Router};
use futures::TryStreamExt;
use metal_domain::firmware::FirmwaresResponse;

use super::table::{Op, RouteTable};
use super::ADMIN;
use crate::app;
use crate::error::{ApiError, ApiResult};
use crate::state::App;

/// The largest firmware file accepted (streamed to disk, so memory stays small).
pub const MAX_FIRMWARE_BYTES: usize = 1 << 30;

/// The firmware routes.
pub(super) fn routes(t: &mut RouteTable) {
    t.add(
        Op::get("/v1/firmware", "listFirmwares", ADMIN)
            .summary("returns all firmwares (for a specific machine)")
            .query(
                "machine-id",
                "string",
                "restrict firmwares to the given machine",
            )
            .query("kind", "string", "the firmware kind [bios|bmc]")
            .query("vendor", "string", "the vendor")
            .query("board", "string", "the board")
            .returns::<FirmwaresResponse>(200),
        get(list),
    );
    t.add(
        Op::put(
            "/v1/firmware/{kind}/{vendor}/{board}/{revision}",
            "uploadFirmware",
            ADMIN,
        )
        .summary("upload given firmware")
        .form_file("file", "the firmware file")
        .returns_nothing(200),
        put(upload).layer(DefaultBodyLimit::max(MAX_FIRMWARE_BYTES)),
    );
    t.add(
        Op::delete(
            "/v1/firmware/{kind}/{vendor}/{board}/{revision}",
            "removeFirmware",
            ADMIN,
        )
        .summary("remove given firmware")
        .returns_nothing(200),
        delete(remove),
    );
}

#[derive(Debug, Default, serde::Deserialize)]
pub struct ListQuery {
    #[serde(rename = "machine-id")]
    machine_id: Option<String>,
    kind: Option<String>,
    vendor: Option<String>,
    board: Option<String>,
}

pub async fn list(
    State(a): State<App>,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<FirmwaresResponse>> {
    let q = app::firmware::FirmwareQuery {
        machine_id: q.machine_id,
        kind: q.kind,
        vendor: q.vendor,
        board: q.board,
    };
    Ok(Json(app::firmware::list(&a, &q).await?))
}

type FirmwarePath = Path<(String, String, String, String)>;

/// The multipart field `file` is the firmware; other fields are ignored.
pub async fn upload(
    State(a): State<App>,
    Path((kind, vendor, board, revision)): FirmwarePath,
    mut form: Multipart,
) -> ApiResult<Json<serde_json::Value>> {
    let key = app::firmware::key(&kind, &vendor, &board, &revision)?;
    let bad = |e: axum::extract::multipart::MultipartError| {
        ApiError::bad_request(format!("invalid multipart body: {}", e.body_text()))
    };
    while let Some(field) = form.next_field().await.map_err(bad)? {
        if field.name() == Some("file") {
            let data = field.map_err(|e| e.body_text());
            app::firmware::upload(&a, &key, data).await?;
            return Ok(Json(serde_json::json!({})));
        }
    }
    Err(ApiError::bad_request(
        "file: the multipart form field \"file\" with the firmware is required",
    ))
}

pub async fn remove(
    State(a): State<App>,
    Path((kind, vendor, board, revision)): FirmwarePath,
) -> ApiResult<Json<serde_json::Value>> {
    let key = app::firmware::key(&kind, &vendor, &board, &revision)?;
    app::firmware::remove(&a, &key).await?;
    Ok(Json(serde_json::json!({})))
}

/// The download route of a directory store's signed URLs (see
/// [`crate::firmware_store::DownloadLinks`]), merged into the router behind the base path.
pub fn download_routes() -> Router<App> {
    Router::new().route(
        &format!(
            "/{}/{{kind}}/{{vendor}}/{{board}}/{{revision}}",
            crate::firmware_store::DOWNLOAD_ROUTE
        ),
        get(download),
    )
}

#[derive(Debug, Default, serde::Deserialize)]
pub struct DownloadQuery {
    expires: Option<String>,
    signature: Option<String>,
}

/// Streams the file (never read into memory) with its length.
pub async fn download(
    State(a): State<App>,
    Path((kind, vendor, board, revision)): FirmwarePath,
    Query(q): Query<DownloadQuery>,
) -> ApiResult<Response> {
    let (file, len) = app::firmware::download(
        &a,
        [&kind, &vendor, &board, &revision],
        q.expires.as_deref(),
        q.signature.as_deref(),
    )
    .await?;
    let body = Body::from_stream(tokio_util::io::ReaderStream::new(file));
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_string()),
            (header::CONTENT_LENGTH, len.to_string()),
        ],
        body,
    )
        .into_response())
}
