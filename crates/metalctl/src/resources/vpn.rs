//! `metalctl vpn key`: an auth key with which a node joins a project's VPN (headscale), as
//! metal-stack's metalctl asks metal-api for it.

use anyhow::Result as AnyResult;
use chrono::Duration;
use clap::Subcommand;
use metal_client::Method;
use metal_domain::vpn::{VpnRequest, VpnResponse};

use super::machine::parse_duration;
use crate::app::App;
use crate::output::Table;

/// `metalctl vpn ...`
#[derive(Subcommand, Debug, Clone)]
pub enum VpnCmd {
    /// Create an auth key to connect to a project's VPN.
    Key {
        /// the project whose VPN the key joins
        #[arg(long)]
        project: String,
        /// the node leaves the VPN when it goes offline
        #[arg(long)]
        ephemeral: bool,
        /// how long the key is valid (1h when not given)
        #[arg(long, value_parser = parse_duration)]
        expiration: Option<Duration>,
        /// why the key is needed, typically an incident number with a short description
        #[arg(long, default_value = "")]
        reason: String,
    },
}

pub async fn run(app: &mut App, cmd: VpnCmd) -> AnyResult<()> {
    match cmd {
        VpnCmd::Key {
            project,
            ephemeral,
            expiration,
            reason,
        } => {
            let req = VpnRequest {
                pid: project,
                ephemeral,
                expiration: expiration.and_then(|d| d.num_nanoseconds()),
                reason,
            };
            let r: VpnResponse = app
                .client()?
                .request(Method::POST, "v1/vpn/authkey", Some(&req))
                .await?;
            app.printer.describe(&r, |_| {
                let mut t = Table::new(["ADDRESS", "AUTHKEY"]);
                t.push([r.address.as_str(), r.auth_key.as_str()]);
                t
            })
        }
    }
}
