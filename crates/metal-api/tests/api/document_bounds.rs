//! Findings of schemathesis (`.ci/schemathesis`), each kept fixed here: the served document
//! declares the bounds the server enforces (and the server enforces them at exactly that
//! place), integral floats are integers, ids count characters, and answers leave out absent
//! optional values instead of sending `null` where the reference allows none.

use metal_testkit::{backend_test, Caller};
use serde_json::{json, Value};

use crate::partition;

/// The schema of `name` in the document the server serves.
async fn schema(api: &metal_testkit::TestApi, name: &str) -> Value {
    let doc = api.client(Caller::Anonymous).get("apidocs.json").await.body;
    doc["components"]["schemas"][name].clone()
}

fn required(schema: &Value) -> Vec<&str> {
    schema["required"]
        .as_array()
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

backend_test!(integer_widths_and_ranges_are_declared_and_enforced, |api| {
    let c = api.admin();
    // a u8: the document says 255, and 256 does not parse
    let p = schema(api, "DiskPartition").await;
    assert_eq!(p["properties"]["number"]["maximum"], 255, "{p}");
    assert_eq!(p["properties"]["number"]["format"], "int32", "{p}");
    let layout = |number: Value| {
        json!({"id": "l", "constraints": {"sizes": ["s"], "images": {"debian": "*"}},
            "disks": [{"device": "/dev/sda", "partitions": [{"number": number, "size": 0, "gpttype": "8300"}]}],
            "filesystems": [{"path": "/", "device": "/dev/sda256", "format": "ext4"}]})
    };
    let r = c.put("v1/filesystemlayout", layout(json!(256))).await;
    assert_eq!(r.status, 400, "{:?}", r.body);
    assert!(r.message().contains("u8"), "{}", r.message());

    // the private network prefix length: 16..=30 in the document and in the server
    let p = schema(api, "PartitionCreateRequest").await;
    let len = &p["properties"]["privatenetworkprefixlength"];
    assert_eq!(
        (len["minimum"].clone(), len["maximum"].clone()),
        (json!(16), json!(30))
    );
    for (value, status) in [(30, 201), (31, 400), (15, 400), (16, 201)] {
        let mut body = partition(&format!("p{value}"));
        body["privatenetworkprefixlength"] = json!(value);
        assert_eq!(c.put("v1/partition", body).await.status, status, "{value}");
    }
});

backend_test!(required_ids_and_enums_are_declared_and_enforced, |api| {
    let c = api.admin();
    let image = schema(api, "ImageCreateRequest").await;
    assert_eq!(required(&image), ["id", "url"], "{image}");
    assert!(image["properties"]["id"]["pattern"].is_string(), "{image}");
    for body in [
        json!({"url": "http://images.test/x"}),
        json!({"id": "debian", "url": "http://images.test/x"}),
        json!({"id": "debian-12", "url": ""}),
    ] {
        assert_eq!(c.put("v1/image", body.clone()).await.status, 400, "{body}");
    }
    let ip = schema(api, "IpAllocateRequest").await;
    assert_eq!(
        ip["properties"]["type"]["enum"],
        json!(["", "static", "ephemeral"]),
        "{ip}"
    );
    let r = c
        .post(
            "v1/ip/find",
            json!({"type": "http", "ipaddress": "10.0.0.1"}),
        )
        .await;
    assert_eq!(r.status, 400, "{:?}", r.body);
    // the uploaded firmware form: one non-empty file and nothing else
    let doc = api.client(Caller::Anonymous).get("apidocs.json").await.body;
    let form = &doc["paths"]["/v1/firmware/{kind}/{vendor}/{board}/{revision}"]["put"]
        ["requestBody"]["content"]["multipart/form-data"]["schema"];
    assert_eq!(form["additionalProperties"], false, "{form}");
    assert_eq!(form["properties"]["file"]["minLength"], 1, "{form}");
    let kind = &doc["paths"]["/v1/firmware"]["get"]["parameters"][1];
    assert_eq!(kind["name"], "kind");
    assert_eq!(kind["schema"]["enum"], json!(["bios", "bmc"]), "{kind}");
});

backend_test!(integral_floats_are_integers, |api| {
    let c = api.admin();
    let mut body = partition("fra");
    body["privatenetworkprefixlength"] = json!(24.0);
    let r = c.put("v1/partition", body).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(r.body["privatenetworkprefixlength"], 24);
    let mut body = partition("fra2");
    body["privatenetworkprefixlength"] = json!(24.5);
    let r = c.put("v1/partition", body).await;
    assert_eq!(r.status, 400, "{:?}", r.body);
    assert!(r.message().contains("24.5"), "{}", r.message());
});

backend_test!(ids_count_characters_not_bytes, |api| {
    let c = api.admin();
    let id = "ü".repeat(128);
    let r = c.put("v1/partition", partition(&id)).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let r = c.put("v1/partition", partition(&"ü".repeat(129))).await;
    assert_eq!(r.status, 400, "{:?}", r.body);
    assert!(
        r.message().contains("at most 128 characters"),
        "{}",
        r.message()
    );
});

backend_test!(absent_quotas_are_left_out_not_null, |api| {
    let c = api.admin();
    let r = c.put("v1/tenant", json!({"meta": {"id": "acme"}})).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let r = c
        .put(
            "v1/project",
            json!({"meta": {"id": "p1"}, "tenant_id": "acme", "quotas": {"ip": {"quota": 3}}}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    for r in [c.get("v1/project/p1").await, c.get("v1/tenant/acme").await] {
        assert_eq!(r.status, 200, "{:?}", r.body);
        let text = r.body.to_string();
        assert!(!text.contains("null"), "{text}");
    }
    let quotas = &c.get("v1/project/p1").await.body["quotas"];
    // machine has a count but no limit; cluster and project have neither
    assert_eq!(quotas["machine"], json!({"used": 0}), "{quotas}");
    assert_eq!(quotas["ip"], json!({"quota": 3, "used": 0}), "{quotas}");
    assert!(quotas.get("cluster").is_none(), "{quotas}");
});

backend_test!(a_page_far_beyond_the_end_is_empty, |api| {
    let c = api.admin();
    assert_eq!(
        c.put("v1/tenant", json!({"meta": {"id": "acme"}}))
            .await
            .status,
        201
    );
    // page × count overflowed and the request's task panicked (no answer at all)
    let r = c
        .post(
            "v1/tenant/find",
            json!({"paging": {"page": i64::MAX, "count": 3}}),
        )
        .await;
    assert_eq!((r.status, r.body.clone()), (200, json!([])));
    let r = c
        .post("v1/tenant/find", json!({"paging": {"page": 0, "count": 3}}))
        .await;
    assert_eq!(r.body.as_array().map(Vec::len), Some(1), "{:?}", r.body);
});

backend_test!(power_readings_beyond_f32_are_refused, |api| {
    let c = api.admin();
    assert_eq!(c.put("v1/partition", partition("fra")).await.status, 201);
    let p = schema(api, "PowerMetric").await;
    let max = p["properties"]["averageconsumedwatts"]["maximum"].as_f64();
    assert_eq!(max.map(|m| m as f32), Some(f32::MAX), "{p}");
    // 1e39 reads as an infinite f32, which was stored as null: the machine no longer loaded
    // and every machine list answered 500
    let report = |watts: f64| {
        json!({"partitionid": "fra", "reports": {"m1": {"BMCIp": "10.1.0.3",
            "PowerMetric": {"averageconsumedwatts": watts, "intervalinmin": 1.0,
                "maxconsumedwatts": 2.0, "minconsumedwatts": 0.5}}}})
    };
    let r = c.post("v1/machine/ipmi", report(1e39)).await;
    assert_eq!(r.status, 400, "{:?}", r.body);
    assert!(
        r.message().contains("averageconsumedwatts"),
        "{}",
        r.message()
    );
    let r = c.post("v1/machine/ipmi", report(f64::from(f32::MAX))).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let r = c.get("v1/machine").await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body.as_array().map(Vec::len), Some(1), "{:?}", r.body);
});

backend_test!(enums_and_maps_the_derive_gets_wrong_are_declared, |api| {
    // utoipa dropped the empty rename of an available machine's state
    let state = schema(api, "MachineStateValue").await;
    assert_eq!(state["enum"], json!(["", "RESERVED", "LOCKED"]), "{state}");
    // per-family prefix lengths: the keys are families, the lengths fit them
    let allocate = schema(api, "NetworkAllocateRequest").await;
    let length = &allocate["properties"]["length"];
    assert_eq!(length["properties"]["IPv4"]["maximum"], 32, "{length}");
    assert_eq!(length["properties"]["IPv6"]["maximum"], 128, "{length}");
    assert_eq!(length["additionalProperties"], false, "{length}");
    let c = api.admin();
    let r = c
        .post(
            "v1/network/allocate",
            json!({"partitionid": "fra", "projectid": "p", "length": {"IPv5": 24}}),
        )
        .await;
    assert_eq!(r.status, 400, "{:?}", r.body);
    // a switch os names its vendor
    let os = schema(api, "SwitchOs").await;
    assert_eq!(required(&os), ["vendor"], "{os}");
});

backend_test!(a_body_is_an_object, |api| {
    // serde reads a struct from an array as well; the document (and metal-api (Go)) says object
    let c = api.admin();
    for body in [json!([]), json!(["x"]), json!("x"), json!(7)] {
        let r = c.post("v1/image/find", body.clone()).await;
        assert_eq!(r.status, 400, "{body}: {:?}", r.body);
        assert!(
            r.message().contains("expected a JSON object"),
            "{}",
            r.message()
        );
    }
    assert_eq!(c.post("v1/image/find", json!({})).await.status, 200);
});
