//! Writing files that hold secrets: HMAC keys (metal-api's data directory, metalctl's and
//! metal-lab's configurations), BMC passwords, and the install configuration and userdata
//! metal-hammer writes into an image.

use std::io::Write;
use std::path::{Path, PathBuf};

/// Writes `contents` to `path` so that only its owner can read it (mode 0600 on Unix), and
/// atomically: the data goes to `<path>.tmp`, created with mode 0600, is synced, and is then
/// renamed over `path`. A reader sees the old file or the new one, never a part, and the file
/// is never readable by others, also when it existed before with a wider mode. The directory
/// must exist. Errors are the plain I/O error; callers name the file in their context.
pub fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let tmp = tmp_path(path);
    let written = write_new(&tmp, contents).and_then(|()| std::fs::rename(&tmp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

/// `<path>.tmp`, next to `path` (a rename does not cross filesystems).
fn tmp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    path.with_file_name(name)
}

fn write_new(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        options.mode(0o600);
        let f = options.open(path)?;
        // a leftover temporary file keeps its mode on open: tighten it
        f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        write_synced(f, contents)
    }
    #[cfg(not(unix))]
    {
        write_synced(options.open(path)?, contents)
    }
}

fn write_synced(mut f: std::fs::File, contents: &[u8]) -> std::io::Result<()> {
    f.write_all(contents)?;
    f.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    fn mode(p: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn new_and_existing_files_end_up_private_with_the_new_contents() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("keys.yaml");
        write_private(&p, b"first").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"first");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(mode(&p), 0o600);
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
            // a stale temporary file with a wide mode does not leak into the result
            std::fs::write(dir.path().join("keys.yaml.tmp"), b"stale").unwrap();
            std::fs::set_permissions(
                dir.path().join("keys.yaml.tmp"),
                std::fs::Permissions::from_mode(0o644),
            )
            .unwrap();
        }
        write_private(&p, b"second").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"second");
        #[cfg(unix)]
        assert_eq!(mode(&p), 0o600);
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["keys.yaml"], "no temporary file is left");
    }

    #[test]
    fn a_missing_directory_is_an_error_and_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("missing/keys.yaml");
        let e = write_private(&p, b"x").unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::NotFound);
        assert!(!p.exists());
    }
}
