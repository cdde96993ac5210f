//! Concurrency of the IPAM: many parallel allocations, also from two metal-api replicas on one
//! PostgreSQL database, never hand out an address, prefix or VRF twice, and exhaustion is a
//! clean error that leaves the counters right.

use std::collections::HashSet;

use futures::future::join_all;
use metal_testkit::{backend_test, Backend, Caller, Keys, TestApi, TestClient};
use serde_json::json;

use crate::network::{setup, super_network};

async fn allocate_all(
    clients: &[TestClient],
    network: &str,
    n: usize,
) -> Vec<metal_testkit::TestResponse> {
    let futs = (0..n).map(|i| {
        let c = clients[i % clients.len()].clone();
        let network = network.to_string();
        tokio::spawn(async move {
            c.post(
                "v1/ip/allocate",
                json!({"networkid": network, "projectid": "p1", "name": format!("ip{i}")}),
            )
            .await
        })
    });
    join_all(futs)
        .await
        .into_iter()
        .map(|r| r.unwrap())
        .collect()
}

fn distinct_addresses(rs: &[metal_testkit::TestResponse]) -> HashSet<String> {
    rs.iter()
        .filter(|r| r.status == 201)
        .map(|r| r.body["ipaddress"].as_str().unwrap().to_string())
        .collect()
}

backend_test!(parallel_ip_allocations_are_distinct, |api| {
    let c = api.admin();
    setup(&c).await;
    c.put(
        "v1/network",
        json!({"id": "internet", "prefixes": ["185.1.2.0/24"]}),
    )
    .await;
    let clients: Vec<TestClient> = (0..8).map(|_| api.client(Caller::Edit)).collect();
    let rs = allocate_all(&clients, "internet", 64).await;
    assert!(
        rs.iter().all(|r| r.status == 201),
        "{:?}",
        rs.iter().find(|r| r.status != 201)
    );
    assert_eq!(distinct_addresses(&rs).len(), 64);
    let n = c.get("v1/network/internet").await;
    assert_eq!(n.body["usage"]["used_ips"], 64 + 2);
});

backend_test!(exhausting_a_small_network_is_clean, |api| {
    let c = api.admin();
    setup(&c).await;
    c.put(
        "v1/network",
        json!({"id": "tiny", "prefixes": ["185.1.2.0/28"]}),
    )
    .await;
    let clients: Vec<TestClient> = (0..4).map(|_| api.client(Caller::Edit)).collect();
    let rs = allocate_all(&clients, "tiny", 20).await;
    let ok: Vec<_> = rs.iter().filter(|r| r.status == 201).collect();
    assert_eq!(ok.len(), 14, "a /28 has 14 usable addresses");
    assert_eq!(distinct_addresses(&rs).len(), 14);
    for r in rs.iter().filter(|r| r.status != 201) {
        assert_eq!(r.status, 422, "{:?}", r.body);
        assert_eq!(r.message(), "no ips left in network tiny");
    }
    let n = c.get("v1/network/tiny").await;
    assert_eq!(n.body["usage"]["used_ips"], 16);
    assert_eq!(n.body["usage"]["available_ips"], 16);
    assert_eq!(
        c.post("v1/ip/find", json!({"networkid": "tiny"}))
            .await
            .body
            .as_array()
            .unwrap()
            .len(),
        14
    );
    // freeing one makes exactly that one available again
    let freed = ok[5].body["ipaddress"].as_str().unwrap().to_string();
    assert_eq!(c.delete(&format!("v1/ip/free/{freed}")).await.status, 200);
    let r = c
        .post(
            "v1/ip/allocate",
            json!({"networkid": "tiny", "projectid": "p1"}),
        )
        .await;
    assert_eq!(r.body["ipaddress"], freed.as_str());
    assert_eq!(
        c.post(
            "v1/ip/allocate",
            json!({"networkid": "tiny", "projectid": "p1"})
        )
        .await
        .status,
        422
    );
});

backend_test!(parallel_tenant_networks_are_distinct, |api| {
    let c = api.admin();
    setup(&c).await;
    c.put("v1/network", super_network("super", &["10.0.0.0/20"]))
        .await;
    let futs = (0..20).map(|_| {
        let c = api.client(Caller::Edit);
        tokio::spawn(async move {
            c.post(
                "v1/network/allocate",
                json!({"partitionid": "fra", "projectid": "p1"}),
            )
            .await
        })
    });
    let rs: Vec<_> = join_all(futs)
        .await
        .into_iter()
        .map(|r| r.unwrap())
        .collect();
    let ok: Vec<_> = rs.iter().filter(|r| r.status == 201).collect();
    assert_eq!(ok.len(), 16, "a /20 holds 16 /24s");
    for r in rs.iter().filter(|r| r.status != 201) {
        assert_eq!(r.status, 422, "{:?}", r.body);
        assert!(r.message().contains("no free /24"), "{}", r.message());
    }
    let prefixes: HashSet<_> = ok
        .iter()
        .map(|r| r.body["prefixes"][0].as_str().unwrap().to_string())
        .collect();
    let vrfs: HashSet<_> = ok.iter().map(|r| r.body["vrf"].as_u64().unwrap()).collect();
    assert_eq!((prefixes.len(), vrfs.len()), (16, 16));
    assert_eq!(
        c.post("v1/network/find", json!({"parentnetworkid": "super"}))
            .await
            .body
            .as_array()
            .unwrap()
            .len(),
        16
    );
});

/// Two replicas share one PostgreSQL database: 64 allocations spread over both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_never_give_an_address_twice() {
    let api = TestApi::start(Backend::Postgres).await.unwrap();
    let replica = api.start_replica().await.unwrap();
    let c = api.admin();
    setup(&c).await;
    c.put(
        "v1/network",
        json!({"id": "internet", "prefixes": ["185.1.2.0/24"]}),
    )
    .await;
    let keys: Keys = api.keys.clone();
    let mut clients: Vec<TestClient> = (0..4).map(|_| api.client(Caller::Edit)).collect();
    clients.extend((0..4).map(|_| TestClient::new(replica.url(), Caller::Edit, keys.clone())));
    let rs = allocate_all(&clients, "internet", 64).await;
    assert!(
        rs.iter().all(|r| r.status == 201),
        "{:?}",
        rs.iter().find(|r| r.status != 201)
    );
    assert_eq!(distinct_addresses(&rs).len(), 64);
    let n = c.get("v1/network/internet").await;
    assert_eq!(n.body["usage"]["used_ips"], 66);
    replica.shutdown().await;
    api.stop().await;
}

backend_test!(parallel_allocations_keep_the_ip_quota, |api| {
    let c = api.admin();
    setup(&c).await;
    let mut p = c.get("v1/project/p1").await.body;
    p["quotas"] = json!({"ip": {"quota": 5}});
    assert_eq!(c.post("v1/project", p).await.status, 200);
    c.put(
        "v1/network",
        json!({"id": "internet", "prefixes": ["185.1.2.0/24"]}),
    )
    .await;
    let clients: Vec<TestClient> = (0..8).map(|_| api.client(Caller::Edit)).collect();
    let rs = allocate_all(&clients, "internet", 24).await;
    assert_eq!(rs.iter().filter(|r| r.status == 201).count(), 5);
    for r in rs.iter().filter(|r| r.status != 201) {
        assert_eq!(r.status, 422, "{:?}", r.body);
        assert!(r.message().contains("quota of 5"), "{}", r.message());
    }
    assert_eq!(distinct_addresses(&rs).len(), 5);
    assert_eq!(
        c.get("v1/network/internet").await.body["usage"]["used_ips"],
        7
    );
});
