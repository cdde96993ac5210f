//! `POST /v1/vpn/authkey` against a headscale double: no headscale can be installed where these
//! tests run, so each test serves the part of headscale's REST API metal-api calls
//! (`GET /api/v1/user?name=`, `POST /api/v1/preauthkey`, bearer API key) from a small axum
//! server on 127.0.0.1:0, which records what it was asked. The double answers as headscale
//! (v0.26) does: ids as strings, `{"code", "message"}` error bodies.

use std::sync::{Arc, Mutex};

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Duration, Utc};
use metal_testkit::{Backend, Caller, TestApi};
use serde_json::{json, Value};

const API_KEY: &str = "hskey-api-test-secret";

/// What the double was asked: `(call, authorization header, body or query)`.
type Calls = Arc<Mutex<Vec<(String, String, Value)>>>;

fn auth(h: &HeaderMap) -> String {
    h.get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

fn unauthorized() -> (StatusCode, Json<Value>) {
    (
        StatusCode::UNAUTHORIZED,
        Json(json!({"code": 16, "message": "Unauthorized", "details": []})),
    )
}

async fn users(
    State(calls): State<Calls>,
    h: HeaderMap,
    Query(q): Query<std::collections::BTreeMap<String, String>>,
) -> (StatusCode, Json<Value>) {
    calls
        .lock()
        .unwrap()
        .push(("users".into(), auth(&h), json!(q)));
    if auth(&h) != format!("Bearer {API_KEY}") {
        return unauthorized();
    }
    let all = [("1", "p1"), ("2", "broken")];
    let users: Vec<Value> = all
        .iter()
        .filter(|(_, n)| q.get("name").is_none_or(|want| want == n))
        .map(|(id, n)| json!({"id": id, "name": n, "createdAt": "2026-01-01T00:00:00Z"}))
        .collect();
    (StatusCode::OK, Json(json!({ "users": users })))
}

async fn preauthkey(
    State(calls): State<Calls>,
    h: HeaderMap,
    Json(body): Json<Value>,
) -> (StatusCode, Json<Value>) {
    calls
        .lock()
        .unwrap()
        .push(("preauthkey".into(), auth(&h), body.clone()));
    if auth(&h) != format!("Bearer {API_KEY}") {
        return unauthorized();
    }
    if body["user"] == "2" {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({"code": 13, "message": "database is locked", "details": []})),
        );
    }
    (
        StatusCode::OK,
        Json(json!({"preAuthKey": {
            "user": {"id": body["user"], "name": "p1"},
            "id": "7",
            "key": "hskey-auth-0123456789",
            "reusable": body["reusable"],
            "ephemeral": body["ephemeral"],
            "used": false,
            "expiration": body["expiration"],
            "createdAt": "2026-12-07T01:00:00Z",
            "aclTags": []
        }})),
    )
}

/// The headscale double on port 0: its base URL and what it is asked.
async fn headscale_double() -> (String, Calls) {
    let calls: Calls = Arc::default();
    let app = Router::new()
        .route("/api/v1/user", get(users))
        .route("/api/v1/preauthkey", post(preauthkey))
        .with_state(calls.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), calls)
}

fn key_request(pid: &str, ephemeral: bool, expiration: Option<i64>) -> Value {
    let mut r =
        json!({"pid": pid, "ephemeral": ephemeral, "reason": "INC-42 firewall unreachable"});
    if let Some(e) = expiration {
        r["expiration"] = json!(e);
    }
    r
}

fn expiration_of(call: &(String, String, Value)) -> DateTime<Utc> {
    call.2["expiration"].as_str().unwrap().parse().unwrap()
}

async fn scenario(backend: Backend) {
    // without headscale: 422 naming both settings, on any request
    let plain = TestApi::start(backend).await.unwrap();
    let r = plain
        .admin()
        .post("v1/vpn/authkey", key_request("p1", false, None))
        .await;
    assert_eq!(r.status, 422, "{:?}", r.body);
    assert!(
        r.message().contains("--headscale-addr") && r.message().contains("--headscale-api-key"),
        "{}",
        r.message()
    );
    plain.stop().await;

    let (url, calls) = headscale_double().await;
    let base = url.clone();
    let api = TestApi::start_with(backend, move |c| {
        c.headscale_addr = Some(base);
        c.headscale_cp_addr = Some("https://vpn.example.test".into());
        c.headscale_api_key = Some(metal_api::Secret::new(API_KEY));
    })
    .await
    .unwrap();
    let c = api.admin();

    // a key for the project's user, one hour by default
    let before = Utc::now();
    let r = c
        .post("v1/vpn/authkey", key_request("p1", true, None))
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(
        r.body,
        json!({"address": "https://vpn.example.test", "auth_key": "hskey-auth-0123456789"})
    );
    {
        let calls = calls.lock().unwrap();
        assert_eq!(calls.len(), 2, "{calls:?}");
        assert_eq!(calls[0].0, "users");
        assert_eq!(calls[0].1, format!("Bearer {API_KEY}"));
        assert_eq!(calls[0].2, json!({"name": "p1"}));
        let (call, authz, body) = &calls[1];
        assert_eq!(
            (call.as_str(), authz.as_str()),
            ("preauthkey", format!("Bearer {API_KEY}").as_str())
        );
        assert_eq!(body["user"], "1");
        assert_eq!(body["ephemeral"], true);
        assert_eq!(body["reusable"], false);
        let exp = expiration_of(&calls[1]);
        assert!(
            exp >= before + Duration::minutes(59) && exp <= Utc::now() + Duration::minutes(61),
            "{exp}"
        );
    }

    // the requested expiration, in nanoseconds
    calls.lock().unwrap().clear();
    let r = c
        .post(
            "v1/vpn/authkey",
            key_request("p1", false, Some(90 * 1_000_000_000)),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    {
        let calls = calls.lock().unwrap();
        assert_eq!(calls[1].2["ephemeral"], false);
        let exp = expiration_of(&calls[1]);
        assert!(
            exp >= before + Duration::seconds(85) && exp <= Utc::now() + Duration::seconds(95),
            "{exp}"
        );
    }

    // no headscale user for the project: 404, and no key is created
    calls.lock().unwrap().clear();
    let r = c
        .post("v1/vpn/authkey", key_request("p9", false, None))
        .await;
    assert_eq!(r.status, 404, "{:?}", r.body);
    assert!(r.message().contains("p9"), "{}", r.message());
    assert!(calls.lock().unwrap().iter().all(|c| c.0 == "users"));

    // bad requests
    for (body, needle) in [
        (key_request("", false, None), "pid"),
        (key_request("p1", false, Some(0)), "expiration"),
        (json!({"pid": 7}), ""),
    ] {
        let r = c.post("v1/vpn/authkey", body.clone()).await;
        assert_eq!(r.status, 400, "{body}: {:?}", r.body);
        assert!(r.message().contains(needle), "{}", r.message());
    }

    // headscale fails: 502 with headscale's message, never the API key
    let r = c
        .post("v1/vpn/authkey", key_request("broken", false, None))
        .await;
    assert_eq!(r.status, 502, "{:?}", r.body);
    assert!(
        r.message().contains("500") && r.message().contains("database is locked"),
        "{}",
        r.message()
    );
    assert!(!r.message().contains(API_KEY));

    // admins only
    for caller in [Caller::View, Caller::Edit] {
        let r = api
            .client(caller)
            .post("v1/vpn/authkey", key_request("p1", false, None))
            .await;
        assert_eq!(r.status, 403);
    }
    api.stop().await;

    // a wrong API key: headscale's 401 becomes a 502; without a control-plane address the
    // headscale address is answered (seen here on success with the right key)
    let base = url.clone();
    let wrong = TestApi::start_with(backend, move |c| {
        c.headscale_addr = Some(base);
        c.headscale_api_key = Some(metal_api::Secret::new("hskey-api-wrong"));
    })
    .await
    .unwrap();
    let r = wrong
        .admin()
        .post("v1/vpn/authkey", key_request("p1", false, None))
        .await;
    assert_eq!(r.status, 502, "{:?}", r.body);
    assert!(r.message().contains("Unauthorized"), "{}", r.message());
    assert!(!r.message().contains("hskey-api-wrong"));
    wrong.stop().await;

    let base = url.clone();
    let no_cp = TestApi::start_with(backend, move |c| {
        c.headscale_addr = Some(format!("{base}/"));
        c.headscale_api_key = Some(metal_api::Secret::new(API_KEY));
    })
    .await
    .unwrap();
    let r = no_cp
        .admin()
        .post("v1/vpn/authkey", key_request("p1", false, None))
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["address"], format!("{url}/"));
    no_cp.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vpn_auth_key_sqlite() {
    scenario(Backend::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vpn_auth_key_postgres() {
    scenario(Backend::Postgres).await
}
