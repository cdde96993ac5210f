//! Firmware files (`/v1/firmware`, admin): uploaded as multipart forms, listed per kind,
//! vendor and board (for a machine: its board as its BMC reported it), removed; bad keys and
//! empty or missing files leave nothing behind. In a directory store, downloaded by metal-bmc
//! through URLs signed by metal-api (the S3 store: `firmware_s3.rs`).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::Method;
use metal_api::config::Secret;
use metal_api::firmware_store::DownloadLinks;
use metal_domain::firmware::FirmwareKey;
use metal_testkit::{backend_test, insert_machine, set_machine_ipmi, Backend, Caller, TestApi};
use serde_json::{json, Value};

pub async fn upload(api: &TestApi, path: &str, content: &[u8]) -> u16 {
    api.admin()
        .send_file(Method::PUT, path, "file", content)
        .await
        .status
}

backend_test!(firmware_upload_list_and_remove, |api| {
    upload_list_and_remove(api).await;
});

backend_test!(bad_firmware_uploads_leave_nothing, |api| {
    bad_uploads_leave_nothing(api).await;
});

/// Uploads, lists (also for a machine), replaces and removes files; shared by both kinds of
/// store. Leaves `bios/dell/R640/1.2` ("dell again"), `bios/supermicro/X11DPT-B/2.0` and
/// `bmc/supermicro/X11DPT-B/7.1` behind.
pub async fn upload_list_and_remove(api: &TestApi) {
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
}

/// Bad keys, empty files, a wrong form field and a caller without the admin role store
/// nothing; shared by both kinds of store.
pub async fn bad_uploads_leave_nothing(api: &TestApi) {
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
}

/// Content larger than the request bodies the audit trail buffers (4 MiB): an upload and a
/// download that pass must have been streamed.
pub fn big_file() -> Vec<u8> {
    (0..6 * 1024 * 1024 + 7u32)
        .map(|i| (i.wrapping_mul(31) % 251) as u8)
        .collect()
}

/// A GET without credentials: status, headers and body.
pub async fn fetch(url: &str) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
    let resp = reqwest::get(url).await.expect("GET");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    (status, headers, resp.bytes().await.unwrap().to_vec())
}

fn message(body: &[u8]) -> String {
    serde_json::from_slice::<Value>(body).unwrap()["message"]
        .as_str()
        .unwrap()
        .to_string()
}

const URL_KEY: &str = "firmware-url-key-for-tests";

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

async fn directory_downloads(backend: Backend) {
    let api = TestApi::start_with(backend, |c| {
        c.base_path = "/metal/".into();
        c.firmware_url_key = Some(Secret::new(URL_KEY));
    })
    .await
    .expect("starting metal-api");
    let big = big_file();
    assert_eq!(
        upload(&api, "v1/firmware/bios/Dell/r640/2.0", &big).await,
        200
    );
    let key = FirmwareKey::new("bios", "dell", "R640", "2.0").unwrap();
    let url = api
        .server
        .app
        .firmware
        .download_url(&key, Duration::from_secs(600))
        .await
        .unwrap();
    let prefix = format!("{}firmware-download/bios/dell/R640/2.0?expires=", api.url());
    assert!(url.starts_with(&prefix), "{url}");

    // no HMAC, no token: the signature is the authorization
    let (status, headers, body) = fetch(&url).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(headers["content-length"], big.len().to_string().as_str());
    assert_eq!(headers["content-type"], "application/octet-stream");
    assert!(
        body == big,
        "the downloaded bytes differ from the uploaded ones"
    );

    // a tampered signature, the signature of another file, no signature
    let flipped = if url.ends_with('0') { '1' } else { '0' };
    let tampered = format!("{}{flipped}", &url[..url.len() - 1]);
    let other_file = url.replace("/R640/2.0?", "/R640/1.0?");
    let unsigned = url.split_once('?').unwrap().0.to_string();
    for (bad, want) in [
        (tampered, "signature"),
        (other_file, "signature"),
        (unsigned, "expires and signature"),
    ] {
        let (status, _, body) = fetch(&bad).await;
        assert_eq!(status, 403, "{bad}");
        assert!(message(&body).contains(want), "{bad}: {}", message(&body));
    }

    // signed with the right key, but expired
    let links = DownloadLinks::new(Secret::new(URL_KEY), &api.url());
    let expired = links.url(&key, unix_now() - 10);
    let (status, _, body) = fetch(&expired).await;
    assert_eq!(status, 403);
    assert!(message(&body).contains("expired"), "{}", message(&body));
    assert_eq!(fetch(&links.url(&key, unix_now() + 60)).await.0, 200);

    // a valid URL of a file that is not (or no longer) there
    let absent = FirmwareKey::new("bmc", "dell", "R640", "9").unwrap();
    let (status, _, body) = fetch(&links.url(&absent, unix_now() + 60)).await;
    assert_eq!(status, 404);
    assert!(
        message(&body).contains("bmc/dell/R640/9"),
        "{}",
        message(&body)
    );
    assert_eq!(
        api.admin()
            .delete("v1/firmware/bios/dell/R640/2.0")
            .await
            .status,
        200
    );
    assert_eq!(fetch(&url).await.0, 404);

    // not part of the API document
    let doc = api.client(Caller::Anonymous).get("apidocs.json").await;
    assert_eq!(doc.status, 200);
    assert!(!doc.body.to_string().contains("firmware-download"));
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn directory_downloads_sqlite() {
    directory_downloads(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn directory_downloads_postgres() {
    directory_downloads(Backend::Postgres).await;
}
