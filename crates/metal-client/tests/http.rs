//! The client against a minimal HTTP/1.1 responder on port 0: request line, auth headers,
//! body, and the mapping of answers (success, error body, health on 500, unreachable server).

use std::collections::HashMap;

use metal_client::{hmac_signature, Auth, Client, Error, HmacAuthType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// One request as the responder saw it.
#[derive(Debug)]
struct Seen {
    method: String,
    target: String,
    headers: HashMap<String, String>,
    body: String,
}

/// Serves exactly one request with `status` and `body`, and reports what it saw.
async fn serve_once(status: u16, body: &'static str) -> (String, oneshot::Receiver<Seen>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = oneshot::channel();
    tokio::spawn(async move {
        let (mut sock, _) = listener.accept().await.unwrap();
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        let head_end = loop {
            let n = sock.read(&mut chunk).await.unwrap();
            assert!(n > 0, "connection closed before the request head");
            buf.extend_from_slice(&chunk[..n]);
            if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break pos + 4;
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
        let mut lines = head.split("\r\n");
        let mut request_line = lines.next().unwrap().split(' ');
        let method = request_line.next().unwrap().to_string();
        let target = request_line.next().unwrap().to_string();
        let headers: HashMap<String, String> = lines
            .filter_map(|l| l.split_once(": "))
            .map(|(k, v)| (k.to_ascii_lowercase(), v.to_string()))
            .collect();
        let len: usize = headers
            .get("content-length")
            .map(|v| v.parse().unwrap())
            .unwrap_or(0);
        while buf.len() < head_end + len {
            let n = sock.read(&mut chunk).await.unwrap();
            buf.extend_from_slice(&chunk[..n]);
        }
        let request_body = String::from_utf8_lossy(&buf[head_end..head_end + len]).to_string();
        let answer = format!(
            "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        sock.write_all(answer.as_bytes()).await.unwrap();
        let _ = tx.send(Seen {
            method,
            target,
            headers,
            body: request_body,
        });
    });
    (format!("http://{addr}/metal/"), rx)
}

#[tokio::test]
async fn signs_requests_and_uses_the_base_path() {
    let (url, seen) = serve_once(200, r#"[{"id":"p1","name":"one"}]"#).await;
    let client = Client::builder(&url)
        .hmac("admin-key", HmacAuthType::Admin)
        .build()
        .unwrap();
    let partitions = client.list_partitions().await.unwrap();
    assert_eq!(partitions.len(), 1);
    assert_eq!(partitions[0].id, "p1");

    let seen = seen.await.unwrap();
    assert_eq!(seen.method, "GET");
    assert_eq!(seen.target, "/metal/v1/partition");
    let date = &seen.headers["x-date"];
    let salt = &seen.headers["x-data-salt"];
    assert_eq!(salt.len(), 24);
    assert!(date.ends_with('Z') && date.len() == 20, "{date}");
    let expected = hmac_signature("admin-key", date, "GET", salt);
    assert_eq!(
        seen.headers["authorization"],
        format!("Metal-Admin {expected}")
    );
}

#[tokio::test]
async fn bearer_token_and_json_body() {
    let (url, seen) = serve_once(200, r#"{"rqid":"x"}"#).await;
    let client = Client::new(&url, Auth::Bearer("tok".into())).unwrap();
    let res: serde_json::Value = client
        .request(
            metal_client::Method::POST,
            "/v1/custom",
            Some(&serde_json::json!({"a": 1})),
        )
        .await
        .unwrap();
    assert_eq!(res["rqid"], "x");
    let seen = seen.await.unwrap();
    assert_eq!(seen.target, "/metal/v1/custom");
    assert_eq!(seen.headers["authorization"], "Bearer tok");
    assert_eq!(seen.headers["content-type"], "application/json");
    assert_eq!(seen.body, r#"{"a":1}"#);
}

#[tokio::test]
async fn error_answer_carries_status_and_message() {
    let (url, seen) = serve_once(
        404,
        r#"{"statuscode":404,"message":"no size with id \"x y\""}"#,
    )
    .await;
    let client = Client::new(&url, Auth::None).unwrap();
    let err = client.get_size("x y").await.unwrap_err();
    assert!(err.is_not_found());
    assert_eq!(err.to_string(), "no size with id \"x y\"");
    assert_eq!(seen.await.unwrap().target, "/metal/v1/size/x%20y");
}

#[tokio::test]
async fn health_body_is_returned_on_500() {
    let (url, _seen) = serve_once(
        500,
        r#"{"status":"unhealthy","message":"database down","services":{}}"#,
    )
    .await;
    let client = Client::new(&url, Auth::None).unwrap();
    let h = client.health().await.unwrap();
    assert_eq!(h.status, "unhealthy");
    assert_eq!(h.message, "database down");
}

#[tokio::test]
async fn image_list_sends_show_usage() {
    let (url, seen) = serve_once(200, "[]").await;
    let client = Client::new(&url, Auth::None).unwrap();
    assert!(client.list_images(true).await.unwrap().is_empty());
    assert_eq!(
        seen.await.unwrap().target,
        "/metal/v1/image?show-usage=true"
    );
}

#[tokio::test]
async fn network_find_and_free() {
    let (url, seen) = serve_once(
        200,
        r#"[{"id":"tenant-1","parentnetworkid":"super","prefixes":["10.0.0.0/22"],"consumption":{"ipv4":{"available_ips":1024,"used_ips":3,"available_prefixes":0,"used_prefixes":0}}}]"#,
    )
    .await;
    let client = Client::new(&url, Auth::None).unwrap();
    let req = metal_domain::network::NetworkFindRequest {
        partitionid: Some("fra-equ01".into()),
        nat: Some(false),
        ..Default::default()
    };
    let found = client.find_networks(&req).await.unwrap();
    assert_eq!(found[0].parentnetworkid, "super");
    assert_eq!(found[0].consumption.ipv4.unwrap().used_ips, 3);
    let seen = seen.await.unwrap();
    assert_eq!(
        (seen.method.as_str(), seen.target.as_str()),
        ("POST", "/metal/v1/network/find")
    );
    let body: serde_json::Value = serde_json::from_str(&seen.body).unwrap();
    assert_eq!(body["partitionid"], "fra-equ01");
    assert_eq!(body["nat"], false);

    let (url, seen) = serve_once(200, r#"{"id":"tenant-1"}"#).await;
    let client = Client::new(&url, Auth::None).unwrap();
    assert_eq!(
        client.free_network("tenant-1").await.unwrap().id,
        "tenant-1"
    );
    let seen = seen.await.unwrap();
    assert_eq!(
        (seen.method.as_str(), seen.target.as_str()),
        ("DELETE", "/metal/v1/network/free/tenant-1")
    );
}

#[tokio::test]
async fn specific_ip_is_allocated_and_freed_by_address() {
    let (url, seen) = serve_once(
        201,
        r#"{"ipaddress":"2001:db8::5","networkid":"internet","projectid":"p1","type":"static","tags":[]}"#,
    )
    .await;
    let client = Client::new(&url, Auth::None).unwrap();
    let req = metal_domain::ip::IpAllocateRequest {
        networkid: "internet".into(),
        projectid: "p1".into(),
        kind: "static".into(),
        ..Default::default()
    };
    let ip = client
        .allocate_specific_ip("2001:db8::5", &req)
        .await
        .unwrap();
    assert_eq!(ip.kind, metal_domain::ip::IpType::Static);
    let seen = seen.await.unwrap();
    assert_eq!(
        (seen.method.as_str(), seen.target.as_str()),
        ("POST", "/metal/v1/ip/allocate/2001%3Adb8%3A%3A5")
    );
    let body: serde_json::Value = serde_json::from_str(&seen.body).unwrap();
    assert_eq!(
        (body["networkid"].as_str(), body["type"].as_str()),
        (Some("internet"), Some("static"))
    );

    let (url, seen) = serve_once(200, r#"{"ipaddress":"10.0.0.5"}"#).await;
    let client = Client::new(&url, Auth::None).unwrap();
    assert_eq!(
        client.free_ip("10.0.0.5").await.unwrap().ipaddress,
        "10.0.0.5"
    );
    let seen = seen.await.unwrap();
    assert_eq!(
        (seen.method.as_str(), seen.target.as_str()),
        ("DELETE", "/metal/v1/ip/free/10.0.0.5")
    );
}

#[tokio::test]
async fn unreachable_server_names_the_url() {
    // bind and drop to get a port nobody listens on
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let client = Client::new(&format!("http://127.0.0.1:{port}"), Auth::None).unwrap();
    let err = client.version().await.unwrap_err();
    assert!(matches!(err, Error::Connect { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!("cannot reach metal-api at http://127.0.0.1:{port}/v1/version")
    );
}
