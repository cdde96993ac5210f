//! Fleet operations end to end: metal-bmc (in-process) reads two OpenIPMI `ipmi_sim` BMCs on
//! loopback addresses found in a dhcpd lease file (a third address answers nothing), reports
//! them to a real metal-api, and executes the commands `metalctl machine power|identify`
//! queue, over metal-api's gRPC command stream; `metalctl machine ipmi` shows the result.
//! Runs on SQLite and PostgreSQL. Needs ipmi_sim and ipmitool (required in CI).

mod driver;

use std::sync::Arc;
use std::time::{Duration, Instant};

use driver::{row_of, Ctl};
use metal_bmc::agent::{grpc_channel, Agent, Settings};
use metal_bmc::bmc::{Access, Credentials, Protocol};
use metal_sim::ipmisim::{free_udp_port, lease_file, tools_present, IpmiSim, SimBmc};
use metal_testkit::{until, until_every, Backend, TestApi};
use serde_json::json;

const U1: &str = "6a1c0e4e-0b7a-4f65-9a3b-1f0000000001";
const U2: &str = "6a1c0e4e-0b7a-4f65-9a3b-1f0000000002";

/// How long the test waits for the simulated BMCs.
const DEADLINE: Duration = Duration::from_secs(15);
/// How long and how often it asks metal-api for what metal-bmc reported (100 times, 100 ms
/// apart).
const RETRIES: Duration = Duration::from_secs(10);
const RETRY: Duration = Duration::from_millis(100);

async fn power_and_reports(backend: Backend) {
    if !tools_present("power_and_reports") {
        return;
    }
    let api = TestApi::start(backend).await.unwrap();
    let r = api
        .admin()
        .put("v1/partition", json!({"id": "fra", "name": "fra"}))
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);

    let ips = ["127.0.0.11", "127.0.0.12", "127.0.0.13"];
    let port = free_udp_port(&ips);
    let (b1, b2) = (
        SimBmc::example(U1, "factory-secret", 1),
        SimBmc::example(U2, "factory-secret", 2),
    );
    let sim1 = IpmiSim::start(ips[0], port, &b1).await.unwrap();
    let sim2 = IpmiSim::start(ips[1], port, &b2).await.unwrap();
    // a BMC that hangs: its port is bound and never answers
    let _hung = std::net::UdpSocket::bind((ips[2], port)).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let leases = dir.path().join("dhcpd.leases");
    std::fs::write(&leases, lease_file(&ips)).unwrap();

    let rest = metal_client::Client::builder(&api.url())
        .hmac(api.keys.edit.clone(), metal_client::HmacAuthType::Edit)
        .build()
        .unwrap();
    let agent = Agent {
        settings: Arc::new(Settings {
            agent: "bmc-test".into(),
            report_interval: Duration::from_secs(3600),
            allowed_cidrs: vec!["127.0.0.0/8".parse().unwrap()],
            ..Settings::new(
                "fra",
                leases,
                Credentials {
                    user: "ADMIN".into(),
                    password: "factory-secret".into(),
                },
                Access {
                    protocol: Protocol::Ipmi,
                    ipmi_port: port,
                    redfish_port: 443,
                    timeout: Duration::from_secs(2),
                },
            )
        }),
        rest,
        grpc: grpc_channel(&format!("http://{}", api.server.grpc_addr), None).unwrap(),
    };

    // the first report creates both machines; the hanging BMC is left out
    let started = Instant::now();
    let answer = agent.report_once().await.unwrap();
    let mut created = answer.created.clone();
    created.sort();
    assert_eq!(created, [U1, U2]);
    assert!(started.elapsed() < Duration::from_secs(20));

    let ctl = Ctl::admin(&api);
    let table = ctl.ok_async(&["machine", "ipmi"]).await;
    let row = row_of(&table, U1);
    assert!(row.contains("OFF"), "{row}");
    assert!(row.contains("127.0.0.11:623"), "{row}");
    assert!(row.contains("X11-SIM"), "{row}");
    assert!(row.contains("3.14"), "BMC firmware in {row}");
    let one = ctl.json_async(&["machine", "ipmi", U2]).await;
    assert_eq!(one[0]["ipmi"]["fru"]["product_serial"], "PS-2");
    assert_eq!(one[0]["ipmi"]["fru"]["board_mfg_serial"], "BS-2");
    assert_eq!(one[0]["ipmi"]["fru"]["chassis_part_serial"], "CH-1");

    // the command stream
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let consumer = tokio::spawn(agent.clone().commands(stop_rx));

    ctl.ok_async(&["machine", "power", "on", U1]).await;
    until("machine 1 powered on", DEADLINE, async || sim1.powered()).await;
    // the agent reports the machine right after the command
    until_every(
        "metalctl machine ipmi to show the machine ON",
        RETRIES,
        RETRY,
        async || {
            let t = ctl.ok_async(&["machine", "ipmi", U1]).await;
            row_of(&t, U1).contains(" ON ")
        },
    )
    .await;

    let t0 = Instant::now();
    ctl.ok_async(&["machine", "power", "off", U1]).await;
    until("machine 1 powered off", DEADLINE, async || !sim1.powered()).await;
    let off_after = t0.elapsed();
    eprintln!("power off took {off_after:?} from metalctl to the simulated BMC");
    agent.report_once().await.unwrap();
    let t = ctl.ok_async(&["machine", "ipmi", U1]).await;
    assert!(row_of(&t, U1).contains("OFF"), "{t}");
    let m = ctl.json_async(&["machine", "describe", U1]).await;
    let log = m["events"]["log"].as_array().unwrap();
    assert!(
        log.iter()
            .any(|e| e["event"] == "Planned Reboot" && e["message"] == "OFF"),
        "{log:?}"
    );

    ctl.ok_async(&["machine", "power", "pxe", U2]).await;
    until("machine 2 boots from PXE", DEADLINE, async || {
        sim2.boot_device().as_deref() == Some("pxe")
    })
    .await;
    assert!(!sim2.powered(), "pxe does not power the machine on");
    ctl.ok_async(&["machine", "identify", "on", U2, "-d", "replace disk"])
        .await;
    until("identify LED of machine 2", DEADLINE, async || {
        sim2.chassis_log().contains("identify")
    })
    .await;
    let m = ctl.json_async(&["machine", "describe", U2]).await;
    assert_eq!(m["ledstate"]["value"], "LED-ON");
    assert_eq!(m["ledstate"]["description"], "replace disk");

    // free: PXE, then RESET, in this order, one after the other
    ctl.ok_async(&["machine", "power", "on", U2]).await;
    until("machine 2 on", DEADLINE, async || sim2.powered()).await;
    std::fs::remove_file(sim2.dir().join("boot")).unwrap();
    ctl.ok_async(&["machine", "rm", U2]).await;
    until("reset of machine 2", DEADLINE, async || {
        sim2.dir().join("resets").exists()
    })
    .await;
    assert_eq!(sim2.boot_device().as_deref(), Some("pxe"));
    let log = sim2.chassis_log();
    let boot_at = log.rfind("set boot pxe").expect("boot set");
    let reset_at = log.rfind("set reset").expect("reset sent");
    assert!(boot_at < reset_at, "PXE before RESET:\n{log}");

    // a firmware update reaches metal-bmc; over IPMI it fails, saying why
    let bios = dir.path().join("bios-2.0.bin");
    std::fs::write(&bios, b"simulated bios 2.0").unwrap();
    let bios = bios.display().to_string();
    let upload = [
        "firmware",
        "upload",
        "bios",
        &bios,
        "--vendor",
        "Simulated",
        "--board",
        "x11-sim",
        "--revision",
        "2.0",
    ];
    ctl.ok_async(&upload).await;
    let t = ctl.ok_async(&["firmware", "list", "--kind", "bios"]).await;
    // the table's rows with single spaces
    let rows = |t: &str| -> Vec<String> {
        let words = |l: &str| l.split_whitespace().collect::<Vec<_>>().join(" ");
        t.lines().skip(1).map(words).collect()
    };
    assert_eq!(rows(&t), ["bios simulated X11-SIM 2.0"], "{t}");
    let t = ctl
        .ok_async(&["machine", "update-firmware", "bios", U1])
        .await;
    assert_eq!(rows(&t), ["bios simulated X11-SIM 2.0"], "{t}");
    let flash = [
        "machine",
        "update-firmware",
        "bios",
        U1,
        "--revision",
        "2.0",
        "--description",
        "CVE",
    ];
    let t = ctl.ok_async(&flash).await;
    assert!(t.contains(U1), "{t}");
    let failed = until_every(
        "the firmware update acknowledged",
        RETRIES,
        RETRY,
        async || {
            let v = api.admin().get(&format!("v1/machine/{U1}/ipmi")).await;
            let c = v.body["bmc_commands"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            match c.iter().find(|c| c["command"] == "UPDATE-FIRMWARE") {
                Some(c) if c["acknowledged"].is_string() => Ok(c.clone()),
                _ => Err(format!("{c:?}")),
            }
        },
    )
    .await;
    let error = failed["error"].as_str().unwrap_or_default();
    assert!(error.contains("no standard firmware update"), "{failed}");
    assert!(error.contains("127.0.0.11"), "{failed}");

    // every command acknowledged without error
    let c = until_every("every command acknowledged", RETRIES, RETRY, async || {
        let v = api.admin().get(&format!("v1/machine/{U2}/ipmi")).await;
        let c = v.body["bmc_commands"].as_array().unwrap().clone();
        assert!(c.len() >= 5, "PXE, LED-ON, ON, PXE, RESET: {c:?}");
        if c.iter().all(|c| c["acknowledged"].is_string()) {
            Ok(c)
        } else {
            Err(format!("{c:?}"))
        }
    })
    .await;
    assert!(c.iter().all(|c| c["error"] == ""), "{c:?}");

    let _ = stop_tx.send(true);
    consumer.await.unwrap();
    drop((sim1, sim2));
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn power_and_reports_sqlite() {
    power_and_reports(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn power_and_reports_postgres() {
    power_and_reports(Backend::Postgres).await;
}
