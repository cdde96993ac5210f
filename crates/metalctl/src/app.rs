//! What every command runs with: the global flags, the printer, the config file (loaded on
//! first use) and the API client (built on first use, so `context` and `completion` work
//! without a reachable API), plus the security prompt.

use std::io::{BufRead, IsTerminal, Write};

use anyhow::{bail, Result};
use metal_client::Client;

use crate::cli::GlobalArgs;
use crate::config::{self, LoadedConfig, Overrides};
use crate::output::Printer;

pub struct App {
    pub global: GlobalArgs,
    pub printer: Printer,
    /// Whether tables may be coloured (the output is a terminal); off unless the caller says.
    pub color: bool,
    config: Option<LoadedConfig>,
    client: Option<Client>,
}

impl App {
    /// Validates the output flags; nothing else is touched yet. Results go to `out`.
    pub fn new(global: GlobalArgs, out: Box<dyn Write + Send>) -> Result<Self> {
        let printer = Printer::new(
            global.output_format.as_deref(),
            global.template.clone(),
            global.no_headers,
            out,
        )?;
        Ok(Self {
            global,
            printer,
            color: false,
            config: None,
            client: None,
        })
    }

    /// The config file (loaded on first use).
    pub fn config(&mut self) -> Result<&mut LoadedConfig> {
        if self.config.is_none() {
            self.config = Some(LoadedConfig::load(self.global.config.as_deref())?);
        }
        Ok(self.config.as_mut().expect("loaded above"))
    }

    /// The API client for the effective settings (built on first use).
    pub fn client(&mut self) -> Result<Client> {
        if let Some(c) = &self.client {
            return Ok(c.clone());
        }
        let over = Overrides {
            api_url: self.global.api_url.clone(),
            api_token: self.global.api_token.clone(),
            hmac: self.global.hmac.clone(),
            hmac_auth_type: self.global.hmac_auth_type.clone(),
        };
        let cfg = self.config()?;
        let settings = config::resolve(&over, cfg.current_context())?;
        tracing::debug!(url = settings.api_url, auth = ?settings.auth, config = %cfg.path.display(), "connection settings");
        let client = Client::builder(&settings.api_url)
            .auth(settings.auth)
            .user_agent(format!("metalctl/{}", env!("CARGO_PKG_VERSION")))
            .build()?;
        self.client = Some(client.clone());
        Ok(client)
    }

    /// Asks before a dangerous action unless `--yes-i-really-mean-it`, `skip` (for
    /// `--skip-security-prompts`) or standard input is not a terminal.
    pub fn confirm(&self, what: &str, skip: bool) -> Result<()> {
        if skip || self.global.yes_i_really_mean_it || !std::io::stdin().is_terminal() {
            return Ok(());
        }
        let mut err = std::io::stderr();
        write!(err, "{what}\nDo you want to continue? [y/n] ")?;
        err.flush()?;
        let mut answer = String::new();
        std::io::stdin().lock().read_line(&mut answer)?;
        match answer.trim().to_ascii_lowercase().as_str() {
            "y" | "yes" => Ok(()),
            _ => bail!("aborted"),
        }
    }
}
