//! `metalctl firewall` (alias `fw`) over `/v1/firewall`: `list` (`GET`, or `POST /find` with
//! any filter), `describe <id>` and `create` (`POST /allocate`) with the flags of
//! `machine create` plus `--firewall-rules-file`, or `-f` with allocation requests that may
//! carry `firewall_rules`.
//!
//! Table (agents.md §1.7): `ID | AGE | HOSTNAME | PROJECT | NETWORKS | IPS | PARTITION`, the
//! same in wide.

use anyhow::{Context as _, Result as AnyResult};
use chrono::Utc;
use clap::{Args, Subcommand};
use metal_client::{Client, Result};
use metal_domain::machine::{
    FirewallRules, MachineAllocateRequest, MachineFindRequest, MachineResponse,
    MachineUpdateRequest,
};

use super::machine::allocate::AllocateArgs;
use super::machine::{self, table, MachineFilters};
use crate::app::App;
use crate::crud::{self, Crud, FileArgs, ListArgs, Resource};
use crate::input::read_source;
use crate::output::Table;
use crate::sort::{SortArgs, SortKey};

/// `metalctl firewall ...`
#[derive(Subcommand, Debug, Clone)]
pub enum FirewallCmd {
    /// List firewalls.
    #[command(visible_alias = "ls")]
    List(FirewallList),
    /// Show one firewall.
    #[command(visible_alias = "get")]
    Describe {
        /// id of the firewall
        id: String,
    },
    /// Allocate a firewall from flags, or firewalls from a file.
    #[command(visible_alias = "allocate")]
    Create(FirewallCreateArgs),
}

/// Arguments of `firewall list`; with any filter the list is searched on the server.
#[derive(Args, Debug, Clone, Default)]
pub struct FirewallList {
    #[command(flatten)]
    pub filters: MachineFilters,
    #[command(flatten)]
    pub sort: SortArgs,
}

impl ListArgs for FirewallList {
    fn sort(&self) -> &SortArgs {
        &self.sort
    }
}

impl FirewallList {
    /// The search (the server limits it to firewalls).
    pub fn to_find(&self) -> MachineFindRequest {
        self.filters.to_find(None)
    }
}

/// `firewall create`: the machine allocation flags and the rules.
#[derive(Args, Debug, Clone)]
pub struct FirewallCreateArgs {
    #[command(flatten)]
    pub allocate: AllocateArgs,
    /// YAML or JSON file with the firewall rules (`egress` and `ingress` lists)
    #[arg(long, conflicts_with = "file")]
    pub firewall_rules_file: Option<String>,
}

/// Reads firewall rules from a file (`-` is stdin).
pub fn read_rules(file: &str) -> AnyResult<FirewallRules> {
    let text = read_source(file)?;
    crate::input::parse_one(&text, crate::input::source_name(file))
        .with_context(|| format!("{file} holds no firewall rules"))
}

pub async fn run(app: &mut App, cmd: FirewallCmd) -> AnyResult<()> {
    match cmd {
        FirewallCmd::List(args) => crud::list::<FirewallResource>(app, &args).await,
        FirewallCmd::Describe { id } => {
            crud::run::<FirewallResource>(app, Crud::Describe { id }).await
        }
        FirewallCmd::Create(args) => match &args.allocate.file {
            Some(file) => {
                let f = FileArgs {
                    file: file.clone(),
                    bulk: args.allocate.bulk.clone(),
                };
                crud::run::<FirewallResource>(app, Crud::Create(f)).await
            }
            None => {
                let mut req = args.allocate.to_request(machine::home().as_deref())?;
                req.firewall_rules = args
                    .firewall_rules_file
                    .as_deref()
                    .map(read_rules)
                    .transpose()?;
                let fw = app.client()?.allocate_firewall(&req).await?;
                crud::describe_one::<FirewallResource>(app, &fw)
            }
        },
    }
}

pub struct FirewallResource;

impl Resource for FirewallResource {
    const KIND: &'static str = "firewall";
    const SORT_KEYS: &'static [&'static str] = &[
        "id",
        "age",
        "hostname",
        "image",
        "partition",
        "project",
        "rack",
        "size",
    ];

    type Entity = MachineResponse;
    /// `-f` holds allocation requests (with `firewall_rules`).
    type Doc = MachineAllocateRequest;
    type Create = MachineAllocateRequest;
    type Update = MachineUpdateRequest;
    type List = FirewallList;

    fn id(e: &MachineResponse) -> String {
        e.id.clone()
    }

    fn doc_id(d: &MachineAllocateRequest) -> String {
        <machine::MachineResource as Resource>::doc_id(d)
    }

    fn to_create(d: &MachineAllocateRequest) -> MachineAllocateRequest {
        d.clone()
    }

    fn to_update(d: &MachineAllocateRequest) -> MachineUpdateRequest {
        machine::update_from_doc(d)
    }

    fn table(items: &[MachineResponse], _wide: bool, _args: &FirewallList) -> Table {
        table::firewall_table(items, Utc::now())
    }

    fn sort_key(m: &MachineResponse, key: &str) -> SortKey {
        machine::sort_key(m, key)
    }

    async fn list(c: &Client, args: &FirewallList) -> Result<Vec<MachineResponse>> {
        let find = args.to_find();
        if find == MachineFindRequest::default() {
            c.list_firewalls().await
        } else {
            c.find_firewalls(&find).await
        }
    }
    async fn get(c: &Client, id: &str) -> Result<MachineResponse> {
        c.get_firewall(id).await
    }
    async fn create(c: &Client, req: &MachineAllocateRequest) -> Result<MachineResponse> {
        c.allocate_firewall(req).await
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

    #[test]
    fn commands() {
        let cli = parse(&["fw", "ls", "--project", "p1", "--sort-by", "age"]).unwrap();
        let Command::Firewall(FirewallCmd::List(l)) = cli.command else {
            panic!("not firewall list: {cli:?}");
        };
        assert_eq!(l.to_find().allocation_project.as_deref(), Some("p1"));
        assert_eq!(l.to_find().allocation_role, None);
        let cli = parse(&[
            "firewall",
            "create",
            "-H",
            "fw",
            "-i",
            "firewall-ubuntu-3.0",
            "-P",
            "p1",
            "-S",
            "fra",
            "-s",
            "c1",
            "--networks",
            "tenant,internet",
            "--firewall-rules-file",
            "rules.yaml",
        ])
        .unwrap();
        let Command::Firewall(FirewallCmd::Create(c)) = cli.command else {
            panic!("not firewall create: {cli:?}");
        };
        assert_eq!(c.firewall_rules_file.as_deref(), Some("rules.yaml"));
        assert_eq!(c.allocate.networks.len(), 2);
        assert!(parse(&["fw", "get", "fw1"]).is_ok());
        assert!(parse(&["fw", "create", "-f", "x.yaml", "--firewall-rules-file", "r"]).is_err());
        assert!(parse(&["fw", "create", "-H", "fw", "-i", "i", "-S", "fra"]).is_err());
    }

    #[test]
    fn rules_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("rules.yaml");
        std::fs::write(
            &p,
            "egress:\n- protocol: TCP\n  ports: [443]\n  to: [0.0.0.0/0]\n  comment: https out\ningress:\n- ports: [22]\n  from: [10.0.0.0/8]\n",
        )
        .unwrap();
        let rules = read_rules(p.to_str().unwrap()).unwrap();
        assert_eq!(rules.egress[0].ports, [443]);
        assert_eq!(rules.egress[0].comment, "https out");
        assert_eq!(rules.ingress[0].from, ["10.0.0.0/8"]);
        std::fs::write(&p, "egress: 5\n").unwrap();
        assert!(read_rules(p.to_str().unwrap()).is_err());
        assert!(read_rules("/nonexistent/rules.yaml").is_err());
    }
}
