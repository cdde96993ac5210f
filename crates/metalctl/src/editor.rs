//! `edit`: lets the user change a YAML document in `$EDITOR` (default `vi`) through a
//! temporary file, and reports whether anything changed.

use std::io::Write;
use std::process::Command;

use anyhow::{bail, Context as _, Result};

/// Opens `text` in the user's editor; `None` if it was saved unchanged.
pub fn edit(text: &str) -> Result<Option<String>> {
    let editor = std::env::var("EDITOR")
        .ok()
        .filter(|e| !e.trim().is_empty())
        .unwrap_or_else(|| "vi".to_string());
    edit_with(&editor, text)
}

/// Opens `text` with the editor command `editor` (program and arguments, split on
/// whitespace; the file name is appended).
pub fn edit_with(editor: &str, text: &str) -> Result<Option<String>> {
    let mut file = tempfile::Builder::new()
        .prefix("metalctl-edit-")
        .suffix(".yaml")
        .tempfile()
        .context("creating a temporary file")?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.flush())
        .context("writing the temporary file")?;
    let mut words = editor.split_whitespace();
    let program = words.next().context("the editor command is empty")?;
    let status = Command::new(program)
        .args(words)
        .arg(file.path())
        .status()
        .with_context(|| format!("running editor {editor:?}"))?;
    if !status.success() {
        bail!("editor {editor:?} failed ({status})");
    }
    let edited = std::fs::read_to_string(file.path()).context("reading the edited file")?;
    Ok((edited != text).then_some(edited))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changed_and_unchanged_files() {
        assert_eq!(
            edit_with("sed -i s/old/new/", "name: old\n")
                .unwrap()
                .as_deref(),
            Some("name: new\n")
        );
        assert_eq!(edit_with("true", "name: old\n").unwrap(), None);
        assert!(edit_with("false", "x").is_err());
        assert!(edit_with("/nonexistent/editor", "x").is_err());
    }
}
