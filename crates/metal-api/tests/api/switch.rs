//! Switches: registration by metal-core (new, known, replacement hardware), notify, port
//! toggle, update, delete and search, with every error status and that a failed request
//! writes nothing. Machine connections are made as a machine's registration makes them, with
//! the domain's connection rule over the stored switches.

use metal_domain::switch::connect::{connect_machine, MachineNic, Neighbor};
use metal_domain::switch::Switch;
use metal_store::docs;
use metal_testkit::{backend_test, Caller, TestApi};
use serde_json::{json, Value};

use crate::partition;

/// A register body as metal-core sends it; ports are `(name, mac)`.
pub(crate) fn leaf(id: &str, rack: &str, ports: &[(&str, &str)]) -> Value {
    let nics: Vec<Value> = ports
        .iter()
        .map(|(name, mac)| json!({"name": name, "mac": mac}))
        .collect();
    json!({
        "id": id, "name": id, "partition_id": "fra", "rack_id": rack, "nics": nics,
        "os": {"vendor": "Cumulus", "version": "5.1", "metal_core_version": "v0.9.1 (1d5e42e), go1.20"},
        "management_ip": "10.1.0.1", "management_user": "cumulus"
    })
}

/// The ports of the leaf pair of rack r1: swp1 and swp2, macs by switch.
pub(crate) fn ports(switch: &str) -> Vec<(&'static str, String)> {
    let n = if switch == "leaf01" { 1 } else { 2 };
    vec![
        ("swp1", format!("aa:00:00:00:0{n}:01")),
        ("swp2", format!("aa:00:00:00:0{n}:02")),
    ]
}

fn leaf_with(id: &str, rack: &str, ports: &[(&'static str, String)]) -> Value {
    let p: Vec<(&str, &str)> = ports.iter().map(|(n, m)| (*n, m.as_str())).collect();
    leaf(id, rack, &p)
}

/// A partition and the leaf pair of rack r1.
pub(crate) async fn pair(api: &TestApi) {
    let c = api.admin();
    assert_eq!(c.put("v1/partition", partition("fra")).await.status, 201);
    for id in ["leaf01", "leaf02"] {
        let r = c
            .post("v1/switch/register", leaf_with(id, "r1", &ports(id)))
            .await;
        assert_eq!(r.status, 201, "{:?}", r.body);
    }
}

/// Cables a machine to `port` of both leaves, as its registration would record it.
pub(crate) async fn cable(api: &TestApi, machine: &str, port: &str) {
    let nics: Vec<MachineNic> = ["leaf01", "leaf02"]
        .iter()
        .enumerate()
        .map(|(i, sw)| {
            let mac = ports(sw)
                .into_iter()
                .find(|(n, _)| *n == port)
                .map(|(_, m)| m)
                .expect("known port");
            MachineNic {
                name: format!("eth{i}"),
                mac: format!("bb:00:00:00:00:0{i}"),
                identifier: String::new(),
                neighbors: vec![Neighbor {
                    name: port.into(),
                    mac,
                    identifier: String::new(),
                    hostname: sw.to_string(),
                }],
            }
        })
        .collect();
    let mut tx = api.store().begin().await.unwrap();
    let switches = docs::list::<Switch>(&mut tx).await.unwrap();
    let placement = connect_machine(machine, &nics, &switches).unwrap();
    assert_eq!(placement.rack_id, "r1");
    for mut s in placement.switches {
        let rev = docs::must_get::<Switch>(&mut tx, &s.id)
            .await
            .unwrap()
            .revision;
        docs::update(&mut tx, &mut s, rev).await.unwrap();
    }
    tx.commit().await.unwrap();
}

/// `(port, actual)` of the ports, `(machine, port, actual)` of the connections.
type States = (Vec<(String, String)>, Vec<(String, String, String)>);

/// The states of the ports and of the connections of a switch.
pub(crate) fn states(body: &Value) -> States {
    let nics = body["nics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            (
                n["name"].as_str().unwrap().into(),
                n["actual"].as_str().unwrap().into(),
            )
        })
        .collect();
    let cons = body["connections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["machine_id"].as_str().unwrap().into(),
                c["nic"]["name"].as_str().unwrap().into(),
                c["nic"]["actual"].as_str().unwrap().into(),
            )
        })
        .collect();
    (nics, cons)
}

fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
    v.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

backend_test!(switch_register_find_and_errors, |api| {
    let c = api.admin();
    assert_eq!(c.put("v1/partition", partition("fra")).await.status, 201);

    // the partition must exist; nothing is written otherwise
    let r = c
        .post("v1/switch/register", leaf("leaf01", "r1", &[]))
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let mut other = leaf("leaf09", "r1", &[]);
    other["partition_id"] = json!("nowhere");
    let r = c.post("v1/switch/register", other).await;
    assert_eq!(r.status, 422);
    assert!(r.message().contains("partition_id"), "{}", r.message());
    assert_eq!(c.get("v1/switch/leaf09").await.status, 404);

    // request rules: 400 naming the field
    for (body, field) in [
        (
            json!({"partition_id": "fra", "rack_id": "r1", "nics": []}),
            "id",
        ),
        (leaf("leaf09", "", &[]), "rack_id"),
        (
            leaf("leaf09", "r1", &[("swp1", "aa:01"), ("swp2", "aa:01")]),
            "duplicate identifier",
        ),
        (
            leaf("leaf09", "r1", &[("swp1", "aa:01"), ("swp1", "aa:02")]),
            "duplicate name",
        ),
        (json!({"id": 7}), "invalid request body"),
    ] {
        let r = c.post("v1/switch/register", body).await;
        assert_eq!(r.status, 400, "{:?}", r.body);
        assert!(r.message().contains(field), "{field}: {}", r.message());
    }
    assert_eq!(c.get("v1/switch/leaf09").await.status, 404);

    // metal-core registers with an edit key; view is not enough
    let r = api
        .client(Caller::View)
        .post("v1/switch/register", leaf("leaf02", "r1", &[]))
        .await;
    assert_eq!(r.status, 403);
    let r = api
        .client(Caller::Edit)
        .post(
            "v1/switch/register",
            leaf_with("leaf02", "r1", &ports("leaf02")),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(r.body["partition"]["id"], "fra");
    assert_eq!(r.body["partition"]["name"], "fra");
    assert_eq!(r.body["mode"], "operational");
    assert_eq!(r.body["os"]["vendor"], "Cumulus");
    assert_eq!(r.body["connections"], json!([]));
    assert_eq!(
        states(&r.body).0,
        pairs(&[("swp1", "UNKNOWN"), ("swp2", "UNKNOWN")])
    );

    // a known switch answers 200 and takes the reported ports and facts
    let mut again = leaf("leaf01", "r1", &[("swp3", "aa:03")]);
    again["management_ip"] = json!("10.1.0.9");
    let r = c.post("v1/switch/register", again).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["management_ip"], "10.1.0.9");
    assert_eq!(r.body["nics"][0]["name"], "swp3");

    // reads and searches
    let r = c.get("v1/switch/leaf01").await;
    assert_eq!((r.status, r.body["rack_id"].as_str()), (200, Some("r1")));
    assert_eq!(c.get("v1/switch/nope").await.status, 404);
    let ids = |r: &metal_testkit::TestResponse| -> Vec<String> {
        r.body
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["id"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        ids(&api.client(Caller::View).get("v1/switch").await),
        ["leaf01", "leaf02"]
    );
    for (q, want) in [
        (json!({}), vec!["leaf01", "leaf02"]),
        (
            json!({"partitionid": "fra", "rackid": "r1"}),
            vec!["leaf01", "leaf02"],
        ),
        (json!({"name": "leaf02"}), vec!["leaf02"]),
        (
            json!({"osvendor": "Cumulus", "osversion": "5.1"}),
            vec!["leaf01", "leaf02"],
        ),
        (json!({"rackid": ""}), vec!["leaf01", "leaf02"]),
        (json!({"rackid": "r2"}), vec![]),
        (json!({"id": "leaf01", "osvendor": "SONiC"}), vec![]),
    ] {
        let r = api
            .client(Caller::View)
            .post("v1/switch/find", q.clone())
            .await;
        assert_eq!(r.status, 200, "{q}");
        assert_eq!(ids(&r), want, "{q}");
    }
});

backend_test!(switch_update_and_delete, |api| {
    pair(api).await;
    let c = api.admin();
    let r = c
        .post("v1/switch", json!({"id": "leaf01", "description": "row 3", "console_command": "telnet cs 7001", "mode": "replace"}))
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["description"], "row 3");
    assert_eq!(r.body["console_command"], "telnet cs 7001");
    assert_eq!(r.body["mode"], "replace");
    // absent fields stay; an unknown mode is operational
    let r = c
        .post(
            "v1/switch",
            json!({"id": "leaf01", "rack_id": "r1", "mode": "whatever"}),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["mode"], "operational");
    assert_eq!(r.body["description"], "row 3");
    assert_eq!(c.post("v1/switch", json!({"id": "nope"})).await.status, 404);
    assert_eq!(
        c.post("v1/switch", json!({"description": "x"}))
            .await
            .status,
        400
    );
    let r = api
        .client(Caller::Edit)
        .post("v1/switch", json!({"id": "leaf01", "description": "x"}))
        .await;
    assert_eq!(r.status, 403);
    assert_eq!(c.get("v1/switch/leaf01").await.body["description"], "row 3");

    // delete: refused while a machine is connected, unless forced
    cable(api, "m1", "swp1").await;
    let r = c.delete("v1/switch/leaf01").await;
    assert_eq!(r.status, 422);
    assert!(r.message().contains("m1"), "{}", r.message());
    assert_eq!(c.get("v1/switch/leaf01").await.status, 200);
    let r = c.delete("v1/switch/leaf01?force=maybe").await;
    assert_eq!(r.status, 400);
    assert!(r.message().contains("force"), "{}", r.message());
    let r = c.delete("v1/switch/leaf01?force=true").await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["id"], "leaf01");
    assert_eq!(c.get("v1/switch/leaf01").await.status, 404);
    assert_eq!(c.delete("v1/switch/leaf01").await.status, 404);
    // a switch without machines goes at once, with an edit key
    let r = c
        .post(
            "v1/switch/register",
            leaf("leaf03", "r2", &[("swp1", "cc:01")]),
        )
        .await;
    assert_eq!(r.status, 201);
    assert_eq!(
        api.client(Caller::View)
            .delete("v1/switch/leaf03")
            .await
            .status,
        403
    );
    assert_eq!(
        api.client(Caller::Edit)
            .delete("v1/switch/leaf03")
            .await
            .status,
        200
    );
});

backend_test!(switch_notify_and_port_toggle, |api| {
    pair(api).await;
    cable(api, "m1", "swp1").await;
    let c = api.admin();
    let edit = api.client(Caller::Edit);

    let r = edit
        .post("v1/switch/leaf01/notify", json!({"sync_duration": 1_500_000_000u64, "error": null, "port_states": {"swp1": "UP", "swp2": "DOWN", "swp9": "UP"}}))
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["id"], "leaf01");
    assert_eq!(r.body["last_sync"]["duration"], 1_500_000_000u64);
    assert!(r.body.get("last_sync_error").is_none());
    let sw = c.get("v1/switch/leaf01").await.body;
    let synced = sw["last_sync"]["time"].clone();
    assert_eq!(
        states(&sw),
        (
            pairs(&[("swp1", "UP"), ("swp2", "DOWN")]),
            vec![("m1".into(), "swp1".into(), "UP".into())]
        )
    );
    // a failed sync is kept beside the last good one
    let r = edit
        .post(
            "v1/switch/leaf01/notify",
            json!({"sync_duration": 5, "error": "frr reload failed"}),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["last_sync_error"]["error"], "frr reload failed");
    assert_eq!(r.body["last_sync"]["time"], synced);
    assert_eq!(
        edit.post("v1/switch/nope/notify", json!({"sync_duration": 1}))
            .await
            .status,
        404
    );
    let r = edit
        .post("v1/switch/leaf01/notify", json!({"sync_duration": -1}))
        .await;
    assert_eq!(r.status, 400);
    assert!(r.message().contains("sync_duration"), "{}", r.message());
    assert_eq!(
        api.client(Caller::View)
            .post("v1/switch/leaf01/notify", json!({"sync_duration": 1}))
            .await
            .status,
        403
    );

    // toggle: the port shows the desired state, the connection the real one until reported
    let r = c
        .post(
            "v1/switch/leaf01/port",
            json!({"nic": "swp1", "status": "DOWN"}),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(
        states(&r.body),
        (
            pairs(&[("swp1", "DOWN"), ("swp2", "DOWN")]),
            vec![("m1".into(), "swp1".into(), "UP".into())]
        )
    );
    edit.post(
        "v1/switch/leaf01/notify",
        json!({"sync_duration": 1, "port_states": {"swp1": "DOWN"}}),
    )
    .await;
    let sw = c.get("v1/switch/leaf01").await.body;
    assert_eq!(
        states(&sw).1,
        vec![("m1".into(), "swp1".into(), "DOWN".into())]
    );
    let r = c
        .post(
            "v1/switch/leaf01/port",
            json!({"nic": "SWP1", "status": "up"}),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(states(&r.body).0[0], ("swp1".into(), "UP".into()));
    edit.post(
        "v1/switch/leaf01/notify",
        json!({"sync_duration": 1, "port_states": {"swp1": "UP"}}),
    )
    .await;
    assert_eq!(
        states(&c.get("v1/switch/leaf01").await.body).1,
        vec![("m1".into(), "swp1".into(), "UP".into())]
    );

    // toggle errors; none of them changes the port
    for (path, body, status, words) in [
        (
            "v1/switch/leaf01/port",
            json!({"nic": "swp7", "status": "DOWN"}),
            404,
            "swp7",
        ),
        (
            "v1/switch/leaf01/port",
            json!({"nic": "swp1", "status": "UNKNOWN"}),
            400,
            "concrete",
        ),
        (
            "v1/switch/leaf01/port",
            json!({"nic": "swp2", "status": "UP"}),
            422,
            "connected machine",
        ),
        (
            "v1/switch/nope/port",
            json!({"nic": "swp1", "status": "DOWN"}),
            404,
            "nope",
        ),
    ] {
        let r = c.post(path, body.clone()).await;
        assert_eq!(r.status, status, "{body}: {:?}", r.body);
        assert!(r.message().contains(words), "{}", r.message());
    }
    let r = edit
        .post(
            "v1/switch/leaf01/port",
            json!({"nic": "swp1", "status": "DOWN"}),
        )
        .await;
    assert_eq!(r.status, 403);
    assert_eq!(
        states(&c.get("v1/switch/leaf01").await.body).0,
        pairs(&[("swp1", "UP"), ("swp2", "DOWN")])
    );
});

backend_test!(switch_reregister_and_replace, |api| {
    pair(api).await;
    cable(api, "m1", "swp1").await;
    let c = api.admin();
    // a connected port may neither vanish nor be renamed
    let swp2 = ports("leaf01")[1].clone();
    let r = c
        .post(
            "v1/switch/register",
            leaf_with("leaf01", "r1", std::slice::from_ref(&swp2)),
        )
        .await;
    assert_eq!(r.status, 422);
    assert!(r.message().contains("m1"), "{}", r.message());
    let mut renamed = ports("leaf01");
    renamed[0].0 = "swp9";
    let r = c
        .post("v1/switch/register", leaf_with("leaf01", "r1", &renamed))
        .await;
    assert_eq!(r.status, 422);
    assert!(r.message().contains("renamed"), "{}", r.message());
    let sw = c.get("v1/switch/leaf01").await.body;
    assert_eq!(states(&sw).0.len(), 2);
    // the same ports and a new one: connections stay
    let mut more = ports("leaf01");
    more.push(("swp3", "aa:00:00:00:01:03".into()));
    let r = c
        .post("v1/switch/register", leaf_with("leaf01", "r1", &more))
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(states(&r.body).1.len(), 1);

    // the twin's port of m1 is in the machine's VRF
    {
        let mut tx = api.store().begin().await.unwrap();
        let stored = docs::must_get::<Switch>(&mut tx, "leaf02").await.unwrap();
        let mut twin = stored.value;
        assert!(twin.set_machine_vrf("m1", "vrf42"));
        docs::update(&mut tx, &mut twin, stored.revision)
            .await
            .unwrap();
        tx.commit().await.unwrap();
    }
    // leaf01 breaks; its replacement lacks a port of the twin
    let r = c
        .post("v1/switch", json!({"id": "leaf01", "mode": "replace"}))
        .await;
    assert_eq!(r.status, 200);
    let new_hw = [("swp1", "dd:00:00:00:00:01".to_string())];
    let r = c
        .post("v1/switch/register", leaf_with("leaf01", "r1", &new_hw))
        .await;
    assert_eq!(r.status, 422);
    assert!(r.message().contains("swp2"), "{}", r.message());
    assert_eq!(c.get("v1/switch/leaf01").await.body["mode"], "replace");
    // complete replacement hardware adopts the twin's VRFs and connections
    let new_hw = [
        ("swp1", "dd:00:00:00:00:01".to_string()),
        ("swp2", "dd:00:00:00:00:02".to_string()),
    ];
    let r = c
        .post("v1/switch/register", leaf_with("leaf01", "r1", &new_hw))
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["mode"], "operational");
    assert_eq!(r.body["nics"][0]["vrf"], "vrf42");
    assert_eq!(r.body["nics"][0]["mac"], "dd:00:00:00:00:01");
    assert_eq!(r.body["connections"][0]["machine_id"], "m1");
    assert_eq!(r.body["connections"][0]["nic"]["mac"], "dd:00:00:00:00:01");
    assert_eq!(
        states(&r.body).0.len(),
        2,
        "swp3 went with the old hardware"
    );
});

backend_test!(switch_ports_carry_the_bgp_filter_of_their_machine, |api| {
    // partition fra with a private super network 10.0.0.0/16, the internet, an underlay
    let tenant = crate::machine::world(api, 1).await;
    let c = api.admin();
    for id in ["leaf01", "leaf02"] {
        let mut body = leaf_with(id, "r1", &ports(id));
        body["partition_id"] = json!("fra");
        let r = c.post("v1/switch/register", body).await;
        assert_eq!(r.status, 201, "{:?}", r.body);
    }
    cable(api, "m000", "swp1").await;
    let filter_of = |body: &Value, port: &str| -> Value {
        body["nics"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["name"] == port)
            .unwrap()
            .get("filter")
            .cloned()
            .unwrap_or(Value::Null)
    };
    // not allocated: no filter
    let r = c.get("v1/switch/leaf01").await;
    assert_eq!(filter_of(&r.body, "swp1"), Value::Null);
    let r = api
        .client(Caller::Edit)
        .post(
            "v1/machine/allocate",
            json!({"uuid": "m000", "projectid": "p1", "imageid": "ubuntu-22.04",
            "networks": [{"networkid": tenant}, {"networkid": "internet"}]}),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let private = r.body["allocation"]["networks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["private"] == true)
        .unwrap()
        .clone();
    let prefix = private["prefixes"][0].as_str().unwrap().to_string();
    // a public IP of the project, not the machine's: announced as a host route
    let ip = api
        .client(Caller::Edit)
        .post(
            "v1/ip/allocate",
            json!({"networkid": "internet", "projectid": "p1"}),
        )
        .await;
    assert_eq!(ip.status, 201, "{:?}", ip.body);
    let public = ip.body["ipaddress"].as_str().unwrap().to_string();
    metal_api::app::boot::report(
        &api.server.app,
        "m000",
        Some(metal_domain::machine::BootInfo::default()),
        "pw",
    )
    .await
    .unwrap();
    for sw in ["leaf01", "leaf02"] {
        let r = c.get(&format!("v1/switch/{sw}")).await;
        let nic = r.body["nics"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["name"] == "swp1")
            .unwrap()
            .clone();
        assert_eq!(nic["vrf"], format!("vrf{}", private["vrf"]), "{sw}");
        let f = filter_of(&r.body, "swp1");
        let cidrs: Vec<&str> = f["cidrs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap())
            .collect();
        assert!(cidrs.contains(&prefix.as_str()), "{sw}: {f}");
        assert!(
            cidrs.contains(&format!("{public}/32").as_str()),
            "{sw}: {f}"
        );
        // the machine's own internet IP counts too (an IP of the project outside its private network)
        assert_eq!(f["vnis"], json!([]), "{sw}");
        // ports without a machine have none
        assert_eq!(filter_of(&r.body, "swp2"), Value::Null, "{sw}");
    }
    // the list and find answers carry it too
    let all = c.get("v1/switch").await;
    assert!(all
        .body
        .as_array()
        .unwrap()
        .iter()
        .all(|s| !filter_of(s, "swp1").is_null()));
    // freed: the port leaves the VRF, the filter goes
    let r = api
        .client(Caller::Edit)
        .delete("v1/machine/m000/free")
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let r = c.get("v1/switch/leaf01").await;
    assert_eq!(filter_of(&r.body, "swp1"), Value::Null);
});
