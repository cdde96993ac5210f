//! Machine allocation over HTTP (§4.1): candidates, networks and IPs, ASN, size-image
//! constraints, free, state, delete; and parallel allocations that never give a machine or an
//! IP twice. Machines are seeded as registration leaves them (waiting, alive).

use std::collections::HashSet;

use futures::future::join_all;
use metal_testkit::{backend_test, seed_waiting_machine, Caller, TestApi, TestClient};
use serde_json::{json, Value};

use crate::network::{setup, super_network};

/// Partition `fra` with a private super network, the internet, an underlay; size
/// n1-medium-x86 (4 cores); machine and firewall images; a layout for both; a tenant network of
/// p1. Returns the tenant network id.
pub(crate) async fn world(api: &TestApi, machines: usize) -> String {
    let c = api.admin();
    setup(&c).await;
    assert_eq!(
        c.put("v1/network", super_network("super", &["10.0.0.0/16"]))
            .await
            .status,
        201
    );
    c.put("v1/network", json!({"id": "internet", "prefixes": ["185.1.2.0/24"], "destinationprefixes": ["0.0.0.0/0"], "shared": true, "nat": true})).await;
    c.put("v1/network", json!({"id": "underlay", "partitionid": "fra", "prefixes": ["10.255.0.0/24"], "underlay": true})).await;
    c.put(
        "v1/size",
        json!({"id": "n1-medium-x86", "constraints": [{"type": "cores", "min": 4, "max": 4}]}),
    )
    .await;
    for (id, f) in [
        ("ubuntu-22.04.20240101", "machine"),
        ("firewall-ubuntu-2.0.20201126", "firewall"),
        ("firewall-ubuntu-2.0.20210912", "firewall"),
    ] {
        let r = c
            .put(
                "v1/image",
                json!({"id": id, "url": "http://images.test/x", "features": [f]}),
            )
            .await;
        assert_eq!(r.status, 201, "{:?}", r.body);
    }
    let layout = json!({"id": "default", "constraints": {"sizes": ["n1-medium-x86"], "images": {"ubuntu": "*", "firewall-ubuntu": "*"}},
        "disks": [{"device": "/dev/sda", "partitions": [{"number": 1, "size": 0, "gpttype": "8300"}]}],
        "filesystems": [{"path": "/", "device": "/dev/sda1", "format": "ext4"}]});
    assert_eq!(c.put("v1/filesystemlayout", layout).await.status, 201);
    for i in 0..machines {
        seed_waiting_machine(
            api.store(),
            &format!("m{i:03}"),
            "fra",
            "n1-medium-x86",
            &format!("rack-{}", i % 3),
            4,
            100,
        )
        .await
        .unwrap();
    }
    let r = c
        .post(
            "v1/network/allocate",
            json!({"partitionid": "fra", "projectid": "p1", "name": "p1-net"}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    r.body["id"].as_str().unwrap().to_string()
}

fn alloc(tenant: &str) -> Value {
    json!({"projectid": "p1", "partitionid": "fra", "sizeid": "n1-medium-x86", "imageid": "ubuntu-22.04", "name": "web-1", "hostname": "web-1",
        "ssh_pub_keys": ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl u@h"],
        "tags": ["team=a"], "networks": [{"networkid": tenant}, {"networkid": "internet"}]})
}

backend_test!(allocate_and_free_a_machine, |api| {
    let tenant = world(api, 3).await;
    let c = api.client(Caller::Edit);
    let r = c.post("v1/machine/allocate", alloc(&tenant)).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let m = r.body.clone();
    let id = m["id"].as_str().unwrap().to_string();
    let a = &m["allocation"];
    assert_eq!(a["project"], "p1");
    assert_eq!(
        a["image"]["id"], "ubuntu-22.04.20240101",
        "the image id resolves to the newest"
    );
    assert_eq!(a["filesystemlayout"]["id"], "default");
    assert_eq!(a["hostname"], "web-1");
    assert_eq!(a["creator"], "metal-edit@metal-stack.io");
    assert_eq!(a["role"], "machine");
    let nets = a["networks"].as_array().unwrap();
    assert_eq!(nets.len(), 2);
    assert_eq!(nets[0]["networktype"], "privateprimaryunshared");
    assert_eq!(nets[1]["networktype"], "external");
    let asn = nets[0]["asn"].as_u64().unwrap();
    assert!(asn > 4_210_000_000);
    assert_eq!(nets[1]["asn"].as_u64(), Some(asn), "one ASN per allocation");
    let ips: Vec<String> = nets
        .iter()
        .map(|n| n["ips"][0].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ips[0], "10.0.0.1");
    assert_eq!(ips[1], "185.1.2.1");
    let tags: Vec<&str> = m["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    assert!(tags.contains(&"team=a"));
    assert!(
        tags.contains(&format!("machine.metal-stack.io/network.primary.asn={asn}").as_str()),
        "{tags:?}"
    );
    assert!(
        tags.iter()
            .any(|t| t.starts_with("machine.metal-stack.io/rack=")),
        "{tags:?}"
    );
    // the ips are ephemeral and tagged with the machine
    let ip = c.get(&format!("v1/ip/{}", ips[1])).await.body;
    assert_eq!(ip["type"], "ephemeral");
    assert_eq!(
        ip["tags"],
        json!([format!("machine.metal-stack.io/id={id}")])
    );
    // find
    let found = c
        .post(
            "v1/machine/find",
            json!({"allocation_project": "p1", "network_ips": [ips[0]]}),
        )
        .await;
    assert_eq!(found.body.as_array().unwrap().len(), 1);
    assert_eq!(
        c.post("v1/machine/find", json!({"allocation_project": "p2"}))
            .await
            .body
            .as_array()
            .unwrap()
            .len(),
        0
    );
    assert_eq!(c.get("v1/machine").await.body.as_array().unwrap().len(), 3);
    assert_eq!(
        c.get(&format!("v1/machine/{id}")).await.body["liveliness"],
        "Alive"
    );
    // firewall endpoints do not show machines
    assert_eq!(c.get(&format!("v1/firewall/{id}")).await.status, 404);

    // free: ips released, machine available again
    let r = c.delete(&format!("v1/machine/{id}/free")).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert!(r.body["allocation"].is_null());
    assert_eq!(c.get(&format!("v1/ip/{}", ips[1])).await.status, 404);
    assert_eq!(c.get(&format!("v1/ip/{}", ips[0])).await.status, 404);
    assert_eq!(
        c.get("v1/network/internet").await.body["usage"]["used_ips"],
        2
    );
    // the PXE boot and reset for the BMC agent are queued with the free
    let mut conn = api.store().reader().acquire().await.unwrap();
    let queued = metal_store::commands::pending(&mut conn, "fra")
        .await
        .unwrap();
    drop(conn);
    let cmds: Vec<(&str, &str)> = queued
        .iter()
        .map(|q| (q.machine_id.as_str(), q.command.as_str()))
        .collect();
    assert_eq!(cmds, vec![(id.as_str(), "PXE"), (id.as_str(), "RESET")]);
    let r = c.post("v1/machine/allocate", json!({"uuid": id, "projectid": "p1", "imageid": "ubuntu-22.04", "networks": [{"networkid": tenant}]})).await;
    assert_eq!(r.status, 200, "an explicit uuid: {:?}", r.body);
    assert_eq!(
        r.body["allocation"]["networks"][0]["ips"][0], "10.0.0.1",
        "the freed address is handed out again"
    );
    let r = c.post("v1/machine/allocate", json!({"uuid": id, "projectid": "p1", "imageid": "ubuntu-22.04", "networks": [{"networkid": tenant}]})).await;
    assert_eq!(r.status, 422);
    assert!(r.message().contains("already allocated"), "{}", r.message());
});

backend_test!(allocation_rules_and_errors, |api| {
    let tenant = world(api, 2).await;
    let c = api.client(Caller::Edit);
    let mut no_nets = alloc(&tenant);
    no_nets["networks"] = json!([]);
    let mut bad_image = alloc(&tenant);
    bad_image["imageid"] = json!("centos-7");
    let mut fw_image = alloc(&tenant);
    fw_image["imageid"] = json!("firewall-ubuntu-2.0");
    let mut bad_key = alloc(&tenant);
    bad_key["ssh_pub_keys"] = json!(["not a key"]);
    let mut bad_ip = alloc(&tenant);
    bad_ip["ips"] = json!(["1.2.3.999"]);
    let mut foreign = alloc(&tenant);
    foreign["projectid"] = json!("p2");
    let mut no_size = alloc(&tenant);
    no_size["sizeid"] = json!("");
    let mut unknown_net = alloc(&tenant);
    unknown_net["networks"] = json!([{"networkid": "ghost"}]);
    let cases = vec![
        (no_nets, 400, "networks"),
        (bad_image, 400, "centos"),
        (fw_image, 400, "feature machine"),
        (bad_key, 400, "ssh"),
        (bad_ip, 400, "not a valid IP"),
        (foreign, 422, "belongs to project p1"),
        (no_size, 400, "sizeid"),
        (unknown_net, 404, "ghost"),
    ];
    for (body, status, msg) in cases {
        let r = c.post("v1/machine/allocate", body.clone()).await;
        assert_eq!(r.status, status, "{body}: {:?}", r.body);
        assert!(r.message().contains(msg), "{}: {}", body, r.message());
    }
    // nothing was taken by the failed requests
    assert_eq!(
        c.get("v1/network/internet").await.body["usage"]["used_ips"],
        2
    );
    assert!(c
        .get("v1/machine")
        .await
        .body
        .as_array()
        .unwrap()
        .iter()
        .all(|m| m["allocation"].is_null()));

    // reserved machines are skipped by random allocation, locked ones cannot be freed
    let r = c
        .post("v1/machine/m000/state", json!({"value": "RESERVED"}))
        .await;
    assert_eq!(r.status, 400, "a description is required");
    assert_eq!(
        c.post(
            "v1/machine/m000/state",
            json!({"value": "RESERVED", "description": "demo"})
        )
        .await
        .status,
        200
    );
    let r = c.post("v1/machine/allocate", alloc(&tenant)).await;
    assert_eq!(r.body["id"], "m001");
    let r = c.post("v1/machine/allocate", alloc(&tenant)).await;
    assert_eq!(r.status, 422);
    assert_eq!(
        r.message(),
        "no machine available in partition fra with size n1-medium-x86"
    );
    let r = c
        .post(
            "v1/machine/m001/state",
            json!({"value": "LOCKED", "description": "keep"}),
        )
        .await;
    assert_eq!(r.body["state"]["issuer"], "metal-edit@metal-stack.io");
    assert_eq!(c.delete("v1/machine/m001/free").await.status, 422);
    // delete needs an unallocated dead machine
    assert_eq!(api.admin().delete("v1/machine/m001").await.status, 422);
    assert_eq!(
        api.admin().delete("v1/machine/m000").await.status,
        422,
        "alive"
    );
});

// The example of metal-stack's release notes: a size-image constraint refuses an old firewall
// image with 422 and the constraint in the message, a newer one works.
backend_test!(firewall_and_size_image_constraint, |api| {
    let tenant = world(api, 2).await;
    let admin = api.admin();
    let r = admin.put("v1/size-image-constraint", json!({"id": "n1-medium-x86", "constraints": {"images": {"firewall-ubuntu": ">= 2.0.20210912"}}})).await;
    assert_eq!(r.status, 201);
    let c = api.client(Caller::Edit);
    let fw = |image: &str| {
        json!({"projectid": "p1", "partitionid": "fra", "sizeid": "n1-medium-x86", "imageid": image, "name": "fw",
            "networks": [{"networkid": tenant}, {"networkid": "internet"}],
            "firewall_rules": {"egress": [{"protocol": "TCP", "ports": [443], "to": ["0.0.0.0/0"], "comment": "https out"}]}})
    };
    let r = c
        .post("v1/firewall/allocate", fw("firewall-ubuntu-2.0.20201126"))
        .await;
    assert_eq!(r.status, 422, "{:?}", r.body);
    assert_eq!(
        r.message(),
        "given size:n1-medium-x86 with image:firewall-ubuntu-2.0.20201126 does violate image constraint:firewall-ubuntu >=2.0.20210912"
    );
    let r = c
        .post("v1/firewall/allocate", fw("firewall-ubuntu-2.0.20210912"))
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let a = &r.body["allocation"];
    assert_eq!(a["role"], "firewall");
    assert_eq!(a["firewall_rules"]["egress"][0]["protocol"], "tcp");
    let kinds: Vec<&str> = a["networks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["networktype"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        vec!["privateprimaryunshared", "external", "underlay"]
    );
    let id = r.body["id"].as_str().unwrap();
    assert_eq!(c.get(&format!("v1/firewall/{id}")).await.status, 200);
    assert_eq!(c.get("v1/firewall").await.body.as_array().unwrap().len(), 1);
    let mut bad_rules = fw("firewall-ubuntu-2.0.20210912");
    bad_rules["firewall_rules"]["egress"][0]["to"] = json!(["0.0.0.0/0", "::/0"]);
    assert_eq!(c.post("v1/firewall/allocate", bad_rules).await.status, 400);
});

backend_test!(parallel_allocations_never_share_a_machine, |api| {
    let tenant = world(api, 12).await;
    let clients: Vec<TestClient> = (0..8).map(|_| api.client(Caller::Edit)).collect();
    let futs = (0..20).map(|i| {
        let c = clients[i % clients.len()].clone();
        let body = alloc(&tenant);
        tokio::spawn(async move { c.post("v1/machine/allocate", body).await })
    });
    let rs: Vec<_> = join_all(futs)
        .await
        .into_iter()
        .map(|r| r.unwrap())
        .collect();
    let ok: Vec<_> = rs.iter().filter(|r| r.status == 200).collect();
    assert_eq!(
        ok.len(),
        12,
        "{:?}",
        rs.iter()
            .filter(|r| r.status != 200)
            .map(|r| r.message().to_string())
            .collect::<Vec<_>>()
    );
    for r in rs.iter().filter(|r| r.status != 200) {
        assert_eq!(r.status, 422, "{:?}", r.body);
        assert!(
            r.message().contains("no machine available"),
            "{}",
            r.message()
        );
    }
    let machines: HashSet<_> = ok
        .iter()
        .map(|r| r.body["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(machines.len(), 12);
    let ips: HashSet<_> = ok
        .iter()
        .flat_map(|r| {
            r.body["allocation"]["networks"]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| n["ips"][0].as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(ips.len(), 24);
    // spreading: 12 machines over 3 racks, 4 each
    let mut per_rack = std::collections::BTreeMap::new();
    for r in &ok {
        *per_rack
            .entry(r.body["rackid"].as_str().unwrap().to_string())
            .or_insert(0) += 1;
    }
    assert!(per_rack.values().all(|n| *n == 4), "{per_rack:?}");
});

backend_test!(reinstall_console_password_and_capacity, |api| {
    let tenant = world(api, 3).await;
    let c = api.client(Caller::Edit);
    let r = c.post("v1/machine/allocate", alloc(&tenant)).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let id = r.body["id"].as_str().unwrap().to_string();
    // reinstall needs a layout that wipes a disk on reinstall; "default" wipes none
    let r = c
        .post(
            &format!("v1/machine/{id}/reinstall"),
            json!({"id": id, "imageid": "ubuntu-22.04.20240101"}),
        )
        .await;
    assert_eq!(r.status, 422, "{:?}", r.body);
    assert!(
        r.message().contains("cannot be reinstalled"),
        "{}",
        r.message()
    );
    let r = c
        .post(
            &format!("v1/machine/{id}/reinstall"),
            json!({"id": id, "imageid": "ubuntu-99.0.1"}),
        )
        .await;
    assert_eq!(r.status, 400, "an unknown image: {:?}", r.body);
    let other = ["m000", "m001", "m002"]
        .into_iter()
        .find(|m| *m != id)
        .unwrap();
    let r = c
        .post(
            &format!("v1/machine/{other}/reinstall"),
            json!({"id": other, "imageid": "ubuntu-22.04.20240101"}),
        )
        .await;
    assert_eq!(r.status, 400, "not allocated: {:?}", r.body);
    let mut fsl = api.admin().get("v1/filesystemlayout/default").await.body;
    fsl["disks"][0]["wipeonreinstall"] = json!(true);
    assert_eq!(
        api.admin().post("v1/filesystemlayout", fsl).await.status,
        200
    );
    c.delete(&format!("v1/machine/{id}/free")).await;
    let r = c.post("v1/machine/allocate", json!({"uuid": id, "projectid": "p1", "imageid": "ubuntu-22.04", "networks": [{"networkid": tenant}]})).await;
    assert_eq!(r.status, 200);
    let r = c
        .post(
            &format!("v1/machine/{id}/reinstall"),
            json!({"id": id, "imageid": "ubuntu-22.04.20240101", "description": "again"}),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["allocation"]["reinstall"], true);
    // the console password: allocated machines only, the reason is required by the server's setting
    let r = c
        .send(
            reqwest::Method::GET,
            "v1/machine/consolepassword",
            Some(&json!({"id": id, "reason": "incident 42"})),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["id"], id.as_str());
    let r = c
        .send(
            reqwest::Method::GET,
            "v1/machine/consolepassword",
            Some(&json!({"id": other, "reason": "x"})),
        )
        .await;
    assert_eq!(r.status, 400);
    // capacity of the partition: 1 allocated, 2 allocatable
    let r = c.post("v1/partition/capacity", json!({})).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let s = &r.body[0]["servers"][0];
    assert_eq!(r.body[0]["id"], "fra");
    assert_eq!(
        (
            s["size"].as_str(),
            s["total"].as_u64(),
            s["allocated"].as_u64()
        ),
        (Some("n1-medium-x86"), Some(3), Some(1))
    );
    assert_eq!(s["faulty"], 0);
    assert_eq!(
        c.post("v1/partition/capacity", json!({"id": "ams"}))
            .await
            .body,
        json!([])
    );
});

// Hundreds of machines make an answer of several 256 KiB blocks: the streamed list must still
// be one JSON array with every machine once, in id order, with searches narrowing it in the
// database (indexed fields) and on each document (the rest).
backend_test!(a_fleet_sized_list_is_one_whole_answer, |api| {
    world(api, 0).await;
    metal_testkit::seed_waiting_machines(
        api.store(),
        "fleet-",
        1500,
        "fra",
        "n1-medium-x86",
        20,
        4,
    )
    .await
    .unwrap();
    let c = api.client(Caller::View);
    let r = c.get("v1/machine").await;
    assert_eq!(r.status, 200);
    let ids: Vec<&str> = r
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 1500);
    assert!(
        r.body.to_string().len() > 3 * 256 * 1024,
        "the answer spans several blocks"
    );
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "ordered by id, none twice"
    );
    assert_eq!(r.body[0]["partition"]["id"], "fra");
    assert_eq!(r.body[0]["size"]["id"], "n1-medium-x86");
    assert_eq!(r.body[0]["liveliness"], "Alive");
    let find = |q: Value| {
        let c = &c;
        async move {
            let r = c.post("v1/machine/find", q).await;
            assert_eq!(r.status, 200, "{:?}", r.body);
            r.body.as_array().unwrap().len()
        }
    };
    assert_eq!(find(json!({"rackid": "rack-7"})).await, 75);
    assert_eq!(
        find(json!({"rackid": "rack-7", "partition_id": "fra"})).await,
        75
    );
    assert_eq!(
        find(json!({"nics_mac_addresses": ["aa:00:00:00:07:01"]})).await,
        1
    );
    assert_eq!(
        find(json!({"hardware_cpu_cores": 4, "rackid": "rack-7"})).await,
        75
    );
    assert_eq!(find(json!({"hardware_cpu_cores": 8})).await, 0);
    assert_eq!(find(json!({"partition_id": "nowhere"})).await, 0);
    let fw = c.get("v1/firewall").await;
    assert_eq!(fw.status, 200);
    assert_eq!(fw.body, json!([]), "no machine is a firewall");
});
