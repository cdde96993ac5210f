//! Networks over HTTP: the rules of creation, update, allocation from the private super
//! network, free and delete, with usage in every answer.

use metal_testkit::{backend_test, TestClient};
use serde_json::{json, Value};

use crate::partition;

/// A tenant, two projects and a partition whose tenant networks are /24s.
pub async fn setup(c: &TestClient) {
    assert_eq!(
        c.put("v1/tenant", json!({"meta": {"id": "acme"}, "name": "acme"}))
            .await
            .status,
        201
    );
    for p in ["p1", "p2"] {
        let r = c
            .put(
                "v1/project",
                json!({"meta": {"id": p}, "name": p, "tenant_id": "acme"}),
            )
            .await;
        assert_eq!(r.status, 201, "{:?}", r.body);
    }
    let mut part = partition("fra");
    part["privatenetworkprefixlength"] = json!(24);
    assert_eq!(c.put("v1/partition", part).await.status, 201);
}

pub fn super_network(id: &str, prefixes: &[&str]) -> Value {
    json!({"id": id, "partitionid": "fra", "prefixes": prefixes, "destinationprefixes": [], "privatesuper": true, "nat": false, "underlay": false})
}

backend_test!(network_create_rules, |api| {
    let c = api.admin();
    setup(&c).await;
    let r = c
        .put(
            "v1/network",
            super_network("tenant-super", &["10.0.0.0/16", "fd00:10::/56"]),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(
        r.body["defaultchildprefixlength"],
        json!({"IPv4": 24, "IPv6": 64})
    );
    assert_eq!(
        r.body["usage"]["available_ips"].as_u64(),
        Some(u64::MAX),
        "IPv6 sizes saturate"
    );
    assert_eq!(r.body["consumption"]["ipv4"]["available_ips"], 65536);
    assert_eq!(
        r.body["consumption"]["ipv4"]["used_ips"], 2,
        "network and broadcast are reserved"
    );
    assert_eq!(r.body["consumption"]["ipv4"]["available_prefixes"], 256);

    let internet = json!({"id": "internet", "prefixes": ["185.1.2.0/24"], "destinationprefixes": ["0.0.0.0/0"], "nat": true, "shared": true, "vrf": 104009});
    let r = c.put("v1/network", internet.clone()).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(r.body["vrf"], 104009);
    assert_eq!(c.put("v1/network", internet).await.status, 409);

    // every rule, with nothing written
    let cases = vec![
        (
            json!({"id": "x", "prefixes": ["10.0.5.0/24"]}),
            422,
            "overlaps prefix 10.0.0.0/16",
        ),
        (
            json!({"id": "x", "prefixes": ["185.1.0.0/16"]}),
            422,
            "overlaps",
        ),
        (
            json!({"id": "x", "prefixes": ["10.300.0.0/16"]}),
            400,
            "not a valid CIDR",
        ),
        (
            json!({"id": "x", "prefixes": ["192.168.1.5/24"]}),
            400,
            "host bits",
        ),
        (
            json!({"id": "x", "prefixes": []}),
            400,
            "at least one prefix",
        ),
        (
            json!({"id": "x", "prefixes": ["192.168.0.0/24"], "partitionid": "nope"}),
            422,
            "partition \"nope\" does not exist",
        ),
        (
            json!({"id": "x", "prefixes": ["192.168.0.0/24"], "projectid": "nope"}),
            422,
            "project \"nope\" does not exist",
        ),
        (
            super_network("x", &["192.168.0.0/16"]),
            422,
            "already has a private super network",
        ),
        (
            json!({"id": "x", "prefixes": ["192.168.0.0/24"], "partitionid": "fra", "underlay": true, "nat": true}),
            400,
            "nat is not allowed",
        ),
        (
            json!({"id": "x", "prefixes": ["192.168.0.0/24"], "vrf": 104009}),
            422,
            "vrf 104009 is already in use",
        ),
        (
            json!({"id": "x", "prefixes": ["192.168.0.0/24"], "parentnetworkid": "tenant-super"}),
            400,
            "parentnetworkid",
        ),
        (
            json!({"id": "x", "prefixes": ["192.168.0.0/24"], "destinationprefixes": ["0.0.0.0"]}),
            400,
            "destinationprefixes",
        ),
    ];
    for (body, status, msg) in cases {
        let r = c.put("v1/network", body.clone()).await;
        assert_eq!(r.status, status, "{body}: {:?}", r.body);
        assert!(
            r.message().contains(msg),
            "{body}: {} lacks {msg}",
            r.message()
        );
    }
    assert_eq!(c.get("v1/network/x").await.status, 404);
    // a shared vrf may be reused
    let r = c
        .put(
            "v1/network",
            json!({"id": "dmz", "prefixes": ["192.168.0.0/24"], "vrf": 104009, "vrfshared": true}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let r = c.put("v1/network", json!({"id": "underlay", "partitionid": "fra", "prefixes": ["10.255.0.0/24"], "underlay": true})).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let r = c.put("v1/network", json!({"id": "underlay2", "partitionid": "fra", "prefixes": ["10.254.0.0/24"], "underlay": true})).await;
    assert_eq!(r.status, 422);

    // a generated id
    let r = c
        .put("v1/network", json!({"prefixes": ["172.16.0.0/24"]}))
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(r.body["id"].as_str().unwrap().len(), 36);

    // find
    let ids = |r: &metal_testkit::TestResponse| -> Vec<String> {
        let mut v: Vec<String> = r
            .body
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["id"].as_str().unwrap().to_string())
            .collect();
        v.sort();
        v
    };
    assert_eq!(
        ids(&c
            .post("v1/network/find", json!({"privatesuper": true}))
            .await),
        vec!["tenant-super"]
    );
    assert_eq!(
        ids(&c
            .post(
                "v1/network/find",
                json!({"partitionid": "fra", "underlay": true})
            )
            .await),
        vec!["underlay"]
    );
    assert_eq!(
        ids(&c.post("v1/network/find", json!({"vrf": 104009})).await),
        vec!["dmz", "internet"]
    );
    assert_eq!(
        ids(&c
            .post(
                "v1/network/find",
                json!({"destinationprefixes": ["0.0.0.0/0"]})
            )
            .await),
        vec!["internet"]
    );
    assert_eq!(
        ids(&c
            .post("v1/network/find", json!({"prefixes": ["10.0.0.0/16"]}))
            .await),
        vec!["tenant-super"]
    );
    assert_eq!(
        ids(&c
            .post("v1/network/find", json!({"addressfamily": "IPv6"}))
            .await),
        vec!["tenant-super"]
    );
    assert_eq!(
        ids(&c.post("v1/network/find", json!({"nat": true})).await),
        vec!["internet"]
    );
    assert_eq!(
        c.post("v1/network/find", json!({"prefixes": ["nonsense"]}))
            .await
            .status,
        400
    );
    assert_eq!(c.get("v1/network").await.body.as_array().unwrap().len(), 5);
});

backend_test!(network_update_rules, |api| {
    let c = api.admin();
    setup(&c).await;
    let r = c.put("v1/network", json!({"id": "ext", "prefixes": ["185.1.2.0/24"], "shared": true, "labels": {"a": "1"}})).await;
    assert_eq!(r.status, 201);
    let r = c.post("v1/network", json!({"id": "ext", "name": "internet", "labels": {"b": "2"}, "destinationprefixes": ["0.0.0.0/0"]})).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["name"], "internet");
    assert_eq!(r.body["labels"], json!({"b": "2"}));
    assert_eq!(r.body["destinationprefixes"], json!(["0.0.0.0/0"]));
    let r = c
        .post("v1/network", json!({"id": "ext", "shared": false}))
        .await;
    assert_eq!(r.status, 400);
    assert!(r.message().contains("shared"), "{}", r.message());

    // prefixes: add one, remove one; a removed prefix must be empty
    let r = c
        .post(
            "v1/network",
            json!({"id": "ext", "prefixes": ["185.1.2.0/24", "185.1.3.0/24"]}),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["prefixes"], json!(["185.1.2.0/24", "185.1.3.0/24"]));
    let r = c
        .post(
            "v1/ip/allocate/185.1.3.7",
            json!({"networkid": "ext", "projectid": "p1", "type": "static"}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let r = c
        .post(
            "v1/network",
            json!({"id": "ext", "prefixes": ["185.1.2.0/24"]}),
        )
        .await;
    assert_eq!(r.status, 422, "{:?}", r.body);
    assert!(r.message().contains("185.1.3.0/24"), "{}", r.message());
    assert_eq!(
        c.get("v1/network/ext").await.body["prefixes"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    c.put(
        "v1/network",
        json!({"id": "other", "prefixes": ["192.168.0.0/24"]}),
    )
    .await;
    let r = c
        .post(
            "v1/network",
            json!({"id": "ext", "prefixes": ["185.1.2.0/24", "185.1.3.0/24", "192.168.0.0/25"]}),
        )
        .await;
    assert_eq!(r.status, 422);
    assert_eq!(
        c.post("v1/network", json!({"id": "ghost", "name": "x"}))
            .await
            .status,
        404
    );
});

backend_test!(tenant_network_allocate_and_free, |api| {
    let c = api.admin();
    setup(&c).await;
    let alloc = json!({"name": "p1-net", "partitionid": "fra", "projectid": "p1"});
    // no private super network yet
    let r = c.post("v1/network/allocate", alloc.clone()).await;
    assert_eq!(r.status, 404, "{:?}", r.body);
    assert!(r.message().contains("no private super network"));
    assert_eq!(
        c.put(
            "v1/network",
            super_network("super", &["10.0.0.0/22", "fd00:10::/62"])
        )
        .await
        .status,
        201
    );

    let edit = api.client(metal_testkit::Caller::Edit);
    let r = edit.post("v1/network/allocate", alloc.clone()).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(r.body["prefixes"], json!(["10.0.0.0/24", "fd00:10::/64"]));
    assert_eq!(r.body["parentnetworkid"], "super");
    assert_eq!(r.body["projectid"], "p1");
    let vrf = r.body["vrf"].as_u64().unwrap();
    assert!((1..=131072).contains(&vrf));
    let first = r.body["id"].as_str().unwrap().to_string();

    // one family only, and a given length
    let r = edit.post("v1/network/allocate", json!({"partitionid": "fra", "projectid": "p2", "addressfamily": "IPv4", "length": {"IPv4": 25}})).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(r.body["prefixes"], json!(["10.0.1.0/25"]));
    assert_ne!(
        r.body["vrf"].as_u64().unwrap(),
        vrf,
        "every tenant network gets its own vrf"
    );
    let second = r.body["id"].as_str().unwrap().to_string();
    let r = edit
        .post(
            "v1/network/allocate",
            json!({"partitionid": "fra", "projectid": "p2", "addressfamily": "IPv4"}),
        )
        .await;
    assert_eq!(
        r.body["prefixes"],
        json!(["10.0.2.0/24"]),
        "/24 blocks stay aligned"
    );
    let third = r.body["id"].as_str().unwrap().to_string();
    let r = edit.post("v1/network/allocate", json!({"partitionid": "fra", "projectid": "p2", "addressfamily": "IPv4", "length": {"IPv4": 25}})).await;
    assert_eq!(
        r.body["prefixes"],
        json!(["10.0.1.128/25"]),
        "the gap is used"
    );

    let sup = c.get("v1/network/super").await;
    assert_eq!(sup.body["consumption"]["ipv4"]["used_prefixes"], 4);
    assert_eq!(sup.body["consumption"]["ipv4"]["available_prefixes"], 1);

    // errors
    let cases = vec![
        (json!({"partitionid": "fra"}), 400, "projectid"),
        (json!({"projectid": "p1"}), 400, "partitionid"),
        (
            json!({"partitionid": "fra", "projectid": "nope"}),
            422,
            "project",
        ),
        (
            json!({"partitionid": "nope", "projectid": "p1"}),
            422,
            "partition",
        ),
        (
            json!({"partitionid": "fra", "projectid": "p1", "addressfamily": "IPX"}),
            400,
            "addressfamily",
        ),
        (
            json!({"partitionid": "fra", "projectid": "p1", "length": {"IPv4": 40}}),
            400,
            "length",
        ),
        (
            json!({"partitionid": "fra", "projectid": "p1", "addressfamily": "IPv4", "length": {"IPv4": 23}}),
            422,
            "no free /23",
        ),
    ];
    for (body, status, msg) in cases {
        let r = edit.post("v1/network/allocate", body.clone()).await;
        assert_eq!(r.status, status, "{body}: {:?}", r.body);
        assert!(r.message().contains(msg), "{body}: {}", r.message());
    }

    // the super network cannot go while children exist; freeing gives the block back
    let r = c.delete("v1/network/super").await;
    assert_eq!(r.status, 422);
    assert!(r.message().contains("child networks"));
    let r = edit.delete(&format!("v1/network/free/{first}")).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(edit.get(&format!("v1/network/{first}")).await.status, 404);
    let r = edit
        .post(
            "v1/network/allocate",
            json!({"partitionid": "fra", "projectid": "p1", "addressfamily": "IPv4"}),
        )
        .await;
    assert_eq!(
        r.body["prefixes"],
        json!(["10.0.0.0/24"]),
        "freed block reused first"
    );
    // the deprecated POST form of free
    let r = edit
        .post(&format!("v1/network/free/{second}"), json!({}))
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    // a network that is not a child is deleted, not freed
    assert_eq!(edit.delete("v1/network/free/super").await.status, 400);
    // a tenant network with an ip cannot be freed
    let r = edit
        .post(
            "v1/ip/allocate",
            json!({"networkid": third, "projectid": "p2"}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let r = edit.delete(&format!("v1/network/free/{third}")).await;
    assert_eq!(r.status, 422);
    assert!(r.message().contains("allocated ip"), "{}", r.message());
});
