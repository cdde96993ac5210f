//! droptailer: a firewall's accepted and dropped packets, from its kernel log to a server in
//! the tenant's cluster, wire-compatible with metal-stack's droptailer (`proto.Droptailer`,
//! [`metal_proto::droptailer`]).
//!
//! - [`parse`]: a kernel log message with a drop or accept prefix → its netfilter fields.
//! - [`source`]: the journal, `/dev/kmsg` or a followed log file → entries.
//! - [`queue`]: the client's bounded buffer; what a full queue drops is counted.
//! - [`client`]: pushes the queue's entries in order, retrying until the server takes them.
//! - [`server`] and [`output`]: print each entry as `<timestamp> <JSON>` exactly as metal-stack's
//!   server does, optionally also as JSON lines.

pub mod client;
pub mod output;
pub mod parse;
pub mod process;
pub mod queue;
pub mod server;
pub mod source;
