use metal_testkit::{backend_test, insert_machine};
use serde_json::json;

use crate::image;

backend_test!(image_crud_and_errors, |api| {
    let c = api.admin();
    let r = c
        .put("v1/image", image("ubuntu-20.04.20201026", &["machine"]))
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(r.body["id"], "ubuntu-20.04.20201026");
    assert_eq!(r.body["classification"], "preview");
    assert_eq!(r.body["features"], json!(["machine"]));
    assert!(r.body["expirationDate"].is_string());
    assert!(r.body["created"].is_string());

    // duplicate id
    let r = c
        .put("v1/image", image("ubuntu-20.04.20201026", &["machine"]))
        .await;
    assert_eq!(r.status, 409, "{:?}", r.body);
    assert!(r.message().contains("already exists"), "{}", r.message());
    assert_eq!(r.body["statuscode"], 409);

    // bad input: no version, unknown feature, missing url, broken json
    let r = c.put("v1/image", image("ubuntu", &["machine"])).await;
    assert_eq!(r.status, 400);
    assert!(r.message().contains("version"), "{}", r.message());
    let r = c
        .put("v1/image", image("ubuntu-22.04.1", &["toaster"]))
        .await;
    assert_eq!(r.status, 400);
    assert!(r.message().contains("toaster"), "{}", r.message());
    let r = c.put("v1/image", json!({"id": "ubuntu-22.04.1"})).await;
    assert_eq!(r.status, 400);
    assert!(r.message().contains("url"), "{}", r.message());
    let r = c
        .send(
            reqwest::Method::PUT,
            "v1/image",
            Some(&json!("not an object")),
        )
        .await;
    assert_eq!(r.status, 400, "{:?}", r.body);
    // nothing of the failed creates was written
    let r = c.get("v1/image").await;
    assert_eq!(r.body.as_array().unwrap().len(), 1);

    // update only what is given
    let r = c.post("v1/image", json!({"id": "ubuntu-20.04.20201026", "description": "lts", "classification": "supported"})).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["description"], "lts");
    assert_eq!(r.body["classification"], "supported");
    assert_eq!(r.body["name"], "ubuntu-20.04.20201026");
    let r = c
        .post(
            "v1/image",
            json!({"id": "ubuntu-20.04.20201026", "classification": "gold"}),
        )
        .await;
    assert_eq!(r.status, 400);
    let r = c
        .post("v1/image", json!({"id": "nope-1.0.0", "description": "x"}))
        .await;
    assert_eq!(r.status, 404);

    let r = c.get("v1/image/ubuntu-20.04.20201026").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["description"], "lts");
    let r = c.get("v1/image/unknown-1.0.0").await;
    assert_eq!(r.status, 404);
    assert_eq!(r.body["statuscode"], 404);

    let r = c.delete("v1/image/ubuntu-20.04.20201026").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["id"], "ubuntu-20.04.20201026");
    let r = c.delete("v1/image/ubuntu-20.04.20201026").await;
    assert_eq!(r.status, 404);
});

backend_test!(image_resolution_latest_and_query, |api| {
    let c = api.admin();
    for id in [
        "ubuntu-20.04.20200101",
        "ubuntu-20.04.20201026",
        "ubuntu-20.10.20210101",
        "ubuntu-20.0.5",
        "debian-20.04.20990101",
        "firewall-ubuntu-2.0.20201126",
    ] {
        assert_eq!(
            c.put("v1/image", image(id, &["machine"])).await.status,
            201,
            "{id}"
        );
    }
    let r = c.get("v1/image/ubuntu-20.04/latest").await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["id"], "ubuntu-20.04.20201026");
    let r = c.get("v1/image/ubuntu-20/latest").await;
    assert_eq!(r.body["id"], "ubuntu-20.0.5");
    let r = c.get("v1/image/ubuntu-20.04.20200101/latest").await;
    assert_eq!(
        r.body["id"], "ubuntu-20.04.20200101",
        "a full version resolves exactly"
    );
    let r = c.get("v1/image/firewall-ubuntu-2.0/latest").await;
    assert_eq!(r.body["id"], "firewall-ubuntu-2.0.20201126");
    let r = c.get("v1/image/ubuntu-22.04/latest").await;
    assert_eq!(r.status, 404);
    let r = c.get("v1/image/ubuntu/latest").await;
    assert_eq!(r.status, 400);

    let r = c.get("v1/image/ubuntu-20.04/query").await;
    assert_eq!(r.status, 200);
    let mut ids: Vec<String> = r
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    assert_eq!(ids, vec!["ubuntu-20.04.20200101", "ubuntu-20.04.20201026"]);
});

backend_test!(image_find_and_usage, |api| {
    let c = api.admin();
    c.put("v1/image", image("ubuntu-20.04.20201026", &["machine"]))
        .await;
    c.put(
        "v1/image",
        image("firewall-ubuntu-2.0.20201126", &["machine", "firewall"]),
    )
    .await;
    c.put("v1/image", image("debian-12.0.20230101", &["machine"]))
        .await;

    let ids = |r: &metal_testkit::TestResponse| -> Vec<String> {
        r.body
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["id"].as_str().unwrap().to_string())
            .collect()
    };
    let r = c
        .post("v1/image/find", json!({"features": ["firewall"]}))
        .await;
    assert_eq!(ids(&r), vec!["firewall-ubuntu-2.0.20201126"]);
    let r = c.post("v1/image/find", json!({"os": "ubuntu"})).await;
    assert_eq!(ids(&r), vec!["ubuntu-20.04.20201026"]);
    let r = c.post("v1/image/find", json!({})).await;
    assert_eq!(ids(&r).len(), 3);
    let r = c
        .post(
            "v1/image/find",
            json!({"os": "debian", "features": ["firewall"]}),
        )
        .await;
    assert!(ids(&r).is_empty());

    insert_machine(
        api.store(),
        "m1",
        None,
        None,
        None,
        Some("ubuntu-20.04.20201026"),
        json!({}),
    )
    .await
    .unwrap();
    let r = c.get("v1/image?show-usage=true").await;
    let used: Vec<_> = r
        .body
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["id"] == "ubuntu-20.04.20201026")
        .map(|i| i["usedby"].clone())
        .collect();
    assert_eq!(used, vec![json!(["m1"])]);
    let r = c.get("v1/image").await;
    assert!(
        r.body[0].get("usedby").is_none(),
        "usedby only with show-usage"
    );

    // refused while in use, and still there afterwards
    let r = c.delete("v1/image/ubuntu-20.04.20201026").await;
    assert_eq!(r.status, 422, "{:?}", r.body);
    assert!(r.message().contains("m1"), "{}", r.message());
    assert_eq!(c.get("v1/image/ubuntu-20.04.20201026").await.status, 200);
});
