//! metal-lab: a virtual data centre on one Linux host (`up`, `status`, `env`, `down`), and the
//! machine simulator (`sim`). See the README's "metal-lab" section and [`plan`] for the layout.

pub mod artifacts;
pub mod cycle;
pub mod down;
pub mod forward;
pub mod lab;
pub mod machine;
pub mod net;
pub mod plan;
pub mod procs;
pub mod seed;
pub mod sim;
pub mod status;

/// Writes a file only its owner can read (HMAC keys, BMC passwords).
pub fn write_private(path: &std::path::Path, contents: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    use std::os::unix::fs::PermissionsExt;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| anyhow::anyhow!("writing {}: {e}", path.display()))?;
    // an existing file keeps its mode on open: make sure
    f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    f.write_all(contents)?;
    Ok(())
}
