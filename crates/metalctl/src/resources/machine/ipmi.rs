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
#[command(args_conflicts_with_subcommands = true)]
pub struct IpmiArgs {
    #[command(subcommand)]
    pub cmd: Option<IpmiCmd>,
    /// id of the machine (all machines matching the filters without)
    #[arg(value_name = "ID")]
    pub machine_id: Option<String>,
    #[command(flatten)]
    pub filters: MachineFilters,
    /// how long ago a last error event may have happened to be flagged ❗
    #[arg(long, default_value = "1h", value_parser = parse_duration)]
    pub last_event_error_threshold: Duration,
}

#[derive(clap::Subcommand, Debug, Clone)]
pub enum IpmiCmd {
    /// Show the machines grouped by the chassis they are built into (chassis serial of the FRU).
    ChassisList {
        #[command(flatten)]
        filters: MachineFilters,
    },
}

pub async fn run(app: &mut App, args: IpmiArgs) -> AnyResult<()> {
    if let Some(IpmiCmd::ChassisList { filters }) = &args.cmd {
        let items = app
            .client()?
            .find_ipmi_machines(&filters.to_find(None))
            .await?;
        let threshold = args.last_event_error_threshold;
        return app
            .printer
            .list(&items, |_| chassis_table(&items, threshold, Utc::now()));
    }
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

/// The chassis table: one group row per chassis serial (`<serial> (<chassis part number>)`, or
/// `<no-chassis-serial-reported>`), then its machines prefixed `├─╴` and, the last, `└─╴`.
pub fn chassis_table(
    items: &[MachineIpmiResponse],
    threshold: Duration,
    now: DateTime<Utc>,
) -> Table {
    let mut t = Table::new(vec![
        "ID",
        "",
        "PARTITION",
        "RACK",
        "SIZE",
        "PRODUCT SERIAL",
        "HOSTNAME",
    ]);
    let mut groups: std::collections::BTreeMap<String, Vec<&MachineIpmiResponse>> =
        Default::default();
    for item in items {
        let fru = &item.ipmi.fru;
        let key = if fru.chassis_part_serial.is_empty() {
            "<no-chassis-serial-reported>".to_string()
        } else {
            format!("{} ({})", fru.chassis_part_serial, fru.chassis_part_number)
        };
        groups.entry(key).or_default().push(item);
    }
    for (key, mut members) in groups {
        members.sort_by(|a, b| a.machine.id.cmp(&b.machine.id));
        t.push(vec![
            key,
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
        ]);
        let n = members.len();
        for (i, item) in members.into_iter().enumerate() {
            let m = &item.machine;
            let prefix = if i + 1 == n { "└─╴" } else { "├─╴" };
            t.push(vec![
                format!("{prefix}{}", m.id),
                emojis(m, threshold, now),
                m.partition
                    .as_ref()
                    .map(|p| p.id.clone())
                    .unwrap_or_default(),
                m.rackid.clone(),
                m.size.as_ref().map(|s| s.id.clone()).unwrap_or_default(),
                item.ipmi.fru.product_serial.clone(),
                m.allocation
                    .as_ref()
                    .map(|a| a.hostname.clone())
                    .unwrap_or_default(),
            ]);
        }
    }
    t
}
