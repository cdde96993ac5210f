//! The gRPC boot and event services with the real generated client: registration with size
//! matching, events, a Wait stream that ends as soon as the machine is allocated (also when
//! another replica allocates it, on PostgreSQL), Report, free.

use std::time::{Duration, Instant};

use metal_proto::api::v1 as pb;
use metal_proto::api::v1::boot_service_client::BootServiceClient;
use metal_proto::api::v1::event_service_client::EventServiceClient;
use metal_testkit::{backend_test, until_every, Backend, Caller, TestApi};
use serde_json::json;
use tokio_stream::StreamExt;

use crate::network::{setup, super_network};

async fn boot_client(addr: std::net::SocketAddr) -> BootServiceClient<tonic::transport::Channel> {
    BootServiceClient::connect(format!("http://{addr}"))
        .await
        .unwrap()
}

fn registration(uuid: &str, cores: u32) -> pb::BootServiceRegisterRequest {
    pb::BootServiceRegisterRequest {
        uuid: uuid.into(),
        partition_id: "fra".into(),
        hardware: Some(pb::MachineHardware {
            memory: 64 << 30,
            cpu_cores: cores,
            disks: vec![pb::MachineBlockDevice {
                name: "/dev/sda".into(),
                size: 100 << 30,
            }],
            nics: vec![pb::MachineNic {
                mac: "aa:bb:cc:00:00:01".into(),
                name: "eth0".into(),
                ..Default::default()
            }],
            ..Default::default()
        }),
        bios: Some(pb::MachineBios {
            version: "2.1".into(),
            vendor: "ACME".into(),
            date: "2024-01-01".into(),
        }),
        ipmi: Some(pb::MachineIpmi {
            address: "192.0.2.10:623".into(),
            mac: "aa:bb:cc:00:00:ff".into(),
            ..Default::default()
        }),
        metal_hammer_version: "v0.13.0".into(),
        ..Default::default()
    }
}

/// A partition with networks, a size of 4 cores, an image and a layout for it.
async fn world(api: &TestApi) -> String {
    let c = api.admin();
    setup(&c).await;
    c.put("v1/network", super_network("super", &["10.0.0.0/16"]))
        .await;
    c.put(
        "v1/size",
        json!({"id": "n1-medium-x86", "constraints": [{"type": "cores", "min": 4, "max": 4}]}),
    )
    .await;
    c.put("v1/image", json!({"id": "ubuntu-22.04.20240101", "url": "http://images.test/x", "features": ["machine"]})).await;
    c.put("v1/filesystemlayout", json!({"id": "default", "constraints": {"sizes": ["n1-medium-x86"], "images": {"ubuntu": "*"}},
        "disks": [{"device": "/dev/sda", "partitions": [{"number": 1, "size": 0, "gpttype": "8300"}]}],
        "filesystems": [{"path": "/", "device": "/dev/sda1", "format": "ext4"}]})).await;
    c.post(
        "v1/network/allocate",
        json!({"partitionid": "fra", "projectid": "p1"}),
    )
    .await
    .body["id"]
        .as_str()
        .unwrap()
        .to_string()
}

/// How long and how often the tests poll for a condition.
const DEADLINE: Duration = Duration::from_secs(10);
const POLL: Duration = Duration::from_millis(20);

backend_test!(register_wait_allocate_report_free, |api| {
    let tenant = world(api).await;
    let mut boot = boot_client(api.server.grpc_addr).await;
    // pixie: PXE boot and boot configuration
    boot.dhcp(pb::BootServiceDhcpRequest { uuid: "m-1".into() })
        .await
        .unwrap();
    let b = boot
        .boot(pb::BootServiceBootRequest {
            mac: "aa".into(),
            partition_id: "fra".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(b.kernel, "http://images.test/vmlinuz");
    assert_eq!(b.init_ram_disks, vec!["http://images.test/hammer.img"]);
    assert_eq!(
        boot.boot(pb::BootServiceBootRequest {
            mac: "aa".into(),
            partition_id: "nope".into()
        })
        .await
        .unwrap_err()
        .code(),
        tonic::Code::NotFound
    );
    // metal-hammer: register (size matched) and events
    let r = boot
        .register(registration("m-1", 4))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (r.uuid.as_str(), r.size.as_str(), r.partition_id.as_str()),
        ("m-1", "n1-medium-x86", "fra")
    );
    let r = boot
        .register(registration("m-odd", 3))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.size, "unknown");
    let mut events = EventServiceClient::connect(format!("http://{}", api.server.grpc_addr))
        .await
        .unwrap();
    let send = |e: &str| pb::EventServiceSendRequest {
        events: [(
            "m-1".to_string(),
            pb::MachineProvisioningEvent {
                time: None,
                event: e.into(),
                message: String::new(),
            },
        )]
        .into_iter()
        .collect(),
    };
    for e in ["Preparing", "Registering", "Waiting"] {
        assert_eq!(events.send(send(e)).await.unwrap().into_inner().events, 1);
    }
    assert_eq!(
        events.send(send("Dancing")).await.unwrap_err().code(),
        tonic::Code::InvalidArgument
    );
    let c = api.client(Caller::Edit);
    let m = c.get("v1/machine/m-1").await.body;
    assert_eq!(m["liveliness"], "Alive");
    assert_eq!(m["events"]["log"][0]["event"], "Waiting");
    assert_eq!(
        m["events"]["log"].as_array().unwrap().len(),
        4,
        "PXE Booting, Preparing, Registering, Waiting"
    );
    assert_eq!(m["size"]["id"], "n1-medium-x86");
    assert_eq!(m["ledstate"]["value"], "LED-OFF");

    // not waiting yet: nothing to allocate
    let alloc = json!({"projectid": "p1", "partitionid": "fra", "sizeid": "n1-medium-x86", "imageid": "ubuntu-22.04", "networks": [{"networkid": tenant}]});
    assert_eq!(
        c.post("v1/machine/allocate", alloc.clone()).await.status,
        422
    );
    // Wait: the stream stays open until the machine is allocated, then ends at once
    let mut stream = boot
        .wait(pb::BootServiceWaitRequest {
            machine_id: "m-1".into(),
        })
        .await
        .unwrap()
        .into_inner();
    until_every(
        "the machine to be allocatable while its Wait stream is open",
        DEADLINE,
        POLL,
        || {
            let c = c.clone();
            let alloc = alloc.clone();
            async move { c.post("v1/machine/allocate", alloc).await.status == 200 }
        },
    )
    .await;
    let t = Instant::now();
    while let Some(msg) = stream.next().await {
        msg.unwrap();
    }
    assert!(
        t.elapsed() < Duration::from_secs(3),
        "the stream ended on the wake-up, not on a timer: {:?}",
        t.elapsed()
    );
    // Report: boot info and console password
    let report = pb::BootServiceReportRequest {
        uuid: "m-1".into(),
        console_password: "s3cret".into(),
        boot_info: Some(pb::BootInfo {
            image_id: "ubuntu-22.04.20240101".into(),
            primary_disk: "/dev/sda".into(),
            os_partition: "/dev/sda1".into(),
            ..Default::default()
        }),
        success: true,
        message: String::new(),
    };
    boot.report(report).await.unwrap();
    let m = c.get("v1/machine/m-1").await.body;
    assert_eq!(m["allocation"]["boot_info"]["primary_disk"], "/dev/sda");
    assert!(
        m["allocation"].get("console_password").is_none(),
        "the password is not in machine answers"
    );
    assert_eq!(
        boot.report(pb::BootServiceReportRequest {
            uuid: "m-1".into(),
            ..Default::default()
        })
        .await
        .unwrap_err()
        .code(),
        tonic::Code::InvalidArgument
    );
    // a Wait on an allocated machine ends at once
    let mut stream = boot
        .wait(pb::BootServiceWaitRequest {
            machine_id: "m-1".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(tokio::time::timeout(Duration::from_secs(3), stream.next())
        .await
        .unwrap()
        .is_none());
    // free: Machine Reclaim recorded
    assert_eq!(c.delete("v1/machine/m-1/free").await.status, 200);
    let m = c.get("v1/machine/m-1").await.body;
    assert_eq!(m["events"]["log"][0]["event"], "Machine Reclaim");
});

/// On PostgreSQL, a Wait stream open at one replica ends when another replica allocates.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_is_woken_across_replicas() {
    let api = TestApi::start(Backend::Postgres).await.unwrap();
    let replica = api.start_replica().await.unwrap();
    let tenant = world(&api).await;
    let mut boot = boot_client(api.server.grpc_addr).await;
    boot.register(registration("m-2", 4)).await.unwrap();
    let mut stream = boot
        .wait(pb::BootServiceWaitRequest {
            machine_id: "m-2".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let other = metal_testkit::TestClient::new(replica.url(), Caller::Edit, api.keys.clone());
    let alloc = json!({"projectid": "p1", "partitionid": "fra", "sizeid": "n1-medium-x86", "imageid": "ubuntu-22.04", "networks": [{"networkid": tenant}]});
    until_every(
        "an allocation through the other replica",
        DEADLINE,
        POLL,
        || {
            let other = other.clone();
            let alloc = alloc.clone();
            async move { other.post("v1/machine/allocate", alloc).await.status == 200 }
        },
    )
    .await;
    let t = Instant::now();
    while let Some(msg) = stream.next().await {
        msg.unwrap();
    }
    assert!(
        t.elapsed() < Duration::from_secs(3),
        "woken by NOTIFY, not by the 60 s re-check: {:?}",
        t.elapsed()
    );
    replica.shutdown().await;
    api.stop().await;
}

// A machine that sees two leaf switches as LLDP neighbours is connected to them at
// registration (rack and partition from the switches); its ports get the VRF of its private
// network when it reports its installation, and lose it when it is freed.
backend_test!(registration_connects_switches_and_sets_port_vrfs, |api| {
    let tenant = world(api).await;
    let admin = api.admin();
    for (sw, n) in [("leaf01", 1), ("leaf02", 2)] {
        let body = json!({"id": sw, "name": sw, "partition_id": "fra", "rack_id": "rack-7",
            "nics": [{"name": "swp1", "mac": format!("aa:00:00:00:0{n}:01")}, {"name": "swp2", "mac": format!("aa:00:00:00:0{n}:02")}],
            "os": {"vendor": "Cumulus", "version": "5.1"}});
        assert_eq!(admin.post("v1/switch/register", body).await.status, 201);
    }
    let neighbor = |sw: &str, n: u8| pb::MachineNic {
        mac: format!("aa:00:00:00:0{n}:01"),
        name: "swp1".into(),
        hostname: sw.into(),
        ..Default::default()
    };
    let mut reg = registration("m-3", 4);
    reg.partition_id = String::new();
    let hw = reg.hardware.as_mut().unwrap();
    hw.nics = vec![
        pb::MachineNic {
            mac: "bb:00:00:00:00:01".into(),
            name: "eth0".into(),
            neighbors: vec![neighbor("leaf01", 1)],
            ..Default::default()
        },
        pb::MachineNic {
            mac: "bb:00:00:00:00:02".into(),
            name: "eth1".into(),
            neighbors: vec![neighbor("leaf02", 2)],
            ..Default::default()
        },
    ];
    let mut boot = boot_client(api.server.grpc_addr).await;
    let r = boot.register(reg.clone()).await.unwrap().into_inner();
    assert_eq!(r.partition_id, "fra");
    let c = api.client(Caller::Edit);
    assert_eq!(c.get("v1/machine/m-3").await.body["rackid"], "rack-7");
    let sw = c.get("v1/switch/leaf01").await.body;
    assert_eq!(sw["connections"][0]["machine_id"], "m-3", "{sw}");
    // one switch only: not a valid cabling
    let mut half = registration("m-4", 4);
    half.hardware.as_mut().unwrap().nics = vec![pb::MachineNic {
        mac: "cc:01".into(),
        name: "eth0".into(),
        neighbors: vec![neighbor("leaf01", 1)],
        ..Default::default()
    }];
    let err = boot.register(half).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::FailedPrecondition, "{err:?}");
    assert!(
        err.message().contains("exactly two switches"),
        "{}",
        err.message()
    );

    // allocate, report: the ports carry the tenant network's vrf; free clears it
    let vrf = c.get(&format!("v1/network/{tenant}")).await.body["vrf"]
        .as_u64()
        .unwrap();
    let mut stream = boot
        .wait(pb::BootServiceWaitRequest {
            machine_id: "m-3".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let alloc = json!({"uuid": "m-3", "projectid": "p1", "imageid": "ubuntu-22.04", "networks": [{"networkid": tenant}]});
    until_every("the allocation", DEADLINE, POLL, || {
        let c = c.clone();
        let alloc = alloc.clone();
        async move { c.post("v1/machine/allocate", alloc).await.status == 200 }
    })
    .await;
    while stream.next().await.is_some() {}
    let report = pb::BootServiceReportRequest {
        uuid: "m-3".into(),
        boot_info: Some(pb::BootInfo {
            primary_disk: "/dev/sda".into(),
            ..Default::default()
        }),
        ..Default::default()
    };
    boot.report(report).await.unwrap();
    let sw = c.get("v1/switch/leaf02").await.body;
    let port = sw["nics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "swp1")
        .unwrap()
        .clone();
    assert_eq!(port["vrf"], format!("vrf{vrf}"), "{sw}");
    assert_eq!(c.delete("v1/machine/m-3/free").await.status, 200);
    let sw = c.get("v1/switch/leaf02").await.body;
    let port = sw["nics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "swp1")
        .unwrap()
        .clone();
    assert_eq!(port["vrf"], "", "{sw}");
});

// Stopping the server ends open Wait streams (with Unavailable, so metal-hammer waits again)
// instead of waiting for them forever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_ends_wait_streams() {
    let api = TestApi::start(Backend::Sqlite).await.unwrap();
    world(&api).await;
    let mut boot = boot_client(api.server.grpc_addr).await;
    boot.register(registration("m-5", 4)).await.unwrap();
    let mut stream = boot
        .wait(pb::BootServiceWaitRequest {
            machine_id: "m-5".into(),
        })
        .await
        .unwrap()
        .into_inner();
    until_every("the stream to be open", DEADLINE, POLL, || {
        let n = api.server.app.waiters.open();
        async move { n == 1 }
    })
    .await;
    let stopping =
        tokio::spawn(
            async move { tokio::time::timeout(Duration::from_secs(10), api.stop()).await },
        );
    let end = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match stream.next().await {
                Some(Ok(_)) => continue,
                Some(Err(s)) => return Some(s.code()),
                None => return None,
            }
        }
    })
    .await
    .expect("the stream ends");
    assert_eq!(end, Some(tonic::Code::Unavailable));
    assert!(stopping.await.unwrap().is_ok(), "the server stops");
}

// With --grpc-server-cert/-key/--grpc-client-ca the gRPC port speaks TLS and requires a client
// certificate signed by that CA.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_requires_client_certificates_when_configured() {
    let dir = tempfile::tempdir().unwrap();
    let ca = metal_proto::pki::Ca::new("metal test CA").unwrap();
    let server = ca.server("metal-api", &["localhost", "127.0.0.1"]).unwrap();
    let client = ca.client("metal-hammer").unwrap();
    let (server_cert, server_key) = (server.cert, server.key);
    let (client_cert, client_key) = (client.cert, client.key);
    let file = |name: &str, content: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, content).unwrap();
        p
    };
    let (sc, sk, ca_file) = (
        file("server.pem", &server_cert),
        file("server.key", &server_key),
        file("ca.pem", &ca.cert_pem()),
    );
    let (cc, ck) = (
        file("client.pem", &client_cert),
        file("client.key", &client_key),
    );
    let api = TestApi::start_with(Backend::Sqlite, |c| {
        c.grpc_server_cert = Some(sc);
        c.grpc_server_key = Some(sk);
        c.grpc_client_ca = Some(ca_file.clone());
    })
    .await
    .unwrap();
    let endpoint = |tls: tonic::transport::ClientTlsConfig| {
        tonic::transport::Endpoint::from_shared(format!(
            "https://localhost:{}",
            api.server.grpc_addr.port()
        ))
        .unwrap()
        .tls_config(tls)
        .unwrap()
    };
    // with the client certificate
    let tls = metal_proto::tls::client_tls_config(&ca_file, &cc, &ck, "localhost").unwrap();
    let channel = endpoint(tls).connect().await.unwrap();
    let mut boot = BootServiceClient::new(channel);
    boot.dhcp(pb::BootServiceDhcpRequest {
        uuid: "m-tls".into(),
    })
    .await
    .unwrap();
    // without one: refused
    let ca_only = tonic::transport::ClientTlsConfig::new()
        .ca_certificate(tonic::transport::Certificate::from_pem(ca.cert_pem()))
        .domain_name("localhost");
    let refused = match endpoint(ca_only).connect().await {
        Err(_) => true,
        Ok(ch) => BootServiceClient::new(ch)
            .dhcp(pb::BootServiceDhcpRequest { uuid: "x".into() })
            .await
            .is_err(),
    };
    assert!(refused, "a client without certificate must be refused");
    // plain text: refused
    let plain = BootServiceClient::connect(format!("http://{}", api.server.grpc_addr)).await;
    let refused = match plain {
        Err(_) => true,
        Ok(mut c) => c
            .dhcp(pb::BootServiceDhcpRequest { uuid: "x".into() })
            .await
            .is_err(),
    };
    assert!(refused);
    api.stop().await;
}
