//! `metalctl network ip`: IP addresses over `/v1/ip`. `list`, `describe`, `update`, `apply`,
//! `delete` (alias `free`) and `edit` are the generic verbs; `create` allocates from a file
//! or from flags (the next free address of a network, or the one given with `--ipaddress`).
//!
//! Table: `IP | DESCRIPTION | NAME | NETWORK | PROJECT | TYPE | TAGS` with name and
//! description middle-truncated to 30 characters and the machine and service tags shortened to
//! `machine:<id>` and `service:<name>`; wide: `IP | ALLOCATION UUID | DESCRIPTION | NAME |
//! NETWORK | PROJECT | TYPE | TAGS` with everything as it is.
//!
//! Files are read leniently: fields left out of a document are left alone by `update`.

use anyhow::Result as AnyResult;
use clap::{Args, Subcommand};
use metal_client::{Client, Result};
use metal_domain::ip::{Ip, IpAllocateRequest, IpFindRequest, IpUpdateRequest, MACHINE_TAG_PREFIX};
use metal_domain::prefix;
use serde::{Deserialize, Serialize};

use super::network::parse_family;
use crate::app::App;
use crate::crud::{self, BulkArgs, Crud, DeleteArgs, FileArgs, ListArgs, Resource};
use crate::output::table::truncate_middle;
use crate::output::Table;
use crate::sort::{SortArgs, SortKey};

/// The tag metal-stack's cluster integration puts on the IPs of load balancer services.
pub const SERVICE_TAG_PREFIX: &str = "cluster.metal-stack.io/id/namespace/service=";

/// Longest name and description in the normal table.
const MAX_TEXT: usize = 30;

/// `metalctl network ip ...`
#[derive(Subcommand, Debug, Clone)]
pub enum IpCmd {
    /// List IP addresses.
    #[command(visible_alias = "ls")]
    List(IpList),
    /// Show one IP address.
    #[command(visible_alias = "get")]
    Describe {
        /// the address
        ip: String,
    },
    /// Allocate IP addresses from a file, or one from flags.
    Create(IpCreateArgs),
    /// Update IP addresses from a file.
    Update(FileArgs),
    /// Allocate IP addresses from a file, or update those that exist already.
    Apply(FileArgs),
    /// Free an IP address, or all IP addresses of a file.
    #[command(visible_aliases = ["free", "rm", "destroy", "remove"])]
    Delete(DeleteArgs),
    /// Edit an IP address in $EDITOR and update it.
    Edit {
        /// the address
        ip: String,
    },
}

/// Arguments of `network ip list`; with any filter the list is searched on the server.
#[derive(Args, Debug, Clone, Default)]
pub struct IpList {
    /// the address
    #[arg(long)]
    pub ipaddress: Option<String>,
    /// name of the IP
    #[arg(long)]
    pub name: Option<String>,
    /// network the IP is allocated in
    #[arg(long)]
    pub network: Option<String>,
    /// project of the IP
    #[arg(long)]
    pub project: Option<String>,
    /// type of the IP: static or ephemeral
    #[arg(long = "type", value_name = "TYPE", value_parser = ["static", "ephemeral"])]
    pub kind: Option<String>,
    /// machine the IP is bound to
    #[arg(long)]
    pub machineid: Option<String>,
    /// tags the IP must have (comma separated)
    #[arg(long, value_delimiter = ',')]
    pub tags: Vec<String>,
    /// prefix the IP was allocated from
    #[arg(long)]
    pub prefix: Option<String>,
    /// address family of the IP: IPv4 or IPv6
    #[arg(long, value_parser = parse_family)]
    pub addressfamily: Option<String>,
    #[command(flatten)]
    pub sort: SortArgs,
}

impl ListArgs for IpList {
    fn sort(&self) -> &SortArgs {
        &self.sort
    }
}

impl IpList {
    /// Whether any filter is given (then `POST /find` is used instead of `GET`).
    pub fn has_filter(&self) -> bool {
        self.to_find() != IpFindRequest::default()
    }

    pub fn to_find(&self) -> IpFindRequest {
        IpFindRequest {
            ipaddress: self.ipaddress.clone(),
            allocationuuid: None,
            name: self.name.clone(),
            networkid: self.network.clone(),
            networkprefix: self.prefix.clone(),
            projectid: self.project.clone(),
            kind: self.kind.clone(),
            machineid: self.machineid.clone(),
            tags: self.tags.clone(),
            addressfamily: self.addressfamily.clone(),
        }
    }
}

/// Arguments of `network ip create`: `-f`, or the flags of one allocation.
#[derive(Args, Debug, Clone)]
pub struct IpCreateArgs {
    /// YAML or JSON file with one or more IPs (`---` separated); `-` reads stdin.
    #[arg(
        short = 'f',
        long = "file",
        conflicts_with_all = ["network", "project", "name", "description", "kind", "tags", "machineid", "ipaddress", "addressfamily"]
    )]
    pub file: Option<String>,
    /// network to allocate the IP in
    #[arg(long, required_unless_present = "file")]
    pub network: Option<String>,
    /// project the IP belongs to
    #[arg(long, required_unless_present = "file")]
    pub project: Option<String>,
    /// name of the IP
    #[arg(long)]
    pub name: Option<String>,
    /// description of the IP
    #[arg(long)]
    pub description: Option<String>,
    /// type of the IP: static (kept until freed) or ephemeral (freed with its machine)
    #[arg(
        long = "type",
        value_name = "TYPE",
        default_value = "static",
        value_parser = ["static", "ephemeral"]
    )]
    pub kind: String,
    /// tags of the IP (comma separated)
    #[arg(long, value_delimiter = ',')]
    pub tags: Vec<String>,
    /// machine to bind the IP to
    #[arg(long)]
    pub machineid: Option<String>,
    /// allocate exactly this address instead of the next free one
    #[arg(long)]
    pub ipaddress: Option<String>,
    /// address family to allocate from: IPv4 or IPv6
    #[arg(long, value_parser = parse_family)]
    pub addressfamily: Option<String>,
    #[command(flatten)]
    pub bulk: BulkArgs,
}

impl IpCreateArgs {
    /// The allocation the flags describe.
    pub fn to_create(&self) -> IpCreate {
        IpCreate {
            ipaddress: self.ipaddress.clone(),
            request: IpAllocateRequest {
                networkid: self.network.clone().unwrap_or_default(),
                projectid: self.project.clone().unwrap_or_default(),
                name: self.name.clone().unwrap_or_default(),
                description: self.description.clone().unwrap_or_default(),
                kind: self.kind.clone(),
                tags: self.tags.clone(),
                machineid: self.machineid.clone(),
                addressfamily: self.addressfamily.clone(),
            },
        }
    }
}

pub async fn run(app: &mut App, cmd: IpCmd) -> AnyResult<()> {
    let crud_cmd = match cmd {
        IpCmd::List(args) => Crud::List(args),
        IpCmd::Describe { ip } => Crud::Describe { id: ip },
        IpCmd::Create(args) => match &args.file {
            Some(file) => Crud::Create(FileArgs {
                file: file.clone(),
                bulk: args.bulk.clone(),
            }),
            None => {
                let ip = IpResource::create(&app.client()?, &args.to_create()).await?;
                return crud::describe_one::<IpResource>(app, &ip);
            }
        },
        IpCmd::Update(f) => Crud::Update(f),
        IpCmd::Apply(f) => Crud::Apply(f),
        IpCmd::Delete(d) => Crud::Delete(d),
        IpCmd::Edit { ip } => Crud::Edit { id: ip },
    };
    crud::run::<IpResource>(app, crud_cmd).await
}

/// An IP as read from a file: its response shape with every field optional.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct IpDoc {
    pub ipaddress: String,
    pub name: Option<String>,
    pub description: Option<String>,
    pub networkid: String,
    pub projectid: String,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub tags: Option<Vec<String>>,
    pub machineid: Option<String>,
    pub addressfamily: Option<String>,
}

/// An allocation: of the given address, or of the next free one.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct IpCreate {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ipaddress: Option<String>,
    #[serde(flatten)]
    pub request: IpAllocateRequest,
}

/// A tag as the normal table shows it: `machine:<id>`, `service:<name>`, others as they are.
pub fn short_tag(tag: &str) -> String {
    if let Some(id) = tag.strip_prefix(MACHINE_TAG_PREFIX) {
        format!("machine:{id}")
    } else if let Some(service) = tag.strip_prefix(SERVICE_TAG_PREFIX) {
        format!("service:{service}")
    } else {
        tag.to_string()
    }
}

pub struct IpResource;

impl Resource for IpResource {
    const KIND: &'static str = "ip";
    const SORT_KEYS: &'static [&'static str] = &[
        "ipaddress",
        "name",
        "description",
        "network",
        "project",
        "type",
    ];

    type Entity = Ip;
    type Doc = IpDoc;
    type Create = IpCreate;
    type Update = IpUpdateRequest;
    type List = IpList;

    fn id(e: &Ip) -> String {
        e.ipaddress.clone()
    }

    fn doc_id(d: &IpDoc) -> String {
        d.ipaddress.clone()
    }

    fn to_create(d: &IpDoc) -> IpCreate {
        IpCreate {
            ipaddress: super::non_empty(&d.ipaddress),
            request: IpAllocateRequest {
                networkid: d.networkid.clone(),
                projectid: d.projectid.clone(),
                name: d.name.clone().unwrap_or_default(),
                description: d.description.clone().unwrap_or_default(),
                kind: d.kind.clone().unwrap_or_default(),
                tags: d.tags.clone().unwrap_or_default(),
                machineid: d.machineid.clone(),
                addressfamily: d.addressfamily.clone(),
            },
        }
    }

    fn to_update(d: &IpDoc) -> IpUpdateRequest {
        IpUpdateRequest {
            ipaddress: d.ipaddress.clone(),
            name: d.name.clone(),
            description: d.description.clone(),
            kind: d.kind.clone(),
            tags: d.tags.clone(),
        }
    }

    fn table(items: &[Ip], wide: bool, _args: &IpList) -> Table {
        let header = if wide {
            vec![
                "IP",
                "ALLOCATION UUID",
                "DESCRIPTION",
                "NAME",
                "NETWORK",
                "PROJECT",
                "TYPE",
                "TAGS",
            ]
        } else {
            vec![
                "IP",
                "DESCRIPTION",
                "NAME",
                "NETWORK",
                "PROJECT",
                "TYPE",
                "TAGS",
            ]
        };
        let mut t = Table::new(header);
        for i in items {
            let row = if wide {
                vec![
                    i.ipaddress.clone(),
                    i.allocationuuid.clone(),
                    i.description.clone(),
                    i.name.clone(),
                    i.networkid.clone(),
                    i.projectid.clone(),
                    i.kind.as_str().to_string(),
                    i.tags.join("\n"),
                ]
            } else {
                vec![
                    i.ipaddress.clone(),
                    truncate_middle(&i.description, MAX_TEXT),
                    truncate_middle(&i.name, MAX_TEXT),
                    i.networkid.clone(),
                    i.projectid.clone(),
                    i.kind.as_str().to_string(),
                    i.tags
                        .iter()
                        .map(|t| short_tag(t))
                        .collect::<Vec<_>>()
                        .join("\n"),
                ]
            };
            t.push(row);
        }
        t
    }

    /// Addresses sort numerically (IPv4 before IPv6).
    fn sort_key(i: &Ip, key: &str) -> SortKey {
        match key {
            "name" => i.name.as_str().into(),
            "description" => i.description.as_str().into(),
            "network" => i.networkid.as_str().into(),
            "project" => i.projectid.as_str().into(),
            "type" => i.kind.as_str().into(),
            _ => match prefix::parse_ip("ipaddress", &i.ipaddress) {
                Ok(addr) => {
                    let family = if addr.is_ipv4() { 4 } else { 6 };
                    format!("{family}{}", prefix::hex(prefix::to_u128(&addr))).into()
                }
                Err(_) => format!("9{}", i.ipaddress).into(),
            },
        }
    }

    async fn list(c: &Client, args: &IpList) -> Result<Vec<Ip>> {
        if args.has_filter() {
            c.find_ips(&args.to_find()).await
        } else {
            c.list_ips().await
        }
    }
    async fn get(c: &Client, ip: &str) -> Result<Ip> {
        c.get_ip(ip).await
    }
    async fn create(c: &Client, req: &IpCreate) -> Result<Ip> {
        match &req.ipaddress {
            Some(ip) => c.allocate_specific_ip(ip, &req.request).await,
            None => c.allocate_ip(&req.request).await,
        }
    }
    async fn update(c: &Client, req: IpUpdateRequest) -> Result<Ip> {
        c.update_ip(&req).await
    }
    async fn delete(c: &Client, ip: &str) -> Result<Ip> {
        c.free_ip(ip).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use metal_domain::ip::IpType;

    fn ip(addr: &str) -> Ip {
        Ip {
            ipaddress: addr.into(),
            allocationuuid: "9d4a2a7b-1b2c-4c4e-9a5e-2c1f0e7b5a11".into(),
            name: "shoot--prod--a-very-long-cluster-name-ingress".into(),
            description: "short".into(),
            networkid: "internet".into(),
            projectid: "p1".into(),
            kind: IpType::Static,
            tags: vec![
                "cluster.metal-stack.io/id/namespace/service=c1/default/nginx".into(),
                "machine.metal-stack.io/id=m1".into(),
                "team=a".into(),
            ],
            created: None,
            changed: None,
        }
    }

    #[test]
    fn tags_are_shortened() {
        assert_eq!(short_tag("machine.metal-stack.io/id=m1"), "machine:m1");
        assert_eq!(
            short_tag("cluster.metal-stack.io/id/namespace/service=c1/ns/svc"),
            "service:c1/ns/svc"
        );
        assert_eq!(short_tag("a=b"), "a=b");
        assert_eq!(
            short_tag("machine.metal-stack.io/other=x"),
            "machine.metal-stack.io/other=x"
        );
    }

    #[test]
    fn table_columns() {
        let items = [ip("212.34.83.5")];
        let t = IpResource::table(&items, false, &IpList::default());
        assert_eq!(
            t.render_plain(true),
            "\
IP           DESCRIPTION  NAME                            NETWORK   PROJECT  TYPE    TAGS
212.34.83.5  short        shoot--prod--a...-name-ingress  internet  p1       static  service:c1/default/nginx
                                                                                     machine:m1
                                                                                     team=a
"
        );
        let t = IpResource::table(&items, true, &IpList::default());
        assert_eq!(
            t.header,
            [
                "IP",
                "ALLOCATION UUID",
                "DESCRIPTION",
                "NAME",
                "NETWORK",
                "PROJECT",
                "TYPE",
                "TAGS"
            ]
        );
        assert_eq!(t.rows[0][1], "9d4a2a7b-1b2c-4c4e-9a5e-2c1f0e7b5a11");
        assert_eq!(
            t.rows[0][3],
            "shoot--prod--a-very-long-cluster-name-ingress"
        );
        assert_eq!(t.rows[0][7], items[0].tags.join("\n"));
    }

    #[test]
    fn addresses_sort_numerically() {
        let mut items = vec![
            ip("2001:db8::1"),
            ip("10.0.0.10"),
            ip("10.0.0.9"),
            ip("bogus"),
        ];
        let orders = crate::sort::parse(&[], IpResource::SORT_KEYS, "ipaddress").unwrap();
        crate::sort::sort(&mut items, &orders, IpResource::sort_key);
        let got: Vec<&str> = items.iter().map(|i| i.ipaddress.as_str()).collect();
        assert_eq!(got, ["10.0.0.9", "10.0.0.10", "2001:db8::1", "bogus"]);
    }

    #[test]
    fn filters_pick_find() {
        let mut args = IpList::default();
        assert!(!args.has_filter());
        args.prefix = Some("10.0.0.0/24".into());
        args.tags = vec!["a".into()];
        let f = args.to_find();
        assert!(args.has_filter());
        assert_eq!(f.networkprefix.as_deref(), Some("10.0.0.0/24"));
        assert_eq!(f.tags, ["a"]);
    }

    #[test]
    fn documents_are_read_leniently() {
        let yaml = serde_yaml::to_string(&ip("10.0.0.5")).unwrap();
        let docs: Vec<IpDoc> = crate::input::parse_documents(&yaml, "test").unwrap();
        let c = IpResource::to_create(&docs[0]);
        assert_eq!(c.ipaddress.as_deref(), Some("10.0.0.5"));
        assert_eq!(c.request.kind, "static");
        assert_eq!(c.request.networkid, "internet");
        let u = IpResource::to_update(&docs[0]);
        assert_eq!(u.kind.as_deref(), Some("static"));
        assert_eq!(u.tags.as_ref().map(Vec::len), Some(3));

        // a document with the address and a name only changes the name
        let docs: Vec<IpDoc> =
            crate::input::parse_documents("ipaddress: 10.0.0.5\nname: web\n", "test").unwrap();
        let u = IpResource::to_update(&docs[0]);
        assert_eq!(u.name.as_deref(), Some("web"));
        assert_eq!((u.kind, u.tags, u.description), (None, None, None));
        // without an address the next free one is allocated
        let docs: Vec<IpDoc> =
            crate::input::parse_documents("networkid: internet\nprojectid: p1\n", "test").unwrap();
        assert_eq!(IpResource::to_create(&docs[0]).ipaddress, None);
    }

    #[test]
    fn create_from_flags() {
        let args = IpCreateArgs {
            file: None,
            network: Some("internet".into()),
            project: Some("p1".into()),
            name: Some("web".into()),
            description: None,
            kind: "static".into(),
            tags: vec!["a".into()],
            machineid: Some("m1".into()),
            ipaddress: Some("212.34.83.7".into()),
            addressfamily: None,
            bulk: BulkArgs::default(),
        };
        let c = args.to_create();
        assert_eq!(c.ipaddress.as_deref(), Some("212.34.83.7"));
        assert_eq!(c.request.machineid.as_deref(), Some("m1"));
        assert_eq!(c.request.description, "");
        let body = serde_json::to_value(&c).unwrap();
        assert_eq!(body["type"], "static");
        assert_eq!(body["networkid"], "internet");
    }
}
