//! `POST /v1/machine/update-firmware/{id}` (admin, §4.15): the firmware file for the machine's
//! board (`kind/lower(board manufacturer)/UPPER(board part number)/revision`) is queued as an
//! `UPDATE-FIRMWARE` BMC command; metal-bmc receives it on its command stream with a download
//! URL that serves the uploaded file. Refused: the installed revision, a file never uploaded,
//! a machine whose BMC reported no board, a bad kind, and callers below admin.

use axum::http::Method;
use metal_proto::api::v1 as pb;
use metal_proto::api::v1::bmc_service_client::BmcServiceClient;
use metal_testkit::{backend_test, seed_waiting_machine, set_machine_ipmi, Caller, TestApi};
use serde_json::{json, Value};

/// Partition `fra` with the waiting machine `m1`: a Supermicro X11DPT-B board, BMC 1.70,
/// BIOS 3.3.
async fn world(api: &TestApi) {
    let r = api
        .admin()
        .put("v1/partition", crate::partition("fra"))
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    seed_waiting_machine(api.store(), "m1", "fra", "s", "r1", 4, 100)
        .await
        .unwrap();
    set_machine_ipmi(
        api.store(),
        "m1",
        json!({"address": "10.1.0.7:623", "user": "metal", "password": "pw", "interface": "lanplus",
            "bmcversion": "1.70", "fru": {"board_mfg": "Supermicro", "board_part_number": "x11dpt-b"}}),
    )
    .await
    .unwrap();
    let mut tx = api.store().begin().await.unwrap();
    let stored = metal_store::docs::must_get::<metal_domain::machine::Machine>(&mut tx, "m1")
        .await
        .unwrap();
    let mut m = stored.value;
    m.bios.version = "3.3".into();
    metal_store::docs::update(&mut tx, &mut m, stored.revision)
        .await
        .unwrap();
    tx.commit().await.unwrap();
}

fn update(kind: &str, revision: &str) -> Value {
    json!({"kind": kind, "revision": revision, "description": "security fix"})
}

/// The next command of the partition's stream, keep-alives skipped.
async fn next_command(
    api: &TestApi,
) -> (pb::BmcCommand, BmcServiceClient<tonic::transport::Channel>) {
    let mut client = BmcServiceClient::connect(format!("http://{}", api.server.grpc_addr))
        .await
        .unwrap();
    let mut stream = client
        .commands(pb::BmcServiceCommandsRequest {
            partition_id: "fra".into(),
            agent: "test-bmc".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let command = tokio::time::timeout(std::time::Duration::from_secs(20), async {
        loop {
            let m = stream.message().await.unwrap().expect("the stream ended");
            if m.seq != 0 {
                return m;
            }
        }
    })
    .await
    .expect("a command within 20 s");
    (command, client)
}

backend_test!(
    firmware_updates_are_checked_and_queued_for_metal_bmc,
    |api| {
        world(api).await;
        let admin = api.admin();
        let path = "v1/machine/update-firmware/m1";
        // nothing uploaded yet
        let r = admin.post(path, update("bios", "3.4")).await;
        assert_eq!(r.status, 422, "{:?}", r.body);
        let message = r.body["message"].as_str().unwrap_or_default();
        assert!(message.contains("revision 3.4"), "{message}");
        assert!(message.contains("X11DPT-B"), "{message}");
        let file = b"BIOS image 3.4 \x00\x01\x02".repeat(1000);
        let r = admin
            .send_file(
                Method::PUT,
                "v1/firmware/bios/Supermicro/X11DPT-B/3.4",
                "file",
                &file,
            )
            .await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        // (caller, body, status, message part)
        let refused = [
            (Caller::Edit, update("bios", "3.4"), 403, ""),
            (
                Caller::Admin,
                update("bios", "3.3"),
                422,
                "already has bios revision 3.3",
            ),
            (
                Caller::Admin,
                update("bmc", "1.70"),
                422,
                "already has bmc revision 1.70",
            ),
            (
                Caller::Admin,
                update("uefi", "3.4"),
                400,
                "kind must be bios or bmc",
            ),
            (
                Caller::Admin,
                update("bios", ""),
                400,
                "revision is required",
            ),
            (
                Caller::Admin,
                update("bmc", "3.4"),
                422,
                "no bmc firmware revision 3.4",
            ),
        ];
        for (caller, body, status, want) in refused {
            let r = api.client(caller).post(path, body.clone()).await;
            assert_eq!(r.status, status, "{body}: {:?}", r.body);
            let message = r.body["message"].as_str().unwrap_or_default();
            assert!(message.contains(want), "{body}: {message}");
        }
        let r = admin
            .post("v1/machine/update-firmware/nope", update("bios", "3.4"))
            .await;
        assert_eq!(r.status, 404, "{:?}", r.body);
        // nothing was queued by the refusals
        let ipmi = admin.get("v1/machine/m1/ipmi").await;
        assert!(ipmi.body.get("bmc_commands").is_none(), "{:?}", ipmi.body);

        let r = admin.post(path, update("bios", "3.4")).await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        assert_eq!(r.body["id"], "m1");
        let (command, mut client) = next_command(api).await;
        assert_eq!(command.machine_id, "m1");
        assert_eq!(command.command, "UPDATE-FIRMWARE");
        assert!(
            command.reason.contains("security fix"),
            "{}",
            command.reason
        );
        let f = command.firmware_update.expect("the firmware to flash");
        assert_eq!((f.kind.as_str(), f.revision.as_str()), ("bios", "3.4"));
        // the URL serves the uploaded file to anyone who has it (the BMC has no metal-api key)
        let got = reqwest::get(&f.url).await.unwrap();
        assert_eq!(got.status(), 200, "{}", f.url);
        assert_eq!(got.bytes().await.unwrap().as_ref(), file.as_slice());
        client
            .ack(pb::BmcServiceAckRequest {
                partition_id: "fra".into(),
                seq: command.seq,
                error: String::new(),
            })
            .await
            .unwrap();
        let ipmi = admin.get("v1/machine/m1/ipmi").await;
        let commands = ipmi.body["bmc_commands"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert_eq!(commands.len(), 1, "{commands:?}");
        assert_eq!(commands[0]["command"], "UPDATE-FIRMWARE", "{commands:?}");
    }
);

backend_test!(a_machine_without_board_data_gets_no_firmware, |api| {
    world(api).await;
    set_machine_ipmi(api.store(), "m1", json!({"address": "10.1.0.7:623"}))
        .await
        .unwrap();
    let r = api
        .admin()
        .post("v1/machine/update-firmware/m1", update("bios", "3.4"))
        .await;
    assert_eq!(r.status, 422, "{:?}", r.body);
    let message = r.body["message"].as_str().unwrap_or_default();
    assert!(message.contains("no board information"), "{message}");
});
