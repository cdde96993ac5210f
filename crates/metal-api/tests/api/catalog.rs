//! Partitions and size-image constraints.

use metal_testkit::{backend_test, insert_machine};
use serde_json::json;

use crate::{image, partition, size};

backend_test!(partition_crud_and_rules, |api| {
    let c = api.admin();
    let r = c.put("v1/partition", partition("fra-equ01")).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(r.body["privatenetworkprefixlength"], 22);
    assert_eq!(
        r.body["bootconfig"]["kernelurl"],
        "http://images.test/vmlinuz"
    );
    assert_eq!(
        c.put("v1/partition", partition("fra-equ01")).await.status,
        409
    );

    let mut bad = partition("p2");
    bad["privatenetworkprefixlength"] = json!(31);
    let r = c.put("v1/partition", bad).await;
    assert_eq!(r.status, 400);
    assert!(
        r.message().contains("privatenetworkprefixlength"),
        "{}",
        r.message()
    );
    let r = c.put("v1/partition", json!({"bootconfig": {}})).await;
    assert_eq!(r.status, 400);
    assert!(r.message().contains("id"), "{}", r.message());
    assert_eq!(c.get("v1/partition/p2").await.status, 404);

    let r = c.post("v1/partition", json!({"id": "fra-equ01", "description": "Frankfurt", "privatenetworkprefixlength": 24})).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["description"], "Frankfurt");
    assert_eq!(r.body["privatenetworkprefixlength"], 24);
    assert_eq!(r.body["name"], "fra-equ01");
    let r = c
        .post(
            "v1/partition",
            json!({"id": "fra-equ01", "privatenetworkprefixlength": 8}),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        c.get("v1/partition/fra-equ01").await.body["privatenetworkprefixlength"],
        24
    );

    insert_machine(
        api.store(),
        "m1",
        Some("fra-equ01"),
        None,
        None,
        None,
        json!({}),
    )
    .await
    .unwrap();
    let r = c.delete("v1/partition/fra-equ01").await;
    assert_eq!(r.status, 422);
    assert!(r.message().contains("m1"));
    assert_eq!(
        c.get("v1/partition").await.body.as_array().unwrap().len(),
        1
    );
});

backend_test!(size_image_constraint_rules_and_try, |api| {
    let c = api.admin();
    c.put("v1/size", size("n1-medium-x86", (4, 4), (1, 1 << 40)))
        .await;
    c.put(
        "v1/image",
        image("firewall-ubuntu-2.0.20201126", &["firewall"]),
    )
    .await;
    c.put(
        "v1/image",
        image("firewall-ubuntu-2.0.20211011", &["firewall"]),
    )
    .await;
    c.put("v1/image", image("ubuntu-20.04.20201026", &["machine"]))
        .await;

    // the size must exist; constraints are validated strictly
    let r = c
        .put(
            "v1/size-image-constraint",
            json!({"id": "nope", "constraints": {"images": {"ubuntu": ">= 20.04"}}}),
        )
        .await;
    assert_eq!(r.status, 422, "{:?}", r.body);
    let r = c
        .put(
            "v1/size-image-constraint",
            json!({"id": "n1-medium-x86", "constraints": {"images": {"*": ">= 1.0"}}}),
        )
        .await;
    assert_eq!(r.status, 400);
    let r = c
        .put(
            "v1/size-image-constraint",
            json!({"id": "n1-medium-x86", "constraints": {"images": {"ubuntu": "newest please"}}}),
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(r.message().contains("newest please"), "{}", r.message());

    let r = c.put("v1/size-image-constraint", json!({"id": "n1-medium-x86", "constraints": {"images": {"firewall-ubuntu": ">= 2.0.20211011"}}})).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(
        c.put(
            "v1/size-image-constraint",
            json!({"id": "n1-medium-x86", "constraints": {"images": {}}})
        )
        .await
        .status,
        409
    );

    let r = c
        .post(
            "v1/size-image-constraint/try",
            json!({"size": "n1-medium-x86", "image": "firewall-ubuntu-2.0.20201126"}),
        )
        .await;
    assert_eq!(r.status, 422, "{:?}", r.body);
    assert_eq!(
        r.message(),
        "given size:n1-medium-x86 with image:firewall-ubuntu-2.0.20201126 does violate image constraint:firewall-ubuntu >=2.0.20211011"
    );
    let r = c
        .post(
            "v1/size-image-constraint/try",
            json!({"size": "n1-medium-x86", "image": "firewall-ubuntu-2.0.20211011"}),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body, json!({}));
    // an os without constraint is free
    let r = c
        .post(
            "v1/size-image-constraint/try",
            json!({"size": "n1-medium-x86", "image": "ubuntu-20.04"}),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let r = c
        .post(
            "v1/size-image-constraint/try",
            json!({"size": "", "image": "ubuntu-20.04"}),
        )
        .await;
    assert_eq!(r.status, 400);

    let r = c.post("v1/size-image-constraint", json!({"id": "n1-medium-x86", "description": "fw", "constraints": {"images": {"firewall-ubuntu": "*"}}})).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let r = c
        .post(
            "v1/size-image-constraint/try",
            json!({"size": "n1-medium-x86", "image": "firewall-ubuntu-2.0.20201126"}),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(
        c.get("v1/size-image-constraint")
            .await
            .body
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        c.delete("v1/size-image-constraint/n1-medium-x86")
            .await
            .status,
        200
    );
    assert_eq!(
        c.get("v1/size-image-constraint/n1-medium-x86").await.status,
        404
    );
});

// Lists are built by the database from the stored documents; they must be exactly the entities
// a get answers, in id order.
backend_test!(lists_equal_the_entities, |api| {
    let c = api.admin();
    c.put("v1/tenant", json!({"meta": {"id": "t"}, "name": "t"}))
        .await;
    c.put(
        "v1/project",
        json!({"meta": {"id": "p"}, "tenant_id": "t", "quotas": {"ip": {"quota": 3}}}),
    )
    .await;
    for id in ["b-part", "a-part"] {
        c.put("v1/partition", partition(id)).await;
    }
    for id in ["ubuntu-22.04.1", "debian-12.0.1"] {
        c.put("v1/image", image(id, &["machine"])).await;
    }
    c.put("v1/size", size("s2", (1, 2), (1, 2))).await;
    c.put("v1/size", size("s1", (3, 4), (3, 4))).await;
    c.put(
        "v1/size-image-constraint",
        json!({"id": "s1", "constraints": {"images": {"ubuntu": ">= 22.04"}}}),
    )
    .await;
    for kind in [
        "tenant",
        "project",
        "partition",
        "image",
        "size",
        "size-image-constraint",
    ] {
        let list = c.get(&format!("v1/{kind}")).await;
        assert_eq!(list.status, 200);
        let items = list.body.as_array().unwrap();
        assert!(!items.is_empty(), "{kind}");
        let mut ids = Vec::new();
        for item in items {
            let id = item["id"]
                .as_str()
                .or(item["meta"]["id"].as_str())
                .unwrap()
                .to_string();
            let mut one = c.get(&format!("v1/{kind}/{id}")).await.body;
            if kind == "project" {
                // a get fills in the used counts of the quotas, a list does not (as metal-stack)
                assert_eq!(one["quotas"]["ip"]["used"], 0);
                one["quotas"] = item["quotas"].clone();
            }
            assert_eq!(&one, item, "{kind} {id}");
            ids.push(id);
        }
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(ids, sorted, "{kind} in id order");
    }
});
