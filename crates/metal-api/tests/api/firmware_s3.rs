//! The firmware store in an S3 bucket, against a real S3 server: moto (`moto[server]`, which
//! `.ci/run` installs), started on 127.0.0.1 for each test. The `/v1/firmware` suites of the
//! directory store pass unchanged; the objects are at `kind/vendor/board/revision`; metal-bmc's
//! presigned URLs download the bytes uploaded; keys with any characters round-trip. A moto
//! that checks signatures (its IAM mode) accepts metal-api's hand-written SigV4 for every
//! operation and refuses a wrong secret, which the error names by S3's code without showing
//! it.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use metal_api::config::Secret;
use metal_api::firmware_store::sigv4::{self, Signer};
use metal_api::firmware_store::{FirmwareStore, S3Settings};
use metal_domain::firmware::FirmwareKey;
use metal_testkit::{Backend, TestApi};

use crate::firmware::{bad_uploads_leave_nothing, big_file, fetch, upload, upload_list_and_remove};

const INSTALL: &str =
    "moto's S3 server is needed: python3 -m pip install 'moto[server]==5.2.1' (as .ci/run does)";

/// A moto server on a free port of 127.0.0.1, stopped when dropped.
pub struct Moto {
    child: Child,
    pub url: String,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Moto {
    /// Starts moto; with `iam`, it checks every request's signature against the access keys
    /// of its IAM (see [`Moto::create_access_key`]).
    pub async fn start(iam: bool) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("moto.log");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut cmd = Command::new("python3");
        cmd.args([
            "-m",
            "moto.server",
            "-H",
            "127.0.0.1",
            "-p",
            &port.to_string(),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap());
        if iam {
            // the three IAM calls of `create_access_key` are the only ones not checked
            cmd.env("INITIAL_NO_AUTH_ACTION_COUNT", "3");
        }
        let child = cmd.spawn().expect(INSTALL);
        let mut moto = Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
            log,
            _dir: dir,
        };
        for _ in 0..300 {
            if let Ok(Some(status)) = moto.child.try_wait() {
                panic!("moto exited ({status}): {}\n{INSTALL}", moto.log());
            }
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return moto;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("moto did not listen on port {port} in 30 s: {}", moto.log());
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// An IAM user allowed everything, and its access key (id, secret).
    pub async fn create_access_key(&self) -> (String, String) {
        let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#;
        self.iam(&[("Action", "CreateUser"), ("UserName", "metal")])
            .await;
        let answer = self
            .iam(&[("Action", "CreateAccessKey"), ("UserName", "metal")])
            .await;
        self.iam(&[
            ("Action", "PutUserPolicy"),
            ("UserName", "metal"),
            ("PolicyName", "all"),
            ("PolicyDocument", policy),
        ])
        .await;
        let text = |tag: &str| {
            let start = answer.find(&format!("<{tag}>")).expect(tag) + tag.len() + 2;
            let end = answer[start..].find('<').unwrap() + start;
            answer[start..end].to_string()
        };
        (text("AccessKeyId"), text("SecretAccessKey"))
    }

    /// One call of IAM's query API (signed: moto tells the service by the signature's scope).
    async fn iam(&self, params: &[(&str, &str)]) -> String {
        let mut all = params.to_vec();
        all.push(("Version", "2010-05-08"));
        let body = sigv4::canonical_query(&all);
        let url = reqwest::Url::parse(&format!("{}/", self.url)).unwrap();
        let signer = Signer::new("setup", Secret::new("setup"), "us-east-1", "iam");
        let content_type = (
            "content-type".to_string(),
            "application/x-www-form-urlencoded".to_string(),
        );
        let auth = signer.sign(
            "POST",
            &url,
            std::slice::from_ref(&content_type),
            &sigv4::sha256_hex(body.as_bytes()),
            chrono::Utc::now(),
        );
        let mut req = reqwest::Client::new()
            .post(url)
            .header(&content_type.0, &content_type.1);
        for (k, v) in auth {
            req = req.header(k, v);
        }
        let resp = req.body(body).send().await.unwrap();
        let status = resp.status();
        let text = resp.text().await.unwrap();
        assert!(status.is_success(), "IAM {params:?}: {status} {text}");
        text
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// metal-api with its firmware in moto's bucket `firmware`.
async fn start_api(backend: Backend, moto: &Moto) -> TestApi {
    let endpoint = moto.url.clone();
    TestApi::start_with(backend, move |c| {
        c.s3_address = Some(endpoint);
        c.s3_key = Some("moto-key".into());
        c.s3_secret = Some(Secret::new("moto-secret"));
    })
    .await
    .expect("starting metal-api")
}

async fn the_firmware_suites_pass_on_s3(backend: Backend) {
    let moto = Moto::start(false).await;
    let api = start_api(backend, &moto).await;
    // the bucket was created at start
    let (status, _, _) = fetch(&format!("{}/firmware?list-type=2", moto.url)).await;
    assert_eq!(status, 200);
    // an object that is no firmware key is passed over
    let stray = reqwest::Client::new()
        .put(format!("{}/firmware/readme.txt", moto.url))
        .body("not firmware")
        .send()
        .await
        .unwrap();
    assert!(stray.status().is_success());

    bad_uploads_leave_nothing(&api).await;
    upload_list_and_remove(&api).await;

    // the object is where metal-stack keeps it
    let dell = FirmwareKey::new("bios", "dell", "R640", "1.2").unwrap();
    let url = api
        .server
        .app
        .firmware
        .download_url(&dell, Duration::from_secs(60))
        .await
        .unwrap();
    assert!(
        url.starts_with(&format!("{}/firmware/bios/dell/R640/1.2?", moto.url)),
        "{url}"
    );
    let (status, _, body) = fetch(&url).await;
    assert_eq!((status, body.as_slice()), (200, b"dell again".as_slice()));

    // a file larger than one request body, downloaded by its presigned URL
    let big = big_file();
    assert_eq!(
        upload(&api, "v1/firmware/bmc/Dell/r640/7.0", &big).await,
        200
    );
    let key = FirmwareKey::new("bmc", "dell", "R640", "7.0").unwrap();
    let firmware = &api.server.app.firmware;
    assert!(firmware.exists(&key).await);
    let url = firmware
        .download_url(&key, Duration::from_secs(3600))
        .await
        .unwrap();
    let prefix = format!("{}/firmware/bmc/dell/R640/7.0?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=moto-key%2F", moto.url);
    assert!(url.starts_with(&prefix), "{url}");
    assert!(url.contains("&X-Amz-Expires=3600&") && !url.contains("moto-secret"));
    let (status, headers, body) = fetch(&url).await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-length"], big.len().to_string().as_str());
    assert!(
        body == big,
        "the downloaded bytes differ from the uploaded ones"
    );

    // removal: 200, then 404; the object is gone
    let admin = api.admin();
    assert_eq!(
        admin.delete("v1/firmware/bmc/dell/R640/7.0").await.status,
        200
    );
    let gone = admin.delete("v1/firmware/bmc/dell/R640/7.0").await;
    assert_eq!(gone.status, 404, "{}", gone.body);
    assert!(!firmware.exists(&key).await);
    assert_eq!(fetch(&url).await.0, 404);
    // the directory store's download route serves nothing here
    let dir_route = format!(
        "{}firmware-download/bmc/dell/R640/7.0?expires=1&signature=00",
        api.url()
    );
    assert_eq!(fetch(&dir_route).await.0, 404);
    api.stop().await;
}

/// Keys whose characters need URI encoding, uploaded, listed in pages, downloaded through
/// presigned URLs and removed: what metal-api encodes is what S3 decodes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_keys_with_any_characters_round_trip() {
    let moto = Moto::start(false).await;
    let spool = tempfile::tempdir().unwrap();
    let store =
        FirmwareStore::s3(&settings(&moto, "moto-key", "moto-secret"), spool.path()).unwrap();
    let keys = odd_keys();
    upload_numbered(&store, &keys).await;
    let mut want = keys.clone();
    want.sort();
    assert_eq!(store.list().await.unwrap(), want);
    for (i, key) in keys.iter().enumerate() {
        let url = store
            .download_url(key, Duration::from_secs(60))
            .await
            .unwrap();
        let (status, _, body) = fetch(&url).await;
        assert_eq!(status, 200, "{url}");
        assert_eq!(body, format!("firmware {i}").as_bytes(), "{url}");
        assert!(store.delete(key).await.unwrap(), "{}", key.path());
    }
    assert!(store.list().await.unwrap().is_empty());
}

fn odd_keys() -> Vec<FirmwareKey> {
    [
        ("bios", "Dell Inc.", "r640 (a)", "1.2+b"),
        ("bios", "a&b=c", "x~y", "v_1%20"),
        ("bmc", "Supermicro", "Ü-board", "7.1 é"),
        ("bmc", "supermicro", "X11", "a;b,c@d$e!'*"),
        ("bmc", "q?x#y", "[1]", "{2}"),
    ]
    .iter()
    .map(|(k, v, b, r)| FirmwareKey::new(k, v, b, r).unwrap())
    .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_firmware_suites_pass_on_s3_sqlite() {
    the_firmware_suites_pass_on_s3(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_firmware_suites_pass_on_s3_postgres() {
    the_firmware_suites_pass_on_s3(Backend::Postgres).await;
}

fn settings(moto: &Moto, key: &str, secret: &str) -> S3Settings {
    S3Settings {
        endpoint: moto.url.clone(),
        access_key: key.into(),
        secret: Secret::new(secret),
        bucket: "metal-firmware".into(),
        region: "us-east-1".into(),
        page_size: 2,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_requests_are_signed_as_s3_checks_them() {
    let moto = Moto::start(true).await;
    let (key_id, secret) = moto.create_access_key().await;
    let spool = tempfile::tempdir().unwrap();
    let store = FirmwareStore::s3(&settings(&moto, &key_id, &secret), spool.path()).unwrap();
    store.prepare().await.expect("creating the bucket, signed");
    // moto recomputes signatures right for keys of unreserved characters and spaces only
    // (boto3's fail there too); the others: `s3_keys_with_any_characters_round_trip`
    let keys: Vec<FirmwareKey> = [
        ("bios", "Dell Inc.", "r640 a", "1.2"),
        ("bios", "Dell Inc.", "r640 a", "1.3_b~c"),
        ("bios", "supermicro", "X11-DPT", "2.0"),
        ("bmc", "Supermicro", "x11", "7.1 rc"),
        ("bmc", "supermicro", "X11", "7.2"),
    ]
    .iter()
    .map(|(k, v, b, r)| FirmwareKey::new(k, v, b, r).unwrap())
    .collect();
    upload_numbered(&store, &keys).await;
    // five keys in pages of two: three ListObjectsV2 requests with continuation tokens
    let mut want = keys.clone();
    want.sort();
    assert_eq!(store.list().await.unwrap(), want);
    for key in &keys {
        assert!(store.exists(key).await, "{}", key.path());
    }
    assert!(store.delete(&keys[3]).await.unwrap());
    assert!(!store.delete(&keys[3]).await.unwrap());
    assert_eq!(store.list().await.unwrap().len(), 4);
    let leftovers: Vec<_> = std::fs::read_dir(spool.path()).unwrap().collect();
    assert!(
        leftovers.is_empty(),
        "the spooled uploads are removed: {leftovers:?}"
    );

    // a wrong secret: refused, named by S3's code, the secret not shown
    let wrong = "wrong-very-secret";
    let bad = FirmwareStore::s3(&settings(&moto, &key_id, wrong), spool.path()).unwrap();
    let err = bad.list().await.unwrap_err().to_string();
    assert!(err.contains("SignatureDoesNotMatch"), "{err}");
    assert!(
        err.contains("ListObjectsV2") && err.contains("metal-firmware"),
        "{err}"
    );
    let mut up = bad.upload(&keys[0]).await.unwrap();
    up.write(b"x").await.unwrap();
    let err = up.finish().await.unwrap_err().to_string();
    assert!(err.contains("SignatureDoesNotMatch"), "{err}");
    assert!(!err.contains(wrong) && !err.contains(&secret), "{err}");
    assert!(!bad.exists(&keys[0]).await);
    // the good store still finds the file the refused upload would have replaced
    assert!(store.exists(&keys[0]).await);
}

/// An S3 store that does not answer at start does not stop metal-api; the firmware requests
/// fail (502) with a message naming the operation and the bucket until it answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_s3_store_fails_only_the_firmware_requests() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let api = TestApi::start_with(Backend::Sqlite, move |c| {
        c.s3_address = Some(format!("http://127.0.0.1:{port}"));
        c.s3_key = Some("k".into());
        c.s3_secret = Some(Secret::new("unreachable-very-secret"));
    })
    .await
    .expect("metal-api starts without its S3 store");
    let admin = api.admin();
    assert_eq!(admin.get("v1/version").await.status, 200);
    let list = admin.get("v1/firmware").await;
    assert_eq!(list.status, 502);
    let msg = list.body["message"].as_str().unwrap();
    assert!(msg.contains("S3 ListObjectsV2 of bucket firmware"), "{msg}");
    assert!(!msg.contains("very-secret"), "{msg}");
    assert_eq!(upload(&api, "v1/firmware/bios/v/b/1", b"x").await, 502);
    api.stop().await;
}

/// Uploads `firmware <i>` as the i-th key.
async fn upload_numbered(store: &FirmwareStore, keys: &[FirmwareKey]) {
    for (i, key) in keys.iter().enumerate() {
        let mut up = store.upload(key).await.unwrap();
        up.write(format!("firmware {i}").as_bytes()).await.unwrap();
        up.finish()
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", key.path()));
    }
}
