//! `metalctl network`: the generic verbs over `/v1/network`, `allocate` (a tenant network cut
//! from the partition's private super network), `free <id>`, and the `ip` subtree (see `ip`).
//!
//! Table: `ID | NAME | PROJECT | PARTITION | NAT | SHARED | <usage dot> | PREFIXES | IP USAGE`,
//! wide: `ID | DESCRIPTION | NAME | PROJECT | PARTITION | NAT | SHARED | PREFIXES |
//! PRIVATESUPER | ANNOTATIONS`. Networks are printed as a tree: a network whose parent is in
//! the list follows it, prefixed `├─╴` (`└─╴` for the last child), in the order of the list
//! (by id unless `--sort-by` says otherwise). The usage dot is green `●` below 70 %, yellow `◒`
//! from 70 % and red `◕` from 90 %, for the highest IP or prefix usage of any address family.

use anyhow::Result as AnyResult;
use clap::{value_parser, Args, Subcommand};
use metal_client::{Client, Result};
use metal_domain::network::{
    Network, NetworkAllocateRequest, NetworkCreateRequest, NetworkFindRequest,
    NetworkUpdateRequest, NetworkUsage,
};
use metal_domain::prefix::AddressFamily;

use super::ip::{self, IpCmd};
use super::{labels, parse_labels};
use crate::app::App;
use crate::crud::{self, Crud, ListArgs, Resource};
use crate::output::color::{paint, Color};
use crate::output::Table;
use crate::sort::{SortArgs, SortKey};

/// `metalctl network ...`
#[derive(Subcommand, Debug, Clone)]
pub enum NetworkCmd {
    #[command(flatten)]
    Crud(Crud<NetworkList>),
    /// Allocate a tenant network from the private super network of a partition.
    Allocate(AllocateArgs),
    /// Free an allocated network, releasing its prefixes.
    Free {
        /// id of the network
        id: String,
    },
    /// Manage IP addresses.
    #[command(subcommand)]
    Ip(IpCmd),
}

/// `--addressfamily`: `IPv4` or `IPv6` (also `ipv4`, `4`, ...), passed on as the API spells it.
pub fn parse_family(s: &str) -> std::result::Result<String, String> {
    AddressFamily::parse(s)
        .map(|af| af.as_str().to_string())
        .map_err(|e| e.to_string())
}

/// Arguments of `network list`; with any filter the list is searched on the server.
#[derive(Args, Debug, Clone, Default)]
pub struct NetworkList {
    /// id of the network
    #[arg(long)]
    pub id: Option<String>,
    /// name of the network
    #[arg(long)]
    pub name: Option<String>,
    /// partition of the network
    #[arg(long)]
    pub partition: Option<String>,
    /// project of the network
    #[arg(long)]
    pub project: Option<String>,
    /// id of the parent network
    #[arg(long)]
    pub parent: Option<String>,
    /// prefixes the network must have (comma separated)
    #[arg(long, value_delimiter = ',')]
    pub prefixes: Vec<String>,
    /// destination prefixes the network must have (comma separated)
    #[arg(long, value_delimiter = ',')]
    pub destination_prefixes: Vec<String>,
    /// only networks with (or, with =false, without) nat
    #[arg(long, num_args = 0..=1, default_missing_value = "true")]
    pub nat: Option<bool>,
    /// only private super networks (or, with =false, no private super networks)
    #[arg(long, num_args = 0..=1, default_missing_value = "true")]
    pub privatesuper: Option<bool>,
    /// only underlay networks (or, with =false, no underlay networks)
    #[arg(long, num_args = 0..=1, default_missing_value = "true")]
    pub underlay: Option<bool>,
    /// vrf of the network
    #[arg(long)]
    pub vrf: Option<u32>,
    /// labels the network must have (key=value, comma separated)
    #[arg(long, value_delimiter = ',')]
    pub labels: Vec<String>,
    /// only networks with a prefix of this family: IPv4 or IPv6
    #[arg(long, value_parser = parse_family)]
    pub addressfamily: Option<String>,
    #[command(flatten)]
    pub sort: SortArgs,
    /// Whether the usage dot is coloured (set from the output, not a flag).
    #[arg(skip)]
    pub color: bool,
}

impl ListArgs for NetworkList {
    fn sort(&self) -> &SortArgs {
        &self.sort
    }
}

impl NetworkList {
    /// Whether any filter is given (then `POST /find` is used instead of `GET`).
    pub fn has_filter(&self) -> bool {
        self.to_find() != NetworkFindRequest::default()
    }

    pub fn to_find(&self) -> NetworkFindRequest {
        NetworkFindRequest {
            id: self.id.clone(),
            name: self.name.clone(),
            partitionid: self.partition.clone(),
            projectid: self.project.clone(),
            parentnetworkid: self.parent.clone(),
            prefixes: self.prefixes.clone(),
            destinationprefixes: self.destination_prefixes.clone(),
            nat: self.nat,
            privatesuper: self.privatesuper,
            underlay: self.underlay,
            vrf: self.vrf,
            labels: parse_labels(&self.labels),
            addressfamily: self.addressfamily.clone(),
        }
    }
}

/// Arguments of `network allocate`.
#[derive(Args, Debug, Clone)]
pub struct AllocateArgs {
    /// name of the network
    #[arg(long)]
    pub name: String,
    /// partition whose private super network the network is cut from
    #[arg(long)]
    pub partition: String,
    /// project the network belongs to
    #[arg(long)]
    pub project: String,
    /// description of the network
    #[arg(long)]
    pub description: Option<String>,
    /// labels of the network (key=value, comma separated)
    #[arg(long, value_delimiter = ',')]
    pub labels: Vec<String>,
    /// destination prefixes routed through the network (comma separated)
    #[arg(long, value_delimiter = ',')]
    pub destination_prefixes: Vec<String>,
    /// masquerade traffic leaving through the network
    #[arg(long)]
    pub nat: bool,
    /// let other projects use the network
    #[arg(long)]
    pub shared: bool,
    /// only this address family: IPv4 or IPv6 (default: every family of the super network)
    #[arg(long, value_parser = parse_family)]
    pub addressfamily: Option<String>,
    /// length of the IPv4 prefix (default: the super network's child prefix length)
    #[arg(long, value_parser = value_parser!(u8).range(1..=32))]
    pub ipv4_prefix_length: Option<u8>,
    /// length of the IPv6 prefix (default: the super network's child prefix length)
    #[arg(long, value_parser = value_parser!(u8).range(1..=128))]
    pub ipv6_prefix_length: Option<u8>,
}

impl AllocateArgs {
    pub fn to_request(&self) -> NetworkAllocateRequest {
        let mut length = std::collections::BTreeMap::new();
        if let Some(l) = self.ipv4_prefix_length {
            length.insert(AddressFamily::IPv4.as_str().to_string(), l);
        }
        if let Some(l) = self.ipv6_prefix_length {
            length.insert(AddressFamily::IPv6.as_str().to_string(), l);
        }
        NetworkAllocateRequest {
            name: self.name.clone(),
            description: self.description.clone().unwrap_or_default(),
            partitionid: self.partition.clone(),
            projectid: self.project.clone(),
            labels: parse_labels(&self.labels),
            destinationprefixes: self.destination_prefixes.clone(),
            nat: self.nat,
            shared: self.shared,
            addressfamily: self.addressfamily.clone(),
            length,
        }
    }
}

pub async fn run(app: &mut App, cmd: NetworkCmd) -> AnyResult<()> {
    match cmd {
        NetworkCmd::Crud(Crud::List(mut args)) => {
            args.color = app.color;
            crud::list::<NetworkResource>(app, &args).await
        }
        NetworkCmd::Crud(c) => crud::run::<NetworkResource>(app, c).await,
        NetworkCmd::Allocate(a) => {
            let network = app.client()?.allocate_network(&a.to_request()).await?;
            crud::describe_one::<NetworkResource>(app, &network)
        }
        NetworkCmd::Free { id } => {
            let network = app.client()?.free_network(&id).await?;
            crud::describe_one::<NetworkResource>(app, &network)
        }
        NetworkCmd::Ip(c) => ip::run(app, c).await,
    }
}

/// How full a network is, from the share of used addresses or prefixes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UsageLevel {
    /// below 70 %
    Low,
    /// from 70 %
    High,
    /// from 90 %
    Critical,
}

impl UsageLevel {
    pub fn of(ratio: f64) -> Self {
        if ratio >= 0.9 {
            Self::Critical
        } else if ratio >= 0.7 {
            Self::High
        } else {
            Self::Low
        }
    }

    pub fn symbol(self) -> &'static str {
        match self {
            Self::Low => "●",
            Self::High => "◒",
            Self::Critical => "◕",
        }
    }

    fn color(self) -> Color {
        match self {
            Self::Low => Color::Green,
            Self::High => Color::Yellow,
            Self::Critical => Color::Red,
        }
    }

    /// The symbol, coloured if `color`.
    pub fn dot(self, color: bool) -> String {
        paint(self.symbol(), self.color(), color)
    }
}

/// The usage per address family from `consumption`, or the overall `usage` when the server
/// sent no consumption.
fn usages(n: &Network) -> Vec<(Option<AddressFamily>, NetworkUsage)> {
    let per_family: Vec<_> = [
        (AddressFamily::IPv4, n.consumption.ipv4),
        (AddressFamily::IPv6, n.consumption.ipv6),
    ]
    .into_iter()
    .filter_map(|(af, u)| u.map(|u| (Some(af), u)))
    .collect();
    if per_family.is_empty() {
        vec![(None, n.usage)]
    } else {
        per_family
    }
}

fn ratio(used: u64, available: u64) -> f64 {
    if available == 0 {
        0.0
    } else {
        used as f64 / available as f64
    }
}

/// The highest share of used IPs or used prefixes over the address families.
pub fn usage_ratio(n: &Network) -> f64 {
    usages(n)
        .iter()
        .map(|(_, u)| {
            ratio(u.used_ips, u.available_ips).max(ratio(u.used_prefixes, u.available_prefixes))
        })
        .fold(0.0, f64::max)
}

/// `used/available` IPs; one `IPv4: used/available` line per family when there are several.
pub fn ip_usage(n: &Network) -> String {
    let us = usages(n);
    if let [(_, u)] = us.as_slice() {
        return format!("{}/{}", u.used_ips, u.available_ips);
    }
    us.iter()
        .map(|(af, u)| {
            let af = af.map_or("", AddressFamily::as_str);
            format!("{af}: {}/{}", u.used_ips, u.available_ips)
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Where a network stands in the printed tree.
#[derive(Debug, Clone, PartialEq)]
pub struct TreeRow<'a> {
    pub network: &'a Network,
    /// Put before the id: the indentation and `├─╴`/`└─╴` (empty for top-level networks).
    pub prefix: String,
    /// Put before the continuation lines of a row that spans several lines: the vertical
    /// lines of the tree going on below it.
    pub continuation: String,
}

/// The networks in tree order: every network without a parent in the list (in list order),
/// each followed by its descendants (in list order).
pub fn tree(items: &[Network]) -> Vec<TreeRow<'_>> {
    let has = |id: &str| !id.is_empty() && items.iter().any(|n| n.id == id);
    let mut visited = vec![false; items.len()];
    let mut out = Vec::with_capacity(items.len());
    for (i, n) in items.iter().enumerate() {
        if !has(&n.parentnetworkid) {
            walk(items, i, "", "", &mut visited, &mut out);
        }
    }
    // parents that form a cycle are never reached from a root: print them at the top level
    for i in 0..items.len() {
        if !visited[i] {
            walk(items, i, "", "", &mut visited, &mut out);
        }
    }
    out
}

fn walk<'a>(
    items: &'a [Network],
    i: usize,
    connector: &str,
    indent: &str,
    visited: &mut [bool],
    out: &mut Vec<TreeRow<'a>>,
) {
    visited[i] = true;
    let n = &items[i];
    let children: Vec<usize> = (0..items.len())
        .filter(|&c| !visited[c] && items[c].parentnetworkid == n.id && !n.id.is_empty())
        .collect();
    // the indentation of the children: a line goes on below a child that is not the last
    let child_indent = match connector {
        "" => String::new(),
        "├─╴" => format!("{indent}│  "),
        _ => format!("{indent}   "),
    };
    let continuation = if children.is_empty() {
        child_indent.trim_end().to_string()
    } else {
        format!("{child_indent}│")
    };
    out.push(TreeRow {
        network: n,
        prefix: format!("{indent}{connector}"),
        continuation,
    });
    for (k, &c) in children.iter().enumerate() {
        if visited[c] {
            continue;
        }
        let connector = if k + 1 == children.len() {
            "└─╴"
        } else {
            "├─╴"
        };
        walk(items, c, connector, &child_indent, visited, out);
    }
}

pub struct NetworkResource;

impl Resource for NetworkResource {
    const KIND: &'static str = "network";
    const SORT_KEYS: &'static [&'static str] =
        &["id", "name", "partition", "project", "description"];

    type Entity = Network;
    type Doc = Network;
    type Create = NetworkCreateRequest;
    type Update = NetworkUpdateRequest;
    type List = NetworkList;

    fn id(e: &Network) -> String {
        e.id.clone()
    }

    fn doc_id(d: &Network) -> String {
        d.id.clone()
    }

    fn to_create(n: &Network) -> NetworkCreateRequest {
        NetworkCreateRequest {
            id: n.id.clone(),
            name: n.name.clone(),
            description: n.description.clone(),
            labels: n.labels.clone(),
            partitionid: n.partitionid.clone(),
            projectid: n.projectid.clone(),
            parentnetworkid: n.parentnetworkid.clone(),
            prefixes: n.prefixes.clone(),
            destinationprefixes: n.destinationprefixes.clone(),
            additional_announcable_cidrs: n.additional_announcable_cidrs.clone(),
            defaultchildprefixlength: n
                .defaultchildprefixlength
                .iter()
                .map(|(af, l)| (af.as_str().to_string(), *l))
                .collect(),
            vrf: n.vrf,
            vrfshared: n.vrfshared,
            privatesuper: n.privatesuper,
            underlay: n.underlay,
            nat: n.nat,
            shared: n.shared,
            nattype: n.nattype.clone(),
            networktype: n.networktype.clone(),
        }
    }

    /// A document without prefixes keeps the network's prefixes (a network needs at least
    /// one), and `shared: false` is not sent (a shared network cannot be made unshared).
    fn to_update(n: &Network) -> NetworkUpdateRequest {
        NetworkUpdateRequest {
            id: n.id.clone(),
            name: Some(n.name.clone()),
            description: Some(n.description.clone()),
            labels: Some(n.labels.clone()),
            prefixes: (!n.prefixes.is_empty()).then(|| n.prefixes.clone()),
            destinationprefixes: Some(n.destinationprefixes.clone()),
            additional_announcable_cidrs: Some(n.additional_announcable_cidrs.clone()),
            defaultchildprefixlength: Some(
                n.defaultchildprefixlength
                    .iter()
                    .map(|(af, l)| (af.as_str().to_string(), *l))
                    .collect(),
            ),
            shared: n.shared.then_some(true),
        }
    }

    fn table(items: &[Network], wide: bool, args: &NetworkList) -> Table {
        let header = if wide {
            vec![
                "ID",
                "DESCRIPTION",
                "NAME",
                "PROJECT",
                "PARTITION",
                "NAT",
                "SHARED",
                "PREFIXES",
                "PRIVATESUPER",
                "ANNOTATIONS",
            ]
        } else {
            vec![
                "ID",
                "NAME",
                "PROJECT",
                "PARTITION",
                "NAT",
                "SHARED",
                "",
                "PREFIXES",
                "IP USAGE",
            ]
        };
        let mut t = Table::new(header);
        for row in tree(items) {
            let n = row.network;
            let prefixes = n.prefixes.join(",");
            let mut cells = if wide {
                vec![
                    n.description.clone(),
                    n.name.clone(),
                    n.projectid.clone(),
                    n.partitionid.clone(),
                    n.nat.to_string(),
                    n.shared.to_string(),
                    prefixes,
                    n.privatesuper.to_string(),
                    labels(&n.labels),
                ]
            } else {
                vec![
                    n.name.clone(),
                    n.projectid.clone(),
                    n.partitionid.clone(),
                    n.nat.to_string(),
                    n.shared.to_string(),
                    UsageLevel::of(usage_ratio(n)).dot(args.color),
                    prefixes,
                    ip_usage(n),
                ]
            };
            let height = cells.iter().map(|c| c.lines().count()).max().unwrap_or(1);
            let mut id = format!("{}{}", row.prefix, n.id);
            for _ in 1..height {
                id.push('\n');
                id.push_str(&row.continuation);
            }
            cells.insert(0, id);
            t.push(cells);
        }
        t
    }

    fn sort_key(n: &Network, key: &str) -> SortKey {
        match key {
            "name" => n.name.as_str().into(),
            "partition" => n.partitionid.as_str().into(),
            "project" => n.projectid.as_str().into(),
            "description" => n.description.as_str().into(),
            _ => n.id.as_str().into(),
        }
    }

    async fn list(c: &Client, args: &NetworkList) -> Result<Vec<Network>> {
        if args.has_filter() {
            c.find_networks(&args.to_find()).await
        } else {
            c.list_networks().await
        }
    }
    async fn get(c: &Client, id: &str) -> Result<Network> {
        c.get_network(id).await
    }
    async fn create(c: &Client, req: &NetworkCreateRequest) -> Result<Network> {
        c.create_network(req).await
    }
    async fn update(c: &Client, req: NetworkUpdateRequest) -> Result<Network> {
        c.update_network(&req).await
    }
    async fn delete(c: &Client, id: &str) -> Result<Network> {
        c.delete_network(id).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use metal_domain::network::NetworkConsumption;

    fn usage(available_ips: u64, used_ips: u64) -> NetworkUsage {
        NetworkUsage {
            available_ips,
            used_ips,
            ..Default::default()
        }
    }

    fn net(id: &str, parent: &str, prefixes: &[&str]) -> Network {
        Network {
            id: id.into(),
            name: format!("{id}-name"),
            parentnetworkid: parent.into(),
            partitionid: "fra-equ01".into(),
            prefixes: prefixes.iter().map(|p| p.to_string()).collect(),
            ..Default::default()
        }
    }

    /// Sorted by id, as `list` hands them to the table.
    fn networks() -> Vec<Network> {
        let mut internet = net("internet", "", &["212.34.83.0/27"]);
        internet.nat = true;
        internet.consumption.ipv4 = Some(usage(32, 30));
        let mut orphan = net("orphan", "gone", &["10.9.0.0/24"]);
        orphan.projectid = "p2".into();
        let mut a = net(
            "tenant-a",
            "tenant-super",
            &["10.0.0.0/22", "2001:db8::/64"],
        );
        a.projectid = "p1".into();
        a.consumption = NetworkConsumption {
            ipv4: Some(usage(1024, 3)),
            ipv6: Some(usage(65536, 1)),
        };
        let mut b = net("tenant-b", "tenant-super", &["10.0.4.0/22"]);
        b.projectid = "p1".into();
        b.shared = true;
        b.consumption.ipv4 = Some(usage(1024, 800));
        let mut sup = net("tenant-super", "", &["10.0.0.0/16"]);
        sup.privatesuper = true;
        sup.description = "private super network".into();
        sup.labels
            .insert("network.metal-stack.io/default".into(), "".into());
        sup.consumption.ipv4 = Some(NetworkUsage {
            available_ips: 65536,
            used_ips: 4,
            available_prefixes: 10,
            used_prefixes: 8,
        });
        vec![internet, orphan, a, b, sup]
    }

    #[test]
    fn tree_table() {
        let t = NetworkResource::table(&networks(), false, &NetworkList::default());
        assert_eq!(
            t.render_plain(true),
            "\
ID            NAME               PROJECT  PARTITION  NAT    SHARED     PREFIXES                   IP USAGE
internet      internet-name               fra-equ01  true   false   ◕  212.34.83.0/27             30/32
orphan        orphan-name        p2       fra-equ01  false  false   ●  10.9.0.0/24                0/0
tenant-super  tenant-super-name           fra-equ01  false  false   ◒  10.0.0.0/16                4/65536
├─╴tenant-a   tenant-a-name      p1       fra-equ01  false  false   ●  10.0.0.0/22,2001:db8::/64  IPv4: 3/1024
│                                                                                                 IPv6: 1/65536
└─╴tenant-b   tenant-b-name      p1       fra-equ01  false  true    ◒  10.0.4.0/22                800/1024
"
        );
    }

    #[test]
    fn wide_table_and_colours() {
        let items = networks();
        let t = NetworkResource::table(&items, true, &NetworkList::default());
        assert_eq!(
            t.header,
            [
                "ID",
                "DESCRIPTION",
                "NAME",
                "PROJECT",
                "PARTITION",
                "NAT",
                "SHARED",
                "PREFIXES",
                "PRIVATESUPER",
                "ANNOTATIONS"
            ]
        );
        assert_eq!(
            t.rows[2],
            [
                "tenant-super",
                "private super network",
                "tenant-super-name",
                "",
                "fra-equ01",
                "false",
                "false",
                "10.0.0.0/16",
                "true",
                "network.metal-stack.io/default="
            ]
        );
        assert_eq!(t.rows[3][0], "├─╴tenant-a");
        let coloured = NetworkList {
            color: true,
            ..Default::default()
        };
        let t = NetworkResource::table(&items, false, &coloured);
        assert_eq!(t.rows[0][6], "\x1b[31m◕\x1b[0m");
        assert_eq!(t.rows[1][6], "\x1b[32m●\x1b[0m");
        assert_eq!(t.rows[2][6], "\x1b[33m◒\x1b[0m");
        // the codes take no room: the columns after the dot line up as without colours
        let plain = NetworkResource::table(&items, false, &NetworkList::default());
        let strip = |s: String| {
            s.replace("\x1b[31m", "")
                .replace("\x1b[32m", "")
                .replace("\x1b[33m", "")
                .replace("\x1b[0m", "")
        };
        assert_eq!(strip(t.render_plain(true)), plain.render_plain(true));
    }

    #[test]
    fn deeper_trees_and_cycles() {
        let items = vec![
            net("a", "", &[]),
            net("b", "a", &[]),
            net("c", "b", &[]),
            net("d", "b", &[]),
            net("e", "a", &[]),
            net("x", "y", &[]),
            net("y", "x", &[]),
        ];
        let rows: Vec<(String, &str, String)> = tree(&items)
            .into_iter()
            .map(|r| (r.prefix, r.network.id.as_str(), r.continuation))
            .collect();
        let want = [
            ("", "a", "│"),
            ("├─╴", "b", "│  │"),
            ("│  ├─╴", "c", "│  │"),
            ("│  └─╴", "d", "│"),
            ("└─╴", "e", ""),
            ("", "x", "│"),
            ("└─╴", "y", ""),
        ];
        assert_eq!(rows.len(), want.len());
        for (got, want) in rows.iter().zip(want) {
            assert_eq!((got.0.as_str(), got.1, got.2.as_str()), want);
        }
    }

    #[test]
    fn usage_levels() {
        for (ratio, level, symbol) in [
            (0.0, UsageLevel::Low, "●"),
            (0.69, UsageLevel::Low, "●"),
            (0.7, UsageLevel::High, "◒"),
            (0.89, UsageLevel::High, "◒"),
            (0.9, UsageLevel::Critical, "◕"),
            (1.5, UsageLevel::Critical, "◕"),
        ] {
            assert_eq!(UsageLevel::of(ratio), level, "{ratio}");
            assert_eq!(level.symbol(), symbol);
            assert_eq!(level.dot(false), symbol);
        }
        // the highest of IP and prefix usage over both families
        let mut n = net("n", "", &[]);
        n.usage = usage(100, 95);
        assert_eq!(usage_ratio(&n), 0.95);
        assert_eq!(ip_usage(&n), "95/100");
        n.consumption.ipv4 = Some(usage(100, 10));
        assert_eq!(usage_ratio(&n), 0.1, "consumption wins over usage");
        assert_eq!(ip_usage(&n), "10/100");
        n.consumption.ipv6 = Some(NetworkUsage {
            available_ips: 100,
            used_ips: 1,
            available_prefixes: 4,
            used_prefixes: 3,
        });
        assert_eq!(usage_ratio(&n), 0.75);
        assert_eq!(ip_usage(&n), "IPv4: 10/100\nIPv6: 1/100");
        assert_eq!(usage_ratio(&net("empty", "", &[])), 0.0);
    }

    #[test]
    fn filters_pick_find() {
        let mut args = NetworkList::default();
        assert!(!args.has_filter());
        args.sort.sort_by = vec!["name".into()];
        args.color = true;
        assert!(!args.has_filter(), "sorting and colour are no filters");
        args.nat = Some(false);
        args.labels = vec!["a=b".into()];
        assert!(args.has_filter());
        let f = args.to_find();
        assert_eq!(f.nat, Some(false));
        assert_eq!(f.labels.get("a").map(String::as_str), Some("b"));
        let only_prefix = NetworkList {
            prefixes: vec!["10.0.0.0/16".into()],
            ..Default::default()
        };
        assert!(only_prefix.has_filter());
    }

    #[test]
    fn allocate_request() {
        let a = AllocateArgs {
            name: "n".into(),
            partition: "fra".into(),
            project: "p".into(),
            description: None,
            labels: vec!["k=v".into()],
            destination_prefixes: vec!["0.0.0.0/0".into()],
            nat: true,
            shared: false,
            addressfamily: Some("IPv6".into()),
            ipv4_prefix_length: Some(24),
            ipv6_prefix_length: Some(64),
        };
        let r = a.to_request();
        assert_eq!((r.partitionid.as_str(), r.projectid.as_str()), ("fra", "p"));
        assert_eq!(r.length.get("IPv4"), Some(&24));
        assert_eq!(r.length.get("IPv6"), Some(&64));
        assert_eq!(r.labels.get("k").map(String::as_str), Some("v"));
        assert!(r.nat && !r.shared);
        assert_eq!(parse_family("ipv4").unwrap(), "IPv4");
        assert!(parse_family("ipx").is_err());
    }

    #[test]
    fn conversions() {
        let docs: Vec<Network> = crate::input::parse_documents(
            "id: internet\nname: internet\nprefixes: [212.34.83.0/27]\ndestinationprefixes: [0.0.0.0/0]\nnat: true\nvrf: 104009\ndefaultchildprefixlength: {IPv4: 22}\nusage: {available_ips: 32, used_ips: 2, available_prefixes: 0, used_prefixes: 0}\n",
            "test",
        )
        .unwrap();
        let c = NetworkResource::to_create(&docs[0]);
        assert_eq!(c.vrf, 104009);
        assert!(c.nat);
        assert_eq!(c.defaultchildprefixlength.get("IPv4"), Some(&22));
        let u = NetworkResource::to_update(&docs[0]);
        assert_eq!(u.prefixes, Some(vec!["212.34.83.0/27".to_string()]));
        assert_eq!(u.shared, None, "unshared is never sent");
        let u = NetworkResource::to_update(&Network {
            shared: true,
            ..Default::default()
        });
        assert_eq!((u.prefixes, u.shared), (None, Some(true)));
    }
}
