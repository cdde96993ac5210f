//! Checking a file with the tool that will read it (`vtysh -C -f`, `nft --check --file`):
//! metal-core before it applies a leaf's configuration, os-installer before an image boots
//! with it. The tool's own output is the reason when it refuses.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Why a check did not pass.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// The tool could not be started.
    #[error("running {program}: {source}")]
    Run {
        program: String,
        #[source]
        source: std::io::Error,
    },
    /// The tool refused the file; its stdout and stderr, trimmed.
    #[error("{output}")]
    Refused { output: String },
}

/// Runs `program args… file`; `Ok` when it exits with success.
pub fn check_file(program: impl AsRef<Path>, args: &[&str], file: &Path) -> Result<(), CheckError> {
    let program = program.as_ref();
    let out = Command::new(program)
        .args(args)
        .arg(file)
        .output()
        .map_err(|source| CheckError::Run {
            program: program.display().to_string(),
            source,
        })?;
    if out.status.success() {
        return Ok(());
    }
    let mut output = String::from_utf8_lossy(&out.stdout).into_owned();
    output.push_str(&String::from_utf8_lossy(&out.stderr));
    Err(CheckError::Refused {
        output: output.trim().to_string(),
    })
}

/// `name` on `PATH`, if installed.
pub fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tools_answer_decides() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("f");
        std::fs::write(&f, "x").unwrap();
        assert!(check_file("cat", &[], &f).is_ok());
        match check_file("sh", &["-c", "echo refused: \"$0\" >&2; exit 1"], &f) {
            Err(CheckError::Refused { output }) => {
                assert_eq!(output, format!("refused: {}", f.display()))
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            check_file("/nonexistent/tool", &[], &f),
            Err(CheckError::Run { .. })
        ));
        assert!(on_path("sh").is_some());
        assert!(on_path("no-such-tool-anywhere").is_none());
    }
}
