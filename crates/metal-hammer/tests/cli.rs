//! The `metal-hammer` command line: `plan` prints the plan, `install` reports success and
//! failure on one line each with a meaningful exit code.

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_metal-hammer");

const LAYOUT: &str = r#"{
  "id": "plain",
  "disks": [{"device": "/dev/sda", "wipeonreinstall": false,
             "partitions": [{"number": 1, "label": "efi", "size": 500, "gpttype": "ef00"},
                            {"number": 2, "label": "root", "size": 0, "gpttype": "8300"}]}],
  "filesystems": [{"device": "/dev/sda2", "format": "ext4", "path": "/", "label": "root"},
                  {"device": "/dev/sda1", "format": "vfat", "path": "/boot/efi", "label": "efi"}]
}"#;

#[test]
fn plan_prints_one_step_per_line() {
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout.json");
    std::fs::write(&layout, LAYOUT).unwrap();
    let out = Command::new(BIN)
        .args(["plan", "--layout"])
        .arg(&layout)
        .args(["--target", "/mnt/x"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines[0], "wipefs --all /dev/sda");
    assert_eq!(lines[1], "sgdisk --new=1:0:+500M --change-name=1:efi --typecode=1:ef00 --new=2:0:0 --change-name=2:root --typecode=2:8300 /dev/sda");
    assert!(
        lines.contains(&"mkdir -p /mnt/x && mount -t ext4 /dev/sda2 /mnt/x"),
        "{stdout}"
    );
    assert!(
        lines
            .last()
            .unwrap()
            .ends_with("mount --bind /dev /mnt/x/dev"),
        "{stdout}"
    );
}

#[test]
fn install_failure_is_one_line_and_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout.json");
    std::fs::write(&layout, LAYOUT.replace("\"ext4\"", "\"zfs\"")).unwrap();
    let out = Command::new(BIN)
        .args(["install", "--layout"])
        .arg(&layout)
        .args(["--image-url", "http://127.0.0.1:1/img.tar.lz4"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        stdout.starts_with("METAL_HAMMER_FAILED planning the filesystem layout: filesystem on /dev/sda2: unsupported format \"zfs\""),
        "{stdout}"
    );
    assert_eq!(stdout.lines().count(), 1);

    let out = Command::new(BIN)
        .args([
            "install",
            "--layout",
            "/nonexistent/layout.json",
            "--image-url",
            "x.lz4",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8(out.stdout)
        .unwrap()
        .starts_with("METAL_HAMMER_FAILED reading /nonexistent/layout.json"));
}

#[test]
fn wipe_reports_a_disk_it_could_not_wipe() {
    let out = Command::new(BIN)
        .args(["wipe", "/nonexistent/sdq"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        stdout.starts_with("/nonexistent/sdq NOT wiped:"),
        "{stdout}"
    );
}
