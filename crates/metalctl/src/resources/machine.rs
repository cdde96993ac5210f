//! `metalctl machine` (alias `ms`) over `/v1/machine` (agents.md §1.4, §1.5):
//!
//! - `list` (`GET`, or `POST /find` with any filter), `describe <id>`;
//! - `create` allocates (`POST /allocate`) from flags (see `allocate`) or `-f`;
//! - `update <id>` changes description and tags of an allocated machine (`POST /`);
//! - `delete <id>` frees (`DELETE /{id}/free`), with `--remove-from-database` and
//!   `--yes-i-really-mean-it` removes it from the database (`DELETE /{id}`);
//! - `reserve`/`lock <id>` set the state (`POST /{id}/state`), `--remove` clears it;
//! - `reinstall <id> --image` (`POST /{id}/reinstall`);
//! - `logs <id>` prints the provisioning events, oldest first, and a recent last error;
//! - `consolepassword <id> --reason` prints the console password only;
//! - `ipmi [id]` prints the machines with their BMC data (see `ipmi`);
//! - `issues` prints the machines with issues, `issues list` the issue types (see `issues`);
//! - `update-firmware bios|bmc <id>` lists or flashes firmware (see `firmware`).
//!
//! `describe`, `create`, `update` and `delete` print with the describe printer (YAML), the
//! machine actions `reserve`, `lock` and `reinstall` with the list printer (one table row).
//! Tables and status symbols are in `table`.

pub mod allocate;
pub mod firmware;
pub mod ipmi;
pub mod issues;
pub mod power;
pub mod table;

use std::path::PathBuf;

use anyhow::{bail, Result as AnyResult};
use chrono::{DateTime, Duration, Utc};
use clap::{Args, Subcommand};
use metal_client::{Client, Result};
use metal_domain::machine::{
    MachineAllocateRequest, MachineFindRequest, MachineResponse, MachineStateRequest,
    MachineStateValue, MachineUpdateRequest,
};
use metal_domain::machine::{MachineConsolePasswordRequest, MachineReinstallRequest};

use crate::app::App;
use crate::crud::{self, Crud, FileArgs, ListArgs, Resource};
use crate::output::{humanize, Table};
use crate::sort::{SortArgs, SortKey};
use allocate::AllocateArgs;

/// `metalctl machine ...`
#[derive(Subcommand, Debug, Clone)]
pub enum MachineCmd {
    /// List machines.
    #[command(visible_alias = "ls")]
    List(MachineList),
    /// Show one machine.
    #[command(visible_alias = "get")]
    Describe {
        /// id of the machine
        id: String,
    },
    /// Allocate a machine from flags, or machines from a file.
    #[command(visible_alias = "allocate")]
    Create(AllocateArgs),
    /// Change the description or the tags of an allocated machine.
    Update(MachineUpdateArgs),
    /// Free a machine, or remove it from the database.
    #[command(visible_aliases = ["rm", "destroy", "remove"])]
    Delete(MachineDeleteArgs),
    /// Reserve a machine: random allocation skips it, allocation by id still takes it.
    Reserve(StateArgs),
    /// Lock a machine: it cannot be freed or reinstalled.
    Lock(StateArgs),
    /// Install another image on an allocated machine, keeping the disks its layout keeps.
    Reinstall(ReinstallArgs),
    /// Show the provisioning events of a machine.
    #[command(visible_alias = "log")]
    Logs(LogsArgs),
    /// Show the password of the machine's console user.
    Consolepassword(ConsolePasswordArgs),
    /// Show the machines with issues, or with `list` every issue type.
    Issues(issues::IssuesArgs),
    /// Show the machines with their BMC: power, address, FRU, firmware, last report.
    Ipmi(Box<ipmi::IpmiArgs>),
    /// Power the machine on, off, reset or cycle it, or set its boot device.
    #[command(subcommand)]
    Power(power::PowerCmd),
    /// Switch the chassis identify LED on or off.
    #[command(subcommand)]
    Identify(power::IdentifyCmd),
    /// Connect to the serial console of the machine.
    Console(power::ConsoleArgs),
    /// Flash an uploaded BIOS or BMC firmware file, or list the revisions for the machine.
    #[command(visible_alias = "firmware-update")]
    UpdateFirmware(firmware::UpdateFirmwareArgs),
}

/// `--state`: `RESERVED`, `LOCKED` (any case), or `""` for available machines.
fn parse_state(s: &str) -> std::result::Result<String, String> {
    MachineStateValue::parse(&s.to_ascii_uppercase())
        .map(|v| v.as_str().to_string())
        .map_err(|e| e.to_string())
}

/// A duration such as `1h`, `30m`, `168h`, `1h30m`, `7d` (the workspace's duration grammar);
/// an RFC 3339 time is refused with a hint.
pub fn parse_duration(s: &str) -> std::result::Result<Duration, String> {
    if DateTime::parse_from_rfc3339(s).is_ok() {
        return Err(format!("{s:?} is a time, not a duration like 1h30m"));
    }
    metal_util::duration::parse_duration(s)
        .ok()
        .and_then(|d| Duration::from_std(d).ok())
        .ok_or_else(|| format!("{s:?} is not a duration like 1h30m"))
}

/// The search filters of machine and firewall lists.
#[derive(Args, Debug, Clone, Default)]
pub struct MachineFilters {
    /// id of the machine
    #[arg(long)]
    pub id: Option<String>,
    /// name of the allocation
    #[arg(long)]
    pub name: Option<String>,
    /// hostname of the allocation
    #[arg(long)]
    pub hostname: Option<String>,
    /// partition of the machine
    #[arg(long)]
    pub partition: Option<String>,
    /// size of the machine
    #[arg(long)]
    pub size: Option<String>,
    /// rack of the machine
    #[arg(long)]
    pub rack: Option<String>,
    /// state of the machine: RESERVED, LOCKED, or "" for available machines
    #[arg(long, value_parser = parse_state)]
    pub state: Option<String>,
    /// image of the allocation
    #[arg(long)]
    pub image: Option<String>,
    /// project of the allocation
    #[arg(long)]
    pub project: Option<String>,
    /// MAC addresses of the machine's NICs (comma separated)
    #[arg(long, value_delimiter = ',')]
    pub mac: Vec<String>,
    /// tags the machine must have (comma separated)
    #[arg(long, value_delimiter = ',')]
    pub tags: Vec<String>,
    /// networks the allocation must be in (comma separated)
    #[arg(long, value_delimiter = ',')]
    pub network_ids: Vec<String>,
    /// addresses the allocation must have (comma separated)
    #[arg(long, value_delimiter = ',')]
    pub network_ips: Vec<String>,
}

impl MachineFilters {
    /// The search; `role` limits it to machines or firewalls.
    pub fn to_find(&self, role: Option<String>) -> MachineFindRequest {
        MachineFindRequest {
            id: self.id.clone(),
            partition_id: self.partition.clone(),
            sizeid: self.size.clone(),
            rackid: self.rack.clone(),
            tags: self.tags.clone(),
            allocation_name: self.name.clone(),
            allocation_project: self.project.clone(),
            allocation_image_id: self.image.clone(),
            allocation_hostname: self.hostname.clone(),
            allocation_role: role,
            network_ids: self.network_ids.clone(),
            network_ips: self.network_ips.clone(),
            nics_mac_addresses: self.mac.clone(),
            state_value: self.state.clone(),
            ..Default::default()
        }
    }
}

/// Arguments of `machine list`; with any filter the list is searched on the server.
#[derive(Args, Debug, Clone)]
pub struct MachineList {
    #[command(flatten)]
    pub filters: MachineFilters,
    /// role of the allocation: machine or firewall
    #[arg(long, value_parser = ["machine", "firewall"])]
    pub role: Option<String>,
    /// how long ago a last error event may have happened to be flagged ❗
    #[arg(long, default_value = "1h", value_parser = parse_duration)]
    pub last_event_error_threshold: Duration,
    #[command(flatten)]
    pub sort: SortArgs,
}

impl Default for MachineList {
    fn default() -> Self {
        Self {
            filters: MachineFilters::default(),
            role: None,
            last_event_error_threshold: Duration::hours(1),
            sort: SortArgs::default(),
        }
    }
}

impl ListArgs for MachineList {
    fn sort(&self) -> &SortArgs {
        &self.sort
    }
}

impl MachineList {
    pub fn to_find(&self) -> MachineFindRequest {
        self.filters.to_find(self.role.clone())
    }

    /// Whether any filter is given (then `POST /find` is used instead of `GET`).
    pub fn has_filter(&self) -> bool {
        self.to_find() != MachineFindRequest::default()
    }
}

#[derive(Args, Debug, Clone)]
pub struct MachineUpdateArgs {
    /// id of the machine
    pub id: String,
    /// new description of the allocation
    #[arg(long)]
    pub description: Option<String>,
    /// tags to add (comma separated)
    #[arg(long, value_delimiter = ',')]
    pub add_tags: Vec<String>,
    /// tags to remove (comma separated)
    #[arg(long, value_delimiter = ',')]
    pub remove_tags: Vec<String>,
}

impl MachineUpdateArgs {
    /// The update of a machine that has `current` tags: tags are sent only when some are added
    /// or removed; removing a tag the machine does not have is an error.
    pub fn to_request(&self, current: &[String]) -> AnyResult<MachineUpdateRequest> {
        let tags = if self.add_tags.is_empty() && self.remove_tags.is_empty() {
            None
        } else {
            let mut tags = current.to_vec();
            for t in &self.remove_tags {
                if !tags.contains(t) {
                    bail!("machine {} has no tag {t:?}", self.id);
                }
                tags.retain(|x| x != t);
            }
            for t in &self.add_tags {
                if !tags.contains(t) {
                    tags.push(t.clone());
                }
            }
            Some(tags)
        };
        Ok(MachineUpdateRequest {
            id: self.id.clone(),
            description: self.description.clone(),
            tags,
            ssh_pub_keys: None,
        })
    }
}

#[derive(Args, Debug, Clone)]
pub struct MachineDeleteArgs {
    /// id of the machine
    pub id: String,
    /// remove the machine from the database instead of freeing it (only unallocated, dead
    /// machines; needs --yes-i-really-mean-it)
    #[arg(long)]
    pub remove_from_database: bool,
}

#[derive(Args, Debug, Clone)]
pub struct StateArgs {
    /// id of the machine
    pub id: String,
    /// why (required unless --remove)
    #[arg(short = 'd', long, default_value = "")]
    pub description: String,
    /// make the machine available again
    #[arg(short = 'r', long)]
    pub remove: bool,
}

impl StateArgs {
    pub fn to_request(&self, value: MachineStateValue) -> MachineStateRequest {
        if self.remove {
            MachineStateRequest::default()
        } else {
            MachineStateRequest {
                value: value.as_str().to_string(),
                description: self.description.clone(),
            }
        }
    }
}

#[derive(Args, Debug, Clone)]
pub struct ReinstallArgs {
    /// id of the machine
    pub id: String,
    /// id of the image to install
    #[arg(short = 'i', long)]
    pub image: String,
    /// why
    #[arg(short = 'd', long, default_value = "")]
    pub description: String,
}

#[derive(Args, Debug, Clone)]
pub struct LogsArgs {
    /// id of the machine
    pub id: String,
    /// show the last error event if it happened at most this long ago
    #[arg(long, default_value = "168h", value_parser = parse_duration)]
    pub last_event_error_threshold: Duration,
}

#[derive(Args, Debug, Clone)]
pub struct ConsolePasswordArgs {
    /// id of the machine
    pub id: String,
    /// why the password is needed (recorded in the audit trail)
    #[arg(long)]
    pub reason: String,
}

/// The home directory for `@~/` arguments and the default ssh keys.
pub fn home() -> Option<PathBuf> {
    dirs::home_dir()
}

pub async fn run(app: &mut App, cmd: MachineCmd) -> AnyResult<()> {
    match cmd {
        MachineCmd::List(args) => crud::list::<MachineResource>(app, &args).await,
        MachineCmd::Describe { id } => {
            crud::run::<MachineResource>(app, Crud::Describe { id }).await
        }
        MachineCmd::Create(args) => match &args.file {
            Some(file) => {
                let f = FileArgs {
                    file: file.clone(),
                    bulk: args.bulk.clone(),
                };
                crud::run::<MachineResource>(app, Crud::Create(f)).await
            }
            None => {
                let req = args.to_request(home().as_deref())?;
                let m = app.client()?.allocate_machine(&req).await?;
                crud::describe_one::<MachineResource>(app, &m)
            }
        },
        MachineCmd::Update(u) => {
            let client = app.client()?;
            let current = if u.add_tags.is_empty() && u.remove_tags.is_empty() {
                Vec::new()
            } else {
                client.get_machine(&u.id).await?.tags
            };
            let m = client.update_machine(&u.to_request(&current)?).await?;
            crud::describe_one::<MachineResource>(app, &m)
        }
        MachineCmd::Delete(d) => {
            let client = app.client()?;
            let m = if d.remove_from_database {
                if !app.global.yes_i_really_mean_it {
                    bail!(
                        "remove-from-database is set but you forgot to add --yes-i-really-mean-it"
                    );
                }
                client.delete_machine(&d.id).await?
            } else {
                client.free_machine(&d.id).await?
            };
            crud::describe_one::<MachineResource>(app, &m)
        }
        MachineCmd::Reserve(s) => {
            let req = s.to_request(MachineStateValue::Reserved);
            let m = app.client()?.set_machine_state(&s.id, &req).await?;
            print_row(app, &m)
        }
        MachineCmd::Lock(s) => {
            let req = s.to_request(MachineStateValue::Locked);
            let m = app.client()?.set_machine_state(&s.id, &req).await?;
            print_row(app, &m)
        }
        MachineCmd::Reinstall(r) => {
            let req = MachineReinstallRequest {
                id: r.id.clone(),
                imageid: r.image,
                description: r.description,
                ..Default::default()
            };
            let m = app.client()?.reinstall_machine(&r.id, &req).await?;
            print_row(app, &m)
        }
        MachineCmd::Logs(l) => logs(app, &l).await,
        MachineCmd::Issues(i) => issues::run(app, i).await,
        MachineCmd::Ipmi(i) => ipmi::run(app, *i).await,
        MachineCmd::Power(p) => {
            let (action, id) = p.action();
            let m = app.client()?.machine_power(id, action).await?;
            print_row(app, &m)
        }
        MachineCmd::Identify(i) => {
            let (on, a) = match i {
                power::IdentifyCmd::On(a) => (true, a),
                power::IdentifyCmd::Off(a) => (false, a),
            };
            let m = app
                .client()?
                .machine_identify(&a.id, on, &a.description)
                .await?;
            print_row(app, &m)
        }
        MachineCmd::Console(c) => power::console(app, c).await,
        MachineCmd::UpdateFirmware(u) => firmware::run(app, u).await,
        MachineCmd::Consolepassword(c) => {
            let req = MachineConsolePasswordRequest {
                id: c.id,
                reason: c.reason,
            };
            let p = app.client()?.machine_console_password(&req).await?;
            app.printer.write(&format!("{}\n", p.console_password))
        }
    }
}

/// A machine action's result: the machine with the list printer, as one table row.
pub(crate) fn print_row(app: &mut App, m: &MachineResponse) -> AnyResult<()> {
    let items = std::slice::from_ref(m);
    let args = MachineList::default();
    app.printer
        .list(items, |wide| MachineResource::table(items, wide, &args))
}

/// The event log oldest first, then the last error event if it is younger than the threshold.
async fn logs(app: &mut App, args: &LogsArgs) -> AnyResult<()> {
    let m = app.client()?.get_machine(&args.id).await?;
    let mut log = m.events.log;
    log.reverse();
    app.printer
        .list(&log, |wide| table::log_table(&log, wide))?;
    if let Some(e) = m.events.last_error_event {
        let age = Utc::now() - e.time;
        if age <= args.last_event_error_threshold {
            app.printer.write(&format!(
                "\nRecent last error ({} ago):\n\n",
                humanize::duration(age)
            ))?;
            let one = std::slice::from_ref(&e);
            app.printer.list(one, |wide| table::log_table(one, wide))?;
        }
    }
    Ok(())
}

/// The sort keys of machine and firewall lists: `age` and `when` put the youngest first.
pub fn sort_key(m: &MachineResponse, key: &str) -> SortKey {
    let a = m.allocation.as_ref();
    let newest_first = |t: Option<DateTime<Utc>>| match t {
        Some(t) => SortKey::Int(-i128::from(t.timestamp())),
        None => SortKey::None,
    };
    match key {
        "age" => newest_first(a.and_then(|a| a.created)),
        "when" => newest_first(m.events.last_event_time),
        "event" => m
            .events
            .log
            .first()
            .map_or(SortKey::None, |e| e.event.as_str().into()),
        "hostname" => a.map_or(SortKey::None, |a| a.hostname.as_str().into()),
        "image" => a
            .and_then(|a| a.image.as_ref())
            .map_or(SortKey::None, |i| i.id.as_str().into()),
        "liveliness" => m.liveliness.as_str().into(),
        "partition" => m
            .partition
            .as_ref()
            .map_or(SortKey::None, |p| p.id.as_str().into()),
        "project" => a.map_or(SortKey::None, |a| a.project.as_str().into()),
        "rack" => m.rackid.as_str().into(),
        "size" => m
            .size
            .as_ref()
            .map_or(SortKey::None, |s| s.id.as_str().into()),
        _ => m.id.as_str().into(),
    }
}

/// The update a `-f` allocation document of an existing machine (`uuid`) stands for.
pub fn update_from_doc(d: &MachineAllocateRequest) -> MachineUpdateRequest {
    MachineUpdateRequest {
        id: d.uuid.clone(),
        description: Some(d.description.clone()),
        tags: Some(d.tags.clone()),
        ssh_pub_keys: Some(d.ssh_pub_keys.clone()),
    }
}

pub struct MachineResource;

impl Resource for MachineResource {
    const KIND: &'static str = "machine";
    const SORT_KEYS: &'static [&'static str] = &[
        "id",
        "age",
        "event",
        "image",
        "liveliness",
        "partition",
        "project",
        "rack",
        "size",
        "when",
    ];

    type Entity = MachineResponse;
    /// `-f` holds allocation requests.
    type Doc = MachineAllocateRequest;
    type Create = MachineAllocateRequest;
    type Update = MachineUpdateRequest;
    type List = MachineList;

    fn id(e: &MachineResponse) -> String {
        e.id.clone()
    }

    /// The machine id if the document names one, else its hostname.
    fn doc_id(d: &MachineAllocateRequest) -> String {
        if d.uuid.is_empty() {
            d.hostname.clone()
        } else {
            d.uuid.clone()
        }
    }

    fn to_create(d: &MachineAllocateRequest) -> MachineAllocateRequest {
        d.clone()
    }

    fn to_update(d: &MachineAllocateRequest) -> MachineUpdateRequest {
        update_from_doc(d)
    }

    fn table(items: &[MachineResponse], wide: bool, args: &MachineList) -> Table {
        table::machine_table(items, wide, args.last_event_error_threshold, Utc::now())
    }

    fn sort_key(m: &MachineResponse, key: &str) -> SortKey {
        sort_key(m, key)
    }

    async fn list(c: &Client, args: &MachineList) -> Result<Vec<MachineResponse>> {
        if args.has_filter() {
            c.find_machines(&args.to_find()).await
        } else {
            c.list_machines().await
        }
    }
    async fn get(c: &Client, id: &str) -> Result<MachineResponse> {
        c.get_machine(id).await
    }
    async fn create(c: &Client, req: &MachineAllocateRequest) -> Result<MachineResponse> {
        c.allocate_machine(req).await
    }
    async fn update(c: &Client, req: MachineUpdateRequest) -> Result<MachineResponse> {
        c.update_machine(&req).await
    }
    async fn delete(c: &Client, id: &str) -> Result<MachineResponse> {
        c.free_machine(id).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};

    fn parse(args: &[&str]) -> std::result::Result<Cli, clap::Error> {
        crate::cli::try_parse(args)
    }

    fn machine(args: &[&str]) -> MachineCmd {
        let mut all = vec!["machine"];
        all.extend_from_slice(args);
        match parse(&all).unwrap().command {
            Command::Machine(c) => c,
            other => panic!("not a machine command: {other:?}"),
        }
    }

    #[test]
    fn list_filters() {
        let MachineCmd::List(l) = machine(&[
            "ls",
            "--partition",
            "fra",
            "--size",
            "c1",
            "--rack",
            "r1",
            "--state",
            "reserved",
            "--role",
            "firewall",
            "--image",
            "ubuntu",
            "--project",
            "p1",
            "--hostname",
            "web",
            "--name",
            "n",
            "--id",
            "m1",
            "--mac",
            "aa:bb,cc:dd",
            "--tags",
            "a,b=c",
            "--network-ids",
            "internet",
            "--network-ips",
            "10.0.0.1",
            "--last-event-error-threshold",
            "2h30m",
        ]) else {
            panic!("not list");
        };
        let f = l.to_find();
        assert!(l.has_filter());
        assert_eq!(f.partition_id.as_deref(), Some("fra"));
        assert_eq!(f.sizeid.as_deref(), Some("c1"));
        assert_eq!(f.rackid.as_deref(), Some("r1"));
        assert_eq!(f.state_value.as_deref(), Some("RESERVED"));
        assert_eq!(f.allocation_role.as_deref(), Some("firewall"));
        assert_eq!(f.allocation_image_id.as_deref(), Some("ubuntu"));
        assert_eq!(f.allocation_project.as_deref(), Some("p1"));
        assert_eq!(f.allocation_hostname.as_deref(), Some("web"));
        assert_eq!(f.allocation_name.as_deref(), Some("n"));
        assert_eq!(f.id.as_deref(), Some("m1"));
        assert_eq!(f.nics_mac_addresses, ["aa:bb", "cc:dd"]);
        assert_eq!(f.tags, ["a", "b=c"]);
        assert_eq!(f.network_ids, ["internet"]);
        assert_eq!(f.network_ips, ["10.0.0.1"]);
        assert_eq!(
            l.last_event_error_threshold,
            Duration::minutes(150),
            "{l:?}"
        );

        let MachineCmd::List(l) = machine(&["list", "--sort-by", "when"]) else {
            panic!("not list");
        };
        assert!(!l.has_filter(), "sorting is no filter");
        assert_eq!(l.last_event_error_threshold, Duration::hours(1));
        assert_eq!(
            MachineList::default().last_event_error_threshold,
            Duration::hours(1)
        );
        let MachineCmd::List(l) = machine(&["list", "--state", ""]) else {
            panic!("not list");
        };
        assert_eq!(l.to_find().state_value.as_deref(), Some(""));
        assert!(l.has_filter(), "available machines only");
        for bad in [
            vec!["machine", "ls", "--state", "broken"],
            vec!["machine", "ls", "--role", "switch"],
            vec!["machine", "ls", "--last-event-error-threshold", "soon"],
            vec![
                "machine",
                "ls",
                "--last-event-error-threshold",
                "2024-01-01T00:00:00Z",
            ],
        ] {
            assert!(parse(&bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn commands_and_aliases() {
        assert!(matches!(
            parse(&["ms", "ls"]).unwrap().command,
            Command::Machine(MachineCmd::List(_))
        ));
        assert!(matches!(
            machine(&["get", "m1"]),
            MachineCmd::Describe { ref id } if id == "m1"
        ));
        let MachineCmd::Create(c) = machine(&[
            "create",
            "-H",
            "web-1",
            "-i",
            "ubuntu-22.04",
            "-P",
            "p1",
            "-S",
            "fra",
            "-s",
            "c1",
            "-n",
            "web",
            "-d",
            "shop",
            "-p",
            "@~/.ssh/k.pub",
            "--networks",
            "tenant,internet:noauto",
            "--ips",
            "185.1.2.3",
            "--tags",
            "a,b",
            "--filesystemlayout",
            "default",
        ]) else {
            panic!("not create");
        };
        assert_eq!(c.hostname.as_deref(), Some("web-1"));
        assert_eq!(c.networks.len(), 2);
        assert!(!c.networks[1].autoacquire);
        assert_eq!(c.sshpublickey.as_deref(), Some("@~/.ssh/k.pub"));
        // by id, the partition is not needed
        assert!(matches!(
            machine(&["create", "-H", "h", "-i", "i", "-P", "p", "-I", "m1"]),
            MachineCmd::Create(AllocateArgs {
                id: Some(_),
                partition: None,
                ..
            })
        ));
        assert!(matches!(
            machine(&["create", "-f", "m.yaml", "--skip-security-prompts"]),
            MachineCmd::Create(AllocateArgs { file: Some(_), .. })
        ));
        for bad in [
            vec!["machine", "create", "-H", "h", "-i", "i", "-P", "p"],
            vec!["machine", "create", "-H", "h", "-i", "i", "-S", "fra"],
            vec!["machine", "create", "-f", "m.yaml", "-H", "h"],
            vec![
                "machine",
                "create",
                "-H",
                "h",
                "-i",
                "i",
                "-P",
                "p",
                "-S",
                "fra",
                "--networks",
                "x:maybe",
            ],
            vec!["machine", "reinstall", "m1"],
            vec!["machine", "consolepassword", "m1"],
        ] {
            assert!(parse(&bad).is_err(), "{bad:?}");
        }
        assert!(matches!(
            machine(&["reserve", "m1", "-d", "demo"]),
            MachineCmd::Reserve(StateArgs { remove: false, ref description, .. }) if description == "demo"
        ));
        assert!(matches!(
            machine(&["lock", "m1", "-r"]),
            MachineCmd::Lock(StateArgs { remove: true, .. })
        ));
        assert!(matches!(
            machine(&["reinstall", "m1", "--image", "ubuntu-24.04", "-d", "new"]),
            MachineCmd::Reinstall(ReinstallArgs { ref image, .. }) if image == "ubuntu-24.04"
        ));
        let MachineCmd::Logs(l) = machine(&["log", "m1"]) else {
            panic!("not logs");
        };
        assert_eq!(l.last_event_error_threshold, Duration::days(7));
        assert!(matches!(
            machine(&["consolepassword", "m1", "--reason", "debugging boot"]),
            MachineCmd::Consolepassword(ConsolePasswordArgs { ref reason, .. }) if reason == "debugging boot"
        ));
        for alias in ["delete", "rm", "destroy"] {
            assert!(matches!(
                machine(&[alias, "m1", "--remove-from-database"]),
                MachineCmd::Delete(MachineDeleteArgs {
                    remove_from_database: true,
                    ..
                })
            ));
        }
    }

    #[test]
    fn state_requests() {
        let s = StateArgs {
            id: "m1".into(),
            description: "demo".into(),
            remove: false,
        };
        let r = s.to_request(MachineStateValue::Locked);
        assert_eq!(
            (r.value.as_str(), r.description.as_str()),
            ("LOCKED", "demo")
        );
        let r = StateArgs { remove: true, ..s }.to_request(MachineStateValue::Reserved);
        assert_eq!((r.value.as_str(), r.description.as_str()), ("", ""));
    }

    #[test]
    fn tag_updates() {
        let MachineCmd::Update(u) = machine(&[
            "update",
            "m1",
            "--add-tags",
            "c,a",
            "--remove-tags",
            "b",
            "--description",
            "new",
        ]) else {
            panic!("not update");
        };
        let r = u.to_request(&["a".into(), "b".into()]).unwrap();
        assert_eq!(r.tags, Some(vec!["a".to_string(), "c".to_string()]));
        assert_eq!(r.description.as_deref(), Some("new"));
        let err = u.to_request(&["a".into()]).unwrap_err();
        assert_eq!(err.to_string(), "machine m1 has no tag \"b\"");
        let MachineCmd::Update(u) = machine(&["update", "m1", "--description", "d"]) else {
            panic!("not update");
        };
        let r = u.to_request(&[]).unwrap();
        assert_eq!(r.tags, None, "tags are left alone");
    }

    #[test]
    fn sorting() {
        use table::tests::{allocated, free};
        let mut old = allocated("m3");
        old.allocation.as_mut().unwrap().created = Some(Utc::now() - Duration::days(30));
        let mut young = allocated("m2");
        young.allocation.as_mut().unwrap().created = Some(Utc::now() - Duration::days(1));
        let mut items = vec![free("m1"), old, young];
        let orders = crate::sort::parse(&["age".into()], MachineResource::SORT_KEYS, "id").unwrap();
        crate::sort::sort(&mut items, &orders, sort_key);
        let ids: Vec<&str> = items.iter().map(|m| m.id.as_str()).collect();
        assert_eq!(ids, ["m1", "m2", "m3"], "free first, then the youngest");
        let orders = crate::sort::parse(&[], MachineResource::SORT_KEYS, "id").unwrap();
        crate::sort::sort(&mut items, &orders, sort_key);
        assert_eq!(items[0].id, "m1");
        assert_eq!(
            sort_key(&items[1], "event"),
            SortKey::Text("Phoned Home".into())
        );
        assert_eq!(sort_key(&items[0], "project"), SortKey::None);
    }

    #[test]
    fn documents() {
        let docs: Vec<MachineAllocateRequest> = crate::input::parse_documents(
            "uuid: m1\nhostname: web\nprojectid: p1\nimageid: ubuntu\nnetworks: [{networkid: tenant}]\ntags: [a]\n---\nhostname: db\n",
            "test",
        )
        .unwrap();
        assert_eq!(MachineResource::doc_id(&docs[0]), "m1");
        assert_eq!(MachineResource::doc_id(&docs[1]), "db");
        assert!(docs[0].networks[0].autoacquire);
        let u = MachineResource::to_update(&docs[0]);
        assert_eq!((u.id.as_str(), u.tags), ("m1", Some(vec!["a".to_string()])));
    }
}
