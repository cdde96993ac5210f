//! `metalctl context` (alias `ctx`): list the contexts of the config file, switch to one
//! (`context <name>`), back to the previous one (`context -`), or print the current name
//! (`context short`).

use anyhow::Result;
use clap::{Args, Subcommand};

use crate::app::App;
use crate::config::{self, ConfigFile, DEFAULT_API_URL, DEFAULT_ISSUER_URL};
use crate::output::Table;

#[derive(Args, Debug, Clone)]
#[command(args_conflicts_with_subcommands = true)]
pub struct ContextArgs {
    /// Context to switch to; `-` switches to the previous one.
    pub name: Option<String>,
    #[command(subcommand)]
    pub cmd: Option<ContextCmd>,
}

#[derive(Subcommand, Debug, Clone)]
pub enum ContextCmd {
    /// Print the name of the current context.
    Short,
}

pub fn run(app: &mut App, args: ContextArgs) -> Result<()> {
    if let Some(ContextCmd::Short) = args.cmd {
        let current = app.config()?.file.current.clone();
        return app.printer.write(&format!("{current}\n"));
    }
    match args.name.as_deref() {
        None => {
            let table = context_table(&app.config()?.file);
            let items: Vec<String> = app.config()?.file.contexts.keys().cloned().collect();
            app.printer.list(&items, |_| table)
        }
        Some(name) => {
            let cfg = app.config()?;
            let target = if name == "-" {
                config::switch_back(&mut cfg.file)?
            } else if config::switch(&mut cfg.file, name)? {
                name.to_string()
            } else {
                return app
                    .printer
                    .write(&format!("✔ context \"{name}\" already active\n"));
            };
            cfg.save()?;
            app.printer
                .write(&format!("✔ switched context to \"{target}\"\n"))
        }
    }
}

/// `NAME | API URL | ISSUER URL`, the current context marked `<name> [*]`. Without any
/// context the built-in default is shown.
pub fn context_table(file: &ConfigFile) -> Table {
    let mut t = Table::new(["NAME", "API URL", "ISSUER URL"]);
    if file.contexts.is_empty() {
        t.push(["default [*]", DEFAULT_API_URL, DEFAULT_ISSUER_URL]);
    }
    for (name, ctx) in &file.contexts {
        let shown = if *name == file.current {
            format!("{name} [*]")
        } else {
            name.clone()
        };
        t.push([shown, ctx.url.clone(), ctx.issuer_url.clone()]);
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_marks_current() {
        let file: ConfigFile = serde_yaml::from_str(
            "current: local\ncontexts:\n  local: {url: 'http://localhost:8080/'}\n  prod: {url: 'https://api', issuer_url: 'https://dex'}\n",
        )
        .unwrap();
        assert_eq!(
            context_table(&file).render_plain(true),
            "\
NAME       API URL                 ISSUER URL
local [*]  http://localhost:8080/
prod       https://api             https://dex
"
        );
        let empty = context_table(&ConfigFile::default());
        assert_eq!(empty.rows[0][0], "default [*]");
    }
}
