//! `metalctl firmware` (admin) over `/v1/firmware`: `list` (alias `ls`) the uploaded BIOS and
//! BMC files per vendor and board, `upload bios|bmc <file> --vendor --board --revision`,
//! `delete --kind --vendor --board --revision` (aliases `rm`, `destroy`, `remove`).

use std::path::PathBuf;

use anyhow::{Context, Result as AnyResult};
use clap::{Args, Subcommand, ValueEnum};
use metal_client::FirmwareQuery;
use metal_domain::firmware::{FirmwareKey, FirmwaresResponse};
use serde::Serialize;

use crate::app::App;
use crate::output::Table;

/// `bios` or `bmc`.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Bios,
    Bmc,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Bios => "bios",
            Kind::Bmc => "bmc",
        }
    }
}

/// `metalctl firmware ...`
#[derive(Subcommand, Debug, Clone)]
pub enum FirmwareCmd {
    /// List the uploaded firmware files.
    #[command(visible_alias = "ls")]
    List(ListArgs),
    /// Upload a firmware file for the boards of a vendor.
    Upload(UploadArgs),
    /// Remove an uploaded firmware file.
    #[command(visible_aliases = ["rm", "destroy", "remove"])]
    Delete(KeyArgs),
}

#[derive(Args, Debug, Clone, Default)]
pub struct ListArgs {
    /// only files of this kind
    #[arg(long, value_enum)]
    pub kind: Option<Kind>,
    /// only files of this vendor
    #[arg(long, default_value = "")]
    pub vendor: String,
    /// only files of this board
    #[arg(long, default_value = "")]
    pub board: String,
    /// only files for the board of this machine
    #[arg(long, default_value = "")]
    pub machine_id: String,
}

#[derive(Args, Debug, Clone)]
pub struct UploadArgs {
    /// the kind of firmware
    #[arg(value_enum)]
    pub kind: Kind,
    /// the file to upload
    pub file: PathBuf,
    /// the vendor of the board (FRU board manufacturer)
    #[arg(long)]
    pub vendor: String,
    /// the board (FRU board part number)
    #[arg(long)]
    pub board: String,
    /// the revision the file holds
    #[arg(long)]
    pub revision: String,
}

#[derive(Args, Debug, Clone)]
pub struct KeyArgs {
    #[arg(long, value_enum)]
    pub kind: Kind,
    #[arg(long)]
    pub vendor: String,
    #[arg(long)]
    pub board: String,
    #[arg(long)]
    pub revision: String,
}

/// One row of the listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FirmwareRow {
    pub kind: String,
    pub vendor: String,
    pub board: String,
    pub revision: String,
}

/// The listing flattened, in its order (kind, vendor, board, revision).
pub fn rows(r: &FirmwaresResponse) -> Vec<FirmwareRow> {
    let mut out = Vec::new();
    for (kind, vendors) in &r.revisions {
        for (vendor, boards) in &vendors.vendor_revisions {
            for (board, revisions) in &boards.board_revisions {
                for revision in revisions {
                    out.push(FirmwareRow {
                        kind: kind.clone(),
                        vendor: vendor.clone(),
                        board: board.clone(),
                        revision: revision.clone(),
                    });
                }
            }
        }
    }
    out
}

fn key(kind: Kind, vendor: &str, board: &str, revision: &str) -> AnyResult<FirmwareKey> {
    Ok(FirmwareKey::new(kind.as_str(), vendor, board, revision)?)
}

pub async fn run(app: &mut App, cmd: FirmwareCmd) -> AnyResult<()> {
    match cmd {
        FirmwareCmd::List(l) => {
            let q = FirmwareQuery {
                machine_id: l.machine_id,
                kind: l.kind.map(|k| k.as_str().to_string()).unwrap_or_default(),
                vendor: l.vendor,
                board: l.board,
            };
            let listing = rows(&app.client()?.list_firmwares(&q).await?);
            app.printer.list(&listing, |_| {
                let mut t = Table::new(["KIND", "VENDOR", "BOARD", "REVISION"]);
                for r in &listing {
                    t.push([&r.kind, &r.vendor, &r.board, &r.revision]);
                }
                t
            })
        }
        FirmwareCmd::Upload(u) => {
            let key = key(u.kind, &u.vendor, &u.board, &u.revision)?;
            let content =
                std::fs::read(&u.file).with_context(|| format!("reading {}", u.file.display()))?;
            let name = u
                .file
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "firmware.bin".into());
            app.client()?.upload_firmware(&key, &name, &content).await?;
            app.printer.write(&format!(
                "uploaded {} ({} bytes) as {}\n",
                u.file.display(),
                content.len(),
                key.path()
            ))
        }
        FirmwareCmd::Delete(d) => {
            let key = key(d.kind, &d.vendor, &d.board, &d.revision)?;
            app.confirm(&format!("remove firmware {}?", key.path()), false)?;
            app.client()?.delete_firmware(&key).await?;
            app.printer.write(&format!("removed {}\n", key.path()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_listing_flattens_in_order() {
        let r: FirmwaresResponse = serde_json::from_value(serde_json::json!({"revisions": {
            "bios": {"VendorRevisions": {"supermicro": {"BoardRevisions": {"X11": ["1.0", "2.0"]}}}},
            "bmc": {"VendorRevisions": {"dell": {"BoardRevisions": {"R640": ["7"]}}}}
        }}))
        .unwrap();
        let got: Vec<String> = rows(&r)
            .iter()
            .map(|r| format!("{} {} {} {}", r.kind, r.vendor, r.board, r.revision))
            .collect();
        assert_eq!(
            got,
            [
                "bios supermicro X11 1.0",
                "bios supermicro X11 2.0",
                "bmc dell R640 7"
            ]
        );
    }
}
