//! Filesystem layouts over HTTP: validation, collisions, /try and /matches.

use metal_testkit::{backend_test, insert_machine};
use serde_json::{json, Value};

use crate::image;

const GIB: u64 = 1 << 30;

fn layout(id: &str, sizes: &[&str], images: Value) -> Value {
    json!({
        "id": id,
        "constraints": {"sizes": sizes, "images": images},
        "disks": [{"device": "/dev/sda", "wipeonreinstall": true, "partitions": [
            {"number": 1, "label": "efi", "size": 500, "gpttype": "ef00"},
            {"number": 2, "label": "root", "size": 0, "gpttype": "8300"}
        ]}],
        "filesystems": [
            {"path": "/boot/efi", "device": "/dev/sda1", "format": "vfat", "createoptions": ["-F", "32"]},
            {"path": "/", "device": "/dev/sda2", "format": "ext4"}
        ]
    })
}

backend_test!(fsl_crud_validation_and_collisions, |api| {
    let c = api.admin();
    let r = c
        .put(
            "v1/filesystemlayout",
            layout("default", &["c1-large"], json!({"ubuntu": ">= 20.04"})),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(r.body["filesystems"][0]["path"], "/boot/efi");
    assert_eq!(
        c.put(
            "v1/filesystemlayout",
            layout("default", &["x"], json!({"ubuntu": "*"}))
        )
        .await
        .status,
        409
    );

    // collision with the existing layout: nothing written
    let r = c
        .put(
            "v1/filesystemlayout",
            layout("other", &["c1-large"], json!({"ubuntu": "*"})),
        )
        .await;
    assert_eq!(r.status, 400, "{:?}", r.body);
    assert!(r.message().contains("already exist"), "{}", r.message());
    assert_eq!(c.get("v1/filesystemlayout/other").await.status, 404);

    // single-layout rules: filesystem on a device that does not exist, bad format
    let mut bad = layout("bad", &["c2"], json!({"ubuntu": "*"}));
    bad["filesystems"][1]["device"] = json!("/dev/sdb1");
    let r = c.put("v1/filesystemlayout", bad).await;
    assert_eq!(r.status, 400);
    assert!(r.message().contains("/dev/sdb1"), "{}", r.message());
    let mut bad = layout("bad", &["c2"], json!({"ubuntu": "*"}));
    bad["filesystems"][1]["format"] = json!("zfs");
    let r = c.put("v1/filesystemlayout", bad).await;
    assert_eq!(r.status, 422, "{:?}", r.body);
    assert!(r.message().contains("zfs"), "{}", r.message());
    let mut bad = layout("bad", &["c2"], json!({"ubuntu": "*"}));
    bad["disks"][0]["partitions"][0]["size"] = json!(0);
    let r = c.put("v1/filesystemlayout", bad).await;
    assert_eq!(r.status, 400, "{:?}", r.body);
    let mut bad = layout("bad", &["c2"], json!({"*": "*"}));
    bad["id"] = json!("bad2");
    assert_eq!(c.put("v1/filesystemlayout", bad).await.status, 400);

    // raid and lvm
    let raid = json!({
        "id": "raid", "constraints": {"sizes": ["c2"], "images": {"ubuntu": "*"}},
        "disks": [
            {"device": "/dev/sda", "partitions": [{"number": 1, "size": 0, "gpttype": "fd00"}]},
            {"device": "/dev/nvme0n1", "partitions": [{"number": 1, "size": 0, "gpttype": "fd00"}]}
        ],
        "raid": [{"arrayname": "/dev/md0", "devices": ["/dev/sda1", "/dev/nvme0n1p1"], "level": "1", "spares": 0, "createoptions": ["--metadata=1.0"]}],
        "volumegroups": [{"name": "vg0", "devices": ["/dev/md0"]}],
        "logicalvolumes": [{"name": "root", "volumegroup": "vg0", "size": 0, "lvmtype": "linear"}],
        "filesystems": [{"path": "/", "device": "/dev/vg0/root", "format": "ext4"}]
    });
    let r = c.put("v1/filesystemlayout", raid.clone()).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let mut striped = raid.clone();
    striped["id"] = json!("striped");
    striped["constraints"]["sizes"] = json!(["c3"]);
    striped["logicalvolumes"][0]["lvmtype"] = json!("striped");
    let r = c.put("v1/filesystemlayout", striped).await;
    assert_eq!(r.status, 400, "striped needs two devices: {:?}", r.body);

    // update replaces the layout; an invalid update changes nothing
    let mut upd = layout("default", &["c1-large"], json!({"ubuntu": ">= 20.04"}));
    upd["description"] = json!("updated");
    let r = c.post("v1/filesystemlayout", upd).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["description"], "updated");
    let mut upd = layout("default", &["c1-large"], json!({"ubuntu": ">= 20.04"}));
    upd["filesystems"][0]["device"] = json!("/dev/sdz9");
    assert_eq!(c.post("v1/filesystemlayout", upd).await.status, 400);
    assert_eq!(
        c.get("v1/filesystemlayout/default").await.body["filesystems"][0]["device"],
        "/dev/sda1"
    );

    assert_eq!(
        c.get("v1/filesystemlayout")
            .await
            .body
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(c.delete("v1/filesystemlayout/raid").await.status, 200);
    assert_eq!(c.delete("v1/filesystemlayout/raid").await.status, 404);
});

backend_test!(fsl_try_and_matches, |api| {
    let c = api.admin();
    c.put("v1/image", image("ubuntu-20.04.20201026", &["machine"]))
        .await;
    c.put("v1/image", image("debian-12.0.20230101", &["machine"]))
        .await;
    assert_eq!(
        c.put(
            "v1/filesystemlayout",
            layout("default", &["c1-large"], json!({"ubuntu": ">= 20.04"}))
        )
        .await
        .status,
        201
    );

    let r = c
        .post(
            "v1/filesystemlayout/try",
            json!({"size": "c1-large", "image": "ubuntu-20.04"}),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["id"], "default");
    let r = c
        .post(
            "v1/filesystemlayout/try",
            json!({"size": "c1-large", "image": "debian-12.0"}),
        )
        .await;
    assert_eq!(r.status, 422, "{:?}", r.body);
    assert!(
        r.message()
            .contains("could not find a matching filesystemLayout"),
        "{}",
        r.message()
    );
    let r = c
        .post(
            "v1/filesystemlayout/try",
            json!({"size": "c1-large", "image": "centos-7.0"}),
        )
        .await;
    assert_eq!(r.status, 404, "unknown image: {:?}", r.body);

    insert_machine(
        api.store(),
        "big",
        None,
        None,
        None,
        None,
        json!({"disks": [{"name": "sda", "size": 100 * GIB}]}),
    )
    .await
    .unwrap();
    insert_machine(
        api.store(),
        "tiny",
        None,
        None,
        None,
        None,
        json!({"disks": [{"name": "/dev/sda", "size": 100 * 1024 * 1024}]}),
    )
    .await
    .unwrap();
    insert_machine(
        api.store(),
        "nvme",
        None,
        None,
        None,
        None,
        json!({"disks": [{"name": "/dev/nvme0n1", "size": 100 * GIB}]}),
    )
    .await
    .unwrap();
    let r = c
        .post(
            "v1/filesystemlayout/matches",
            json!({"machine": "big", "filesystemlayout": "default"}),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let r = c
        .post(
            "v1/filesystemlayout/matches",
            json!({"machine": "tiny", "filesystemlayout": "default"}),
        )
        .await;
    assert_eq!(r.status, 422, "{:?}", r.body);
    assert!(r.message().contains("big enough"), "{}", r.message());
    let r = c
        .post(
            "v1/filesystemlayout/matches",
            json!({"machine": "nvme", "filesystemlayout": "default"}),
        )
        .await;
    assert_eq!(r.status, 422);
    assert!(r.message().contains("/dev/sda"), "{}", r.message());
    assert_eq!(
        c.post(
            "v1/filesystemlayout/matches",
            json!({"machine": "ghost", "filesystemlayout": "default"})
        )
        .await
        .status,
        404
    );
    assert_eq!(
        c.post(
            "v1/filesystemlayout/matches",
            json!({"machine": "big", "filesystemlayout": "ghost"})
        )
        .await
        .status,
        404
    );
});
