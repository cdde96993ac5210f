//! Firmware files (`/v1/firmware`, admin) and the firmware update of a machine
//! (`POST /v1/machine/update-firmware/{id}`).

use metal_domain::firmware::{FirmwareKey, FirmwaresResponse, MachineUpdateFirmwareRequest};
use metal_domain::machine::MachineResponse;

use crate::client::{encode_path_segment, Method};
use crate::{Client, Result};

/// The filters of `GET /v1/firmware`; empty ones are left out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FirmwareQuery {
    pub machine_id: String,
    pub kind: String,
    pub vendor: String,
    pub board: String,
}

fn key_path(key: &FirmwareKey) -> String {
    let parts = [key.kind.as_str(), &key.vendor, &key.board, &key.revision];
    let encoded: Vec<String> = parts.iter().map(|p| encode_path_segment(p)).collect();
    format!("v1/firmware/{}", encoded.join("/"))
}

impl Client {
    /// `GET /v1/firmware?machine-id&kind&vendor&board`: kind → vendor → board → revisions.
    pub async fn list_firmwares(&self, q: &FirmwareQuery) -> Result<FirmwaresResponse> {
        let params: Vec<String> = [
            ("machine-id", &q.machine_id),
            ("kind", &q.kind),
            ("vendor", &q.vendor),
            ("board", &q.board),
        ]
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("{k}={}", encode_path_segment(v)))
        .collect();
        let path = match params.is_empty() {
            true => "v1/firmware".to_string(),
            false => format!("v1/firmware?{}", params.join("&")),
        };
        self.get(&path).await
    }

    /// `PUT /v1/firmware/{kind}/{vendor}/{board}/{revision}`: uploads a file as the multipart
    /// field `file`, replacing an earlier one of the same key.
    pub async fn upload_firmware(
        &self,
        key: &FirmwareKey,
        filename: &str,
        content: &[u8],
    ) -> Result<()> {
        let _: serde_json::Value = self
            .send_form(Method::PUT, &key_path(key), "file", filename, content)
            .await?;
        Ok(())
    }

    /// `DELETE /v1/firmware/{kind}/{vendor}/{board}/{revision}`
    pub async fn delete_firmware(&self, key: &FirmwareKey) -> Result<()> {
        let _: serde_json::Value = self.delete(&key_path(key)).await?;
        Ok(())
    }

    /// `POST /v1/machine/update-firmware/{id}`: queues the flashing of an uploaded file for the
    /// machine's BMC.
    pub async fn update_firmware(
        &self,
        id: &str,
        req: &MachineUpdateFirmwareRequest,
    ) -> Result<MachineResponse> {
        let path = format!("v1/machine/update-firmware/{}", encode_path_segment(id));
        self.post(&path, req).await
    }
}
