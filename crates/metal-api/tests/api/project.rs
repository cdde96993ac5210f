//! Tenants and projects with quotas and optimistic locking.

use metal_testkit::{backend_test, insert_machine};
use serde_json::json;

backend_test!(tenant_and_project_lifecycle, |api| {
    let c = api.admin();
    let r = c.put("v1/tenant", json!({"meta": {"id": "acme", "annotations": {"tier": "gold"}}, "name": "ACME", "description": "customer"})).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(r.body["meta"]["version"], 0);
    assert_eq!(
        c.put(
            "v1/tenant",
            json!({"meta": {"id": "acme"}, "name": "again"})
        )
        .await
        .status,
        409
    );
    assert_eq!(
        c.put("v1/tenant", json!({"name": "no id"})).await.status,
        400
    );

    // a project needs an existing tenant
    let r = c
        .put("v1/project", json!({"name": "web", "tenant_id": ""}))
        .await;
    assert_eq!(r.status, 400);
    assert!(r.message().contains("tenant_id"), "{}", r.message());
    let r = c
        .put("v1/project", json!({"name": "web", "tenant_id": "ghost"}))
        .await;
    assert_eq!(r.status, 422);
    let r = c.put("v1/project", json!({"name": "web", "tenant_id": "acme", "quotas": {"machine": {"quota": 10}, "ip": {"quota": 5}}})).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let pid = r.body["meta"]["id"].as_str().unwrap().to_string();
    assert_eq!(pid.len(), 36, "a generated uuid");
    assert_eq!(r.body["quotas"]["machine"]["quota"], 10);
    let r = c
        .put(
            "v1/project",
            json!({"meta": {"id": "p-neg"}, "tenant_id": "acme", "quotas": {"ip": {"quota": -1}}}),
        )
        .await;
    assert_eq!(r.status, 400);

    // find
    let r = c
        .post("v1/project/find", json!({"tenant_id": "acme"}))
        .await;
    assert_eq!(r.body.as_array().unwrap().len(), 1);
    let r = c.post("v1/project/find", json!({"name": "db"})).await;
    assert!(r.body.as_array().unwrap().is_empty());
    let r = c
        .post("v1/tenant/find", json!({"annotations": {"tier": "gold"}}))
        .await;
    assert_eq!(r.body.as_array().unwrap().len(), 1);

    // optimistic locking: the version read must be sent back
    let mut p = c.get(&format!("v1/project/{pid}")).await.body;
    p["description"] = json!("frontend");
    let r = c.post("v1/project", p.clone()).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["meta"]["version"], 1);
    p["description"] = json!("stale write");
    let r = c.post("v1/project", p).await;
    assert_eq!(r.status, 409, "{:?}", r.body);
    assert_eq!(
        c.get(&format!("v1/project/{pid}")).await.body["description"],
        "frontend"
    );
    let r = c
        .post("v1/project", json!({"name": "x", "tenant_id": "acme"}))
        .await;
    assert_eq!(r.status, 400, "meta.id is required: {:?}", r.body);

    // deletes are refused while something depends on the entity
    assert_eq!(c.delete("v1/tenant/acme").await.status, 400);
    insert_machine(api.store(), "m1", None, None, Some(&pid), None, json!({}))
        .await
        .unwrap();
    let r = c.delete(&format!("v1/project/{pid}")).await;
    assert_eq!(r.status, 400);
    assert!(r.message().contains("machines"), "{}", r.message());
    sqlx::query("DELETE FROM machines")
        .execute(api.store().reader())
        .await
        .unwrap();
    assert_eq!(c.delete(&format!("v1/project/{pid}")).await.status, 200);
    assert_eq!(c.delete("v1/tenant/acme").await.status, 200);
    assert_eq!(c.get("v1/tenant/acme").await.status, 404);
});
