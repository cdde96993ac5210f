//! metalctl against a real metal-api (in-process on port 0, SQLite and PostgreSQL): an
//! operator's first day from YAML files, tables with the columns of metal-stack's metalctl, the
//! server's errors with a non-zero exit code.

mod driver;

use driver::{header, rows_with, Ctl};
use metal_testkit::{Backend, TestApi};

async fn first_day(backend: Backend) {
    let api = TestApi::start(backend).await.unwrap();
    let ctl = std::sync::Arc::new(Ctl::admin(&api));
    let c = ctl.clone();
    tokio::task::spawn_blocking(move || scenario(&c))
        .await
        .unwrap();
    api.stop().await;
}

fn scenario(ctl: &Ctl) {
    let health = ctl.ok(&["health"]);
    assert!(health.contains("healthy"), "{health}");
    let who = ctl.ok(&["whoami"]);
    assert!(
        who.contains("metal-admin@metal-stack.io") || who.contains("metal-admin"),
        "{who}"
    );

    // partitions from a multi-document file
    let f = ctl.file("partitions.yaml", "id: fra-equ01\nname: Frankfurt\ndescription: first\nbootconfig:\n  imageurl: http://images.test/hammer.img\n  kernelurl: http://images.test/vmlinuz\n---\nid: ams-01\nname: Amsterdam\nbootconfig:\n  imageurl: http://images.test/hammer.img\n  kernelurl: http://images.test/vmlinuz\n");
    ctl.ok(&["partition", "create", "-f", &f, "--skip-security-prompts"]);
    let list = ctl.ok(&["partition", "list"]);
    assert_eq!(header(&list), ["ID", "NAME", "DESCRIPTION"]);
    assert_eq!(rows_with(&list, "fra-equ01").len(), 1);
    assert_eq!(rows_with(&list, "ams-01").len(), 1);

    // creating it again: the server's 409 message, exit 1
    let out = ctl.run(
        &["partition", "create", "-f", &f, "--skip-security-prompts"],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("already exists"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // apply updates what exists
    let upd = ctl.file("p.yaml", "id: fra-equ01\nname: Frankfurt\ndescription: updated by apply\nbootconfig:\n  imageurl: http://images.test/hammer.img\n  kernelurl: http://images.test/vmlinuz\n");
    ctl.ok(&["partition", "apply", "-f", &upd]);
    let desc = ctl.ok(&["partition", "describe", "fra-equ01"]);
    assert!(desc.contains("updated by apply"), "{desc}");
    let json = ctl.ok(&["partition", "describe", "fra-equ01", "-o", "json"]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["privatenetworkprefixlength"], 22);

    // edit with an editor that rewrites the description
    let editor = ctl.file(
        "editor.sh",
        "#!/bin/sh\nsed -i 's/^description: .*/description: edited/' \"$1\"\n",
    );
    std::fs::set_permissions(&editor, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let out = ctl
        .command(&["partition", "edit", "ams-01"])
        .env("EDITOR", &editor)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(ctl
        .ok(&["partition", "describe", "ams-01"])
        .contains("description: edited"));

    // images, sizes and a constraint from standard input
    let imgs = "id: ubuntu-20.04.20201026\nurl: http://images.test/ubuntu.tar.lz4\nfeatures: [machine]\n---\nid: firewall-ubuntu-2.0.20201126\nurl: http://images.test/fw.tar.lz4\nfeatures: [firewall]\n";
    let out = ctl.run(
        &["image", "create", "-f", "-", "--skip-security-prompts"],
        Some(imgs),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let list = ctl.ok(&["image", "list"]);
    assert_eq!(
        header(&list),
        [
            "ID",
            "NAME",
            "DESCRIPTION",
            "FEATURES",
            "EXPIRATION",
            "STATUS"
        ]
    );
    assert!(rows_with(&list, "firewall-ubuntu-2.0.20201126")[0].contains("firewall"));
    let ids = ctl.ok(&["image", "list", "-o", "template", "--template", "{{ .id }}"]);
    assert!(
        ids.contains("ubuntu-20.04.20201026") && ids.contains("firewall-ubuntu-2.0.20201126"),
        "{ids}"
    );

    let size = ctl.file("size.yaml", "id: n1-medium-x86\nconstraints:\n- type: cores\n  min: 4\n  max: 4\n- type: memory\n  min: 1073741824\n  max: 8589934592\n");
    ctl.ok(&["size", "create", "-f", &size]);
    let list = ctl.ok(&["size", "list"]);
    assert_eq!(header(&list)[..3], ["ID", "NAME", "DESCRIPTION"]);
    assert!(
        rows_with(&list, "n1-medium-x86")[0].contains("4 - 4"),
        "{list}"
    );

    let ic = ctl.file("ic.yaml", "id: n1-medium-x86\nconstraints:\n  images:\n    firewall-ubuntu: \">= 2.0.20211011\"\n    ubuntu: \"*\"\n");
    ctl.ok(&["size", "ic", "create", "-f", &ic]);
    let list = ctl.ok(&["size", "imageconstraint", "list"]);
    assert_eq!(
        header(&list),
        ["ID", "NAME", "DESCRIPTION", "IMAGE", "CONSTRAINT"]
    );
    let rows = rows_with(&list, "n1-medium-x86");
    assert_eq!(rows.len(), 2, "one row per image constraint: {list}");
    assert!(
        rows.iter()
            .any(|r| r.contains("firewall-ubuntu") && r.contains(">= 2.0.20211011")),
        "{list}"
    );
    let out = ctl.run(
        &[
            "size",
            "ic",
            "try",
            "--size",
            "n1-medium-x86",
            "--image",
            "firewall-ubuntu-2.0.20201126",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("given size:n1-medium-x86 with image:firewall-ubuntu-2.0.20201126 does violate image constraint:firewall-ubuntu"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // a layout, and which one a size and image get
    let fsl = ctl.file("fsl.yaml", "id: default\ndescription: efi and root\nconstraints:\n  sizes: [n1-medium-x86]\n  images:\n    ubuntu: \"*\"\ndisks:\n- device: /dev/sda\n  wipeonreinstall: true\n  partitions:\n  - {number: 1, label: efi, size: 500, gpttype: ef00}\n  - {number: 2, label: root, size: 0, gpttype: \"8300\"}\nfilesystems:\n- {path: /boot/efi, device: /dev/sda1, format: vfat}\n- {path: /, device: /dev/sda2, format: ext4}\n");
    ctl.ok(&["fsl", "create", "-f", &fsl]);
    let list = ctl.ok(&["filesystemlayout", "list"]);
    assert_eq!(
        header(&list),
        ["ID", "DESCRIPTION", "FILESYSTEMS", "SIZES", "IMAGES"]
    );
    let tried = ctl.ok(&[
        "fsl",
        "try",
        "--size",
        "n1-medium-x86",
        "--image",
        "ubuntu-20.04",
    ]);
    assert!(tried.contains("default"), "{tried}");

    // tenant and project, deletes
    ctl.ok(&[
        "tenant",
        "create",
        "-f",
        &ctl.file("t.yaml", "meta:\n  id: acme\nname: ACME\n"),
    ]);
    ctl.ok(&[
        "project",
        "create",
        "-f",
        &ctl.file("pr.yaml", "meta:\n  id: web\nname: web\ntenant_id: acme\n"),
    ]);
    let list = ctl.ok(&["project", "list"]);
    assert_eq!(header(&list)[..4], ["UID", "TENANT", "NAME", "DESCRIPTION"]);
    ctl.ok(&["project", "delete", "web"]);
    ctl.ok(&["partition", "rm", "ams-01"]);
    let out = ctl.run(&["partition", "describe", "ams-01"], None);
    assert_eq!(out.status.code(), Some(1));

    // networks: a private super network, a tenant network cut from it, IPs
    ctl.ok(&[
        "project",
        "create",
        "-f",
        &ctl.file(
            "pr2.yaml",
            "meta:\n  id: shop\nname: shop\ntenant_id: acme\n",
        ),
    ]);
    let sup = ctl.file("super.yaml", "id: tenant-super\npartitionid: fra-equ01\nprivatesuper: true\nprefixes: [10.0.0.0/16]\n---\nid: internet\nprefixes: [185.1.2.0/24]\ndestinationprefixes: [0.0.0.0/0]\nnat: true\nshared: true\n");
    ctl.ok(&["network", "create", "-f", &sup, "--skip-security-prompts"]);
    let out = ctl.ok(&[
        "network",
        "allocate",
        "--name",
        "shop-net",
        "--partition",
        "fra-equ01",
        "--project",
        "shop",
        "-o",
        "json",
    ]);
    let net: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(net["prefixes"][0], "10.0.0.0/22", "{out}");
    let child = net["id"].as_str().unwrap().to_string();
    let list = ctl.ok(&["network", "list"]);
    assert_eq!(
        header(&list)[..6],
        ["ID", "NAME", "PROJECT", "PARTITION", "NAT", "SHARED"]
    );
    let child_row = rows_with(&list, &child);
    assert_eq!(child_row.len(), 1, "{list}");
    assert!(
        child_row[0].contains("└─╴") || child_row[0].contains("├─╴"),
        "the tenant network hangs under its parent: {list}"
    );
    assert!(list.contains('●'), "usage dot: {list}");
    let out = ctl.ok(&[
        "network",
        "ip",
        "create",
        "--network",
        &child,
        "--project",
        "shop",
        "--name",
        "web",
        "-o",
        "json",
    ]);
    let ip: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(ip["ipaddress"], "10.0.0.1", "{out}");
    let out = ctl.run(
        &[
            "network",
            "ip",
            "create",
            "--network",
            &child,
            "--project",
            "acme-other",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    let out = ctl.run(
        &[
            "network",
            "ip",
            "create",
            "--network",
            "internet",
            "--project",
            "shop",
            "--ipaddress",
            "185.1.2.0",
        ],
        None,
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("reserved"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ips = ctl.ok(&["network", "ip", "list", "--project", "shop"]);
    assert_eq!(
        header(&ips),
        [
            "IP",
            "DESCRIPTION",
            "NAME",
            "NETWORK",
            "PROJECT",
            "TYPE",
            "TAGS"
        ]
    );
    assert_eq!(rows_with(&ips, "10.0.0.1").len(), 1, "{ips}");
    let out = ctl.run(&["network", "free", &child], None);
    assert_eq!(
        out.status.code(),
        Some(1),
        "a network with ips is not freed"
    );
    ctl.ok(&["network", "ip", "delete", "10.0.0.1"]);
    ctl.ok(&["network", "free", &child]);
    assert!(!ctl.ok(&["network", "list"]).contains(&child));

    // the audit trail saw it
    let audit = ctl.ok(&["audit", "list", "--path", "/v1/partition", "-o", "json"]);
    assert!(audit.contains("metal-admin@metal-stack.io"), "{audit}");

    // a wrong key is refused with the server's 401 message
    let out = ctl
        .command(&["partition", "list"])
        .env("METALCTL_HMAC", "wrong-key")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("invalid HMAC signature"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operators_first_day_sqlite() {
    first_day(Backend::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operators_first_day_postgres() {
    first_day(Backend::Postgres).await
}

const RAID: &str = include_str!("fixtures/fsl-raid.yaml");
const LVM: &str = include_str!("fixtures/fsl-lvm-striped.yaml");

/// Files as metal-stack's documentation writes them: the release notes' layouts verbatim
/// (`level: 1` where the wire has a string), and a misplaced key warned about, not dropped
/// silently.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_as_metal_stack_writes_them() {
    let api = TestApi::start(Backend::Sqlite).await.unwrap();
    let ctl = std::sync::Arc::new(Ctl::admin(&api));
    let c = ctl.clone();
    tokio::task::spawn_blocking(move || release_note_files(&c))
        .await
        .unwrap();
    let c = api.admin();
    let raid = c.get("v1/filesystemlayout/raid").await;
    assert_eq!(raid.status, 200, "{:?}", raid.body);
    assert_eq!(raid.body["raid"][0]["level"], "1");
    assert_eq!(raid.body["raid"][0]["devices"][1], "/dev/sdb1");
    assert_eq!(raid.body["disks"][0]["partitions"][0]["gpttype"], "8300");
    let lvm = c.get("v1/filesystemlayout/lvm").await;
    assert_eq!(lvm.status, 200, "{:?}", lvm.body);
    assert_eq!(lvm.body["logicalvolumes"][0]["lvmtype"], "striped");
    assert_eq!(lvm.body["logicalvolumes"][0]["volumegroup"], "vgroot");
    assert_eq!(lvm.body["filesystems"][0]["device"], "/dev/vgroot/root");
    api.stop().await;
}

fn release_note_files(ctl: &Ctl) {
    let size = ctl.file(
        "size.yaml",
        "id: c1-xlarge-x86\nconstraints:\n- type: cores\n  min: 4\n  max: 4\n",
    );
    ctl.ok(&["size", "create", "-f", &size]);
    let size = ctl.file(
        "size.yaml",
        "id: s3-large-x86\nconstraints:\n- type: cores\n  min: 8\n  max: 8\n",
    );
    ctl.ok(&["size", "create", "-f", &size]);

    let raid = ctl.file("raid.yaml", RAID);
    let out = ctl.run(&["fsl", "create", "-f", &raid], None);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!stderr.contains("warning"), "{stderr}");
    let out = ctl.run(&["filesystemlayout", "create", "-f", "-"], Some(LVM));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!stderr.contains("warning"), "{stderr}");

    // `images` at the top instead of under `constraints`: created, and said so
    let sic = ctl.file(
        "sic.yaml",
        "id: c1-xlarge-x86\nimages:\n  debian: '>= 10'\n",
    );
    let out = ctl.run(&["size", "imageconstraint", "create", "-f", &sic], None);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "warning: {sic}: unknown key \"images\" is ignored, did you mean \"constraints.images\"?"
        )),
        "{stderr}"
    );
}

/// `switch migrate`: the new switch is answered; the server's refusals reach the operator with
/// exit code 1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn switch_migrate() {
    let api = TestApi::start(Backend::Sqlite).await.unwrap();
    let c = api.admin();
    let p = serde_json::json!({"id": "fra", "name": "fra", "bootconfig": {
        "imageurl": "http://images.test/hammer.img", "kernelurl": "http://images.test/vmlinuz"}});
    assert_eq!(c.put("v1/partition", p).await.status, 201);
    for (id, rack, vendor, ports) in [
        ("leaf01", "r1", "Cumulus", ["swp1", "swp2"]),
        ("leaf03", "r1", "SONiC", ["Ethernet0", "Ethernet4"]),
        ("leaf09", "r2", "SONiC", ["Ethernet0", "Ethernet4"]),
    ] {
        let nics: Vec<_> = ports
            .iter()
            .enumerate()
            .map(|(i, n)| serde_json::json!({"name": n, "mac": format!("aa:00:00:00:{}:0{i}", &id[4..])}))
            .collect();
        let body = serde_json::json!({"id": id, "name": id, "partition_id": "fra",
            "rack_id": rack, "nics": nics, "os": {"vendor": vendor}});
        let r = c.post("v1/switch/register", body).await;
        assert_eq!(r.status, 201, "{:?}", r.body);
    }
    let ctl = std::sync::Arc::new(Ctl::admin(&api));
    tokio::task::spawn_blocking(move || {
        let out = ctl.json(&["switch", "migrate", "leaf01", "leaf03"]);
        assert_eq!(out["id"], "leaf03", "{out}");
        let err = ctl.fails(&["switch", "migrate", "leaf01", "leaf09"]);
        assert!(err.contains("same rack"), "{err}");
        let err = ctl.fails(&["switch", "migrate", "leaf01", "leaf07"]);
        assert!(err.contains("leaf07"), "{err}");
    })
    .await
    .unwrap();
    api.stop().await;
}

/// `vpn key` against a metal-api without headscale: the server names the missing flags.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vpn_key_without_headscale() {
    let api = TestApi::start(Backend::Sqlite).await.unwrap();
    let ctl = Ctl::admin(&api);
    let err = tokio::task::spawn_blocking(move || {
        ctl.fails(&[
            "vpn",
            "key",
            "--project",
            "p1",
            "--ephemeral",
            "--expiration",
            "2h",
            "--reason",
            "INC-42",
        ])
    })
    .await
    .unwrap();
    assert!(err.contains("--headscale-addr"), "{err}");
    api.stop().await;
}
