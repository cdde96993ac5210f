//! `metalctl machine issues` (agents.md §1.6, §1.7): the machines the server finds issues
//! with (`POST /v1/machine/issues/evaluate`), joined with their BMC data
//! (`POST /v1/machine/ipmi/find`) for the power column and with the issue catalogue
//! (`GET /v1/machine/issues`) for descriptions and links; `machine issues list` prints the
//! catalogue.

use std::collections::HashMap;

use anyhow::Result as AnyResult;
use chrono::{DateTime, Duration, Utc};
use clap::{Args, Subcommand};
use metal_domain::issues::{MachineIssue, MachineIssuesRequest};
use metal_domain::machine::{MachineIpmiResponse, MachineStateValue};
use serde::Serialize;

use super::table::{emojis, last_event, since, truncate_end};
use super::{parse_duration, MachineFilters};
use crate::app::App;
use crate::output::Table;

/// Lock reasons longer than this are cut in the normal table.
const MAX_LOCK_REASON: usize = 30;

/// `metalctl machine issues [filters]` or `metalctl machine issues list`.
#[derive(Args, Debug, Clone)]
#[command(args_conflicts_with_subcommands = true)]
pub struct IssuesArgs {
    #[command(subcommand)]
    pub cmd: Option<IssuesSub>,
    #[command(flatten)]
    pub filters: MachineFilters,
    /// issue types to leave out (comma separated; wins over --only)
    #[arg(long, value_delimiter = ',')]
    pub omit: Vec<String>,
    /// the only issue types to show (comma separated)
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,
    /// show issues of this severity and worse
    #[arg(long, default_value = "minor", value_parser = ["minor", "major", "critical"])]
    pub severity: String,
    /// how long ago a last error event may have happened to be an issue (server default 7d)
    #[arg(long, value_parser = parse_duration)]
    pub last_event_error_threshold: Option<Duration>,
}

#[derive(Subcommand, Debug, Clone)]
pub enum IssuesSub {
    /// List every issue type the server evaluates.
    List,
}

impl IssuesArgs {
    pub fn to_request(&self) -> MachineIssuesRequest {
        MachineIssuesRequest {
            query: self.filters.to_find(None),
            only: self.only.clone(),
            omit: self.omit.clone(),
            severity: self.severity.clone(),
            last_error_threshold: self
                .last_event_error_threshold
                .and_then(|d| d.num_nanoseconds()),
        }
    }

    /// The threshold of the ❗ symbol: the one given, else the server's default of a week.
    fn threshold(&self) -> Duration {
        self.last_event_error_threshold
            .unwrap_or_else(|| Duration::days(7))
    }
}

/// One machine with its issues, as printed by the yaml and json formats.
#[derive(Debug, Clone, Serialize)]
pub struct MachineWithIssues {
    pub machine: MachineIpmiResponse,
    pub issues: Vec<MachineIssue>,
}

pub async fn run(app: &mut App, args: IssuesArgs) -> AnyResult<()> {
    let client = app.client()?;
    let catalogue = client.machine_issue_types().await?;
    if matches!(args.cmd, Some(IssuesSub::List)) {
        return app
            .printer
            .list(&catalogue, |wide| catalogue_table(&catalogue, wide));
    }
    let req = args.to_request();
    let evaluated = client.evaluate_machine_issues(&req).await?;
    let mut machines: HashMap<String, MachineIpmiResponse> = if evaluated.is_empty() {
        HashMap::new()
    } else {
        client
            .find_ipmi_machines(&req.query)
            .await?
            .into_iter()
            .map(|m| (m.machine.id.clone(), m))
            .collect()
    };
    let types: HashMap<&str, &MachineIssue> =
        catalogue.iter().map(|i| (i.id.as_str(), i)).collect();
    // a machine deleted between the two reads is left out
    let items: Vec<MachineWithIssues> = evaluated
        .into_iter()
        .filter_map(|e| {
            let machine = machines.remove(&e.machineid)?;
            let issues = e
                .issues
                .iter()
                .map(|id| match types.get(id.as_str()) {
                    Some(t) => (*t).clone(),
                    // an issue type newer than the catalogue we read: show its id
                    None => MachineIssue {
                        id: id.clone(),
                        severity: String::new(),
                        description: id.clone(),
                        ref_url: String::new(),
                        details: String::new(),
                    },
                })
                .collect();
            Some(MachineWithIssues { machine, issues })
        })
        .collect();
    let threshold = args.threshold();
    app.printer.list(&items, |wide| {
        issues_table(&items, wide, threshold, Utc::now())
    })
}

/// `machine issues list`: `ID | SEVERITY | DESCRIPTION | REFERENCE URL`.
pub fn catalogue_table(items: &[MachineIssue], _wide: bool) -> Table {
    let mut t = Table::new(["ID", "SEVERITY", "DESCRIPTION", "REFERENCE URL"]);
    for i in items {
        t.push(vec![
            i.id.clone(),
            i.severity.clone(),
            i.description.clone(),
            i.ref_url.clone(),
        ]);
    }
    t
}

/// The issues table at `now`: one row per machine with its first issue, then a row with only
/// the issue columns filled for each further issue.
pub fn issues_table(
    items: &[MachineWithIssues],
    wide: bool,
    threshold: Duration,
    now: DateTime<Utc>,
) -> Table {
    let header = if wide {
        vec![
            "ID",
            "NAME",
            "PARTITION",
            "PROJECT",
            "POWER",
            "STATE",
            "LOCK REASON",
            "LAST EVENT",
            "WHEN",
            "ISSUES",
            "REF URL",
            "DETAILS",
        ]
    } else {
        vec![
            "ID",
            "POWER",
            "ALLOCATED",
            "",
            "LOCK REASON",
            "LAST EVENT",
            "WHEN",
            "ISSUES",
        ]
    };
    let mut t = Table::new(header);
    for item in items {
        let m = &item.machine.machine;
        let power = item.machine.ipmi.powerstate.clone();
        let last_event = last_event(m);
        let when = since(m.events.last_event_time, now);
        let lock_reason = m.state.description.clone();
        for (n, issue) in item.issues.iter().enumerate() {
            let text = format!("{} ({})", issue.description, issue.id);
            let first = n == 0;
            let row = if wide {
                let head = if first {
                    vec![
                        m.id.clone(),
                        m.allocation
                            .as_ref()
                            .map(|a| a.name.clone())
                            .unwrap_or_default(),
                        m.partition
                            .as_ref()
                            .map(|p| p.id.clone())
                            .unwrap_or_default(),
                        m.allocation
                            .as_ref()
                            .map(|a| a.project.clone())
                            .unwrap_or_default(),
                        power.clone(),
                        match m.state.value {
                            MachineStateValue::Available => String::new(),
                            v => v.as_str().to_string(),
                        },
                        lock_reason.clone(),
                        last_event.clone(),
                        when.clone(),
                    ]
                } else {
                    vec![String::new(); 9]
                };
                let mut row = head;
                row.extend([text, issue.ref_url.clone(), issue.details.clone()]);
                row
            } else {
                let mut row = if first {
                    vec![
                        m.id.clone(),
                        power.clone(),
                        if m.allocation.is_some() { "yes" } else { "no" }.to_string(),
                        emojis(m, threshold, now),
                        truncate_end(&lock_reason, MAX_LOCK_REASON),
                        last_event.clone(),
                        when.clone(),
                    ]
                } else {
                    vec![String::new(); 7]
                };
                row.push(text);
                row
            };
            t.push(row);
        }
    }
    t
}
