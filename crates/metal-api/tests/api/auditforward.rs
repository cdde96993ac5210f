//! Forwarding the audit trail to Splunk's HTTP Event Collector, against the HEC double of
//! [`crate::hec_double`] (no Splunk is installable here): entries arrive as events with the
//! token, the index and the stored (redacted) entry; 5xx is retried until accepted, other 4xx
//! is not; a hanging or absent collector neither slows nor fails requests, and the queue stays
//! bounded with the drops counted; a shutdown sends what is queued, and gives up on a hanging
//! collector at its deadline.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use metal_api::runtime::auditforward::ForwardMetrics;
use metal_api::Config;
use metal_testkit::{until, Backend, Caller, TestApi};
use serde_json::{json, Value};

use crate::hec_double::HecDouble;
use crate::size;

const TOKEN: &str = "hec-token-7c1d9e";
const WAIT: Duration = Duration::from_secs(20);

/// Forwarding to `hec` with the index `metal-audit` and quick batches and retries.
fn forward_to(hec: &HecDouble) -> impl FnOnce(&mut Config) + '_ {
    move |c| {
        c.auditing_splunk_endpoint = Some(hec.endpoint());
        c.auditing_splunk_token = Some(TOKEN.parse().unwrap());
        c.auditing_splunk_index = Some("metal-audit".into());
        c.auditing_splunk_host = Some("api-test".into());
        c.auditing_splunk_flush_interval = Duration::from_millis(20);
        c.auditing_splunk_backoff = Duration::from_millis(20);
    }
}

/// Size `s<i>` with constraints of its own (sizes must not overlap).
fn sized(i: u64) -> Value {
    size(&format!("s{i}"), (10 * i + 1, 10 * i + 2), (1, 2))
}

fn metrics(api: &TestApi) -> &ForwardMetrics {
    api.server
        .app
        .audit_forward
        .as_ref()
        .expect("forwarding is on")
        .metrics()
}

fn dropped(m: &ForwardMetrics, reason: &str) -> u64 {
    m.dropped.with_label_values(&[reason]).get()
}

async fn scrape(api: &TestApi) -> String {
    reqwest::get(format!("http://{}/metrics", api.server.metrics_addr))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

async fn forwards_entries(backend: Backend) {
    let hec = HecDouble::start().await;
    let api = TestApi::start_with(backend, forward_to(&hec))
        .await
        .unwrap();
    let c = api.admin();
    assert_eq!(
        c.put("v1/size", size("s1", (1, 2), (1, 2))).await.status,
        201
    );
    assert_eq!(
        c.put("v1/size", size("s1", (1, 2), (1, 2))).await.status,
        409
    );
    let tenant = json!({"meta": {"id": "t1"}, "name": "t", "password": "hunter2", "nested": {"api_token": "tok123"}});
    assert_eq!(c.put("v1/tenant", tenant).await.status, 201);
    c.post("v1/image/find", json!({})).await; // a search: neither audited nor forwarded
    let view = api.client(Caller::View);
    assert_eq!(
        view.put("v1/size", size("s2", (1, 2), (1, 2))).await.status,
        403
    );

    let events = until("4 events at the collector", WAIT, async || {
        let events = hec.accepted();
        (events.len() >= 4).then_some(events)
    })
    .await;
    assert_eq!(events.len(), 4, "{events:#?}");
    for r in hec.received() {
        assert_eq!(r.path, "/services/collector/event");
        assert_eq!(r.auth.as_deref(), Some(format!("Splunk {TOKEN}").as_str()));
    }
    for e in &events {
        assert_eq!(e["index"], "metal-audit", "{e}");
        assert_eq!(e["source"], "metal-api");
        assert_eq!(e["sourcetype"], "_json");
        assert_eq!(e["host"], "api-test");
        assert!(e["time"].as_f64().unwrap() > 1.7e9, "{e}");
        assert_eq!(e["event"]["component"], "metal-api");
        assert_eq!(e["event"]["type"], "http");
    }
    let raw = serde_json::to_string(&events).unwrap();
    assert!(!raw.contains("hunter2") && !raw.contains("tok123"), "{raw}");
    assert!(!raw.contains("/find"), "searches are not forwarded: {raw}");

    // each event is the entry as stored: the same fields /v1/audit/find answers
    let stored = c.post("v1/audit/find", json!({})).await.body;
    let stored: Vec<&Value> = stored.as_array().unwrap().iter().collect();
    assert_eq!(stored.len(), 4);
    for s in stored {
        let e = events
            .iter()
            .map(|e| &e["event"])
            .find(|e| e["rqid"] == s["rqid"])
            .unwrap_or_else(|| panic!("{s} forwarded"));
        for field in [
            "user",
            "tenant",
            "detail",
            "path",
            "status_code",
            "error",
            "body",
        ] {
            assert_eq!(e[field], s[field], "{field} of {s}");
        }
    }
    let codes: BTreeSet<i64> = events
        .iter()
        .map(|e| e["event"]["status_code"].as_i64().unwrap())
        .collect();
    assert_eq!(codes, BTreeSet::from([201, 403, 409]));
    let tenant = events
        .iter()
        .find(|e| e["event"]["path"] == "/v1/tenant")
        .unwrap();
    assert!(tenant["event"]["body"]
        .as_str()
        .unwrap()
        .contains("[redacted]"));
    assert_eq!(tenant["event"]["user"], "metal-admin@metal-stack.io");

    let text = scrape(&api).await;
    assert!(
        text.contains("metal_api_audit_forward_sent_total 4"),
        "{text}"
    );
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwards_entries_sqlite() {
    forwards_entries(Backend::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwards_entries_postgres() {
    forwards_entries(Backend::Postgres).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_an_endpoint_nothing_is_forwarded() {
    let api = TestApi::start(Backend::Sqlite).await.unwrap();
    assert!(api.server.app.audit_forward.is_none());
    let c = api.admin();
    assert_eq!(
        c.put("v1/size", size("s1", (1, 2), (1, 2))).await.status,
        201
    );
    assert!(!scrape(&api).await.contains("audit_forward"));
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn busy_collector_gets_each_event_once_after_retries() {
    let hec = HecDouble::start().await;
    hec.script(&[503, 429, 503]);
    let api = TestApi::start_with(Backend::Sqlite, forward_to(&hec))
        .await
        .unwrap();
    let c = api.admin();
    assert_eq!(
        c.put("v1/size", size("s1", (1, 2), (1, 2))).await.status,
        201
    );
    let m = metrics(&api);
    until("the event accepted", WAIT, async || m.sent.get() == 1).await;
    let received = hec.received();
    let statuses: Vec<u16> = received.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [503, 429, 503, 200]);
    for r in &received {
        assert_eq!(r.events.len(), 1);
        assert_eq!(
            r.events[0], received[0].events[0],
            "the same batch each time"
        );
    }
    assert_eq!(hec.accepted().len(), 1);
    assert_eq!(m.retries.get(), 3);
    assert_eq!(m.failed_batches.get(), 0);

    // a rejection (bad token, unknown index: 4xx) is not retried; the next batch goes through
    hec.script(&[403]);
    assert_eq!(c.put("v1/size", sized(2)).await.status, 201);
    until("the batch given up", WAIT, async || {
        m.failed_batches.get() == 1
    })
    .await;
    assert_eq!(dropped(m, "rejected"), 1);
    assert_eq!(hec.received().len(), 5, "not retried");
    assert_eq!(c.put("v1/size", sized(3)).await.status, 201);
    until("the next event accepted", WAIT, async || m.sent.get() == 2).await;
    assert_eq!(hec.accepted().len(), 2);
    api.stop().await;
}

/// Requests answer promptly while the collector hangs; the queue holds at most its size and
/// the rest is dropped and counted; once the collector answers, the queue drains.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hanging_collector_neither_slows_requests_nor_grows_the_queue() {
    let hec = HecDouble::start().await;
    hec.hang();
    let api = TestApi::start_with(Backend::Sqlite, |c| {
        forward_to(&hec)(c);
        c.auditing_splunk_queue_size = 4;
        c.auditing_splunk_batch_size = 1;
        c.auditing_splunk_retries = 0;
        c.auditing_splunk_timeout = Duration::from_secs(60);
    })
    .await
    .unwrap();
    let c = api.admin();
    let m = metrics(&api);
    let n = 20;
    for i in 0..n {
        let start = Instant::now();
        let r = c.put("v1/size", sized(i)).await;
        assert_eq!(r.status, 201);
        let took = start.elapsed();
        assert!(took < Duration::from_secs(1), "request {i} took {took:?}");
        assert!(m.queued.get() <= 4, "queue bounded: {}", m.queued.get());
        if i == 0 {
            // the worker holds the first entry in its hanging request
            until("the first batch posted", WAIT, async || {
                hec.received().len() == 1
            })
            .await;
        }
    }
    assert_eq!(m.queued.get(), 4);
    assert_eq!(dropped(m, "queue_full"), n - 5);
    let text = scrape(&api).await;
    assert!(
        text.contains(r#"metal_api_audit_forward_dropped_total{reason="queue_full"} 15"#),
        "{text}"
    );

    hec.release();
    until("the queue sent", WAIT, async || m.sent.get() == 5).await;
    assert_eq!(hec.accepted().len(), 5);
    assert_eq!(m.queued.get(), 0);
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn absent_collector_costs_requests_nothing() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let api = TestApi::start_with(Backend::Sqlite, |c| {
        c.auditing_splunk_endpoint = Some(format!("http://127.0.0.1:{port}/services/collector"));
        c.auditing_splunk_token = Some(TOKEN.parse().unwrap());
        c.auditing_splunk_flush_interval = Duration::from_millis(20);
        c.auditing_splunk_backoff = Duration::from_millis(20);
        c.auditing_splunk_retries = 2;
    })
    .await
    .unwrap();
    let c = api.admin();
    let m = metrics(&api);
    for i in 0..5 {
        let start = Instant::now();
        let r = c.put("v1/size", sized(i)).await;
        assert_eq!(r.status, 201);
        assert!(start.elapsed() < Duration::from_secs(1));
    }
    until("every entry given up", WAIT, async || {
        dropped(m, "retries_exhausted") == 5
    })
    .await;
    assert!(m.failed_batches.get() >= 1);
    assert!(m.retries.get() >= 2 * m.failed_batches.get());
    assert_eq!(m.sent.get(), 0);
    // the database kept every entry
    let stored = c.post("v1/audit/find", json!({})).await;
    assert_eq!(stored.body.as_array().unwrap().len(), 5);
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_sends_what_is_queued() {
    let hec = HecDouble::start().await;
    let api = TestApi::start_with(Backend::Sqlite, |c| {
        forward_to(&hec)(c);
        // nothing is sent before the shutdown
        c.auditing_splunk_flush_interval = Duration::from_secs(3600);
        c.auditing_splunk_batch_size = 1000;
    })
    .await
    .unwrap();
    let c = api.admin();
    for i in 0..3 {
        let r = c.put("v1/size", sized(i)).await;
        assert_eq!(r.status, 201);
    }
    assert!(hec.received().is_empty());
    let app = api.server.app.clone();
    let start = Instant::now();
    api.stop().await;
    assert!(start.elapsed() < Duration::from_secs(5));
    let received = hec.received();
    assert_eq!(received.len(), 1, "one batch");
    assert_eq!(hec.accepted().len(), 3);
    let m = app.audit_forward.as_ref().unwrap().metrics();
    assert_eq!(m.sent.get(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_gives_up_on_a_hanging_collector_at_the_deadline() {
    let hec = HecDouble::start().await;
    hec.hang();
    let api = TestApi::start_with(Backend::Sqlite, |c| {
        forward_to(&hec)(c);
        c.auditing_splunk_batch_size = 2;
        c.auditing_splunk_timeout = Duration::from_secs(60);
    })
    .await
    .unwrap();
    let c = api.admin();
    for i in 0..5 {
        let r = c.put("v1/size", sized(i)).await;
        assert_eq!(r.status, 201);
    }
    until("a batch posted", WAIT, async || !hec.received().is_empty()).await;
    let app = api.server.app.clone();
    let start = Instant::now();
    api.stop().await;
    let took = start.elapsed();
    let deadline = metal_api::runtime::auditforward::SHUTDOWN_DEADLINE;
    assert!(
        took >= deadline && took < deadline + Duration::from_secs(3),
        "shutdown took {took:?}"
    );
    let m = app.audit_forward.as_ref().unwrap().metrics();
    assert_eq!(m.sent.get(), 0);
    assert_eq!(dropped(m, "shutdown"), 5);
    assert_eq!(m.queued.get(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ca_file_must_hold_certificates() {
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    let start = |ca: std::path::PathBuf| {
        TestApi::start_with(Backend::Sqlite, move |c| {
            c.auditing_splunk_endpoint = Some("https://splunk.invalid:8088".into());
            c.auditing_splunk_token = Some(TOKEN.parse().unwrap());
            c.auditing_splunk_ca = Some(ca);
        })
    };
    let err = format!("{:#}", start(ca.clone()).await.err().unwrap());
    assert!(err.contains("--auditing-splunk-ca"), "{err}");
    std::fs::write(&ca, "not a certificate").unwrap();
    let err = format!("{:#}", start(ca.clone()).await.err().unwrap());
    assert!(err.contains("no PEM certificate"), "{err}");
    assert!(!err.contains(TOKEN), "{err}");
    let cert = rcgen::generate_simple_self_signed(vec!["splunk.invalid".into()]).unwrap();
    std::fs::write(&ca, cert.cert.pem()).unwrap();
    let api = start(ca).await.unwrap();
    api.stop().await;
}

/// An https collector whose certificate is signed by no public root: trusted with
/// `--auditing-splunk-ca`, refused (retried, then given up) without.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_collector_trusted_through_the_ca_flag() {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(cert.key_pair.serialize_der().into());
    let hec = HecDouble::start_tls(cert.cert.der().clone(), key).await;
    let endpoint = format!("https://localhost:{}", hec.addr.port());
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, cert.cert.pem()).unwrap();

    for trusted in [false, true] {
        let api = TestApi::start_with(Backend::Sqlite, |c| {
            forward_to(&hec)(c);
            c.auditing_splunk_endpoint = Some(endpoint.clone());
            c.auditing_splunk_retries = 1;
            c.auditing_splunk_ca = trusted.then(|| ca.clone());
        })
        .await
        .unwrap();
        let r = api.admin().put("v1/size", sized(1)).await;
        assert_eq!(r.status, 201);
        let m = metrics(&api);
        if trusted {
            until("the event sent over https", WAIT, async || {
                m.sent.get() == 1
            })
            .await;
            assert_eq!(hec.accepted().len(), 1);
            assert_eq!(
                hec.received()[0].auth.as_deref(),
                Some(format!("Splunk {TOKEN}").as_str())
            );
        } else {
            until("the batch given up", WAIT, async || {
                m.failed_batches.get() == 1
            })
            .await;
            assert_eq!(dropped(m, "retries_exhausted"), 1);
            assert!(hec.received().is_empty(), "no request without trust");
        }
        api.stop().await;
    }
}
