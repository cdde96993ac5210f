//! The fleet metrics on the metrics port (metal-metrics-exporter's gauges): a seeded fleet
//! (partition, size, allocated, locked and BMC-reporting machines, a machine without
//! partition, networks, a reservation, two switches) scraped over HTTP after the background
//! update picked it up; and a failed update that keeps the previous set. Kept in one file: the
//! seeded fleet and the gauges expected of it belong together; split, they would drift apart.

use std::collections::BTreeMap;
use std::time::Duration;

use metal_domain::event::{EventContainer, EventType, ProvisioningEvent};
use metal_domain::machine::Machine;
use metal_domain::switch::{Connection, PortRef, Switch};
use metal_store::docs;
use metal_testkit::{
    backend_test, seed_waiting_machine, set_machine_ipmi, until_every, Backend, Caller, TestApi,
};
use serde_json::json;

use crate::network::{setup, super_network};

/// One sample of a scrape.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
    timestamp_ms: Option<i64>,
}

/// Parses `name{k="v",...} value [timestamp]` lines (comments skipped).
fn parse(text: &str) -> Vec<Sample> {
    let mut out = Vec::new();
    for line in text
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let (name, rest) = match line.find('{') {
            Some(i) => (&line[..i], &line[i + 1..]),
            None => line.split_once(' ').expect("a value"),
        };
        let mut labels = BTreeMap::new();
        let mut rest = rest;
        if line.contains('{') {
            loop {
                if let Some(r) = rest.strip_prefix('}') {
                    rest = r.trim_start();
                    break;
                }
                rest = rest.strip_prefix(',').unwrap_or(rest);
                let (key, r) = rest.split_once("=\"").expect("label");
                let mut value = String::new();
                let mut chars = r.char_indices();
                let end = loop {
                    let (i, c) = chars.next().expect("closing quote");
                    match c {
                        '\\' => match chars.next().expect("escape").1 {
                            'n' => value.push('\n'),
                            other => value.push(other),
                        },
                        '"' => break i,
                        c => value.push(c),
                    }
                };
                labels.insert(key.to_string(), value);
                rest = &r[end + 1..];
            }
        }
        let mut fields = rest.split_whitespace();
        let value = fields.next().expect("value").parse().expect("number");
        let timestamp_ms = fields.next().map(|t| t.parse().expect("timestamp"));
        out.push(Sample {
            name: name.to_string(),
            labels,
            value,
            timestamp_ms,
        });
    }
    out
}

/// The samples of `name` whose labels include `labels`.
fn matching<'a>(samples: &'a [Sample], name: &str, labels: &[(&str, &str)]) -> Vec<&'a Sample> {
    samples
        .iter()
        .filter(|s| s.name == name)
        .filter(|s| {
            labels
                .iter()
                .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .collect()
}

/// The one sample of `name` with `labels`.
fn one<'a>(samples: &'a [Sample], name: &str, labels: &[(&str, &str)]) -> &'a Sample {
    let found = matching(samples, name, labels);
    assert_eq!(found.len(), 1, "{name} {labels:?}: {found:?}");
    found[0]
}

fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    one(samples, name, labels).value
}

async fn scrape(api: &TestApi) -> String {
    let url = format!("http://{}/metrics", api.server.metrics_addr);
    let r = reqwest::get(&url).await.expect("scraping");
    assert_eq!(r.status(), 200);
    r.text().await.unwrap()
}

/// Scrapes until `done` holds for the samples (10 s at most).
async fn scrape_until(api: &TestApi, done: impl Fn(&[Sample]) -> bool) -> Vec<Sample> {
    until_every(
        "the fleet metrics to show the seeded fleet",
        Duration::from_secs(10),
        Duration::from_millis(100),
        async || Some(parse(&scrape(api).await)).filter(|s| done(s)),
    )
    .await
}

/// Changes a stored event container.
async fn change_events(api: &TestApi, id: &str, change: impl FnOnce(&mut EventContainer)) {
    let mut tx = api.store().begin().await.unwrap();
    let stored = docs::must_get::<EventContainer>(&mut tx, id).await.unwrap();
    let mut ec = stored.value;
    change(&mut ec);
    docs::update(&mut tx, &mut ec, stored.revision)
        .await
        .unwrap();
    tx.commit().await.unwrap();
}

/// Records a `Waiting` event, as metal-hammer does before it waits.
async fn waiting_event(api: &TestApi, id: &str) {
    change_events(api, id, |ec| {
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
    })
    .await;
}

/// Records an error event `age` ago.
async fn error_event(api: &TestApi, id: &str, age: chrono::TimeDelta) {
    change_events(api, id, |ec| {
        ec.last_error_event = Some(ProvisioningEvent {
            time: chrono::Utc::now() - age,
            event: EventType::Crashed,
            message: "kernel panic".into(),
        });
    })
    .await;
}

/// Gives a stored machine a BIOS, as metal-hammer's registration reports it.
async fn set_bios(api: &TestApi, id: &str, version: &str) {
    let mut tx = api.store().begin().await.unwrap();
    let stored = docs::must_get::<Machine>(&mut tx, id).await.unwrap();
    let mut m = stored.value;
    m.bios.version = version.into();
    m.bios.vendor = "AMI".into();
    docs::update(&mut tx, &mut m, stored.revision)
        .await
        .unwrap();
    tx.commit().await.unwrap();
}

/// Cables a machine to port `swp1` of a switch, as its registration records it.
async fn cable(api: &TestApi, switch: &str, machine: &str) {
    let mut tx = api.store().begin().await.unwrap();
    let stored = docs::must_get::<Switch>(&mut tx, switch).await.unwrap();
    let mut s = stored.value;
    s.connections.push(Connection {
        machine_id: machine.into(),
        nic: PortRef {
            name: "swp1".into(),
            mac: s.nics[0].mac.clone(),
            identifier: String::new(),
        },
    });
    docs::update(&mut tx, &mut s, stored.revision)
        .await
        .unwrap();
    tx.commit().await.unwrap();
}

/// The seeded machines.
struct Ids {
    allocated: String,
    locked: String,
    bmc: String,
    tenant_network: String,
}

/// Partition fra with size n1-medium-x86 and three waiting machines: one allocated (p1,
/// cluster c1, BMC on), one locked (an error event 2 h ago), one with a BMC report (off, two
/// power supplies, FRU) and a BIOS; `lonely` without partition (an error event 10 min ago);
/// networks, a reservation of 2 for p1, switch leaf01 (synced, machine cabled with BGP up) and
/// leaf02 (last sync failed). The image `debian-12.0.20240601` is created last.
async fn seed(api: &TestApi) -> Ids {
    let c = api.admin();
    setup(&c).await;
    let r = c
        .put("v1/network", super_network("super", &["10.0.0.0/16"]))
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let r = c.put("v1/network", json!({"id": "internet", "name": "internet", "prefixes": ["185.1.2.0/24"], "destinationprefixes": ["0.0.0.0/0"],
        "shared": true, "nat": true, "labels": {"cluster.metal-stack.io/id": "c9"}})).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let r = c
        .put(
            "v1/size",
            json!({"id": "n1-medium-x86", "constraints": [{"type": "cores", "min": 4, "max": 4}]}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let r = c.put("v1/image", json!({"id": "ubuntu-22.04.20240101", "url": "http://images.test/x", "features": ["machine"]})).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let layout = json!({"id": "default", "constraints": {"sizes": ["n1-medium-x86"], "images": {"ubuntu": "*"}},
        "disks": [{"device": "/dev/sda", "partitions": [{"number": 1, "size": 0, "gpttype": "8300"}]}],
        "filesystems": [{"path": "/", "device": "/dev/sda1", "format": "ext4"}]});
    assert_eq!(c.put("v1/filesystemlayout", layout).await.status, 201);
    for i in 0..3 {
        let id = format!("m{i:03}");
        seed_waiting_machine(api.store(), &id, "fra", "n1-medium-x86", "r1", 4, 100)
            .await
            .unwrap();
        waiting_event(api, &id).await;
    }
    seed_waiting_machine(api.store(), "lonely", "", "", "", 4, 100)
        .await
        .unwrap();
    error_event(api, "lonely", chrono::TimeDelta::minutes(10)).await;
    let r = c
        .post(
            "v1/network/allocate",
            json!({"partitionid": "fra", "projectid": "p1", "name": "p1-net"}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let tenant_network = r.body["id"].as_str().unwrap().to_string();
    let r = api.client(Caller::Edit).post("v1/machine/allocate", json!({"projectid": "p1", "partitionid": "fra", "sizeid": "n1-medium-x86",
        "imageid": "ubuntu-22.04", "name": "web-1", "hostname": "web-1", "tags": ["cluster.metal-stack.io/id=c1"],
        "networks": [{"networkid": tenant_network}, {"networkid": "internet"}]})).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let allocated = r.body["id"].as_str().unwrap().to_string();
    let mut rest = ["m000", "m001", "m002"]
        .into_iter()
        .filter(|m| *m != allocated)
        .map(String::from);
    let (locked, bmc) = (rest.next().unwrap(), rest.next().unwrap());
    let r = c
        .post(
            &format!("v1/machine/{locked}/state"),
            json!({"value": "LOCKED", "description": "maintenance"}),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    error_event(api, &locked, chrono::TimeDelta::hours(2)).await;
    let now = chrono::Utc::now().to_rfc3339();
    set_machine_ipmi(api.store(), &bmc, json!({
        "address": "10.1.0.5:623", "mac": "aa:bb:cc:dd:ee:05", "bmcversion": "1.2.3", "powerstate": "OFF",
        "powermetric": {"averageconsumedwatts": 231.5, "intervalinmin": 1, "maxconsumedwatts": 300, "minconsumedwatts": 200},
        "powersupplies": [{"status": {"health": "OK", "state": "Enabled"}}, {"status": {"health": "Critical", "state": "Enabled"}}],
        "fru": {"chassis_part_number": "CPN", "chassis_part_serial": "CPS", "board_mfg": "Supermicro", "board_mfg_serial": "BMS",
            "board_part_number": "BPN", "product_manufacturer": "Supermicro", "product_part_number": "PPN", "product_serial": "PS1"},
        "last_updated": now,
    }))
    .await
    .unwrap();
    set_bios(api, &bmc, "2.1a").await;
    set_machine_ipmi(
        api.store(),
        &allocated,
        json!({"powerstate": "ON", "last_updated": now}),
    )
    .await
    .unwrap();
    let r = c
        .put(
            "v1/size/reservations",
            json!({"id": "r1", "sizeid": "n1-medium-x86", "projectid": "p1",
        "partitionids": ["fra"], "amount": 2, "description": "kept"}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    for (id, mac) in [
        ("leaf01", "aa:00:00:00:01:01"),
        ("leaf02", "aa:00:00:00:02:01"),
    ] {
        let r = c.post("v1/switch/register", json!({"id": id, "name": id, "partition_id": "fra", "rack_id": "r1",
            "nics": [{"name": "swp1", "mac": mac}], "management_ip": "10.1.0.1", "management_user": "cumulus",
            "os": {"vendor": "Cumulus", "version": "5.1", "metal_core_version": "v0.9.1 (1d5e42e), tags/v0.9.1-0-g1d5e42e, go1.20"}})).await;
        assert_eq!(r.status, 201, "{:?}", r.body);
    }
    cable(api, "leaf01", &allocated).await;
    let r = c.post("v1/switch/leaf01/notify", json!({"sync_duration": 1_500_000_000u64,
        "bgp_port_states": {"swp1": {"Neighbor": "web-1", "BgpState": "Established", "BgpTimerUpEstablished": 1714564800}}})).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let r = c
        .post(
            "v1/switch/leaf02/notify",
            json!({"sync_duration": 2_000_000_000u64, "error": "frr reload failed"}),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let r = c.put("v1/image", json!({"id": "debian-12.0.20240601", "url": "http://images.test/d", "features": ["machine", "firewall"]})).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    Ids {
        allocated,
        locked,
        bmc,
        tenant_network,
    }
}

async fn fleet_metrics_on_the_metrics_port(backend: Backend) {
    let api = TestApi::start_with(backend, |c| c.fleet_metrics_interval = 1)
        .await
        .expect("starting metal-api");
    let ids = seed(&api).await;
    // images are read first: once the last image shows, the update saw the whole seed
    let s = scrape_until(&api, |s| {
        !matching(
            s,
            "metal_image_used_total",
            &[("imageID", "debian-12.0.20240601")],
        )
        .is_empty()
    })
    .await;
    // the request metrics are still there, the fleet metrics follow them
    assert!(s.iter().any(|x| x.name == "metal_api_http_requests_total"));
    for def in metal_api::fleetmetrics::ALL {
        assert!(
            s.iter().any(|x| x.name == def.name),
            "{} is not served",
            def.name
        );
    }

    // partition capacity, as POST /v1/partition/capacity counts it
    let cap = |name: &str| {
        value(
            &s,
            &format!("metal_partition_capacity_{name}"),
            &[("partition", "fra"), ("size", "n1-medium-x86")],
        )
    };
    let want = [
        ("total", 3.0),
        ("allocated", 1.0),
        ("allocatable", 1.0),
        ("free", 1.0),
        ("faulty", 0.0),
        ("unavailable", 1.0),
        ("other", 1.0),
        ("phoned_home", 0.0),
        ("reservations_total", 2.0),
        ("reservations_used", 1.0),
    ];
    for (name, v) in want {
        assert_eq!(cap(name), v, "capacity {name}");
    }
    let r = api.admin().post("v1/partition/capacity", json!({})).await;
    assert_eq!(
        cap("waiting"),
        r.body[0]["servers"][0]["waiting"].as_f64().unwrap()
    );
    assert_eq!(
        matching(&s, "metal_partition_capacity_total", &[]).len(),
        1,
        "the machine without partition has no capacity"
    );

    // machines
    let alloc = one(
        &s,
        "metal_machine_allocation_info",
        &[("machineid", &ids.allocated)],
    );
    let l = &alloc.labels;
    assert_eq!(
        (
            l["partition"].as_str(),
            l["machinename"].as_str(),
            l["clusterTag"].as_str(),
            l["role"].as_str(),
            l["state"].as_str(),
            l["imageId"].as_str()
        ),
        (
            "fra",
            "web-1",
            "c1",
            "machine",
            "AVAILABLE",
            "ubuntu-22.04.20240101"
        )
    );
    assert!(l["primaryASN"].parse::<u64>().is_ok(), "{l:?}");
    let locked = one(
        &s,
        "metal_machine_allocation_info",
        &[("machineid", &ids.locked)],
    );
    assert_eq!(locked.labels["state"], "LOCKED");
    assert_eq!(locked.labels["machinename"], "NOTALLOCATED");
    assert_eq!(locked.labels["imageId"], "NOTALLOCATED");
    assert_eq!(locked.labels["role"], "");
    let lonely = one(
        &s,
        "metal_machine_allocation_info",
        &[("machineid", "lonely")],
    );
    assert_eq!(lonely.labels["partition"], "");

    // BMC readings
    let bmc = [("machineid", ids.bmc.as_str())];
    assert_eq!(value(&s, "metal_machine_power_state", &bmc), 0.0);
    assert_eq!(
        value(
            &s,
            "metal_machine_power_state",
            &[("machineid", &ids.allocated)]
        ),
        1.0
    );
    assert_eq!(value(&s, "metal_machine_power_usage", &bmc), 231.5);
    assert_eq!(value(&s, "metal_machine_power_supplies_total", &bmc), 2.0);
    assert_eq!(value(&s, "metal_machine_power_supplies_healthy", &bmc), 1.0);
    let hw = one(&s, "metal_machine_hardware_info", &bmc);
    assert_eq!(hw.value, 1.0);
    for (k, v) in [
        ("partition", "fra"),
        ("size", "n1-medium-x86"),
        ("bmcVersion", "1.2.3"),
        ("biosVersion", "2.1a"),
        ("chassisPartNumber", "CPN"),
        ("chassisPartSerial", "CPS"),
        ("boardMfg", "Supermicro"),
        ("boardMfgSerial", "BMS"),
        ("boardPartNumber", "BPN"),
        ("productManufacturer", "Supermicro"),
        ("productPartNumber", "PPN"),
        ("productSerial", "PS1"),
    ] {
        assert_eq!(hw.labels[k], v, "hardware info {k}");
    }
    assert_eq!(
        matching(&s, "metal_machine_hardware_info", &[]).len(),
        1,
        "only the machine with BIOS and FRU"
    );
    assert!(matching(&s, "metal_machine_power_state", &[("machineid", "lonely")]).is_empty());

    // issues: every machine times every issue type, errors younger than 1 h count
    assert_eq!(matching(&s, "metal_machine_issues_info", &[]).len(), 13);
    let info = one(
        &s,
        "metal_machine_issues_info",
        &[("issueid", "failed-machine-reclaim")],
    );
    assert_eq!(info.labels["severity"], "critical");
    assert!(info.labels["refurl"].ends_with("#failed-machine-reclaim"));
    assert_eq!(matching(&s, "metal_machine_issues", &[]).len(), 4 * 13);
    let issue = |m: &str, i: &str| {
        value(
            &s,
            "metal_machine_issues",
            &[("machineid", m), ("issueid", i)],
        )
    };
    assert_eq!(issue("lonely", "no-partition"), 1.0);
    assert_eq!(issue(&ids.bmc, "no-partition"), 0.0);
    assert_eq!(issue("lonely", "last-event-error"), 1.0);
    assert_eq!(
        issue(&ids.locked, "last-event-error"),
        0.0,
        "2 h is older than the threshold"
    );
    assert_eq!(issue(&ids.allocated, "bmc-without-mac"), 1.0);
    assert_eq!(issue(&ids.bmc, "bmc-without-mac"), 0.0);
    assert_eq!(issue(&ids.bmc, "bmc-info-outdated"), 0.0);
    assert_eq!(issue(&ids.locked, "bmc-info-outdated"), 1.0);

    // networks, with the usage the REST API answers
    let net = one(&s, "metal_network_info", &[("networkId", "internet")]);
    for (k, v) in [
        ("name", "internet"),
        ("prefixes", "185.1.2.0/24"),
        ("destPrefixes", "0.0.0.0/0"),
        ("useNat", "true"),
        ("isPrivateSuper", "false"),
        ("isUnderlay", "false"),
        ("clusterTag", "c9"),
    ] {
        assert_eq!(net.labels[k], v, "network info {k}");
    }
    let tenant = api
        .admin()
        .get(&format!("v1/network/{}", ids.tenant_network))
        .await
        .body;
    let net = one(
        &s,
        "metal_network_info",
        &[("networkId", &ids.tenant_network)],
    );
    assert_eq!(net.labels["projectId"], "p1");
    assert_eq!(net.labels["parentNetworkID"], "super");
    assert_eq!(net.labels["vrf"], tenant["vrf"].to_string());
    let by_id = [("networkId", ids.tenant_network.as_str())];
    for (metric, field) in [
        ("metal_network_ip_used", "used_ips"),
        ("metal_network_ip_available", "available_ips"),
        ("metal_network_prefix_used", "used_prefixes"),
        ("metal_network_prefix_available", "available_prefixes"),
    ] {
        assert_eq!(
            value(&s, metric, &by_id),
            tenant["usage"][field].as_f64().unwrap(),
            "{metric}"
        );
    }
    assert!(value(&s, "metal_network_ip_used", &by_id) >= 1.0);
    assert_eq!(
        value(&s, "metal_network_prefix_used", &[("networkId", "super")]),
        1.0
    );

    // images and projects
    let img = one(
        &s,
        "metal_image_used_total",
        &[("imageID", "ubuntu-22.04.20240101")],
    );
    assert_eq!(img.value, 1.0);
    assert_eq!(img.labels["classification"], "preview");
    assert_eq!(img.labels["features"], "machine");
    assert!(img.labels["created"].parse::<i64>().unwrap() > 1_700_000_000);
    let img = one(
        &s,
        "metal_image_used_total",
        &[("imageID", "debian-12.0.20240601")],
    );
    assert_eq!(img.value, 0.0);
    assert_eq!(img.labels["features"], "firewall,machine");
    assert_eq!(
        value(
            &s,
            "metal_project_info",
            &[("projectId", "p1"), ("name", "p1"), ("tenantId", "acme")]
        ),
        1.0
    );

    // switches
    let leaf01 = [
        ("switchname", "leaf01"),
        ("partition", "fra"),
        ("rackid", "r1"),
    ];
    let leaf02 = [
        ("switchname", "leaf02"),
        ("partition", "fra"),
        ("rackid", "r1"),
    ];
    let info = one(&s, "metal_switch_info", &leaf01);
    assert_eq!(info.labels["metalCoreVersion"], "v0.9.1 (1d5e42e)");
    assert_eq!(info.labels["osVendor"], "Cumulus");
    assert_eq!(info.labels["osVersion"], "5.1");
    assert_eq!(info.labels["managementIP"], "10.1.0.1");
    assert_eq!(value(&s, "metal_switch_metal_core_up", &leaf01), 1.0);
    assert_eq!(value(&s, "metal_switch_sync_failed", &leaf01), 0.0);
    assert_eq!(value(&s, "metal_switch_sync_failed", &leaf02), 1.0);
    let d = one(&s, "metal_switch_sync_durations_ms", &leaf01);
    assert_eq!(d.value, 1500.0);
    let synced = d.timestamp_ms.expect("the sync time");
    let age = chrono::Utc::now().timestamp_millis() - synced;
    assert!((0..60_000).contains(&age), "sync {age} ms ago");
    assert_eq!(
        value(&s, "metal_switch_sync_durations_ms", &leaf02),
        2000.0,
        "the failed sync is the newest"
    );
    let iface = [
        ("switchname", "leaf01"),
        ("device", "swp1"),
        ("machineid", ids.allocated.as_str()),
        ("partition", "fra"),
    ];
    assert_eq!(value(&s, "metal_switch_interface_info", &iface), 1.0);
    assert_eq!(
        value(
            &s,
            "metal_switch_interface_bgp_established_timestamp",
            &iface
        ),
        1_714_564_800.0
    );
    assert!(matching(
        &s,
        "metal_switch_interface_info",
        &[("switchname", "leaf02")]
    )
    .is_empty());

    // the set follows the database: freeing the machine shows on a later update
    let r = api
        .client(Caller::Edit)
        .delete(&format!("v1/machine/{}/free", ids.allocated))
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    scrape_until(&api, |s| {
        matching(
            s,
            "metal_partition_capacity_allocated",
            &[("partition", "fra")],
        )
        .first()
        .is_some_and(|x| x.value == 0.0)
    })
    .await;
    api.stop().await;
}

mod fleet_metrics_on_the_metrics_port {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        super::fleet_metrics_on_the_metrics_port(metal_testkit::Backend::Sqlite).await
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        super::fleet_metrics_on_the_metrics_port(metal_testkit::Backend::Postgres).await
    }
}

backend_test!(a_failed_fleet_metrics_update_keeps_the_last_set, |api| {
    // the test servers update nothing by themselves (interval 0): no fleet metrics yet
    let s = parse(&scrape(api).await);
    assert!(matching(&s, "metal_machine_issues_info", &[]).is_empty());
    let app = &api.server.app;
    assert_eq!(
        api.admin()
            .put("v1/partition", crate::partition("fra"))
            .await
            .status,
        201
    );
    seed_waiting_machine(api.store(), "m1", "fra", "s1", "r1", 4, 100)
        .await
        .unwrap();
    let samples = metal_api::fleetmetrics::update(app).await.expect("update");
    let s = parse(&scrape(api).await);
    assert_eq!(
        s.iter()
            .filter(|x| x.name.starts_with("metal_") && !x.name.starts_with("metal_api_"))
            .count(),
        samples
    );
    let total = [("partition", "fra"), ("size", "s1")];
    assert_eq!(value(&s, "metal_partition_capacity_total", &total), 1.0);
    assert_eq!(
        value(
            &s,
            "metal_api_fleet_metrics_updates_total",
            &[("result", "ok")]
        ),
        1.0
    );

    // a database that fails the next update: the last set is served on
    let mut conn = api.store().begin().await.unwrap();
    sqlx::query("DROP TABLE switches")
        .execute(&mut *conn)
        .await
        .unwrap();
    conn.commit().await.unwrap();
    seed_waiting_machine(api.store(), "m2", "fra", "s1", "r1", 4, 100)
        .await
        .unwrap();
    assert!(metal_api::fleetmetrics::update(app).await.is_err());
    let s = parse(&scrape(api).await);
    assert_eq!(value(&s, "metal_partition_capacity_total", &total), 1.0);
    assert_eq!(
        value(
            &s,
            "metal_api_fleet_metrics_updates_total",
            &[("result", "error")]
        ),
        1.0
    );
});

backend_test!(fleet_metrics_of_10000_machines, |api| {
    metal_testkit::seed_waiting_machines(api.store(), "m", 10_000, "fra", "s1", 40, 4)
        .await
        .unwrap();
    // the whole fleet in one update (its speed is measured by `cargo bench`, not here)
    let samples = metal_api::fleetmetrics::update(&api.server.app)
        .await
        .expect("update");
    // 13 issue types, then per machine: allocation info and 13 issues
    assert_eq!(samples, 13 + 10_000 * 14 + 11);
    let s = parse(&scrape(api).await);
    let total = [("partition", "fra"), ("size", "s1")];
    assert_eq!(
        value(&s, "metal_partition_capacity_total", &total),
        10_000.0
    );
    assert_eq!(matching(&s, "metal_machine_issues", &[]).len(), 130_000);
});
