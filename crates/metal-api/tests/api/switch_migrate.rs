//! Switch migration (`POST /v1/switch/migrate`): machine connections, port VRFs and states and
//! the machines' LLDP neighbours move from a switch to its replacement (Cumulus and SONiC port
//! names translated), every refusal writes nothing.

use metal_domain::machine::{Machine, MachineNic as HwNic};
use metal_domain::switch::Switch;
use metal_store::docs;
use metal_testkit::{backend_test, Caller};
use serde_json::{json, Value};

use crate::partition;
use crate::switch::{cable, leaf, pair, ports, states};

/// A SONiC leaf: the register body of [`leaf`] with SONiC as its OS.
fn sonic(id: &str, partition: &str, rack: &str, ports: &[&str]) -> Value {
    let p: Vec<(&str, String)> = ports
        .iter()
        .enumerate()
        .map(|(i, n)| (*n, format!("cc:00:00:00:{}:{i:02}", id.len())))
        .collect();
    let p: Vec<(&str, &str)> = p.iter().map(|(n, m)| (*n, m.as_str())).collect();
    let mut body = leaf(id, rack, &p);
    body["partition_id"] = json!(partition);
    body["os"]["vendor"] = json!("SONiC");
    body
}

fn migrate(old: &str, new: &str) -> Value {
    json!({"old_switch_id": old, "new_switch_id": new})
}

/// `(machine, port, vrf)` of each connection of a switch response, with the VRF of its port.
fn connections(body: &Value) -> Vec<(String, String, String)> {
    body["connections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let port = c["nic"]["name"].as_str().unwrap();
            let vrf = body["nics"]
                .as_array()
                .unwrap()
                .iter()
                .find(|n| n["name"] == port)
                .map(|n| n["vrf"].as_str().unwrap().to_string())
                .unwrap();
            (c["machine_id"].as_str().unwrap().into(), port.into(), vrf)
        })
        .collect()
}

fn triples(v: &[(&str, &str, &str)]) -> Vec<(String, String, String)> {
    v.iter()
        .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
        .collect()
}

backend_test!(switch_migrate_between_cumulus_and_sonic, |api| {
    pair(api).await;
    cable(api, "m1", "swp1").await;
    cable(api, "m2", "swp2").await;
    let c = api.admin();
    // the machines' ports are in their VRFs; an operator took m2's port down
    {
        let mut tx = api.store().begin().await.unwrap();
        let stored = docs::must_get::<Switch>(&mut tx, "leaf01").await.unwrap();
        let mut s = stored.value;
        assert!(s.set_machine_vrf("m1", "vrf42"));
        assert!(s.set_machine_vrf("m2", "vrf43"));
        docs::update(&mut tx, &mut s, stored.revision)
            .await
            .unwrap();
        tx.commit().await.unwrap();
    }
    let r = c
        .post(
            "v1/switch/leaf01/port",
            json!({"nic": "swp2", "status": "DOWN"}),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    // m1 as its registration stored it, with both leaves as LLDP neighbours (m2 is gone: its
    // connections move all the same)
    {
        let mut m1 = Machine {
            id: "m1".into(),
            partitionid: "fra".into(),
            ..Default::default()
        };
        m1.hardware.nics = ["leaf01", "leaf02"]
            .iter()
            .enumerate()
            .map(|(i, sw)| HwNic {
                name: format!("eth{i}"),
                mac: format!("bb:00:00:00:00:0{i}"),
                neighbors: vec![HwNic {
                    name: "swp1".into(),
                    mac: ports(sw)[0].1.clone(),
                    hostname: sw.to_string(),
                    ..Default::default()
                }],
                ..Default::default()
            })
            .collect();
        let mut tx = api.store().begin().await.unwrap();
        docs::insert(&mut tx, &mut m1).await.unwrap();
        tx.commit().await.unwrap();
    }
    let neighbours = || async {
        let mut tx = api.store().begin().await.unwrap();
        let m = docs::must_get::<Machine>(&mut tx, "m1")
            .await
            .unwrap()
            .value;
        m.hardware
            .nics
            .iter()
            .map(|n| {
                let nb = &n.neighbors[0];
                (nb.hostname.clone(), nb.name.clone(), nb.mac.clone())
            })
            .collect::<Vec<_>>()
    };
    let m1_before = neighbours().await;

    // the replacement hardware and some switches that cannot take over
    assert_eq!(c.put("v1/partition", partition("muc")).await.status, 201);
    for body in [
        sonic(
            "leaf03",
            "fra",
            "r1",
            &["Ethernet0", "Ethernet4", "Ethernet8"],
        ),
        sonic("leaf04", "fra", "r2", &["Ethernet0", "Ethernet4"]),
        sonic("leaf05", "muc", "r1", &["Ethernet0", "Ethernet4"]),
        sonic("leaf06", "fra", "r1", &["Ethernet0", "Ethernet8"]),
    ] {
        let r = c.post("v1/switch/register", body).await;
        assert_eq!(r.status, 201, "{:?}", r.body);
    }
    let before: Vec<Value> = {
        let mut all = Vec::new();
        for id in ["leaf01", "leaf02", "leaf03", "leaf04", "leaf05", "leaf06"] {
            all.push(c.get(&format!("v1/switch/{id}")).await.body);
        }
        all
    };

    // refusals, each naming what is wrong
    for (body, status, needle) in [
        (migrate("nope", "leaf03"), 404, "old switch \"nope\""),
        (migrate("leaf01", "nope"), 404, "new switch \"nope\""),
        (migrate("leaf01", "leaf01"), 400, "must differ"),
        (migrate("", "leaf03"), 400, "old_switch_id"),
        (json!({"old_switch_id": "leaf01"}), 400, "new_switch_id"),
        (migrate("leaf01", "leaf04"), 422, "same rack"),
        (migrate("leaf01", "leaf05"), 422, "same partition"),
        (
            migrate("leaf01", "leaf02"),
            422,
            "already has machine connections (m1, m2)",
        ),
        (
            migrate("leaf01", "leaf06"),
            422,
            "Ethernet4 (for swp2, machine m2)",
        ),
    ] {
        let r = c.post("v1/switch/migrate", body.clone()).await;
        assert_eq!(r.status, status, "{body}: {:?}", r.body);
        assert!(r.message().contains(needle), "{body}: {}", r.message());
    }
    // the role: editors migrate, as in metal-stack
    let r = api
        .client(Caller::View)
        .post("v1/switch/migrate", migrate("leaf01", "leaf03"))
        .await;
    assert_eq!(r.status, 403);
    // nothing was written by a refusal
    assert_eq!(neighbours().await, m1_before);
    for (i, id) in ["leaf01", "leaf02", "leaf03", "leaf04", "leaf05", "leaf06"]
        .iter()
        .enumerate()
    {
        assert_eq!(
            c.get(&format!("v1/switch/{id}")).await.body,
            before[i],
            "{id}"
        );
    }

    // Cumulus to SONiC: swp1 is Ethernet0, swp2 is Ethernet4
    let r = c
        .post("v1/switch/migrate", migrate("leaf01", "leaf03"))
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["id"], "leaf03");
    assert_eq!(r.body["partition"]["id"], "fra");
    assert_eq!(
        connections(&r.body),
        triples(&[("m1", "Ethernet0", "vrf42"), ("m2", "Ethernet4", "vrf43")])
    );
    let nic = |body: &Value, name: &str| {
        body["nics"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["name"] == name)
            .cloned()
            .unwrap()
    };
    assert_eq!(
        nic(&r.body, "Ethernet4")["actual"],
        "DOWN",
        "the pending state moved"
    );
    assert_eq!(
        r.body["connections"][1]["nic"]["mac"],
        nic(&r.body, "Ethernet4")["mac"],
        "the connection names the new switch's port"
    );
    assert_eq!(nic(&r.body, "Ethernet8")["vrf"], "");
    assert_eq!(c.get("v1/switch/leaf03").await.body, r.body);
    // the old switch stays registered, with its ports but without machines
    let old = c.get("v1/switch/leaf01").await;
    assert_eq!(old.status, 200);
    assert!(connections(&old.body).is_empty());
    let (nics, _) = states(&old.body);
    assert_eq!(nics.len(), 2);
    assert!(old.body["nics"]
        .as_array()
        .unwrap()
        .iter()
        .all(|n| n["vrf"] == "" && n["actual"] == "UNKNOWN"));
    // the twin is untouched; m1 sees leaf03's port where it saw leaf01's
    assert_eq!(c.get("v1/switch/leaf02").await.body, before[1]);
    let leaf03_e0 = nic(&r.body, "Ethernet0")["mac"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        neighbours().await,
        [
            ("leaf03".to_string(), "Ethernet0".to_string(), leaf03_e0),
            m1_before[1].clone()
        ]
    );

    // and back, SONiC to Cumulus, now that leaf01 has no connections
    let r = c
        .post("v1/switch/migrate", migrate("leaf03", "leaf01"))
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(
        connections(&r.body),
        triples(&[("m1", "swp1", "vrf42"), ("m2", "swp2", "vrf43")])
    );
    assert_eq!(nic(&r.body, "swp2")["actual"], "DOWN");
    assert!(connections(&c.get("v1/switch/leaf03").await.body).is_empty());
    assert_eq!(neighbours().await, m1_before);
});
