//! `metalctl machine ipmi [id] [filters]` (agents.md §1.7): the machines with their BMC data
//! (`POST /v1/machine/ipmi/find`): power state, BMC address and MAC, FRU, firmware versions
//! and how long ago metal-bmc last reported.

use anyhow::Result as AnyResult;
use chrono::{DateTime, Duration, Utc};
use clap::Args;
use metal_domain::machine::MachineIpmiResponse;

use super::table::{emojis, last_event, since, statuses};
use super::{parse_duration, MachineFilters};
use crate::app::App;
use crate::output::Table;

#[derive(Args, Debug, Clone)]
pub struct IpmiArgs {
    /// id of the machine (all machines matching the filters without)
    #[arg(value_name = "ID")]
    pub machine_id: Option<String>,
    #[command(flatten)]
    pub filters: MachineFilters,
    /// how long ago a last error event may have happened to be flagged ❗
    #[arg(long, default_value = "1h", value_parser = parse_duration)]
    pub last_event_error_threshold: Duration,
}

pub async fn run(app: &mut App, args: IpmiArgs) -> AnyResult<()> {
    let mut filters = args.filters.clone();
    if args.machine_id.is_some() {
        filters.id = args.machine_id.clone();
    }
    let items = app
        .client()?
        .find_ipmi_machines(&filters.to_find(None))
        .await?;
    let threshold = args.last_event_error_threshold;
    app.printer.list(&items, |wide| {
        ipmi_table(&items, wide, threshold, Utc::now())
    })
}

/// The ipmi table at `now`.
pub fn ipmi_table(
    items: &[MachineIpmiResponse],
    wide: bool,
    threshold: Duration,
    now: DateTime<Utc>,
) -> Table {
    let header = if wide {
        vec![
            "ID",
            "LAST EVENT",
            "STATUS",
            "POWER",
            "IP",
            "MAC",
            "BOARD PART NUMBER",
            "CHASSIS SERIAL",
            "PRODUCT SERIAL",
            "BIOS VERSION",
            "BMC VERSION",
            "SIZE",
            "PARTITION",
            "RACK",
            "UPDATED",
        ]
    } else {
        vec![
            "ID",
            "",
            "POWER",
            "IP",
            "MAC",
            "BOARD PART NUMBER",
            "BIOS",
            "BMC",
            "SIZE",
            "PARTITION",
            "RACK",
            "UPDATED",
        ]
    };
    let mut t = Table::new(header);
    for item in items {
        let (m, ipmi) = (&item.machine, &item.ipmi);
        let updated = match ipmi.last_updated {
            Some(u) => format!("{} ago", since(Some(u), now)),
            None => "never".to_string(),
        };
        let size = m.size.as_ref().map(|s| s.id.clone()).unwrap_or_default();
        let partition = m
            .partition
            .as_ref()
            .map(|p| p.id.clone())
            .unwrap_or_default();
        let row = if wide {
            let status: Vec<&str> = statuses(m, threshold, now)
                .into_iter()
                .map(|s| s.name())
                .collect();
            vec![
                m.id.clone(),
                last_event(m),
                status.join(", "),
                ipmi.powerstate.clone(),
                ipmi.address.clone(),
                ipmi.mac.clone(),
                ipmi.fru.board_part_number.clone(),
                ipmi.fru.chassis_part_serial.clone(),
                ipmi.fru.product_serial.clone(),
                m.bios.version.clone(),
                ipmi.bmcversion.clone(),
                size,
                partition,
                m.rackid.clone(),
                updated,
            ]
        } else {
            vec![
                m.id.clone(),
                emojis(m, threshold, now),
                ipmi.powerstate.clone(),
                ipmi.address.clone(),
                ipmi.mac.clone(),
                ipmi.fru.board_part_number.clone(),
                m.bios.version.clone(),
                ipmi.bmcversion.clone(),
                size,
                partition,
                m.rackid.clone(),
                updated,
            ]
        };
        t.push(row);
    }
    t
}
