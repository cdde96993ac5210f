//! Image streaming (§2.12.2) from the test HTTP server and from `file://`: what lands in the
//! target equals the image, and a wrong checksum, an HTTP error or a cut-off stream is an
//! error that says the image is not installed.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use metal_hammer::image::{install_image, ImageError};
use metal_sim::fileserver::{FileServer, Override};
use metal_sim::osimage::{busybox, OsImage, OsImageBuilder};

fn have_busybox(test: &str) -> bool {
    metal_testkit::tool_or_skip(
        test,
        busybox().is_some(),
        "busybox",
        "apt-get install busybox-static",
    )
}

fn build(dir: &Path) -> OsImage {
    OsImageBuilder::new()
        .file("/usr/share/doc/readme", b"hello image\n".to_vec(), 0o600)
        .build(dir)
        .unwrap()
}

fn assert_installed(target: &Path) {
    let bb = std::fs::read(busybox().unwrap()).unwrap();
    assert_eq!(std::fs::read(target.join("bin/busybox")).unwrap(), bb);
    let mode = |p: &str| {
        std::fs::symlink_metadata(target.join(p))
            .unwrap()
            .permissions()
            .mode()
            & 0o7777
    };
    assert_eq!(mode("bin/busybox"), 0o755);
    assert_eq!(mode("install.sh"), 0o755);
    assert_eq!(mode("tmp"), 0o1777);
    assert_eq!(mode("root"), 0o700);
    assert_eq!(mode("etc/shadow"), 0o640);
    assert_eq!(mode("usr/share/doc/readme"), 0o600);
    assert_eq!(
        std::fs::read_link(target.join("bin/sh")).unwrap(),
        Path::new("busybox")
    );
    assert_eq!(
        std::fs::read_link(target.join("sbin/init")).unwrap(),
        Path::new("../bin/busybox")
    );
    let issue = std::fs::metadata(target.join("etc/issue")).unwrap();
    let issue_net = std::fs::metadata(target.join("etc/issue.net")).unwrap();
    assert_eq!(issue.ino(), issue_net.ino(), "hard link");
    assert!(std::fs::read_to_string(target.join("etc/os-release"))
        .unwrap()
        .contains("ID=debian"));
    if nix::unistd::geteuid().is_root() {
        let shadow = std::fs::metadata(target.join("etc/shadow")).unwrap();
        assert_eq!((shadow.uid(), shadow.gid()), (0, 42));
    }
}

#[tokio::test]
async fn streams_over_http_into_the_target() {
    if !have_busybox("streams_over_http_into_the_target") {
        return;
    }
    let images = tempfile::tempdir().unwrap();
    let image = build(images.path());
    let server = FileServer::start(images.path()).await.unwrap();
    let target = tempfile::tempdir().unwrap();
    let stats = install_image(&server.url("img.tar.lz4"), target.path())
        .await
        .unwrap();
    assert_eq!(stats.md5, image.md5);
    assert_eq!(stats.compressed_bytes, image.compressed_bytes);
    assert_eq!(stats.uncompressed_bytes, image.tar_bytes);
    assert_installed(target.path());
}

#[tokio::test]
async fn streams_from_a_file_url_and_overwrites() {
    if !have_busybox("streams_from_a_file_url_and_overwrites") {
        return;
    }
    let images = tempfile::tempdir().unwrap();
    let image = build(images.path());
    let target = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(target.path().join("etc")).unwrap();
    std::fs::write(target.path().join("etc/os-release"), "ID=old\n").unwrap();
    let url = format!("file://{}", image.archive.display());
    let stats = install_image(&url, target.path()).await.unwrap();
    assert_eq!(stats.md5, image.md5);
    assert_installed(target.path());
}

#[tokio::test]
async fn a_wrong_checksum_is_an_error_naming_both() {
    if !have_busybox("a_wrong_checksum_is_an_error_naming_both") {
        return;
    }
    let images = tempfile::tempdir().unwrap();
    let image = build(images.path());
    let server = FileServer::start(images.path()).await.unwrap();
    let wrong = "0123456789abcdef0123456789abcdef";
    server.set_override(
        "img.tar.lz4.md5",
        Override::Body(format!("{wrong}  img.tar.lz4\n").into_bytes()),
    );
    let target = tempfile::tempdir().unwrap();
    let err = install_image(&server.url("img.tar.lz4"), target.path())
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, ImageError::Checksum { .. }), "{msg}");
    assert!(msg.contains(wrong) && msg.contains(&image.md5), "{msg}");
    assert!(msg.contains("not installed"), "{msg}");
}

#[tokio::test]
async fn http_errors_are_errors() {
    if !have_busybox("http_errors_are_errors") {
        return;
    }
    let images = tempfile::tempdir().unwrap();
    build(images.path());
    let server = FileServer::start(images.path()).await.unwrap();
    let target = tempfile::tempdir().unwrap();

    let err = install_image(&server.url("nothing/img.tar.lz4"), target.path())
        .await
        .unwrap_err();
    assert!(
        matches!(err, ImageError::Status { status: 404, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("nothing/img.tar.lz4.md5"), "{err}");

    server.set_override("img.tar.lz4", Override::Status(500));
    let err = install_image(&server.url("img.tar.lz4"), target.path())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("HTTP status 500"), "{err}");

    server.set_override(
        "img.tar.lz4.md5",
        Override::Body(b"<html>not a checksum</html>".to_vec()),
    );
    let err = install_image(&server.url("img.tar.lz4"), target.path())
        .await
        .unwrap_err();
    assert!(matches!(err, ImageError::BadChecksumFile { .. }), "{err}");
}

#[tokio::test]
async fn a_cut_off_stream_is_an_error() {
    if !have_busybox("a_cut_off_stream_is_an_error") {
        return;
    }
    let images = tempfile::tempdir().unwrap();
    let image = build(images.path());
    let server = FileServer::start(images.path()).await.unwrap();
    let target = tempfile::tempdir().unwrap();

    // the server announces the full length and closes early
    server.set_override(
        "img.tar.lz4",
        Override::CutAfter(image.compressed_bytes / 2),
    );
    let err = install_image(&server.url("img.tar.lz4"), target.path())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not installed"), "{err}");

    // an honestly short file: everything the server says is consistent, the data is not
    let bytes = std::fs::read(&image.archive).unwrap();
    for cut in [bytes.len() / 3, bytes.len() - 4] {
        server.set_override("img.tar.lz4", Override::Body(bytes[..cut].to_vec()));
        let err = install_image(&server.url("img.tar.lz4"), target.path())
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains("not installed"),
            "cut at {cut}: {err}"
        );
    }
}

/// Type, mode, owner, size, mtime (files) and contents or link target of everything below
/// `root`, by relative path.
fn tree(root: &Path) -> std::collections::BTreeMap<std::path::PathBuf, String> {
    fn walk(
        root: &Path,
        dir: &Path,
        out: &mut std::collections::BTreeMap<std::path::PathBuf, String>,
    ) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            let m = std::fs::symlink_metadata(&p).unwrap();
            let ft = m.file_type();
            let what = if ft.is_dir() {
                walk(root, &p, out);
                "dir".to_string()
            } else if ft.is_symlink() {
                format!("symlink -> {}", std::fs::read_link(&p).unwrap().display())
            } else if ft.is_file() {
                let bytes = std::fs::read(&p).unwrap();
                let digest = hex_digest(&bytes);
                format!("file {} bytes md5 {digest} mtime {}", m.len(), m.mtime())
            } else {
                format!("other rdev {}", m.rdev())
            };
            out.insert(
                p.strip_prefix(root).unwrap().to_path_buf(),
                format!(
                    "{what} mode {:o} owner {}:{}",
                    m.permissions().mode() & 0o7777,
                    m.uid(),
                    m.gid()
                ),
            );
        }
    }
    let mut out = std::collections::BTreeMap::new();
    walk(root, root, &mut out);
    out
}

fn hex_digest(bytes: &[u8]) -> String {
    use md5::{Digest, Md5};
    hex::encode(Md5::digest(bytes))
}

#[tokio::test]
async fn unpacks_what_gnu_tar_unpacks() {
    let tools = ["lz4", "tar"].iter().all(|t| {
        std::process::Command::new(t)
            .arg("--version")
            .output()
            .is_ok()
    });
    if !have_busybox("unpacks_what_gnu_tar_unpacks")
        || !metal_testkit::tool_or_skip(
            "unpacks_what_gnu_tar_unpacks",
            tools,
            "lz4 and tar",
            "apt-get install lz4 tar",
        )
    {
        return;
    }
    let images = tempfile::tempdir().unwrap();
    // files of 1 KiB to 4 MiB: many span the pipeline's 1 MiB blocks
    let image = OsImageBuilder::new()
        .filler(24_000_000)
        .build(images.path())
        .unwrap();
    let server = FileServer::start(images.path()).await.unwrap();
    let target = tempfile::tempdir().unwrap();
    let stats = install_image(&server.url("img.tar.lz4"), target.path())
        .await
        .unwrap();
    assert_eq!(stats.uncompressed_bytes, image.tar_bytes);
    assert_eq!(
        stats.stages.iter().map(|s| s.name).collect::<Vec<_>>(),
        ["download", "md5", "lz4", "tar"]
    );

    let reference = tempfile::tempdir().unwrap();
    let st = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "lz4 -d < {} | tar -x -C {}",
            image.archive.display(),
            reference.path().display()
        ))
        .status()
        .unwrap();
    assert!(st.success());
    let (ours, theirs) = (tree(target.path()), tree(reference.path()));
    assert!(ours.len() > 20, "{ours:?}");
    for (path, want) in &theirs {
        assert_eq!(ours.get(path), Some(want), "{}", path.display());
    }
    assert_eq!(ours.len(), theirs.len());
}

#[tokio::test]
async fn an_unpack_error_stops_the_pipeline() {
    if !have_busybox("an_unpack_error_stops_the_pipeline") {
        return;
    }
    let images = tempfile::tempdir().unwrap();
    build(images.path());
    let server = FileServer::start(images.path()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    // the target is a file: the tar stage fails at once; the stages before it must stop
    let target = dir.path().join("not-a-dir");
    std::fs::write(&target, b"").unwrap();
    let err = install_image(&server.url("img.tar.lz4"), &target)
        .await
        .unwrap_err();
    assert!(matches!(err, ImageError::Unpack { .. }), "{err}");
    assert!(err.to_string().contains("not installed"), "{err}");
}
