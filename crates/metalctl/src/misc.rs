//! Commands without an entity: `health`, `version`, `whoami` and `completion`.

use std::io::Write;

use anyhow::{bail, Context as _, Result};
use clap::CommandFactory;
use clap_complete::Shell;
use metal_domain::misc::VersionResponse;
use serde::Serialize;

use crate::app::App;
use crate::cli::Cli;

/// `metalctl health`: prints the health report (also when the server answers 500) and fails
/// unless the status is `healthy`.
pub async fn health(app: &mut App) -> Result<()> {
    let h = app.client()?.health().await?;
    app.printer.value(&h)?;
    if h.status != "healthy" {
        bail!(
            "metal-api is {}",
            if h.status.is_empty() {
                "not healthy"
            } else {
                &h.status
            }
        );
    }
    Ok(())
}

#[derive(Serialize)]
struct Versions {
    client: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    server: Option<VersionResponse>,
}

/// `metalctl version`: `{client, server}`; the client version is printed even when the
/// server cannot be asked, and then the command fails.
pub async fn version(app: &mut App) -> Result<()> {
    let client = format!("metalctl {}", env!("CARGO_PKG_VERSION"));
    let server = match app.client() {
        Ok(c) => c.version().await.map_err(anyhow::Error::from),
        Err(e) => Err(e),
    };
    let (server, err) = match server {
        Ok(v) => (Some(v), None),
        Err(e) => (None, Some(e)),
    };
    app.printer.value(&Versions { client, server })?;
    match err {
        Some(e) => Err(e.context("failed to get server info")),
        None => Ok(()),
    }
}

/// `metalctl whoami`: the user the credentials belong to, from `GET /v1/user/me`.
pub async fn whoami(app: &mut App) -> Result<()> {
    let user = app.client()?.whoami().await?;
    let user_id = [&user.name, &user.email, &user.subject]
        .into_iter()
        .find(|s| !s.is_empty())
        .cloned()
        .unwrap_or_default();
    let mut text = format!(
        "UserId: {user_id}\nTenant: {}\nIssuer: {}\nGroups:\n",
        user.tenant, user.issuer
    );
    for g in &user.groups {
        text.push_str(&format!(" {g}\n"));
    }
    app.printer.write(&text)
}

/// `metalctl completion <shell>`: the completion script on stdout.
pub fn completion(shell: Shell) -> Result<()> {
    let mut cmd = Cli::command();
    // generate into memory: clap_complete panics when its writer fails (a closed pipe)
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut cmd, "metalctl", &mut script);
    let mut out = std::io::stdout();
    out.write_all(&script)
        .and_then(|()| out.flush())
        .context("writing the completion script")
}
