use metal_testkit::{backend_test, insert_machine};
use serde_json::json;

use crate::size;

const GIB: u64 = 1 << 30;

backend_test!(size_crud_validation_and_overlap, |api| {
    let c = api.admin();
    let r = c
        .put("v1/size", size("c1-small", (1, 4), (GIB, 8 * GIB)))
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(r.body["constraints"][0]["type"], "cores");

    let r = c
        .put("v1/size", size("c1-small", (1, 4), (GIB, 8 * GIB)))
        .await;
    assert_eq!(r.status, 409);

    // overlapping ranges on every type: refused, and nothing written
    let r = c
        .put("v1/size", size("c1-overlap", (2, 8), (4 * GIB, 16 * GIB)))
        .await;
    assert_eq!(r.status, 400, "{:?}", r.body);
    assert!(r.message().contains("c1-small"), "{}", r.message());
    assert_eq!(c.get("v1/size/c1-overlap").await.status, 404);

    // disjoint cores: fine
    assert_eq!(
        c.put("v1/size", size("c1-large", (8, 16), (GIB, 8 * GIB)))
            .await
            .status,
        201
    );

    // validation errors name the problem
    let r = c
        .put(
            "v1/size",
            json!({"id": "bad", "constraints": [{"type": "cores", "min": 8, "max": 2}]}),
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(r.message().contains("max"), "{}", r.message());
    let r = c
        .put(
            "v1/size",
            json!({"id": "bad", "constraints": [{"type": "gpu", "min": 1, "max": 2}]}),
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(r.message().contains("identifier"), "{}", r.message());
    let r = c.put("v1/size", json!({"id": "bad", "constraints": [{"type": "cores", "min": 1, "max": 2}, {"type": "cores", "min": 3, "max": 4}]})).await;
    assert_eq!(r.status, 400);
    let r = c
        .put("v1/size", json!({"id": "unknown", "constraints": []}))
        .await;
    assert_eq!(r.status, 400);
    let r = c
        .put(
            "v1/size",
            json!({"id": "bad", "constraints": [{"type": "disks", "min": 1, "max": 2}]}),
        )
        .await;
    assert_eq!(r.status, 400);

    // update into an overlap is refused and leaves the size as it was
    let r = c.post("v1/size", json!({"id": "c1-large", "constraints": [{"type": "cores", "min": 2, "max": 3}, {"type": "memory", "min": GIB, "max": 2 * GIB}]})).await;
    assert_eq!(r.status, 400, "{:?}", r.body);
    assert_eq!(
        c.get("v1/size/c1-large").await.body["constraints"][0]["min"],
        8
    );
    let r = c
        .post("v1/size", json!({"id": "c1-large", "description": "big"}))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["description"], "big");
    assert_eq!(r.body["constraints"][0]["min"], 8);

    let r = c.get("v1/size").await;
    assert_eq!(r.body.as_array().unwrap().len(), 2);

    // delete refused while a machine has the size
    insert_machine(
        api.store(),
        "m1",
        None,
        Some("c1-large"),
        None,
        None,
        json!({}),
    )
    .await
    .unwrap();
    let r = c.delete("v1/size/c1-large").await;
    assert_eq!(r.status, 422);
    assert_eq!(c.delete("v1/size/c1-small").await.status, 200);
    assert_eq!(c.delete("v1/size/c1-small").await.status, 404);
});

backend_test!(size_suggest_from_machine, |api| {
    let c = api.admin();
    insert_machine(
        api.store(),
        "m1",
        None,
        None,
        None,
        None,
        json!({
            "cpu_cores": 8, "memory": 16 * GIB,
            "disks": [{"name": "/dev/sda", "size": 100}, {"name": "/dev/sdb", "size": 50}],
            "gpus": [{"vendor": "nvidia", "model": "H100"}, {"vendor": "nvidia", "model": "H100"}]
        }),
    )
    .await
    .unwrap();
    let r = c.post("v1/size/suggest", json!({"machineID": "m1"})).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let cs = r.body.as_array().unwrap();
    let find = |t: &str| cs.iter().find(|c| c["type"] == t).cloned().unwrap();
    assert_eq!(find("cores")["min"], 8);
    assert_eq!(find("memory")["max"], 16 * GIB);
    assert_eq!(find("storage")["min"], 150);
    assert_eq!(find("gpu")["identifier"], "H100");
    assert_eq!(find("gpu")["max"], 2);
    let r = c
        .post("v1/size/suggest", json!({"machineID": "nope"}))
        .await;
    assert_eq!(r.status, 404);
    let r = c.post("v1/size/suggest", json!({})).await;
    assert_eq!(r.status, 400);
});
