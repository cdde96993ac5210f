//! A minimal unpacked image root for the installer: the accounts, a kernel and initrd, the
//! units and FRR's daemons file a Debian image with FRR and nftables has, and
//! `/etc/metal/install.yaml` of a golden case with a password, keys and user data.

use std::path::Path;

pub const PASSWORD: &str = "console-secret-4711";
pub const KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJm6 alice@example";

pub fn build(root: &Path, case: &str) {
    let w = |p: &str, text: &str| {
        let path = root.join(p);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    w("etc/passwd", "root:x:0:0:root:/root:/bin/bash\n");
    w("etc/group", "root:x:0:\nsudo:x:27:\n");
    w("etc/shadow", "root:*:19000:0:99999:7:::\n");
    w("etc/gshadow", "root:*::\nsudo:*::\n");
    std::fs::create_dir_all(root.join("home")).unwrap();
    std::fs::create_dir_all(root.join("var/tmp")).unwrap();
    w(
        "etc/os-release",
        "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\n",
    );
    w("etc/machine-id", "0123456789abcdef0123456789abcdef\n");
    w("boot/vmlinuz-6.1.0-28-amd64", "kernel");
    w("boot/initrd.img-6.1.0-28-amd64", "initrd");
    w("etc/frr/daemons", "bgpd=no\nospfd=no\nvtysh_enable=yes\n");
    for unit in [
        "frr.service",
        "systemd-networkd.service",
        "nftables.service",
    ] {
        w(
            &format!("lib/systemd/system/{unit}"),
            "[Unit]\n[Install]\nWantedBy=multi-user.target\n",
        );
    }
    let golden = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(case);
    let yaml = std::fs::read_to_string(golden.join("install.yaml")).unwrap();
    let mut cfg: serde_yaml::Value = serde_yaml::from_str(&yaml).unwrap();
    cfg["password"] = PASSWORD.into();
    cfg["sshpublickey"] = KEY.into();
    w(
        "etc/metal/install.yaml",
        &serde_yaml::to_string(&cfg).unwrap(),
    );
    w("etc/metal/userdata", "#cloud-config\npackages: [htop]\n");
}
