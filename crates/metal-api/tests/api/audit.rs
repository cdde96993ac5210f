//! The audit trail: mutating requests are recorded with caller, path, redacted body and status,
//! and are searchable; searches themselves are not recorded.

use metal_testkit::{backend_test, Caller};
use serde_json::json;

use crate::size;

backend_test!(audit_records_and_finds, |api| {
    let c = api.admin();
    let ok = c.put("v1/size", size("s1", (1, 2), (1, 2))).await;
    assert_eq!(ok.status, 201);
    let dup = c.put("v1/size", size("s1", (1, 2), (1, 2))).await;
    assert_eq!(dup.status, 409);
    let r = c.put("v1/tenant", json!({"meta": {"id": "t1"}, "name": "t", "password": "hunter2", "nested": {"api_token": "tok123"}})).await;
    assert_eq!(r.status, 201);
    c.post("v1/size/find", json!({})).await; // not a route: 404/405, but audited as a POST
    c.post("v1/image/find", json!({})).await; // a search: not audited
    api.client(Caller::View)
        .put("v1/size", size("s2", (3, 4), (3, 4)))
        .await; // 403

    let all = c.post("v1/audit/find", json!({})).await;
    assert_eq!(all.status, 200, "{:?}", all.body);
    let entries = all.body.as_array().unwrap();
    assert!(entries
        .iter()
        .all(|e| !e["path"].as_str().unwrap().ends_with("/image/find")));
    assert!(entries
        .iter()
        .all(|e| !e["path"].as_str().unwrap().ends_with("/audit/find")));

    let r = c
        .post(
            "v1/audit/find",
            json!({"path": "/v1/size", "status_code": 409}),
        )
        .await;
    let found = r.body.as_array().unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0]["detail"], "PUT");
    assert_eq!(found[0]["user"], "metal-admin@metal-stack.io");
    assert_eq!(found[0]["tenant"], "metal-stack");
    assert!(found[0]["error"]
        .as_str()
        .unwrap()
        .contains("already exists"));
    assert!(found[0]["body"].as_str().unwrap().contains("\"s1\""));
    assert!(!found[0]["rqid"].as_str().unwrap().is_empty());

    let r = c.post("v1/audit/find", json!({"path": "/v1/tenant"})).await;
    let body = r.body[0]["body"].as_str().unwrap();
    assert!(
        !body.contains("hunter2") && !body.contains("tok123"),
        "secrets redacted: {body}"
    );
    assert!(body.contains("[redacted]"));

    let r = c.post("v1/audit/find", json!({"status_code": 403})).await;
    assert_eq!(r.body.as_array().unwrap().len(), 1);
    assert_eq!(r.body[0]["user"], "metal-view@metal-stack.io");

    let r = c.post("v1/audit/find", json!({"limit": 1})).await;
    assert_eq!(r.body.as_array().unwrap().len(), 1);
    let r = c
        .post("v1/audit/find", json!({"from": "2999-01-01T00:00:00Z"}))
        .await;
    assert!(r.body.as_array().unwrap().is_empty());
    let rqid = ok_rqid(&c).await;
    let r = c.post("v1/audit/find", json!({"rqid": rqid})).await;
    assert_eq!(r.body.as_array().unwrap().len(), 1);
});

async fn ok_rqid(c: &metal_testkit::TestClient) -> String {
    let r = c
        .post(
            "v1/audit/find",
            json!({"status_code": 201, "path": "/v1/size"}),
        )
        .await;
    r.body[0]["rqid"].as_str().unwrap().to_string()
}
