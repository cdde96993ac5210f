//! Checks of rendered files with the tools of the switch, before they are applied (and in the
//! tests): FRR's own parser, `vtysh --dryrun --inputfile` (`vtysh -C -f`), which needs no
//! running daemon and no access to `/etc/frr` (as a user that cannot read
//! `/etc/frr/vtysh.conf` it says so and checks anyway).
//!
//! `vtysh -C` checks the grammar of every line, not the meaning of the whole: a route map
//! referenced but never defined passes. It also accepts unambiguous abbreviations of keywords,
//! so upstream's `ip prefix-list … <IPv6 prefix>` passes as well (FRR reads the `ip` as
//! `ipv6`; `show running-config` then prints `ipv6 prefix-list`).

use std::path::{Path, PathBuf};

use metal_util::tool::{self, CheckError};

#[derive(Debug, thiserror::Error)]
pub enum ValidateError {
    #[error("running {program}")]
    Run {
        program: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not a valid FRR configuration: {output}")]
    Invalid { path: PathBuf, output: String },
}

/// `vtysh` on `PATH`, if installed.
pub fn vtysh() -> Option<PathBuf> {
    tool::on_path("vtysh")
}

/// `vtysh -C -f <file>`: whether FRR accepts every line of `file`.
pub fn frr(vtysh: &Path, file: &Path) -> Result<(), ValidateError> {
    tool::check_file(vtysh, &["-C", "-f"], file).map_err(|e| match e {
        CheckError::Run { source, .. } => ValidateError::Run {
            program: vtysh.to_path_buf(),
            source,
        },
        CheckError::Refused { output } => ValidateError::Invalid {
            path: file.to_path_buf(),
            output,
        },
    })
}
