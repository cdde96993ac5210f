//! IPs over HTTP: allocation of the next free or a given address, the project rules of private
//! networks, update and free rules, search with every field, and exhaustion.

use metal_testkit::{backend_test, Caller};
use serde_json::json;

use crate::network::{setup, super_network};

backend_test!(ip_allocation_rules, |api| {
    let c = api.admin();
    setup(&c).await;
    c.put("v1/network", super_network("super", &["10.0.0.0/16"]))
        .await;
    let r = c.put("v1/network", json!({"id": "internet", "prefixes": ["185.1.2.0/28", "2001:db8::/120"], "destinationprefixes": ["0.0.0.0/0"]})).await;
    assert_eq!(r.status, 201);
    let tenant = c
        .post(
            "v1/network/allocate",
            json!({"partitionid": "fra", "projectid": "p1"}),
        )
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_string();
    let edit = api.client(Caller::Edit);

    // next free: the network address is never handed out
    let r = edit.post("v1/ip/allocate", json!({"networkid": tenant, "projectid": "p1", "name": "web", "type": "static", "tags": ["b", "a"], "machineid": "m1"})).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(r.body["ipaddress"], "10.0.0.1");
    assert_eq!(r.body["type"], "static");
    assert_eq!(
        r.body["tags"],
        json!(["a", "b", "machine.metal-stack.io/id=m1"])
    );
    assert_eq!(r.body["allocationuuid"].as_str().unwrap().len(), 36);
    let r = edit
        .post(
            "v1/ip/allocate",
            json!({"networkid": tenant, "projectid": "p1"}),
        )
        .await;
    assert_eq!(r.body["ipaddress"], "10.0.0.2");
    assert_eq!(r.body["type"], "ephemeral");

    // a given address: taken 409, outside 422, reserved 422, malformed 400
    let r = edit
        .post(
            "v1/ip/allocate/10.0.0.200",
            json!({"networkid": tenant, "projectid": "p1"}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let cases = vec![
        ("v1/ip/allocate/10.0.0.200", 409, "already allocated"),
        ("v1/ip/allocate/10.9.0.1", 422, "not inside"),
        ("v1/ip/allocate/10.0.0.255", 422, "reserved"),
        ("v1/ip/allocate/10.0.0.0", 422, "reserved"),
        ("v1/ip/allocate/10.0.0.300", 400, "not a valid IP"),
    ];
    for (path, status, msg) in cases {
        let r = edit
            .post(path, json!({"networkid": tenant, "projectid": "p1"}))
            .await;
        assert_eq!(r.status, status, "{path}: {:?}", r.body);
        assert!(r.message().contains(msg), "{path}: {}", r.message());
    }
    // the next free address skips the taken one in the middle later on, and fills gaps
    let r = edit
        .post(
            "v1/ip/allocate",
            json!({"networkid": tenant, "projectid": "p1"}),
        )
        .await;
    assert_eq!(r.body["ipaddress"], "10.0.0.3");

    // project rules: a private network belongs to its project; external ones accept any
    let r = edit
        .post(
            "v1/ip/allocate",
            json!({"networkid": tenant, "projectid": "p2"}),
        )
        .await;
    assert_eq!(r.status, 422, "{:?}", r.body);
    assert!(
        r.message().contains("only shared networks"),
        "{}",
        r.message()
    );
    let r = edit
        .post(
            "v1/ip/allocate",
            json!({"networkid": "internet", "projectid": "p2"}),
        )
        .await;
    assert_eq!(r.status, 201);
    assert_eq!(r.body["ipaddress"], "185.1.2.1");
    let r = edit
        .post(
            "v1/ip/allocate",
            json!({"networkid": "internet", "projectid": "p2", "addressfamily": "IPv6"}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(r.body["ipaddress"], "2001:db8::1");
    let r = edit
        .post(
            "v1/ip/allocate/2001:db8::ff",
            json!({"networkid": "internet", "projectid": "p2"}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);

    // bad input
    let cases = vec![
        (json!({"projectid": "p1"}), 400, "networkid"),
        (json!({"networkid": tenant}), 400, "projectid"),
        (
            json!({"networkid": "ghost", "projectid": "p1"}),
            404,
            "ghost",
        ),
        (
            json!({"networkid": tenant, "projectid": "ghost"}),
            422,
            "ghost",
        ),
        (
            json!({"networkid": tenant, "projectid": "p1", "type": "sticky"}),
            400,
            "type",
        ),
        (
            json!({"networkid": tenant, "projectid": "p1", "addressfamily": "IPv6"}),
            422,
            "no IPv6 prefix",
        ),
        (
            json!({"networkid": "super", "projectid": "p1"}),
            422,
            "no ips left",
        ),
    ];
    for (body, status, msg) in cases {
        let r = edit.post("v1/ip/allocate", body.clone()).await;
        assert_eq!(r.status, status, "{body}: {:?}", r.body);
        assert!(r.message().contains(msg), "{body}: {}", r.message());
    }
    // usage counts what was allocated
    let n = c.get(&format!("v1/network/{tenant}")).await;
    assert_eq!(n.body["usage"]["used_ips"], 2 + 4);
    assert_eq!(n.body["usage"]["available_ips"], 256);
});

backend_test!(ip_update_free_and_find, |api| {
    let c = api.admin();
    setup(&c).await;
    c.put(
        "v1/network",
        json!({"id": "internet", "prefixes": ["185.1.2.0/24"], "shared": true}),
    )
    .await;
    let a = c
        .post(
            "v1/ip/allocate",
            json!({"networkid": "internet", "projectid": "p1", "name": "a", "type": "static"}),
        )
        .await;
    let b = c.post("v1/ip/allocate", json!({"networkid": "internet", "projectid": "p2", "name": "b", "machineid": "m7", "tags": ["cluster.metal-stack.io/id/namespace/service=c/default/web"]})).await;
    let d = c
        .post(
            "v1/ip/allocate",
            json!({"networkid": "internet", "projectid": "p2", "name": "d"}),
        )
        .await;
    let (a, b, d) = (
        a.body["ipaddress"].as_str().unwrap(),
        b.body["ipaddress"].as_str().unwrap(),
        d.body["ipaddress"].as_str().unwrap(),
    );

    // update: static → ephemeral refused, ephemeral → static fine, tags replaced
    let r = c
        .post("v1/ip", json!({"ipaddress": a, "type": "ephemeral"}))
        .await;
    assert_eq!(r.status, 400);
    assert!(r.message().contains("cannot be made ephemeral"));
    let r = c
        .post(
            "v1/ip",
            json!({"ipaddress": d, "type": "static", "description": "kept", "tags": ["x"]}),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(
        (r.body["type"].as_str(), r.body["tags"].clone()),
        (Some("static"), json!(["x"]))
    );
    assert_eq!(
        c.post("v1/ip", json!({"ipaddress": "185.1.2.250", "name": "x"}))
            .await
            .status,
        404
    );
    assert_eq!(
        c.post("v1/ip", json!({"ipaddress": "nonsense"}))
            .await
            .status,
        400
    );

    // find with every field
    let find = |q: serde_json::Value| {
        let c = c.clone();
        async move {
            let r = c.post("v1/ip/find", q.clone()).await;
            assert_eq!(r.status, 200, "{q}: {:?}", r.body);
            r.body
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["ipaddress"].as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(find(json!({"ipaddress": a})).await, vec![a]);
    assert_eq!(find(json!({"name": "b"})).await, vec![b]);
    assert_eq!(find(json!({"projectid": "p2"})).await, vec![b, d]);
    assert_eq!(find(json!({"machineid": "m7"})).await, vec![b]);
    assert_eq!(find(json!({"tags": ["x"]})).await, vec![d]);
    assert_eq!(find(json!({"type": "static"})).await, vec![a, d]);
    assert_eq!(find(json!({"networkid": "internet"})).await.len(), 3);
    assert_eq!(
        find(json!({"networkprefix": "185.1.2.0/30"})).await,
        vec![a, b, d],
        "networkprefix works here"
    );
    assert!(find(json!({"networkprefix": "185.1.3.0/24"}))
        .await
        .is_empty());
    assert!(find(json!({"addressfamily": "IPv6"})).await.is_empty());
    let uuid = c.get(&format!("v1/ip/{a}")).await.body["allocationuuid"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(find(json!({"allocationuuid": uuid})).await, vec![a]);
    assert_eq!(
        c.post("v1/ip/find", json!({"networkprefix": "185.1.2.1/24"}))
            .await
            .status,
        400
    );
    assert_eq!(c.get("v1/ip").await.body.as_array().unwrap().len(), 3);

    // free: a machine's ip is refused; others go, and their address is handed out again
    let r = c.delete(&format!("v1/ip/free/{b}")).await;
    assert_eq!(r.status, 400, "{:?}", r.body);
    assert!(r.message().contains("m7"));
    let r = c.delete(&format!("v1/ip/free/{a}")).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["ipaddress"], a);
    assert_eq!(c.delete(&format!("v1/ip/free/{a}")).await.status, 404);
    assert_eq!(c.get(&format!("v1/ip/{a}")).await.status, 404);
    let r = c
        .post(
            "v1/ip/allocate",
            json!({"networkid": "internet", "projectid": "p1"}),
        )
        .await;
    assert_eq!(
        r.body["ipaddress"], a,
        "the freed address is the first free one again"
    );
    // untagging makes it freeable
    c.post("v1/ip", json!({"ipaddress": b, "tags": []})).await;
    assert_eq!(c.delete(&format!("v1/ip/free/{b}")).await.status, 200);
});

backend_test!(ip_quota_of_project, |api| {
    let c = api.admin();
    setup(&c).await;
    let mut p = c.get("v1/project/p1").await.body;
    p["quotas"] = json!({"ip": {"quota": 2}});
    assert_eq!(c.post("v1/project", p).await.status, 200);
    c.put(
        "v1/network",
        json!({"id": "internet", "prefixes": ["185.1.2.0/24"]}),
    )
    .await;
    for _ in 0..2 {
        assert_eq!(
            c.post(
                "v1/ip/allocate",
                json!({"networkid": "internet", "projectid": "p1"})
            )
            .await
            .status,
            201
        );
    }
    let r = c
        .post(
            "v1/ip/allocate",
            json!({"networkid": "internet", "projectid": "p1"}),
        )
        .await;
    assert_eq!(r.status, 422);
    assert!(r.message().contains("quota"), "{}", r.message());
    assert_eq!(
        c.post(
            "v1/ip/allocate",
            json!({"networkid": "internet", "projectid": "p2"})
        )
        .await
        .status,
        201
    );
});
