//! `metalctl switch`: `list`, `describe`, `update`, `edit`, `delete [--force]` over
//! `/v1/switch` (switches are created by metal-core's registration, not here), `port
//! describe|up|down <switch> --port <p>`, and `replace <id>` (replace mode before the hardware
//! is swapped).
//!
//! Table (agents.md §1.7): `ID | PARTITION | RACK | OS | STATUS | LAST SYNC`, wide
//! `ID | PARTITION | RACK | OS | METALCORE | IP | MODE | LAST SYNC | SYNC DURATION | LAST ERROR`.
//! OS is `🐢` for Cumulus, `🦔` for SONiC, else the vendor (wide: `vendor (version)`). The
//! status dot is red when the last sync is 10 minutes old or took 30 s, a sync error is newer
//! than the last sync, or the switch is in replace mode; yellow from 1 minute or 20 s, or when a
//! connected port is not UP; else green; no dot before the first sync.

use anyhow::Result as AnyResult;
use chrono::{DateTime, Duration, Utc};
use clap::{Args, Subcommand};
use metal_client::client::encode_path_segment;
use metal_client::{Client, Method, Result};
use metal_domain::switch::{
    SwitchFindRequest, SwitchMigrateRequest, SwitchMode, SwitchNic, SwitchPortToggleRequest,
    SwitchRegisterRequest, SwitchResponse, SwitchUpdateRequest,
};
use serde::Serialize;

use crate::app::App;
use crate::crud::{self, Crud, FileArgs, ListArgs, Resource};
use crate::output::color::{paint, Color};
use crate::output::{humanize, Table};
use crate::sort::{SortArgs, SortKey};

/// `metalctl switch ...`
#[derive(Subcommand, Debug, Clone)]
pub enum SwitchCmd {
    /// List switches.
    #[command(visible_alias = "ls")]
    List(SwitchList),
    /// Show one switch.
    #[command(visible_alias = "get")]
    Describe { id: String },
    /// Update switches from a file (description, console command, mode).
    Update(FileArgs),
    /// Edit a switch in $EDITOR and update it.
    Edit { id: String },
    /// Delete a switch.
    #[command(visible_aliases = ["rm", "destroy", "remove"])]
    Delete {
        id: String,
        /// delete even while machines are connected to it
        #[arg(long)]
        force: bool,
    },
    /// Show every port of the switches: its machine, VRF, BGP filter, admin, desired and
    /// actual state and BGP session.
    Detail(SwitchDetailArgs),
    /// Show or set the state of a switch port a machine is connected to.
    #[command(subcommand)]
    Port(PortCmd),
    /// Put a switch into replace mode before its hardware is swapped: the replacement then
    /// registers under the same id and adopts port VRFs and machine connections from its twin.
    Replace { id: String },
    /// Move the machine connections of a switch (with its ports' VRFs and states) to the switch
    /// that replaces it in the same rack, also from Cumulus to SONiC and back (swp1 is
    /// Ethernet0).
    Migrate {
        /// the switch the machines are cabled to now
        old: String,
        /// the switch that takes them over; it must not have machine connections yet
        new: String,
    },
}

#[derive(Subcommand, Debug, Clone)]
pub enum PortCmd {
    /// Show the desired and the actual state of a port.
    Describe(PortArgs),
    /// Bring a port up.
    Up(PortArgs),
    /// Shut a port down.
    Down(PortArgs),
}

#[derive(Args, Debug, Clone)]
pub struct PortArgs {
    /// id of the switch
    pub switch: String,
    /// name of the port, e.g. swp1 or Ethernet0
    #[arg(long)]
    pub port: String,
}

/// Arguments of `switch detail`: one switch, or the switches of the filters (all without).
#[derive(Args, Debug, Clone, Default)]
pub struct SwitchDetailArgs {
    /// id of the switch
    pub id: Option<String>,
    #[arg(long)]
    pub partition: Option<String>,
    #[arg(long)]
    pub rack: Option<String>,
}

/// Arguments of `switch list`; with any filter the list is searched on the server.
#[derive(Args, Debug, Clone, Default)]
pub struct SwitchList {
    #[arg(long)]
    pub id: Option<String>,
    #[arg(long)]
    pub name: Option<String>,
    #[arg(long)]
    pub partition: Option<String>,
    #[arg(long)]
    pub rack: Option<String>,
    #[arg(long)]
    pub os_vendor: Option<String>,
    #[arg(long)]
    pub os_version: Option<String>,
    #[command(flatten)]
    pub sort: SortArgs,
    /// Whether the status dot is coloured (set from the output, not a flag).
    #[arg(skip)]
    pub color: bool,
}

impl ListArgs for SwitchList {
    fn sort(&self) -> &SortArgs {
        &self.sort
    }
}

impl SwitchList {
    fn to_find(&self) -> SwitchFindRequest {
        SwitchFindRequest {
            id: self.id.clone(),
            name: self.name.clone(),
            partitionid: self.partition.clone(),
            rackid: self.rack.clone(),
            osvendor: self.os_vendor.clone(),
            osversion: self.os_version.clone(),
        }
    }
}

pub async fn run(app: &mut App, cmd: SwitchCmd) -> AnyResult<()> {
    match cmd {
        SwitchCmd::List(mut args) => {
            args.color = app.color;
            crud::list::<SwitchResource>(app, &args).await
        }
        SwitchCmd::Describe { id } => crud::run::<SwitchResource>(app, Crud::Describe { id }).await,
        SwitchCmd::Update(f) => crud::run::<SwitchResource>(app, Crud::Update(f)).await,
        SwitchCmd::Edit { id } => crud::run::<SwitchResource>(app, Crud::Edit { id }).await,
        SwitchCmd::Delete { id, force } => {
            if force {
                app.confirm(
                    &format!("delete switch {id} even if machines are connected to it"),
                    false,
                )?;
            }
            let path = format!("{}?force={force}", switch_path(&id));
            let s: SwitchResponse = app
                .client()?
                .request(Method::DELETE, &path, None::<&()>)
                .await?;
            crud::describe_one::<SwitchResource>(app, &s)
        }
        SwitchCmd::Detail(a) => detail(app, a).await,
        SwitchCmd::Port(p) => port(app, p).await,
        SwitchCmd::Replace { id } => {
            let req = SwitchUpdateRequest {
                id,
                mode: Some(SwitchMode::Replace.as_str().to_string()),
                ..Default::default()
            };
            let s = SwitchResource::update(&app.client()?, req).await?;
            crud::describe_one::<SwitchResource>(app, &s)
        }
        SwitchCmd::Migrate { old, new } => {
            let req = SwitchMigrateRequest {
                old_switch_id: old,
                new_switch_id: new,
            };
            let s: SwitchResponse = app
                .client()?
                .request(Method::POST, "v1/switch/migrate", Some(&req))
                .await?;
            crud::describe_one::<SwitchResource>(app, &s)
        }
    }
}

/// One row of `switch detail`: a port with what metal-api knows about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PortDetail {
    pub partition: String,
    pub rack: String,
    pub switch: String,
    pub port: String,
    pub machine_id: String,
    pub vrf: String,
    pub vni_filter: Vec<String>,
    pub cidr_filter: Vec<String>,
    /// `up` or `down`, as an operator set it (empty from a metal-api without admin states)
    pub admin: String,
    /// the state metal-core is to bring the port to, the actual one when nothing is pending
    pub desired: String,
    /// the link state metal-core reported last
    pub actual: String,
    /// BGP session state, empty without one
    pub bgp: String,
}

/// The ports of the switches, switch by switch, each in the switch's (name) order.
pub fn port_details(switches: &[SwitchResponse]) -> Vec<PortDetail> {
    let mut rows = Vec::new();
    for s in switches {
        for n in &s.nics {
            let con = s.connections.iter().find(|c| c.nic.name == n.name);
            let filter = n.filter.clone().unwrap_or_default();
            rows.push(PortDetail {
                partition: s.partition.id.clone(),
                rack: s.rack_id.clone(),
                switch: s.id.clone(),
                port: n.name.clone(),
                machine_id: con.map(|c| c.machine_id.clone()).unwrap_or_default(),
                vrf: n.vrf.clone(),
                vni_filter: filter.vnis,
                cidr_filter: filter.cidrs,
                // `up`/`down` beside the upper-case link states, whatever case the server sends
                admin: n.admin_status.as_deref().unwrap_or_default().to_lowercase(),
                desired: n.actual.as_str().to_string(),
                actual: con.map_or(n.actual, |c| c.nic.actual).as_str().to_string(),
                bgp: n
                    .bgp_port_state
                    .as_ref()
                    .map(|b| b.bgp_state.clone())
                    .unwrap_or_default(),
            });
        }
    }
    rows
}

fn detail_table(rows: &[PortDetail], wide: bool) -> Table {
    let mut head = vec![
        "PARTITION",
        "RACK",
        "SWITCH",
        "PORT",
        "MACHINE",
        "VRF",
        "VNI-FILTER",
        "CIDR-FILTER",
        "ADMIN",
        "ACTUAL",
    ];
    if wide {
        head.extend(["DESIRED", "BGP"]);
    }
    let mut t = Table::new(head);
    for r in rows {
        let mut row = vec![
            r.partition.clone(),
            r.rack.clone(),
            r.switch.clone(),
            r.port.clone(),
            r.machine_id.clone(),
            r.vrf.clone(),
            r.vni_filter.join(" "),
            r.cidr_filter.join(" "),
            r.admin.clone(),
            r.actual.clone(),
        ];
        if wide {
            row.extend([r.desired.clone(), r.bgp.clone()]);
        }
        t.push(row);
    }
    t
}

async fn detail(app: &mut App, a: SwitchDetailArgs) -> AnyResult<()> {
    let client = app.client()?;
    let switches = match &a.id {
        Some(id) => vec![SwitchResource::get(&client, id).await?],
        None => {
            let args = SwitchList {
                partition: a.partition.clone(),
                rack: a.rack.clone(),
                ..Default::default()
            };
            let mut all = SwitchResource::list(&client, &args).await?;
            all.sort_by(|x, y| x.id.cmp(&y.id));
            all
        }
    };
    let rows = port_details(&switches);
    app.printer.list(&rows, |wide| detail_table(&rows, wide))
}

/// The state of one port: what an operator asked for (or the actual state when nothing is
/// pending) and what metal-core reported last.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PortState {
    pub switch: String,
    pub port: String,
    pub desired: String,
    pub actual: String,
    pub machine_id: String,
}

fn port_state(s: &SwitchResponse, port: &str) -> AnyResult<PortState> {
    let nic = s
        .nics
        .iter()
        .find(|n| n.name.eq_ignore_ascii_case(port))
        .ok_or_else(|| anyhow::anyhow!("switch {} has no port {port:?}", s.id))?;
    let con = s.connections.iter().find(|c| c.nic.name == nic.name);
    Ok(PortState {
        switch: s.id.clone(),
        port: nic.name.clone(),
        desired: nic.actual.as_str().to_string(),
        actual: con
            .map_or(nic.actual, |c| c.nic.actual)
            .as_str()
            .to_string(),
        machine_id: con.map(|c| c.machine_id.clone()).unwrap_or_default(),
    })
}

async fn port(app: &mut App, cmd: PortCmd) -> AnyResult<()> {
    let client = app.client()?;
    let (args, status) = match cmd {
        PortCmd::Describe(a) => (a, None),
        PortCmd::Up(a) => (a, Some("UP")),
        PortCmd::Down(a) => (a, Some("DOWN")),
    };
    let s = match status {
        None => SwitchResource::get(&client, &args.switch).await?,
        Some(status) => {
            let req = SwitchPortToggleRequest {
                nic: args.port.clone(),
                status: status.to_string(),
            };
            let path = format!("{}/port", switch_path(&args.switch));
            client.request(Method::POST, &path, Some(&req)).await?
        }
    };
    let state = port_state(&s, &args.port)?;
    app.printer.describe(&state, |_| {
        let mut t = Table::new(["SWITCH", "PORT", "DESIRED", "ACTUAL", "MACHINE"]);
        t.push(
            [
                &state.switch,
                &state.port,
                &state.desired,
                &state.actual,
                &state.machine_id,
            ]
            .map(String::as_str),
        );
        t
    })
}

fn switch_path(id: &str) -> String {
    format!("v1/switch/{}", encode_path_segment(id))
}

/// The status dot of a switch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dot {
    Green,
    Yellow,
    Red,
}

/// Status dot (none before the first sync) and the last error to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SwitchStatus {
    pub dot: Option<Dot>,
    pub last_error: String,
}

/// The status of a switch at `now` (rules in the module doc).
pub fn status(s: &SwitchResponse, now: DateTime<Utc>) -> SwitchStatus {
    let mut dot = None;
    let mut last_error = String::new();
    let down = s.connections.iter().find(|c| c.nic.actual.as_str() != "UP");
    if let Some(c) = down {
        let actual = c.nic.actual.as_str();
        let desired = s
            .nics
            .iter()
            .find(|n| n.name == c.nic.name)
            .map(|n| n.actual.as_str());
        last_error = match desired {
            Some(d) if d != actual => format!("{:?} is {actual} but should be {d}", c.nic.name),
            _ => format!("{:?} is {actual}", c.nic.name),
        };
    }
    if let Some(sync) = &s.last_sync {
        let age = now - sync.time;
        let took = Duration::nanoseconds(sync.duration);
        dot = Some(
            if age >= Duration::minutes(10) || took >= Duration::seconds(30) {
                Dot::Red
            } else if age >= Duration::minutes(1) || took >= Duration::seconds(20) || down.is_some()
            {
                Dot::Yellow
            } else {
                Dot::Green
            },
        );
    }
    if let Some(err) = &s.last_sync_error {
        let age = now - err.time;
        if age < Duration::days(7) {
            last_error = format!(
                "{} ago: {}",
                humanize::duration(age),
                err.error.as_deref().unwrap_or("")
            );
            if s.last_sync.as_ref().is_none_or(|l| err.time > l.time) {
                dot = Some(Dot::Red);
            }
        }
    }
    if s.mode == SwitchMode::Replace {
        dot = Some(Dot::Red);
    }
    SwitchStatus { dot, last_error }
}

fn dot(d: Option<Dot>, color: bool) -> String {
    match d {
        None => String::new(),
        Some(Dot::Green) => paint("●", Color::Green, color),
        Some(Dot::Yellow) => paint("●", Color::Yellow, color),
        Some(Dot::Red) => paint("●", Color::Red, color),
    }
}

/// A duration as Go prints it after rounding to milliseconds: `250ms`, `1.5s`, `2m3.004s`.
pub fn go_duration(nanos: i64) -> String {
    let ms = (nanos + 500_000).div_euclid(1_000_000).max(0);
    if ms == 0 {
        return "0s".into();
    }
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let (h, m, s, frac) = (ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if h > 0 || m > 0 {
        out.push_str(&format!("{m}m"));
    }
    out.push_str(&s.to_string());
    if frac > 0 {
        out.push_str(format!(".{frac:03}").trim_end_matches('0'));
    }
    out.push('s');
    out
}

fn os_icon(s: &SwitchResponse) -> String {
    match s.os.as_ref().map(|o| o.vendor.as_str()) {
        None => String::new(),
        Some(v) if v.eq_ignore_ascii_case("cumulus") => "🐢".into(),
        Some(v) if v.eq_ignore_ascii_case("sonic") => "🦔".into(),
        Some(v) => v.to_string(),
    }
}

fn table_at(items: &[SwitchResponse], wide: bool, color: bool, now: DateTime<Utc>) -> Table {
    let mut t = if wide {
        Table::new([
            "ID",
            "PARTITION",
            "RACK",
            "OS",
            "METALCORE",
            "IP",
            "MODE",
            "LAST SYNC",
            "SYNC DURATION",
            "LAST ERROR",
        ])
    } else {
        Table::new(["ID", "PARTITION", "RACK", "OS", "STATUS", "LAST SYNC"])
    };
    for s in items {
        let st = status(s, now);
        let last_sync = s
            .last_sync
            .as_ref()
            .map(|l| format!("{} ago", humanize::duration(now - l.time)))
            .unwrap_or_default();
        let (partition, rack) = (s.partition.id.clone(), s.rack_id.clone());
        if wide {
            let os =
                s.os.as_ref()
                    .map_or(String::new(), |o| match o.version.as_str() {
                        "" => o.vendor.clone(),
                        v => format!("{} ({v})", o.vendor),
                    });
            let core =
                s.os.as_ref()
                    .map_or("", |o| o.metal_core_version.split(',').next().unwrap_or(""));
            let took = s
                .last_sync
                .as_ref()
                .map(|l| go_duration(l.duration))
                .unwrap_or_default();
            t.push([
                s.id.clone(),
                partition,
                rack,
                os,
                core.to_string(),
                s.management_ip.clone(),
                s.mode.as_str().to_string(),
                last_sync,
                took,
                st.last_error,
            ]);
        } else {
            t.push([
                s.id.clone(),
                partition,
                rack,
                os_icon(s),
                dot(st.dot, color),
                last_sync,
            ]);
        }
    }
    t
}

pub struct SwitchResource;

impl Resource for SwitchResource {
    const KIND: &'static str = "switch";
    const SORT_KEYS: &'static [&'static str] = &["id", "partition", "rack", "os", "mode"];

    type Entity = SwitchResponse;
    type Doc = SwitchResponse;
    type Create = SwitchRegisterRequest;
    type Update = SwitchUpdateRequest;
    type List = SwitchList;

    fn id(e: &SwitchResponse) -> String {
        e.id.clone()
    }

    fn doc_id(d: &SwitchResponse) -> String {
        d.id.clone()
    }

    /// A registration as metal-core would send it for this switch.
    fn to_create(s: &SwitchResponse) -> SwitchRegisterRequest {
        SwitchRegisterRequest {
            id: s.id.clone(),
            name: Some(s.name.clone()),
            description: Some(s.description.clone()),
            partition_id: s.partition.id.clone(),
            rack_id: s.rack_id.clone(),
            mode: None,
            os: s.os.clone(),
            management_ip: s.management_ip.clone(),
            management_user: s.management_user.clone(),
            console_command: Some(s.console_command.clone()),
            nics: s
                .nics
                .iter()
                .map(|n| SwitchNic {
                    filter: None,
                    bgp_port_state: None,
                    admin_status: None,
                    ..n.clone()
                })
                .collect(),
        }
    }

    fn to_update(s: &SwitchResponse) -> SwitchUpdateRequest {
        SwitchUpdateRequest {
            id: s.id.clone(),
            name: Some(s.name.clone()),
            description: Some(s.description.clone()),
            rack_id: Some(s.rack_id.clone()),
            mode: Some(s.mode.as_str().to_string()),
            console_command: Some(s.console_command.clone()),
            ..Default::default()
        }
    }

    fn table(items: &[SwitchResponse], wide: bool, args: &SwitchList) -> Table {
        table_at(items, wide, args.color, Utc::now())
    }

    fn sort_key(s: &SwitchResponse, key: &str) -> SortKey {
        match key {
            "partition" => s.partition.id.as_str().into(),
            "rack" => s.rack_id.as_str().into(),
            "os" => {
                s.os.as_ref()
                    .map_or(String::new(), |o| format!("{} {}", o.vendor, o.version))
                    .into()
            }
            "mode" => s.mode.as_str().into(),
            _ => s.id.as_str().into(),
        }
    }

    async fn list(c: &Client, args: &SwitchList) -> Result<Vec<SwitchResponse>> {
        let find = args.to_find();
        if find == SwitchFindRequest::default() {
            c.request(Method::GET, "v1/switch", None::<&()>).await
        } else {
            c.request(Method::POST, "v1/switch/find", Some(&find)).await
        }
    }
    async fn get(c: &Client, id: &str) -> Result<SwitchResponse> {
        c.request(Method::GET, &switch_path(id), None::<&()>).await
    }
    async fn create(c: &Client, req: &SwitchRegisterRequest) -> Result<SwitchResponse> {
        c.request(Method::POST, "v1/switch/register", Some(req))
            .await
    }
    async fn update(c: &Client, req: SwitchUpdateRequest) -> Result<SwitchResponse> {
        c.request(Method::POST, "v1/switch", Some(&req)).await
    }
    async fn delete(c: &Client, id: &str) -> Result<SwitchResponse> {
        c.request(Method::DELETE, &switch_path(id), None::<&()>)
            .await
    }
}

#[cfg(test)]
mod tests;
