//! Firmware files (`/v1/firmware`, admin): uploaded as multipart forms, listed per kind,
//! vendor and board (for a machine: its board as its BMC reported it), removed; bad keys and
//! empty or missing files leave nothing behind.

use axum::http::Method;
use metal_testkit::{backend_test, insert_machine, set_machine_ipmi, Caller, TestApi};
use serde_json::json;

async fn upload(api: &TestApi, path: &str, content: &[u8]) -> u16 {
    api.admin()
        .send_file(Method::PUT, path, "file", content)
        .await
        .status
}

backend_test!(firmware_upload_list_and_remove, |api| {
    let admin = api.admin();
    assert_eq!(
        admin.get("v1/firmware").await.body,
        json!({"revisions": {}})
    );
    for (path, content) in [
        (
            "v1/firmware/bios/Supermicro/x11dpt-b/2.0",
            b"bios 2".as_slice(),
        ),
        (
            "v1/firmware/bios/supermicro/X11DPT-B/1.0",
            b"bios 1".as_slice(),
        ),
        ("v1/firmware/bmc/supermicro/X11DPT-B/7.1", b"bmc".as_slice()),
        ("v1/firmware/bios/Dell/r640/1.2", b"dell".as_slice()),
    ] {
        assert_eq!(upload(api, path, content).await, 200, "{path}");
    }
    // the same key again replaces the file
    assert_eq!(
        upload(api, "v1/firmware/bios/Dell/R640/1.2", b"dell again").await,
        200
    );
    let all = admin.get("v1/firmware").await;
    assert_eq!(all.status, 200);
    assert_eq!(
        all.body,
        json!({"revisions": {
            "bios": {"VendorRevisions": {
                "dell": {"BoardRevisions": {"R640": ["1.2"]}},
                "supermicro": {"BoardRevisions": {"X11DPT-B": ["1.0", "2.0"]}}}},
            "bmc": {"VendorRevisions": {"supermicro": {"BoardRevisions": {"X11DPT-B": ["7.1"]}}}}
        }})
    );
    let bmc = admin.get("v1/firmware?kind=bmc").await;
    assert_eq!(
        bmc.body,
        json!({"revisions": {"bmc": {"VendorRevisions": {"supermicro": {"BoardRevisions": {"X11DPT-B": ["7.1"]}}}}}})
    );
    let dell = admin.get("v1/firmware?vendor=DELL&board=r640").await;
    assert_eq!(
        dell.body,
        json!({"revisions": {"bios": {"VendorRevisions": {"dell": {"BoardRevisions": {"R640": ["1.2"]}}}}}})
    );
    assert_eq!(admin.get("v1/firmware?kind=uefi").await.status, 400);

    // a machine sees the firmware of its board
    insert_machine(api.store(), "m1", Some("fra"), None, None, None, json!({}))
        .await
        .unwrap();
    set_machine_ipmi(
        api.store(),
        "m1",
        json!({"fru": {"board_mfg": "Supermicro", "board_part_number": "x11dpt-b"}}),
    )
    .await
    .unwrap();
    let m1 = admin.get("v1/firmware?machine-id=m1&kind=bios").await;
    assert_eq!(
        m1.body,
        json!({"revisions": {"bios": {"VendorRevisions": {"supermicro": {"BoardRevisions": {"X11DPT-B": ["1.0", "2.0"]}}}}}})
    );
    insert_machine(api.store(), "m2", Some("fra"), None, None, None, json!({}))
        .await
        .unwrap();
    let m2 = admin.get("v1/firmware?machine-id=m2").await;
    assert_eq!(
        m2.body,
        json!({"revisions": {}}),
        "no board reported, no firmware"
    );
    assert_eq!(admin.get("v1/firmware?machine-id=nope").await.status, 404);

    // removal
    let del = admin
        .delete("v1/firmware/bios/supermicro/X11DPT-B/1.0")
        .await;
    assert_eq!(del.status, 200, "{}", del.body);
    let gone = admin
        .delete("v1/firmware/bios/supermicro/X11DPT-B/1.0")
        .await;
    assert_eq!(gone.status, 404);
    assert!(gone.body["message"]
        .as_str()
        .unwrap()
        .contains("bios/supermicro/X11DPT-B/1.0"));
    let after = admin.get("v1/firmware?kind=bios&vendor=supermicro").await;
    assert_eq!(
        after.body,
        json!({"revisions": {"bios": {"VendorRevisions": {"supermicro": {"BoardRevisions": {"X11DPT-B": ["2.0"]}}}}}})
    );
});

backend_test!(bad_firmware_uploads_leave_nothing, |api| {
    let admin = api.admin();
    // (path, content, message part)
    for (path, content, want) in [
        (
            "v1/firmware/uefi/v/b/1",
            b"x".as_slice(),
            "kind must be bios or bmc",
        ),
        ("v1/firmware/bios/v/b/a%5Cb", b"x".as_slice(), "revision"),
        ("v1/firmware/bios/v%2Fw/b/1", b"x".as_slice(), "vendor"),
        (
            "v1/firmware/bios/v/b/1",
            b"".as_slice(),
            "the firmware file is empty",
        ),
    ] {
        let r = admin.send_file(Method::PUT, path, "file", content).await;
        assert_eq!(r.status, 400, "{path}: {}", r.body);
        assert!(
            r.body["message"].as_str().unwrap().contains(want),
            "{path}: {}",
            r.body
        );
    }
    let wrong_field = admin
        .send_file(Method::PUT, "v1/firmware/bios/v/b/1", "data", b"x")
        .await;
    assert_eq!(wrong_field.status, 400);
    assert!(wrong_field.body["message"]
        .as_str()
        .unwrap()
        .contains("\"file\""));
    assert_eq!(
        admin.get("v1/firmware").await.body,
        json!({"revisions": {}})
    );
    // admin only
    let edit = api.client(Caller::Edit);
    assert_eq!(
        edit.send_file(Method::PUT, "v1/firmware/bios/v/b/1", "file", b"x")
            .await
            .status,
        403
    );
    assert_eq!(
        admin.get("v1/firmware").await.body,
        json!({"revisions": {}})
    );
});
