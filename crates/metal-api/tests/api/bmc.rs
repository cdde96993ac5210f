//! The durable BMC command queue (§4.15): the power, boot device and LED endpoints queue
//! commands, metal-bmc receives them over the gRPC `BmcService.Commands` stream of its
//! partition, one command per machine at a time, exactly once across streams and replicas
//! while it acknowledges, again after the redelivery cutoff when it does not.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::future::join_all;
use metal_proto::api::v1 as pb;
use metal_proto::api::v1::bmc_service_client::BmcServiceClient;
use metal_testkit::{
    backend_test, insert_machine, seed_waiting_machine, seed_waiting_machines, set_machine_ipmi,
    try_until, until_every, Caller, TestApi,
};
use serde_json::{json, Value};
use sqlx::Row;

type Client = BmcServiceClient<tonic::transport::Channel>;

async fn bmc_client(addr: std::net::SocketAddr) -> Client {
    BmcServiceClient::connect(format!("http://{addr}"))
        .await
        .unwrap()
}

/// Partition `fra` and the given waiting machines in it, each with a BMC address, user and
/// password of its own.
async fn world(api: &TestApi, machines: &[&str]) {
    let r = api
        .admin()
        .put("v1/partition", crate::partition("fra"))
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    for id in machines {
        seed_waiting_machine(api.store(), id, "fra", "s", "r1", 4, 100)
            .await
            .unwrap();
        set_machine_ipmi(
            api.store(),
            id,
            json!({"address": format!("10.1.0.{}:623", id.len()), "mac": "aa:bb:cc:dd:ee:01",
                "user": format!("user-{id}"), "password": format!("pw-{id}"), "interface": "lanplus"}),
        )
        .await
        .unwrap();
    }
}

/// Opens the partition's command stream as `agent`.
async fn open(client: &mut Client, agent: &str) -> tonic::Streaming<pb::BmcCommand> {
    client
        .commands(pb::BmcServiceCommandsRequest {
            partition_id: "fra".into(),
            agent: agent.into(),
        })
        .await
        .unwrap()
        .into_inner()
}

/// The next command of the stream (keep-alives skipped), or `None` after `within`.
async fn next_command(
    s: &mut tonic::Streaming<pb::BmcCommand>,
    within: Duration,
) -> Option<pb::BmcCommand> {
    tokio::time::timeout(within, async {
        loop {
            let m = s.message().await.unwrap().expect("the stream ended");
            if m.seq != 0 {
                return m;
            }
        }
    })
    .await
    .ok()
}

async fn ack(client: &mut Client, seq: i64, error: &str) {
    client
        .ack(pb::BmcServiceAckRequest {
            partition_id: "fra".into(),
            seq,
            error: error.into(),
        })
        .await
        .unwrap();
}

/// The machine's `bmc_commands` in its IPMI view.
async fn bmc_commands(api: &TestApi, id: &str) -> Vec<Value> {
    let r = api.admin().get(&format!("v1/machine/{id}/ipmi")).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    r.body["bmc_commands"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// The messages of the machine's `Planned Reboot` events, oldest first.
async fn planned_reboots(api: &TestApi, id: &str) -> Vec<String> {
    let r = api.admin().get(&format!("v1/machine/{id}")).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let mut out: Vec<String> = r.body["events"]["log"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event"] == "Planned Reboot")
        .map(|e| e["message"].as_str().unwrap_or_default().to_string())
        .collect();
    out.reverse();
    out
}

/// Waits until no command stream of the server is open any more.
async fn streams_closed(api: &TestApi) {
    until_every(
        "the command stream to close",
        Duration::from_secs(10),
        Duration::from_millis(20),
        async || api.server.app.command_streams.open() == 0,
    )
    .await;
}

backend_test!(power_endpoints_queue_commands, |api| {
    world(api, &["m1"]).await;
    let edit = api.client(Caller::Edit);
    let endpoints = [
        ("on", "ON"),
        ("off", "OFF"),
        ("reset", "RESET"),
        ("cycle", "CYCLE"),
        ("bios", "BIOS"),
        ("disk", "DISK"),
        ("pxe", "PXE"),
        (
            "chassis-identify-led-on?description=replace%20disk",
            "LED-ON",
        ),
        ("chassis-identify-led-off?description=done", "LED-OFF"),
    ];
    let mut reboots = Vec::new();
    for (path, command) in endpoints {
        let r = edit
            .post(&format!("v1/machine/m1/power/{path}"), json!([]))
            .await;
        assert_eq!(r.status, 200, "{path}: {:?}", r.body);
        assert_eq!(r.body["id"], "m1", "{path}");
        if matches!(command, "OFF" | "RESET" | "CYCLE") {
            reboots.push(command.to_string());
        }
        // off, reset and cycle record a Planned Reboot event; the others do not
        assert_eq!(planned_reboots(api, "m1").await, reboots, "after {command}");
        if command == "LED-ON" {
            assert_eq!(
                r.body["ledstate"],
                json!({"value": "LED-ON", "description": "replace disk"})
            );
            let m = api.admin().get("v1/machine/m1").await;
            assert_eq!(m.body["ledstate"]["value"], "LED-ON");
            assert_eq!(m.body["ledstate"]["description"], "replace disk");
        }
    }
    let m = api.admin().get("v1/machine/m1").await;
    assert_eq!(
        m.body["ledstate"],
        json!({"value": "LED-OFF", "description": "done"})
    );
    // the IPMI view lists the pending ones oldest first (the next to run on top), none delivered
    // or acknowledged yet
    let listed = bmc_commands(api, "m1").await;
    let commands: Vec<&str> = listed
        .iter()
        .map(|c| c["command"].as_str().unwrap())
        .collect();
    let expected: Vec<&str> = endpoints.iter().map(|(_, c)| *c).collect();
    assert_eq!(commands, expected, "{listed:?}");
    let seqs: Vec<i64> = listed.iter().map(|c| c["seq"].as_i64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    for c in &listed {
        assert!(c["queued"].is_string(), "{c}");
        assert!(c["delivered"].is_null(), "{c}");
        assert!(c["acknowledged"].is_null(), "{c}");
        assert_eq!(c["attempts"], 0, "{c}");
        assert_eq!(c["error"], "", "{c}");
    }
    assert!(listed[8]["reason"].as_str().unwrap().ends_with(": done"));

    // errors queue nothing
    let r = edit.post("v1/machine/nope/power/off", json!([])).await;
    assert_eq!(r.status, 404, "{:?}", r.body);
    insert_machine(api.store(), "lonely", None, None, None, None, json!({}))
        .await
        .unwrap();
    for path in ["off", "chassis-identify-led-on?description=x"] {
        let r = edit
            .post(&format!("v1/machine/lonely/power/{path}"), json!([]))
            .await;
        assert_eq!(r.status, 422, "{path}: {:?}", r.body);
    }
    assert!(bmc_commands(api, "lonely").await.is_empty());
    assert!(planned_reboots(api, "lonely").await.is_empty());
    let r = api
        .client(Caller::View)
        .post("v1/machine/m1/power/reset", json!([]))
        .await;
    assert_eq!(r.status, 403, "{:?}", r.body);
    assert_eq!(bmc_commands(api, "m1").await.len(), 9);
    assert_eq!(planned_reboots(api, "m1").await.len(), 3);
});

backend_test!(commands_are_delivered_one_per_machine_at_a_time, |api| {
    world(api, &["a", "bb", "ccc"]).await;
    let edit = api.client(Caller::Edit);
    let mut client = bmc_client(api.server.grpc_addr).await;
    let opened = Instant::now();
    let mut stream = open(&mut client, "bmc-1").await;

    let r = edit.post("v1/machine/a/power/off", json!([])).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    // freeing queues PXE, then RESET
    let r = edit.delete("v1/machine/bb/free").await;
    assert_eq!(r.status, 200, "{:?}", r.body);

    let first = next_command(&mut stream, Duration::from_secs(3))
        .await
        .expect("a's OFF");
    let second = next_command(&mut stream, Duration::from_secs(3))
        .await
        .expect("bb's PXE");
    assert_eq!(
        (first.machine_id.as_str(), first.command.as_str()),
        ("a", "OFF")
    );
    assert_eq!(
        (second.machine_id.as_str(), second.command.as_str()),
        ("bb", "PXE")
    );
    assert!(first.seq < second.seq);
    assert_eq!(first.attempt, 1);
    assert_eq!(second.reason, "free machine called");
    assert_eq!(
        first.bmc,
        Some(pb::BmcConnection {
            address: "10.1.0.1:623".into(),
            user: "user-a".into(),
            password: "pw-a".into(),
            interface: "lanplus".into(),
        })
    );
    let bmc = second.bmc.clone().unwrap();
    assert_eq!(
        (
            bmc.address.as_str(),
            bmc.user.as_str(),
            bmc.password.as_str()
        ),
        ("10.1.0.2:623", "user-bb", "pw-bb")
    );

    // a new command wakes the stream: ccc's arrives, a's second and bb's RESET do not (their
    // machines' previous commands are not acknowledged)
    edit.post("v1/machine/a/power/on", json!([])).await;
    edit.post("v1/machine/ccc/power/bios", json!([])).await;
    let third = next_command(&mut stream, Duration::from_secs(3))
        .await
        .expect("ccc's BIOS");
    assert_eq!(
        (third.machine_id.as_str(), third.command.as_str()),
        ("ccc", "BIOS")
    );
    assert_eq!(
        next_command(&mut stream, Duration::from_millis(500)).await,
        None
    );
    let bb = bmc_commands(api, "bb").await;
    let reset = bb.iter().find(|c| c["command"] == "RESET").unwrap();
    assert!(reset["delivered"].is_null(), "{bb:?}");
    let pxe = bb.iter().find(|c| c["command"] == "PXE").unwrap();
    assert!(pxe["delivered"].is_string(), "{bb:?}");
    // the holder is the agent's stream: `<agent>/<stream>`
    assert!(
        pxe["agent"].as_str().unwrap().starts_with("bmc-1/"),
        "{bb:?}"
    );
    assert_eq!(pxe["attempts"], 1);

    // acknowledging bb's PXE makes its RESET deliverable at once (woken, not polled): the
    // stream's 5 s poll and keep-alive tick at 5 s, 10 s, ... after it opened, so acking at
    // 5.5 s leaves no tick before 10 s that could deliver it within the 3 s asserted
    tokio::time::sleep_until((opened + Duration::from_millis(5500)).into()).await;
    let started = Instant::now();
    ack(&mut client, second.seq, "").await;
    let next = next_command(&mut stream, Duration::from_secs(3))
        .await
        .expect("bb's RESET after the ack");
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(
        (next.machine_id.as_str(), next.command.as_str()),
        ("bb", "RESET")
    );

    // a failure is stored with its error; a's ON follows
    ack(&mut client, first.seq, "ipmitool: connection timed out").await;
    let on = next_command(&mut stream, Duration::from_secs(3))
        .await
        .expect("a's ON after the ack");
    assert_eq!((on.machine_id.as_str(), on.command.as_str()), ("a", "ON"));
    let view = |cs: &[Value], seq: i64| cs.iter().find(|c| c["seq"] == seq).cloned().unwrap();
    let off = view(&bmc_commands(api, "a").await, first.seq);
    assert_eq!(off["error"], "ipmitool: connection timed out");
    assert!(off["acknowledged"].is_string(), "{off}");
    assert!(
        off["agent"].as_str().unwrap().starts_with("bmc-1/"),
        "{off}"
    );

    // a duplicate ack changes nothing; acks of unknown commands and of other partitions neither
    ack(&mut client, first.seq, "").await;
    ack(&mut client, 987_654, "").await;
    let r = client
        .ack(pb::BmcServiceAckRequest {
            partition_id: "nbg".into(),
            seq: on.seq,
            error: String::new(),
        })
        .await;
    assert!(r.is_ok(), "{r:?}");
    let cs = bmc_commands(api, "a").await;
    assert_eq!(view(&cs, first.seq), off);
    assert!(view(&cs, on.seq)["acknowledged"].is_null());
    let r = client
        .ack(pb::BmcServiceAckRequest {
            partition_id: "fra".into(),
            seq: 0,
            error: String::new(),
        })
        .await;
    assert_eq!(r.unwrap_err().code(), tonic::Code::InvalidArgument);
    assert_eq!(
        next_command(&mut stream, Duration::from_millis(300)).await,
        None
    );
    for seq in [next.seq, third.seq, on.seq] {
        ack(&mut client, seq, "").await;
    }
    let mut conn = api.store().reader().acquire().await.unwrap();
    assert!(metal_store::commands::backlog(&mut conn)
        .await
        .unwrap()
        .is_empty());
});

backend_test!(concurrent_streams_deliver_each_command_once, |api| {
    let r = api
        .admin()
        .put("v1/partition", crate::partition("fra"))
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    seed_waiting_machines(api.store(), "m", 50, "fra", "s", 1, 4)
        .await
        .unwrap();
    // on PostgreSQL, a second replica on the same database serves a third stream
    let replica = if api.store().backend() == metal_store::Backend::Postgres {
        Some(api.start_replica().await.unwrap())
    } else {
        None
    };
    let mut addrs = vec![api.server.grpc_addr, api.server.grpc_addr];
    addrs.extend(replica.as_ref().map(|r| r.grpc_addr));
    let delivered: Arc<Mutex<Vec<(usize, i64, String)>>> = Default::default();
    let mut tasks = Vec::new();
    for (i, addr) in addrs.iter().enumerate() {
        let mut client = bmc_client(*addr).await;
        let mut stream = open(&mut client, &format!("bmc-{i}")).await;
        let delivered = delivered.clone();
        tasks.push(tokio::spawn(async move {
            while let Ok(Some(m)) = stream.message().await {
                if m.seq == 0 {
                    continue;
                }
                delivered
                    .lock()
                    .unwrap()
                    .push((i, m.seq, m.machine_id.clone()));
                ack(&mut client, m.seq, "").await;
            }
        }));
    }
    let edit = api.client(Caller::Edit);
    let queued = join_all((0..50).map(|i| {
        let edit = edit.clone();
        async move {
            edit.post(&format!("v1/machine/m{i:05}/power/cycle"), json!([]))
                .await
                .status
        }
    }))
    .await;
    assert!(queued.iter().all(|s| *s == 200), "{queued:?}");
    let _ = try_until(
        "50 commands delivered",
        Duration::from_secs(20),
        Duration::from_millis(50),
        async || delivered.lock().unwrap().len() >= 50,
    )
    .await;
    // give a duplicate the chance to show up
    tokio::time::sleep(Duration::from_millis(500)).await;
    for t in &tasks {
        t.abort();
    }
    let delivered = delivered.lock().unwrap().clone();
    let mut per_seq: BTreeMap<i64, usize> = BTreeMap::new();
    for (_, seq, _) in &delivered {
        *per_seq.entry(*seq).or_default() += 1;
    }
    let twice: Vec<_> = per_seq.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "delivered more than once: {twice:?}");
    let rows = sqlx::query("SELECT seq FROM machine_commands")
        .fetch_all(api.store().reader())
        .await
        .unwrap();
    let all: HashSet<i64> = rows.iter().map(|r| r.get::<i64, _>("seq")).collect();
    assert_eq!(all.len(), 50);
    let got: HashSet<i64> = per_seq.keys().copied().collect();
    assert_eq!(got, all, "missing: {:?}", all.difference(&got));
    let machines: HashSet<&str> = delivered.iter().map(|(_, _, m)| m.as_str()).collect();
    assert_eq!(machines.len(), 50);
    let mut conn = api.store().reader().acquire().await.unwrap();
    assert!(metal_store::commands::backlog(&mut conn)
        .await
        .unwrap()
        .is_empty());
    drop(conn);
    if let Some(r) = replica {
        r.shutdown().await;
    }
});

backend_test!(unacknowledged_commands_are_not_lost, |api| {
    world(api, &["m1", "m2"]).await;
    let edit = api.client(Caller::Edit);
    let backend = api.store().backend();
    let cutoff = metal_api::app::commands::REDELIVER_AFTER;
    let store_claim = |holder: &'static str, now: chrono::DateTime<chrono::Utc>| async move {
        let mut tx = api.store().begin().await.unwrap();
        let c =
            metal_store::commands::claim(&mut tx, backend, "fra", holder, now, now - cutoff, 100)
                .await
                .unwrap();
        tx.commit().await.unwrap();
        c
    };

    // an agent dies without acknowledging: its closed stream releases the command at once
    let mut client = bmc_client(api.server.grpc_addr).await;
    let mut stream = open(&mut client, "bmc-1").await;
    edit.post("v1/machine/m1/power/reset", json!([])).await;
    let got = next_command(&mut stream, Duration::from_secs(3))
        .await
        .expect("m1's RESET");
    assert_eq!(got.attempt, 1);
    drop(stream);
    streams_closed(api).await;
    let mut stream = open(&mut client, "bmc-2").await;
    let again = next_command(&mut stream, Duration::from_secs(3))
        .await
        .expect("m1's RESET again after the first stream closed");
    assert_eq!(again.seq, got.seq);
    assert_eq!(again.attempt, 2);
    ack(&mut client, got.seq, "").await;
    drop(stream);
    streams_closed(api).await;

    // a holder that stops reading without closing (no stream here: the store directly):
    // within the cutoff the command is nobody else's, after it it is delivered again
    edit.post("v1/machine/m2/power/pxe", json!([])).await;
    let now = metal_store::time::now();
    let claimed = store_claim("stuck-agent", now).await;
    assert_eq!(claimed.len(), 1, "{claimed:?}");
    assert!(store_claim("other", now).await.is_empty());
    let mut stream = open(&mut client, "bmc-3").await;
    assert_eq!(
        next_command(&mut stream, Duration::from_millis(500)).await,
        None
    );
    drop(stream);
    streams_closed(api).await;
    // the closed stream released only its own commands, not the stuck holder's
    assert!(store_claim("other", metal_store::time::now())
        .await
        .is_empty());
    let later = now + cutoff + chrono::Duration::seconds(1);
    let redelivered = store_claim("other", later).await;
    assert_eq!(redelivered.len(), 1, "{redelivered:?}");
    assert_eq!(redelivered[0].seq, claimed[0].seq);
    assert_eq!(redelivered[0].attempts, 2);
    assert_eq!(redelivered[0].delivered_to, "other");
    assert!(store_claim("third", later).await.is_empty());

    // unclaim by a former holder changes nothing; by the holder it releases at once
    let mut tx = api.store().begin().await.unwrap();
    metal_store::commands::unclaim(&mut tx, "stuck-agent", &[claimed[0].seq])
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert!(store_claim("third", later).await.is_empty());
    let mut tx = api.store().begin().await.unwrap();
    metal_store::commands::unclaim(&mut tx, "other", &[claimed[0].seq])
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let m2 = bmc_commands(api, "m2").await;
    assert!(m2[0]["delivered"].is_null(), "{m2:?}");
    let mut stream = open(&mut client, "bmc-4").await;
    let released = next_command(&mut stream, Duration::from_secs(3))
        .await
        .expect("m2's PXE after unclaim");
    assert_eq!(released.seq, claimed[0].seq);
    ack(&mut client, released.seq, "").await;
    drop(stream);
    streams_closed(api).await;
    assert!(bmc_commands(api, "m2").await[0]["acknowledged"].is_string());
});

backend_test!(command_stream_needs_a_known_partition, |api| {
    api.admin()
        .put("v1/partition", crate::partition("fra"))
        .await;
    let mut client = bmc_client(api.server.grpc_addr).await;
    for (partition, code) in [
        ("nope", tonic::Code::NotFound),
        ("", tonic::Code::InvalidArgument),
    ] {
        let r = client
            .commands(pb::BmcServiceCommandsRequest {
                partition_id: partition.into(),
                agent: "bmc-1".into(),
            })
            .await;
        assert_eq!(r.err().map(|s| s.code()), Some(code), "{partition:?}");
    }
    // a known partition streams (the keep-alive arrives before any command)
    let mut s = open(&mut client, "bmc-1").await;
    let m = tokio::time::timeout(Duration::from_secs(7), s.message())
        .await
        .expect("a keep-alive")
        .unwrap()
        .unwrap();
    assert_eq!(m.seq, 0);
});
