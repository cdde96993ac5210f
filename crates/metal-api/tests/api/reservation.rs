//! Size reservations over HTTP: create, update, find, usage and delete with every validation
//! and reference error; the project delete they block; and their effect on allocation (§4.1
//! 5d) and on the partition capacity (§4.14), including parallel allocations.

use futures::future::join_all;
use metal_testkit::{backend_test, seed_waiting_machine, Caller, TestApi, TestClient};
use serde_json::{json, Value};

use crate::network::{setup, super_network};

/// Tenant acme with projects p1 and p2, partitions fra and ams, size n1-medium-x86.
async fn catalog(c: &TestClient) {
    setup(c).await;
    assert_eq!(
        c.put("v1/partition", crate::partition("ams")).await.status,
        201
    );
    let r = c
        .put(
            "v1/size",
            json!({"id": "n1-medium-x86", "constraints": [{"type": "cores", "min": 4, "max": 4}]}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
}

/// The catalog plus what allocation needs in fra: networks, an image, a layout, `machines`
/// waiting machines and a tenant network for p1 and for p2 (their ids are returned).
async fn world(api: &TestApi, machines: usize) -> (String, String) {
    let c = api.admin();
    catalog(&c).await;
    let r = c
        .put("v1/network", super_network("super", &["10.0.0.0/16"]))
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let r = c.put("v1/image", json!({"id": "ubuntu-22.04.20240101", "url": "http://images.test/x", "features": ["machine"]})).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let layout = json!({"id": "default", "constraints": {"sizes": ["n1-medium-x86"], "images": {"ubuntu": "*"}},
        "disks": [{"device": "/dev/sda", "partitions": [{"number": 1, "size": 0, "gpttype": "8300"}]}],
        "filesystems": [{"path": "/", "device": "/dev/sda1", "format": "ext4"}]});
    assert_eq!(c.put("v1/filesystemlayout", layout).await.status, 201);
    for i in 0..machines {
        let id = format!("m{i:03}");
        let rack = format!("rack-{}", i % 2);
        seed_waiting_machine(api.store(), &id, "fra", "n1-medium-x86", &rack, 4, 100)
            .await
            .unwrap();
        waiting_event(api, &id).await;
    }
    let mut nets = Vec::new();
    for p in ["p1", "p2"] {
        let r = c
            .post(
                "v1/network/allocate",
                json!({"partitionid": "fra", "projectid": p, "name": format!("{p}-net")}),
            )
            .await;
        assert_eq!(r.status, 201, "{:?}", r.body);
        nets.push(r.body["id"].as_str().unwrap().to_string());
    }
    (nets[0].clone(), nets[1].clone())
}

/// Records a `Waiting` event, so that the capacity counts the machine as free.
async fn waiting_event(api: &TestApi, id: &str) {
    use metal_domain::event::{EventContainer, EventType, ProvisioningEvent};
    let mut tx = api.store().begin().await.unwrap();
    let stored = metal_store::docs::must_get::<EventContainer>(&mut tx, id)
        .await
        .unwrap();
    let mut ec = stored.value;
    let now = chrono::Utc::now();
    ec.events.insert(
        0,
        ProvisioningEvent {
            time: now,
            event: EventType::Waiting,
            message: String::new(),
        },
    );
    ec.last_event_time = Some(now);
    metal_store::docs::update(&mut tx, &mut ec, stored.revision)
        .await
        .unwrap();
    tx.commit().await.unwrap();
}

fn alloc(project: &str, network: &str) -> Value {
    json!({"projectid": project, "partitionid": "fra", "sizeid": "n1-medium-x86", "imageid": "ubuntu-22.04",
        "networks": [{"networkid": network}]})
}

fn reservation(id: &str, project: &str, partitions: &[&str], amount: i64) -> Value {
    json!({"id": id, "sizeid": "n1-medium-x86", "projectid": project, "partitionids": partitions,
        "amount": amount, "description": "kept for the team", "labels": {"team": "a"}})
}

fn ids(v: &Value) -> Vec<&str> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect()
}

backend_test!(reservation_crud_and_validation, |api| {
    let c = api.admin();
    catalog(&c).await;

    let r = c
        .put("v1/size/reservations", reservation("r1", "p1", &["fra"], 2))
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(r.body["sizeid"], "n1-medium-x86");
    assert_eq!(r.body["projectid"], "p1");
    assert_eq!(r.body["partitionids"], json!(["fra"]));
    assert_eq!(r.body["amount"], 2);
    assert_eq!(r.body["labels"]["team"], "a");
    assert!(r.body["created"].is_string(), "{:?}", r.body);
    let r = c
        .put("v1/size/reservations", reservation("r1", "p2", &["ams"], 1))
        .await;
    assert_eq!(r.status, 409, "{:?}", r.body);
    let r = c
        .put(
            "v1/size/reservations",
            reservation("", "p2", &["fra", "ams"], 1),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let generated = r.body["id"].as_str().unwrap().to_string();
    assert_eq!(generated.len(), 36, "a generated uuid");

    // every validation (400) and reference (422) error names its field; none writes anything
    let mut no_size = reservation("x", "p1", &["fra"], 1);
    no_size["sizeid"] = json!("");
    let mut no_project = reservation("x", "p1", &["fra"], 1);
    no_project.as_object_mut().unwrap().remove("projectid");
    let mut bad_amount = reservation("x", "p1", &["fra"], 1);
    bad_amount["amount"] = json!("many");
    let mut ghost_size = reservation("x", "p1", &["fra"], 1);
    ghost_size["sizeid"] = json!("ghost");
    let cases = vec![
        (
            reservation("x", "p1", &["fra"], 0),
            400,
            "amount must be a positive integer, got 0",
        ),
        (
            reservation("x", "p1", &["fra"], -2),
            400,
            "amount must be a positive integer, got -2",
        ),
        (
            reservation("x", "p1", &[], 1),
            400,
            "partitionids: at least one partition id must be given",
        ),
        (
            reservation("x", "p1", &["fra", "fra"], 1),
            400,
            "partitionids: partition \"fra\" is given more than once",
        ),
        (
            reservation("x y", "p1", &["fra"], 1),
            400,
            "size reservation id \"x y\"",
        ),
        (no_size, 400, "sizeid should not be empty"),
        (no_project, 400, "projectid should not be empty"),
        (bad_amount, 400, "invalid request body"),
        (ghost_size, 422, "sizeid: size \"ghost\" does not exist"),
        (
            reservation("x", "ghost", &["fra"], 1),
            422,
            "projectid: project \"ghost\" does not exist",
        ),
        (
            reservation("x", "p1", &["fra", "ber"], 1),
            422,
            "partitionids: partition \"ber\" does not exist",
        ),
    ];
    for (body, status, msg) in cases {
        let r = c.put("v1/size/reservations", body.clone()).await;
        assert_eq!(r.status, status, "{body}: {:?}", r.body);
        assert!(r.message().contains(msg), "{body}: {}", r.message());
    }
    let all = c.get("v1/size/reservations").await;
    assert_eq!(all.status, 200);
    let mut want = vec!["r1", generated.as_str()];
    want.sort();
    assert_eq!(ids(&all.body), want, "failed creates wrote nothing");

    // get
    let r = c.get("v1/size/reservations/r1").await;
    assert_eq!((r.status, r.body["amount"].as_i64()), (200, Some(2)));
    let r = c.get("v1/size/reservations/ghost").await;
    assert_eq!(r.status, 404, "{:?}", r.body);
    assert!(
        r.message().contains("no size reservation with id"),
        "{}",
        r.message()
    );

    // update: given fields change, size and project stay
    let r = c
        .post(
            "v1/size/reservations",
            json!({"id": "r1", "amount": 3, "partitionids": ["fra", "ams"], "name": "gold"}),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["amount"], 3);
    assert_eq!(r.body["partitionids"], json!(["fra", "ams"]));
    assert_eq!(r.body["name"], "gold");
    assert_eq!(r.body["description"], "kept for the team");
    assert_eq!(r.body["projectid"], "p1");
    let cases = vec![
        (
            json!({"id": "r1", "amount": 0}),
            400,
            "amount must be a positive integer",
        ),
        (
            json!({"id": "r1", "partitionids": []}),
            400,
            "partitionids: at least one",
        ),
        (
            json!({"id": "r1", "partitionids": ["ams", "ams"]}),
            400,
            "given more than once",
        ),
        (
            json!({"id": "r1", "partitionids": ["ber"]}),
            422,
            "partitionids: partition \"ber\" does not exist",
        ),
        (json!({"amount": 1}), 400, "id should not be empty"),
        (
            json!({"id": "ghost", "amount": 1}),
            404,
            "no size reservation with id",
        ),
    ];
    for (body, status, msg) in cases {
        let r = c.post("v1/size/reservations", body.clone()).await;
        assert_eq!(r.status, status, "{body}: {:?}", r.body);
        assert!(r.message().contains(msg), "{body}: {}", r.message());
    }
    let r = c.get("v1/size/reservations/r1").await.body;
    assert_eq!(
        (r["amount"].as_i64(), r["partitionids"].clone()),
        (Some(3), json!(["fra", "ams"])),
        "failed updates wrote nothing"
    );

    // find: every filter, an empty body finds all
    let v = api.client(Caller::View);
    let cases = vec![
        (json!({}), vec!["r1", generated.as_str()]),
        (json!({"projectid": "p2"}), vec![generated.as_str()]),
        (
            json!({"sizeid": "n1-medium-x86", "projectid": "p1"}),
            vec!["r1"],
        ),
        (json!({"partitionid": "ams", "projectid": "p1"}), vec!["r1"]),
        (json!({"id": "r1"}), vec!["r1"]),
        (json!({"partitionid": "ber"}), vec![]),
        (json!({"sizeid": "ghost"}), vec![]),
    ];
    for (body, want) in cases {
        let r = v.post("v1/size/reservations/find", body.clone()).await;
        assert_eq!(r.status, 200, "{body}: {:?}", r.body);
        let mut want = want;
        want.sort();
        assert_eq!(ids(&r.body), want, "{body}");
    }

    // usage: one row per reservation and partition
    let r = v
        .post("v1/size/reservations/usage", json!({"projectid": "p1"}))
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let rows: Vec<(&str, i64, i64)> = r
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            (
                u["partitionid"].as_str().unwrap(),
                u["amount"].as_i64().unwrap(),
                u["usedamount"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(rows, vec![("fra", 3, 0), ("ams", 3, 0)]);
    let r = v
        .post(
            "v1/size/reservations/usage",
            json!({"projectid": "p1", "partitionid": "ams"}),
        )
        .await;
    assert_eq!(r.body.as_array().unwrap().len(), 1);
    assert_eq!(r.body[0]["projectallocations"], 0);

    // roles: reading needs only authentication, changing needs admin
    assert_eq!(v.get("v1/size/reservations").await.status, 200);
    assert_eq!(v.get("v1/size/reservations/r1").await.status, 200);
    let e = api.client(Caller::Edit);
    let r = e
        .put("v1/size/reservations", reservation("x", "p1", &["fra"], 1))
        .await;
    assert_eq!(r.status, 403, "{:?}", r.body);
    assert_eq!(e.delete("v1/size/reservations/r1").await.status, 403);
    assert_eq!(
        api.client(Caller::Anonymous)
            .get("v1/size/reservations")
            .await
            .status,
        401
    );

    // a project with reservations cannot be deleted
    let r = c.delete("v1/project/p1").await;
    assert_eq!(r.status, 400, "{:?}", r.body);
    assert!(
        r.message().contains("size reservations of project p1: r1"),
        "{}",
        r.message()
    );

    // delete answers the deleted reservation
    let r = c.delete("v1/size/reservations/r1").await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["id"], "r1");
    assert_eq!(c.get("v1/size/reservations/r1").await.status, 404);
    assert_eq!(c.delete("v1/size/reservations/r1").await.status, 404);
    let r = c.delete("v1/project/p1").await;
    assert_eq!(r.status, 200, "without reservations: {:?}", r.body);
});

/// `servers[0]` of the capacity of fra, asked as `body`.
async fn capacity(c: &TestClient, body: Value) -> Value {
    let r = c.post("v1/partition/capacity", body).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body[0]["id"], "fra");
    r.body[0]["servers"][0].clone()
}

fn numbers(s: &Value) -> [u64; 5] {
    [
        "free",
        "allocatable",
        "reservations",
        "usedreservations",
        "remainingreservations",
    ]
    .map(|k| s[k].as_u64().unwrap())
}

backend_test!(reservations_keep_machines_for_their_project, |api| {
    let (net1, net2) = world(api, 2).await;
    let c = api.admin();
    let r = c
        .put(
            "v1/size/reservations",
            reservation("keep", "p2", &["fra"], 1),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    // free: 2 machines minus 1 kept back; p2 asking sees its own reservation as free
    assert_eq!(numbers(&capacity(&c, json!({})).await), [1, 2, 1, 0, 1]);
    assert_eq!(
        numbers(&capacity(&c, json!({"projectid": "p2"})).await),
        [2, 2, 1, 0, 1]
    );

    let e = api.client(Caller::Edit);
    let r = e.post("v1/machine/allocate", alloc("p1", &net1)).await;
    assert_eq!(
        r.status, 200,
        "p1 gets the unreserved machine: {:?}",
        r.body
    );
    let r = e.post("v1/machine/allocate", alloc("p1", &net1)).await;
    assert_eq!(r.status, 422, "{:?}", r.body);
    assert!(
        r.message().contains("no machine available"),
        "{}",
        r.message()
    );
    assert_eq!(numbers(&capacity(&c, json!({})).await), [0, 1, 1, 0, 1]);
    assert_eq!(
        numbers(&capacity(&c, json!({"projectid": "p2"})).await),
        [1, 1, 1, 0, 1]
    );

    let r = e.post("v1/machine/allocate", alloc("p2", &net2)).await;
    assert_eq!(r.status, 200, "p2 gets its reserved machine: {:?}", r.body);
    let s = capacity(&c, json!({"sizeid": "n1-medium-x86"})).await;
    assert_eq!(numbers(&s), [0, 0, 1, 1, 0]);
    assert_eq!(s["allocated"], 2);

    let u = e
        .post(
            "v1/size/reservations/usage",
            json!({"sizeid": "n1-medium-x86"}),
        )
        .await;
    assert_eq!(u.status, 200, "{:?}", u.body);
    assert_eq!(u.body.as_array().unwrap().len(), 1);
    let row = &u.body[0];
    assert_eq!(
        (
            row["id"].as_str(),
            row["partitionid"].as_str(),
            row["amount"].as_i64(),
            row["usedamount"].as_i64(),
            row["projectallocations"].as_i64()
        ),
        (Some("keep"), Some("fra"), Some(1), Some(1), Some(1))
    );
});

backend_test!(parallel_allocations_respect_reservations, |api| {
    let (net1, net2) = world(api, 6).await;
    let c = api.admin();
    let r = c
        .put(
            "v1/size/reservations",
            reservation("keep", "p2", &["fra"], 2),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let clients: Vec<TestClient> = (0..4).map(|_| api.client(Caller::Edit)).collect();
    let futs = (0..8).map(|i| {
        let c = clients[i % clients.len()].clone();
        let body = alloc("p1", &net1);
        tokio::spawn(async move { c.post("v1/machine/allocate", body).await })
    });
    let rs: Vec<_> = join_all(futs)
        .await
        .into_iter()
        .map(|r| r.unwrap())
        .collect();
    let ok = rs.iter().filter(|r| r.status == 200).count();
    assert_eq!(
        ok,
        4,
        "6 machines, 2 kept for p2: {:?}",
        rs.iter().find(|r| r.status != 200 && r.status != 422)
    );
    for r in rs.iter().filter(|r| r.status != 200) {
        assert_eq!(r.status, 422, "{:?}", r.body);
        assert!(
            r.message().contains("no machine available"),
            "{}",
            r.message()
        );
    }
    let e = api.client(Caller::Edit);
    for _ in 0..2 {
        let r = e.post("v1/machine/allocate", alloc("p2", &net2)).await;
        assert_eq!(r.status, 200, "p2 gets its reserved machines: {:?}", r.body);
    }
    let s = capacity(&c, json!({})).await;
    assert_eq!(numbers(&s), [0, 0, 2, 2, 0]);
});
