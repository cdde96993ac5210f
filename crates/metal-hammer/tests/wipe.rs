//! Disk wiping (§2.9) on plain files standing in for disks: which method ran, what the bytes
//! are afterwards, and that a disk that could not be wiped is reported as not wiped.

use std::path::Path;

use metal_hammer::exec::tool_exists;
use metal_hammer::wipe::{disks, wipe_devices, wipe_one, WipeMethod, WipeOptions};

fn have_mkfs(test: &str) -> bool {
    metal_testkit::tool_or_skip(
        test,
        tool_exists("mkfs.ext4"),
        "mkfs.ext4",
        "apt-get install e2fsprogs",
    )
}

fn disk(dir: &Path, name: &str, size: usize) -> String {
    let p = dir.join(name);
    std::fs::write(&p, vec![0xab; size]).unwrap();
    p.to_string_lossy().into_owned()
}

fn opts() -> WipeOptions {
    WipeOptions {
        use_nvme_tool: false,
        ..WipeOptions::default()
    }
}

#[test]
fn mkfs_with_discard_then_the_first_mib_is_zero() {
    if !have_mkfs("mkfs_with_discard_then_the_first_mib_is_zero") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = disk(dir.path(), "sda", 16 << 20);
    let outcome = wipe_one(&d, &opts());
    assert_eq!(outcome.result, Ok(WipeMethod::Discard));
    let bytes = std::fs::read(&d).unwrap();
    assert!(bytes[..1 << 20].iter().all(|b| *b == 0));
    // mkfs wrote its metadata after the first MiB: the old pattern is gone there too
    assert!(bytes[1 << 20..].iter().any(|b| *b != 0xab));
}

#[test]
fn a_failing_mkfs_falls_back_to_overwriting_everything() {
    if !have_mkfs("a_failing_mkfs_falls_back_to_overwriting_everything") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = disk(dir.path(), "sdb", 8192);
    let outcome = wipe_one(&d, &opts());
    assert_eq!(outcome.result, Ok(WipeMethod::FullOverwrite));
    assert!(std::fs::read(&d).unwrap().iter().all(|b| *b == 0));
}

#[test]
fn a_disk_that_cannot_be_wiped_is_reported_as_not_wiped() {
    let outcome = wipe_one("/nonexistent/sdz", &opts());
    let err = outcome.result.clone().unwrap_err();
    assert!(
        err.contains("mkfs.ext4 -F -E discard /nonexistent/sdz"),
        "{err}"
    );
    assert!(
        err.contains("overwriting /nonexistent/sdz with zeros"),
        "{err}"
    );
    assert!(outcome.to_string().contains("NOT wiped"));
}

#[test]
fn nvme_without_a_working_nvme_format_falls_back() {
    if !have_mkfs("nvme_without_a_working_nvme_format_falls_back") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = disk(dir.path(), "nvme0n1", 16 << 20);
    // with the tool: `nvme format` on a plain file fails; without it, there is nothing to run
    let outcome = wipe_one(&d, &WipeOptions::default());
    assert_eq!(outcome.result, Ok(WipeMethod::Discard));
}

#[test]
fn disks_skip_ram_loop_and_zram_and_wipe_keeps_order() {
    let sys = tempfile::tempdir().unwrap();
    for d in ["sdb", "ram0", "loop3", "zram0", "nvme0n1", "sda"] {
        std::fs::create_dir_all(sys.path().join("block").join(d)).unwrap();
    }
    let o = WipeOptions {
        sysfs: sys.path().to_path_buf(),
        dev: "/dev".into(),
        use_nvme_tool: false,
    };
    assert_eq!(
        disks(&o).unwrap(),
        vec!["/dev/nvme0n1", "/dev/sda", "/dev/sdb"]
    );

    let missing = vec!["/nonexistent/a".to_string(), "/nonexistent/b".to_string()];
    let outcomes = wipe_devices(&missing, &o);
    assert_eq!(outcomes.len(), 2);
    assert_eq!(outcomes[0].device, "/nonexistent/a");
    assert_eq!(outcomes[1].device, "/nonexistent/b");
    assert!(outcomes.iter().all(|o| o.result.is_err()));
}
