//! The server as a whole: base path, router errors in the API's body, health, version,
//! metrics, the first start without configuration, and graceful shutdown.

use metal_testkit::{until_blocking, Backend, Caller, TestApi};
use reqwest::Method;

#[tokio::test]
async fn base_path_and_router_errors() {
    let api = TestApi::start_with(Backend::Sqlite, |c| c.base_path = "/metal/".into())
        .await
        .unwrap();
    let c = api.admin();
    assert!(api.url().ends_with("/metal/"));
    let r = c.get("v1/health").await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["status"], "healthy");
    assert_eq!(r.body["services"]["database"]["status"], "healthy");
    assert_eq!(c.get("v1/health?service=database").await.status, 200);
    assert_eq!(c.get("v1/health?service=rethinkdb").await.status, 404);

    // outside the base path nothing is served
    let root = api.url().trim_end_matches("metal/").to_string();
    let outside = metal_testkit::TestClient::new(root, Caller::Admin, api.keys.clone());
    let r = outside.get("v1/health").await;
    assert_eq!(r.status, 404);
    assert_eq!(r.body["statuscode"], 404);

    let r = c.get("v1/nonsense").await;
    assert_eq!(r.status, 404);
    assert_eq!(r.body["statuscode"], 404);
    let r = c.send(Method::PATCH, "v1/image", None).await;
    assert_eq!(r.status, 405, "{:?}", r.body);
    assert_eq!(r.body["statuscode"], 405);

    let r = api.client(Caller::Anonymous).get("v1/version").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["name"], "metal-api");
    assert!(r.body["version"].as_str().unwrap().starts_with('v'));

    let metrics = reqwest::get(format!("http://{}/metrics", api.server.metrics_addr))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("metal_api_http_requests_total"),
        "{metrics}"
    );
    assert!(
        metrics.contains("route=\"/metal/v1/health\"") || metrics.contains("route=\"/v1/health\""),
        "{metrics}"
    );
    api.stop().await;
}

#[test]
fn bad_flags_are_refused() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_metal-api"))
        .args(["--base-path", "metal", "--port", "0", "--metrics-port", "0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--base-path"));
}

/// A fresh start with no flags at all: keys are generated, a metalctl context is written, the
/// context's key works, the key is never logged, and SIGTERM ends the process cleanly.
#[test]
fn first_start_without_configuration() {
    let home = tempfile::tempdir().unwrap();
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_metal-api"))
        .args(["--port", "0", "--metrics-port", "0", "--grpc-port", "0"])
        .env("HOME", home.path())
        .env("XDG_DATA_HOME", home.path().join("data"))
        .env_remove("METAL_API_DB")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let config = home.path().join(".metalctl/config.yaml");
    until_blocking(
        "the metalctl context to be written",
        std::time::Duration::from_secs(30),
        std::time::Duration::from_millis(50),
        || config.exists(),
    );
    let v: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(&config).unwrap()).unwrap();
    assert_eq!(v["current"].as_str(), Some("local"));
    let url = v["contexts"]["local"]["url"].as_str().unwrap().to_string();
    let key = v["contexts"]["local"]["hmac"].as_str().unwrap().to_string();
    assert!(home.path().join("data/metal-api/metal-api.db").exists());
    assert!(home.path().join("data/metal-api/hmac-keys.yaml").exists());

    let rt = tokio::runtime::Runtime::new().unwrap();
    let keys = metal_testkit::Keys {
        view: String::new(),
        edit: String::new(),
        admin: key.clone(),
    };
    let r = rt.block_on(metal_testkit::TestClient::new(url, Caller::Admin, keys).get("v1/user/me"));
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["EMail"], "metal-admin@metal-stack.io");

    let pid = child.id().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "exit after SIGTERM: {:?}", out.status);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(log.contains("wrote metalctl context"), "{log}");
    assert!(!log.contains(&key), "the key must never be logged");
}

/// A local HTTP server on loopback answering 200 on `/ok...` and 404 elsewhere; its base URL.
pub async fn url_target() -> String {
    use axum::http::{StatusCode, Uri};
    let app = axum::Router::new().fallback(|uri: Uri| async move {
        if uri.path().starts_with("/ok") {
            StatusCode::OK
        } else {
            StatusCode::NOT_FOUND
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn url_checks_when_enabled() {
    let target = url_target().await;
    let api = TestApi::start_with(Backend::Sqlite, |c| c.check_urls = true)
        .await
        .unwrap();
    let c = api.admin();
    let img = |url: String| serde_json::json!({"id": "ubuntu-22.04.1", "url": url, "features": ["machine"]});
    let r = c
        .put("v1/image", img(format!("{target}/missing.tar.lz4")))
        .await;
    assert_eq!(r.status, 400, "{:?}", r.body);
    assert!(r.message().contains("not reachable"), "{}", r.message());
    let r = c
        .put("v1/image", img("http://127.0.0.1:1/closed".into()))
        .await;
    assert_eq!(r.status, 400, "{:?}", r.body);
    assert_eq!(c.get("v1/image/ubuntu-22.04.1").await.status, 404);
    assert_eq!(
        c.put("v1/image", img(format!("{target}/ok.tar.lz4")))
            .await
            .status,
        201
    );
    let r = c
        .post(
            "v1/image",
            serde_json::json!({"id": "ubuntu-22.04.1", "url": format!("{target}/gone")}),
        )
        .await;
    assert_eq!(r.status, 400);

    let mut p = crate::partition("p1");
    p["bootconfig"]["kernelurl"] = format!("{target}/missing-kernel").into();
    p["bootconfig"]["imageurl"] = format!("{target}/ok-initrd").into();
    let r = c.put("v1/partition", p.clone()).await;
    assert_eq!(r.status, 400);
    assert!(r.message().contains("kernelurl"), "{}", r.message());
    p["bootconfig"]["kernelurl"] = format!("{target}/ok-kernel").into();
    assert_eq!(c.put("v1/partition", p).await.status, 201);
    api.stop().await;
}

/// Sends `GET <target>` over a plain connection (no client library to tidy the path) and
/// returns the status code.
async fn raw_get(addr: std::net::SocketAddr, target: &str) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {target} HTTP/1.1\r\nHost: metal\r\nConnection: close\r\n\r\n");
    conn.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    conn.read_to_string(&mut answer).await.unwrap();
    let status = answer.split_whitespace().nth(1).unwrap_or_default();
    status
        .parse()
        .unwrap_or_else(|_| panic!("{target}: {answer}"))
}

#[tokio::test]
async fn repeated_slashes_route_like_single_ones() {
    // a base URL with a trailing slash joined with `/v1/...`, as `metal-lab env` prints it
    let api = TestApi::start(Backend::Sqlite).await.unwrap();
    let addr = api.server.addr;
    assert_eq!(raw_get(addr, "//v1/version").await, 200);
    assert_eq!(raw_get(addr, "/v1//version?x=a//b").await, 200);
    assert_eq!(raw_get(addr, "//v1/nonsense").await, 404);
    for base in ["//", "///", "/"] {
        let c = metal_testkit::TestClient::new(
            format!("http://{addr}{base}"),
            Caller::Admin,
            api.keys.clone(),
        );
        let r = c.get("v1/image").await;
        assert_eq!(r.status, 200, "{base}: {:?}", r.body);
        let r = c.get("v1//health?service=database").await;
        assert_eq!(r.status, 200, "{base}: {:?}", r.body);
    }

    // under a base path
    let api = TestApi::start_with(Backend::Sqlite, |c| c.base_path = "/metal/".into())
        .await
        .unwrap();
    let addr = api.server.addr;
    assert_eq!(raw_get(addr, "/metal//v1/version").await, 200);
    assert_eq!(raw_get(addr, "//metal/v1/version").await, 200);
    assert_eq!(raw_get(addr, "//v1/version").await, 404);
    for base in ["/metal//", "//metal///", "/metal/"] {
        let c = metal_testkit::TestClient::new(
            format!("http://{addr}{base}"),
            Caller::Admin,
            api.keys.clone(),
        );
        let r = c.get("v1/image").await;
        assert_eq!(r.status, 200, "{base}: {:?}", r.body);
    }
}
