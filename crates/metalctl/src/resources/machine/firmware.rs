//! `metalctl machine update-firmware bios|bmc <id> [--revision] [--description]` (alias
//! `firmware-update`): without `--revision` it lists the revisions uploaded for the machine's
//! board, the installed one marked `(current)`; with it, it asks (unless
//! `--yes-i-really-mean-it`) and queues the update (`POST /v1/machine/update-firmware/{id}`),
//! printing the machine as one table row.

use anyhow::Result as AnyResult;
use clap::Args;
use metal_client::FirmwareQuery;
use metal_domain::firmware::MachineUpdateFirmwareRequest;
use metal_domain::machine::MachineIpmiResponse;

use crate::app::App;
use crate::output::Table;
use crate::resources::firmware::{rows, Kind};

#[derive(Args, Debug, Clone)]
pub struct UpdateFirmwareArgs {
    /// the kind of firmware
    #[arg(value_enum)]
    pub kind: Kind,
    /// id of the machine
    pub id: String,
    /// the revision to flash; without it the available revisions are listed
    #[arg(long)]
    pub revision: Option<String>,
    /// why the machine is updated
    #[arg(long, default_value = "")]
    pub description: String,
}

/// The revision the machine runs now, as its BMC and metal-hammer reported it.
pub fn current_revision(m: &MachineIpmiResponse, kind: Kind) -> &str {
    match kind {
        Kind::Bios => &m.machine.bios.version,
        Kind::Bmc => &m.ipmi.bmcversion,
    }
}

pub async fn run(app: &mut App, a: UpdateFirmwareArgs) -> AnyResult<()> {
    let client = app.client()?;
    let m = client.get_ipmi_machine(&a.id).await?;
    let current = current_revision(&m, a.kind).to_string();
    let Some(revision) = a.revision else {
        let q = FirmwareQuery {
            machine_id: a.id.clone(),
            kind: a.kind.as_str().to_string(),
            ..Default::default()
        };
        let listing = rows(&client.list_firmwares(&q).await?);
        return app.printer.list(&listing, |_| {
            let mut t = Table::new(["KIND", "VENDOR", "BOARD", "REVISION"]);
            for r in &listing {
                let revision = match r.revision == current {
                    true => format!("{} (current)", r.revision),
                    false => r.revision.clone(),
                };
                t.push([r.kind.clone(), r.vendor.clone(), r.board.clone(), revision]);
            }
            t
        });
    };
    let from = match current.as_str() {
        "" => "an unknown revision".to_string(),
        c => format!("revision {c}"),
    };
    app.confirm(
        &format!(
            "update the {} firmware of machine {} from {from} to {revision}?",
            a.kind.as_str(),
            a.id
        ),
        false,
    )?;
    let req = MachineUpdateFirmwareRequest {
        kind: a.kind.as_str().to_string(),
        revision,
        description: a.description,
    };
    let m = client.update_firmware(&a.id, &req).await?;
    super::print_row(app, &m)
}
