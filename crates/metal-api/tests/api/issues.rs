//! Machine issues (§5): the catalogue, and the evaluation of the machines matching a search
//! query with the severity, only and omit filters and the last error threshold.

use chrono::Duration;
use metal_domain::event::{EventContainer, EventType, ProvisioningEvent};
use metal_domain::machine::Machine;
use metal_testkit::{backend_test, insert_machine, seed_waiting_machine, Caller};
use serde_json::{json, Value};

/// `[(machine id, [issue ids])]` of an evaluation answer.
fn pairs(body: &Value) -> Vec<(String, Vec<String>)> {
    body.as_array()
        .expect("an array")
        .iter()
        .map(|r| {
            let ids = r["issues"].as_array().unwrap();
            (
                r["machineid"].as_str().unwrap().to_string(),
                ids.iter()
                    .map(|i| i.as_str().unwrap().to_string())
                    .collect(),
            )
        })
        .collect()
}

fn p(id: &str, issues: &[&str]) -> (String, Vec<String>) {
    (
        id.to_string(),
        issues.iter().map(|s| s.to_string()).collect(),
    )
}

backend_test!(catalogue, |api| {
    let r = api.client(Caller::View).get("v1/machine/issues").await;
    assert_eq!(r.status, 200);
    let list = r.body.as_array().unwrap();
    assert_eq!(list.len(), 13);
    assert_eq!(list[0]["id"], "no-partition");
    assert_eq!(list[0]["severity"], "major");
    assert_eq!(
        list[0]["ref_url"],
        "https://docs.metal-stack.io/stable/installation/troubleshoot/#no-partition"
    );
    let reclaim = list
        .iter()
        .find(|i| i["id"] == "failed-machine-reclaim")
        .unwrap();
    assert_eq!(reclaim["severity"], "critical");
    assert_eq!(reclaim["details"], "");
    assert_eq!(list[12]["id"], "no-event-container");
});

backend_test!(evaluate_with_filters, |api| {
    let c = api.client(Caller::View);
    let app = &api.server.app;
    for id in ["a", "b", "c"] {
        seed_waiting_machine(api.store(), id, "fra", "s", "r1", 4, 100)
            .await
            .unwrap();
    }
    // a machine known only from a PXE boot: no partition, no event container
    insert_machine(api.store(), "x", None, None, None, None, json!({}))
        .await
        .unwrap();
    let now = metal_store::time::now();
    for id in ["a", "b"] {
        metal_api::app::update::<Machine, _>(app, id, |m| {
            m.ipmi.mac = format!("aa:bb:cc:dd:ee:0{}", m.id.len());
            m.ipmi.address = "10.1.1.1:623".into();
            m.ipmi.last_updated = Some(now);
            Ok(())
        })
        .await
        .unwrap();
    }
    let eval = |body: Value| {
        let c = &c;
        async move {
            let r = c.post("v1/machine/issues/evaluate", body).await;
            assert_eq!(r.status, 200, "{:?}", r.body);
            pairs(&r.body)
        }
    };
    let bmc = ["bmc-without-mac", "bmc-without-ip", "bmc-info-outdated"];
    assert_eq!(
        eval(json!({})).await,
        vec![
            p("a", &["bmc-no-distinct-ip"]),
            p("b", &["bmc-no-distinct-ip"]),
            p("c", &bmc),
            p("x", &["no-event-container"]),
        ]
    );
    // the search query narrows the evaluated set; uniqueness is within that set
    assert_eq!(
        eval(json!({"partition_id": "fra"})).await,
        vec![
            p("a", &["bmc-no-distinct-ip"]),
            p("b", &["bmc-no-distinct-ip"]),
            p("c", &bmc),
        ]
    );
    assert!(eval(json!({"id": "a"})).await.is_empty());
    // only and omit (omit wins)
    assert_eq!(
        eval(json!({"only": ["bmc-without-ip", "no-event-container"]})).await,
        vec![p("c", &["bmc-without-ip"]), p("x", &["no-event-container"])]
    );
    assert_eq!(
        eval(json!({"only": ["bmc-without-ip", "no-event-container"], "omit": ["bmc-without-ip"]}))
            .await,
        vec![p("x", &["no-event-container"])]
    );
    // a critical failed reclaim on c, a minor recent error on b
    metal_api::app::update::<EventContainer, _>(app, "c", |e| {
        e.failed_machine_reclaim = true;
        Ok(())
    })
    .await
    .unwrap();
    metal_api::app::update::<EventContainer, _>(app, "b", |e| {
        e.last_error_event = Some(ProvisioningEvent {
            time: now - Duration::hours(1),
            event: EventType::Crashed,
            message: "kernel panic".into(),
        });
        Ok(())
    })
    .await
    .unwrap();
    assert_eq!(
        eval(json!({"severity": "critical"})).await,
        vec![p("c", &["failed-machine-reclaim"])]
    );
    assert_eq!(
        eval(json!({"severity": "minor", "partition_id": "fra"})).await,
        vec![
            p("a", &["bmc-no-distinct-ip"]),
            p("b", &["last-event-error", "bmc-no-distinct-ip"]),
            p("c", &["failed-machine-reclaim", bmc[0], bmc[1], bmc[2]]),
        ]
    );
    assert_eq!(
        eval(json!({"severity": "major", "partition_id": "fra"})).await,
        vec![
            p("a", &["bmc-no-distinct-ip"]),
            p("b", &["bmc-no-distinct-ip"]),
            p("c", &["failed-machine-reclaim", bmc[0], bmc[1], bmc[2]]),
        ]
    );
    // the error is an hour old: a 30 minute threshold (in ns) no longer reports it
    assert_eq!(
        eval(json!({"only": ["last-event-error"], "last_error_threshold": 30i64 * 60 * 1_000_000_000}))
            .await,
        vec![]
    );
    assert_eq!(
        eval(json!({"only": ["last-event-error"], "last_error_threshold": 0, "omit": []})).await,
        vec![]
    );
    assert_eq!(
        eval(json!({"only": ["last-event-error"]})).await,
        vec![p("b", &["last-event-error"])]
    );
    // ten minutes without events: the liveliness job marks the seeded machines dead
    metal_api::runtime::jobs::liveliness(app, now + Duration::minutes(10))
        .await
        .unwrap();
    assert_eq!(
        eval(json!({"only": ["liveliness-dead", "liveliness-unknown"]})).await,
        vec![
            p("a", &["liveliness-dead"]),
            p("b", &["liveliness-dead"]),
            p("c", &["liveliness-dead"]),
        ]
    );
    // unknown ids and severities are 400
    for body in [
        json!({"only": ["no-such-issue"]}),
        json!({"omit": ["Crashloop"]}),
        json!({"severity": "high"}),
    ] {
        let r = c.post("v1/machine/issues/evaluate", body.clone()).await;
        assert_eq!(r.status, 400, "{body}: {:?}", r.body);
    }
});

// The `/ipmi` endpoints answer the machine response with the BMC data; the plain ones do not.
backend_test!(ipmi_find_and_get, |api| {
    let c = api.client(Caller::View);
    for id in ["a", "b"] {
        seed_waiting_machine(api.store(), id, "fra", "s", "r1", 4, 100)
            .await
            .unwrap();
    }
    metal_api::app::update::<Machine, _>(&api.server.app, "a", |m| {
        m.ipmi.address = "10.1.1.7:623".into();
        m.ipmi.powerstate = "ON".into();
        m.ipmi.fru.product_serial = "SN-7".into();
        Ok(())
    })
    .await
    .unwrap();
    let r = c.get("v1/machine/a/ipmi").await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["id"], "a");
    assert_eq!(r.body["rackid"], "r1");
    assert_eq!(r.body["ipmi"]["address"], "10.1.1.7:623");
    assert_eq!(r.body["ipmi"]["powerstate"], "ON");
    assert_eq!(r.body["ipmi"]["fru"]["product_serial"], "SN-7");
    assert_eq!(r.body["ipmi"]["powersupplies"], json!([]));
    let plain = c.get("v1/machine/a").await;
    assert!(plain.body.get("ipmi").is_none(), "{:?}", plain.body);
    let missing = c.get("v1/machine/nope/ipmi").await;
    assert_eq!(missing.status, 404, "{:?}", missing.body);

    let r = c.post("v1/machine/ipmi/find", json!({"id": "b"})).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let found = r.body.as_array().unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["id"], "b");
    assert_eq!(found[0]["ipmi"]["powerstate"], "");
    let all = c.post("v1/machine/ipmi/find", json!({})).await;
    let powers: Vec<&str> = all
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["ipmi"]["powerstate"].as_str().unwrap())
        .collect();
    assert_eq!(powers.len(), 2);
    assert!(powers.contains(&"ON"));
    let bad = c.post("v1/machine/ipmi/find", json!({"id": 5})).await;
    assert_eq!(bad.status, 400, "{:?}", bad.body);
});

// metal-bmc's report: unknown uuids become machines of the partition, known ones of the
// partition get their BMC merged (host replaced, port kept), other partitions stay untouched.
backend_test!(ipmi_report, |api| {
    let r = api
        .admin()
        .put("v1/partition", json!({"id": "fra", "name": "fra"}))
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    seed_waiting_machine(api.store(), "a", "fra", "s", "r1", 4, 100)
        .await
        .unwrap();
    seed_waiting_machine(api.store(), "n", "nbg", "s", "r1", 4, 100)
        .await
        .unwrap();
    metal_api::app::update::<Machine, _>(&api.server.app, "a", |m| {
        m.ipmi.address = "10.9.9.9:6230".into();
        m.ipmi.mac = "aa:00:00:00:00:01".into();
        m.ipmi.fru.board_mfg = "Supermicro".into();
        Ok(())
    })
    .await
    .unwrap();
    let edit = api.client(Caller::Edit);
    let body = json!({"partitionid": "fra", "reports": {
        "a": {"BMCIp": "10.1.0.1", "PowerState": "ON", "FRU": {"product_serial": "S-a"},
              "BMCVersion": "1.2", "BIOSVersion": "2.3"},
        "n": {"BMCIp": "10.1.0.2", "PowerState": "ON"},
        "new1": {"BMCIp": "10.1.0.3", "IndicatorLEDState": "LED-ON", "PowerState": "OFF",
                 "PowerSupplies": [{"status": {"health": "OK", "state": "Enabled"}}]}
    }});
    let r = edit.post("v1/machine/ipmi", body.clone()).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body, json!({"created": ["new1"], "updated": ["a"]}));

    let view = api.client(Caller::View);
    let a = view.get("v1/machine/a/ipmi").await.body;
    assert_eq!(a["ipmi"]["address"], "10.1.0.1:6230");
    assert_eq!(a["ipmi"]["powerstate"], "ON");
    assert_eq!(a["ipmi"]["bmcversion"], "1.2");
    assert_eq!(a["ipmi"]["fru"]["product_serial"], "S-a");
    assert_eq!(a["ipmi"]["fru"]["board_mfg"], "Supermicro");
    assert_eq!(a["bios"]["version"], "2.3");
    assert!(a["ipmi"]["last_updated"].is_string(), "{a}");
    let n = view.get("v1/machine/n/ipmi").await.body;
    assert_eq!(n["ipmi"]["address"], "");
    assert_eq!(n["ipmi"]["powerstate"], "");
    let new1 = view.get("v1/machine/new1/ipmi").await;
    assert_eq!(new1.status, 200, "{:?}", new1.body);
    assert_eq!(new1.body["partition"]["id"], "fra");
    assert_eq!(new1.body["ipmi"]["address"], "10.1.0.3:623");
    assert_eq!(new1.body["ledstate"]["value"], "LED-ON");
    assert_eq!(
        new1.body["ipmi"]["powersupplies"][0]["status"]["state"],
        "Enabled"
    );
    // the BMC data now fresh (the MAC came with the registration): a has no issue left
    let eval = view
        .post("v1/machine/issues/evaluate", json!({"id": "a"}))
        .await;
    assert_eq!(eval.body, json!([]), "{:?}", eval.body);
    // a second report updates both, creates nothing
    let r = edit.post("v1/machine/ipmi", body).await;
    assert_eq!(r.body, json!({"created": [], "updated": ["a", "new1"]}));

    // bad reports change nothing
    let bad = |body: Value, status: u16| {
        let edit = &edit;
        async move {
            let r = edit.post("v1/machine/ipmi", body).await;
            assert_eq!(r.status, status, "{:?}", r.body);
            r.body["message"].as_str().unwrap_or_default().to_string()
        }
    };
    let msg = bad(json!({"reports": {"z": {"BMCIp": "10.1.0.9"}}}), 400).await;
    assert!(msg.contains("partitionid"), "{msg}");
    bad(
        json!({"partitionid": "nope", "reports": {"z": {"BMCIp": "10.1.0.9"}}}),
        404,
    )
    .await;
    let msg = bad(
        json!({"partitionid": "fra", "reports": {"z": {"BMCIp": "10.1.0.9"}, "zz": {"BMCIp": "ten"}}}),
        400,
    )
    .await;
    assert!(msg.contains("\"ten\""), "{msg}");
    assert_eq!(view.get("v1/machine/z").await.status, 404);
    let r = view
        .post(
            "v1/machine/ipmi",
            json!({"partitionid": "fra", "reports": {}}),
        )
        .await;
    assert_eq!(r.status, 403, "{:?}", r.body);
});
