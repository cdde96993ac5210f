//! The renderers: pure functions from a [`SwitchConfig`] to the files of a flavour.
//!
//! - Cumulus ([`Flavor::Cumulus`]): `/etc/network/interfaces` ([`interfaces`]),
//!   `/etc/frr/frr.conf` ([`frr`]) and, when DHCP relay servers are set,
//!   `/etc/default/isc-dhcp-relay` ([`dhcrelay`]); rendered without the admin-down ports.
//! - SONiC ([`Flavor::Sonic`]): the CONFIG_DB tables metal-core owns ([`configdb`], a
//!   `config_db.json` fragment) and `/etc/sonic/frr/frr.conf`.
//!
//! Output is deterministic: the same inputs give the same bytes.

pub mod configdb;
pub mod dhcrelay;
pub mod frr;
pub mod interfaces;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::model::{Flavor, SwitchConfig};

/// One rendered file: its name in a render directory and where it belongs on the switch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedFile {
    pub name: &'static str,
    pub target: &'static str,
    pub contents: String,
}

/// Every file of the configuration's flavour.
pub fn render(c: &SwitchConfig) -> Vec<RenderedFile> {
    match c.flavor {
        Flavor::Cumulus => {
            let up = c.without_down_ports();
            let mut files = vec![
                RenderedFile {
                    name: "interfaces",
                    target: "/etc/network/interfaces",
                    contents: interfaces::render(&up),
                },
                RenderedFile {
                    name: "frr.conf",
                    target: "/etc/frr/frr.conf",
                    contents: frr::render(&up),
                },
            ];
            if let Some(relay) = dhcrelay::render(&up) {
                files.push(RenderedFile {
                    name: "isc-dhcp-relay",
                    target: "/etc/default/isc-dhcp-relay",
                    contents: relay,
                });
            }
            files
        }
        Flavor::Sonic => vec![
            RenderedFile {
                name: "config_db.json",
                target: "CONFIG_DB",
                contents: configdb::render(c),
            },
            RenderedFile {
                name: "frr.conf",
                target: "/etc/sonic/frr/frr.conf",
                contents: frr::render(c),
            },
        ],
    }
}

/// Writing the rendered files failed.
#[derive(Debug, thiserror::Error)]
#[error("writing {path}")]
pub struct WriteError {
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

/// Writes `files` into `dir` (created if missing); the paths written, in order.
pub fn write_all(dir: &Path, files: &[RenderedFile]) -> Result<Vec<PathBuf>, WriteError> {
    std::fs::create_dir_all(dir).map_err(|source| WriteError {
        path: dir.to_path_buf(),
        source,
    })?;
    files
        .iter()
        .map(|f| {
            let path = dir.join(f.name);
            std::fs::write(&path, &f.contents).map_err(|source| WriteError {
                path: path.clone(),
                source,
            })?;
            Ok(path)
        })
        .collect()
}

/// A text being rendered, a line at a time.
#[derive(Debug, Default)]
pub(crate) struct Text(String);

impl Text {
    pub(crate) fn line(&mut self, args: std::fmt::Arguments<'_>) {
        // Writing into a String cannot fail.
        let _ = self.0.write_fmt(args);
        self.0.push('\n');
    }

    pub(crate) fn into_string(self) -> String {
        self.0
    }
}

/// `line!(out, "fmt", args…)` appends one line.
macro_rules! line {
    ($out:expr) => {
        $out.line(format_args!(""))
    };
    ($out:expr, $($arg:tt)*) => {
        $out.line(format_args!($($arg)*))
    };
}
pub(crate) use line;
