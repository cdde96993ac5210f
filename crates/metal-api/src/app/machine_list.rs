//! The fleet view, streamed: `GET /v1/machine`, `POST /v1/machine/find` and their firewall
//! twins answer every matching machine, tens of thousands of them, as the database hands the
//! rows over.
//!
//! Documents are stored in their wire shape ([`metal_store::docs`]), so most of a machine's
//! answer is its stored document: hardware, BIOS, state, tags, the allocation's networks and
//! layout, the newest events. Those parts are copied from the stored text as they are
//! ([`RawValue`]: checked for their bounds, never decoded into values), and only what the
//! answer adds is built: the embedded partition, size and image (each encoded once per
//! request), the liveliness and the event summary. A document this shape does not read (one
//! written before a field existed) is answered through [`MachineResponse::build`] instead,
//! as the single-machine endpoints answer it; the test below holds the two to the same JSON.
//!
//! The answer is written in blocks of [`BLOCK`] bytes while the rows arrive, so the server
//! holds a few blocks (the one being written, two queued for the connection) and one row, not
//! the list. A database error after the first block can
//! only cut the answer short (the status is sent): it is logged and the connection closed,
//! so the client sees a broken answer, never a short list that looks whole.

use std::borrow::Cow;
use std::collections::HashMap;

use axum::body::{Body, Bytes};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use futures::{StreamExt, TryStreamExt};
use metal_domain::event::{self, EventContainer, Liveliness};
use metal_domain::image::Image;
use metal_domain::machine::{Machine, MachineFindRequest, MachineResponse, Role};
use metal_domain::partition::Partition;
use metal_domain::size::Size;
use metal_store::docs::{self, MachineDocs, MachinesWithEvents};
use metal_store::Conn;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::store_err;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// Bytes of answer collected before they are handed to the connection.
const BLOCK: usize = 256 * 1024;

/// The answer to a machine search, streamed. An error before the first block is answered
/// as usual (status and error body); one after it cuts the answer short.
pub async fn respond(
    app: &AppState,
    q: MachineFindRequest,
    role: Option<Role>,
) -> ApiResult<Response> {
    let mut conn = app.store.reader().acquire().await.map_err(store_err)?;
    let embed = Embedded::load(&mut conn).await?;
    let search = MachinesWithEvents::new(&super::machine::filters(&q, role));
    let (tx, mut rx) = tokio::sync::mpsc::channel::<ApiResult<Bytes>>(2);
    tokio::spawn(async move {
        let mut writer = ListWriter::new(embed, q);
        let mut rows = search.fetch(&mut conn);
        loop {
            let block = match rows.try_next().await {
                Ok(Some(row)) => match writer.push(&row) {
                    Ok(()) if writer.buf.len() >= BLOCK => Ok(writer.take()),
                    Ok(()) => continue,
                    Err(e) => Err(e),
                },
                Ok(None) => {
                    let _ = tx.send(Ok(writer.finish())).await;
                    return;
                }
                Err(e) => Err(ApiError::from(e)),
            };
            let failed = block.is_err();
            // a closed channel: the client went away
            if tx.send(block).await.is_err() || failed {
                return;
            }
        }
    });
    let first = match rx.recv().await {
        Some(block) => block?,
        None => {
            return Err(ApiError::Internal(anyhow::anyhow!(
                "machine list: the reader stopped"
            )))
        }
    };
    let rest = tokio_stream::wrappers::ReceiverStream::new(rx).map(|block| {
        block.map_err(|e| {
            tracing::error!(error = ?e, "machine list cut short");
            std::io::Error::other("machine list cut short")
        })
    });
    let body = futures::stream::once(async { Ok(first) }).chain(rest);
    Ok(json_response(Body::from_stream(body)))
}

fn json_response(body: Body) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// The partitions, sizes and images a machine answer embeds, by id: typed for the answers
/// built the long way, encoded once for the copied ones.
struct Embedded {
    partitions: HashMap<String, (Partition, Box<RawValue>)>,
    sizes: HashMap<String, (Size, Box<RawValue>)>,
    images: HashMap<String, (Image, Box<RawValue>)>,
}

fn encoded<T: Serialize>(
    items: Vec<T>,
    id: impl Fn(&T) -> String,
) -> ApiResult<HashMap<String, (T, Box<RawValue>)>> {
    items
        .into_iter()
        .map(|t| {
            let raw =
                serde_json::value::to_raw_value(&t).map_err(|e| ApiError::Internal(e.into()))?;
            Ok((id(&t), (t, raw)))
        })
        .collect()
}

impl Embedded {
    async fn load(conn: &mut Conn) -> ApiResult<Self> {
        Ok(Self {
            partitions: encoded(docs::list::<Partition>(conn).await?, |p| p.id.clone())?,
            sizes: encoded(docs::list::<Size>(conn).await?, |s| s.id.clone())?,
            images: encoded(docs::list::<Image>(conn).await?, |i| i.id.clone())?,
        })
    }
}

/// A stored machine document, its parts borrowed from the stored text. Every part the
/// answer copies is required: a document without one is answered the long way.
#[derive(Deserialize)]
struct StoredMachine<'a> {
    #[serde(borrow)]
    id: Cow<'a, str>,
    #[serde(borrow)]
    name: &'a RawValue,
    #[serde(borrow)]
    description: &'a RawValue,
    #[serde(borrow)]
    partitionid: Cow<'a, str>,
    #[serde(borrow)]
    rackid: &'a RawValue,
    #[serde(borrow)]
    sizeid: Cow<'a, str>,
    #[serde(borrow)]
    hardware: &'a RawValue,
    #[serde(borrow)]
    bios: &'a RawValue,
    #[serde(borrow)]
    state: &'a RawValue,
    #[serde(borrow)]
    ledstate: &'a RawValue,
    #[serde(borrow)]
    tags: &'a RawValue,
    #[serde(borrow)]
    allocation: Option<StoredAllocation<'a>>,
    #[serde(borrow)]
    created: Option<&'a RawValue>,
    #[serde(borrow)]
    changed: Option<&'a RawValue>,
}

/// A stored allocation: the answer's allocation is the same but for the image, embedded in
/// place of its id, and the console password, which is never answered.
#[derive(Deserialize)]
struct StoredAllocation<'a> {
    #[serde(borrow)]
    allocationuuid: &'a RawValue,
    #[serde(borrow)]
    creator: &'a RawValue,
    #[serde(borrow)]
    created: &'a RawValue,
    #[serde(borrow)]
    name: &'a RawValue,
    #[serde(borrow)]
    description: &'a RawValue,
    #[serde(borrow)]
    hostname: &'a RawValue,
    #[serde(borrow)]
    project: &'a RawValue,
    #[serde(borrow)]
    imageid: Cow<'a, str>,
    #[serde(borrow)]
    filesystemlayout: Option<&'a RawValue>,
    #[serde(borrow)]
    networks: &'a RawValue,
    #[serde(borrow)]
    ssh_pub_keys: &'a RawValue,
    #[serde(borrow)]
    user_data: &'a RawValue,
    #[serde(borrow)]
    succeeded: &'a RawValue,
    #[serde(borrow)]
    reinstall: &'a RawValue,
    #[serde(borrow)]
    boot_info: Option<&'a RawValue>,
    #[serde(borrow)]
    role: &'a RawValue,
    #[serde(borrow)]
    firewall_rules: Option<&'a RawValue>,
    #[serde(borrow)]
    dns_servers: &'a RawValue,
    #[serde(borrow)]
    ntp_servers: &'a RawValue,
}

/// A stored event container: the answer shows its liveliness and newest events.
#[derive(Deserialize)]
struct StoredEvents<'a> {
    liveliness: Liveliness,
    #[serde(default, borrow)]
    events: Vec<&'a RawValue>,
    #[serde(default, borrow)]
    last_event_time: Option<&'a RawValue>,
    #[serde(default, borrow)]
    last_error_event: Option<&'a RawValue>,
    #[serde(default)]
    crash_loop: bool,
    #[serde(default)]
    failed_machine_reclaim: bool,
}

/// `v1.MachineResponse` from borrowed parts, fields in the order [`MachineResponse`] has.
#[derive(Serialize)]
struct Answer<'a> {
    id: &'a str,
    name: &'a RawValue,
    description: &'a RawValue,
    partition: Option<&'a RawValue>,
    rackid: &'a RawValue,
    size: Option<&'a RawValue>,
    hardware: &'a RawValue,
    bios: &'a RawValue,
    state: &'a RawValue,
    ledstate: &'a RawValue,
    tags: &'a RawValue,
    allocation: Option<AllocationAnswer<'a>>,
    liveliness: &'a str,
    events: EventsAnswer<'a>,
    created: Option<&'a RawValue>,
    changed: Option<&'a RawValue>,
}

/// `v1.MachineAllocation` as answered, fields in the order of `MachineAllocationResponse`.
#[derive(Serialize)]
struct AllocationAnswer<'a> {
    allocationuuid: &'a RawValue,
    creator: &'a RawValue,
    created: &'a RawValue,
    name: &'a RawValue,
    description: &'a RawValue,
    hostname: &'a RawValue,
    project: &'a RawValue,
    image: Option<&'a RawValue>,
    filesystemlayout: Option<&'a RawValue>,
    networks: &'a RawValue,
    ssh_pub_keys: &'a RawValue,
    user_data: &'a RawValue,
    succeeded: &'a RawValue,
    reinstall: &'a RawValue,
    boot_info: Option<&'a RawValue>,
    role: &'a RawValue,
    firewall_rules: Option<&'a RawValue>,
    dns_servers: &'a RawValue,
    ntp_servers: &'a RawValue,
}

/// `v1.MachineRecentProvisioningEvents`, as [`event::recent`] makes it.
#[derive(Serialize)]
struct EventsAnswer<'a> {
    log: &'a [&'a RawValue],
    last_event_time: Option<&'a RawValue>,
    last_error_event: Option<&'a RawValue>,
    crash_loop: bool,
    failed_machine_reclaim: bool,
}

const NO_EVENTS: EventsAnswer<'static> = EventsAnswer {
    log: &[],
    last_event_time: None,
    last_error_event: None,
    crash_loop: false,
    failed_machine_reclaim: false,
};

/// Writes the JSON array of answers, one machine at a time.
struct ListWriter {
    embed: Embedded,
    /// Checked on every document when it asks for more than the indexed columns narrow.
    query: Option<MachineFindRequest>,
    buf: Vec<u8>,
    count: usize,
    /// Answers built the long way (documents not of the copied shape).
    built: usize,
}

impl ListWriter {
    fn new(embed: Embedded, q: MachineFindRequest) -> Self {
        let query = (!super::machine::indexed_only(&q)).then_some(q);
        Self {
            embed,
            query,
            buf: Vec::with_capacity(BLOCK + 64 * 1024),
            count: 0,
            built: 0,
        }
    }

    /// Appends the answer for one row, unless the query's remaining fields reject it.
    fn push(&mut self, row: &MachineDocs) -> ApiResult<()> {
        let start = self.buf.len();
        self.buf.push(if self.count == 0 { b'[' } else { b',' });
        let written = match &self.query {
            Some(q) => {
                let m = typed::<Machine>(&row.machine)?;
                if !q.matches(&m) {
                    self.buf.truncate(start);
                    return Ok(());
                }
                self.copy(row)
            }
            None => self.copy(row),
        };
        match written {
            Ok(()) => {}
            Err(_) => {
                self.buf.truncate(start + 1);
                self.build(row)?;
                self.built += 1;
            }
        }
        self.count += 1;
        Ok(())
    }

    /// The answer copied from the stored documents; an error when they are not of the shape
    /// copied (the caller then builds it).
    fn copy(&mut self, row: &MachineDocs) -> serde_json::Result<()> {
        let m: StoredMachine = serde_json::from_str(&row.machine)?;
        let stored_events: Option<StoredEvents> = row
            .events
            .as_deref()
            .map(serde_json::from_str)
            .transpose()?;
        let events = match &stored_events {
            Some(c) => EventsAnswer {
                log: &c.events[..c.events.len().min(event::RECENT_EVENTS)],
                last_event_time: c.last_event_time,
                last_error_event: c.last_error_event,
                crash_loop: c.crash_loop,
                failed_machine_reclaim: c.failed_machine_reclaim,
            },
            None => NO_EVENTS,
        };
        let allocation = m.allocation.as_ref().map(|a| AllocationAnswer {
            allocationuuid: a.allocationuuid,
            creator: a.creator,
            created: a.created,
            name: a.name,
            description: a.description,
            hostname: a.hostname,
            project: a.project,
            image: self.embed.images.get(&*a.imageid).map(|(_, raw)| &**raw),
            filesystemlayout: a.filesystemlayout,
            networks: a.networks,
            ssh_pub_keys: a.ssh_pub_keys,
            user_data: a.user_data,
            succeeded: a.succeeded,
            reinstall: a.reinstall,
            boot_info: a.boot_info,
            role: a.role,
            firewall_rules: a.firewall_rules,
            dns_servers: a.dns_servers,
            ntp_servers: a.ntp_servers,
        });
        let answer = Answer {
            id: &m.id,
            name: m.name,
            description: m.description,
            partition: self
                .embed
                .partitions
                .get(&*m.partitionid)
                .map(|(_, r)| &**r),
            rackid: m.rackid,
            size: self.embed.sizes.get(&*m.sizeid).map(|(_, r)| &**r),
            hardware: m.hardware,
            bios: m.bios,
            state: m.state,
            ledstate: m.ledstate,
            tags: m.tags,
            allocation,
            liveliness: stored_events.as_ref().map_or("", |c| c.liveliness.as_str()),
            events,
            created: m.created,
            changed: m.changed,
        };
        serde_json::to_writer(&mut self.buf, &answer)
    }

    /// The answer built from the typed documents, as the single-machine endpoints build it.
    fn build(&mut self, row: &MachineDocs) -> ApiResult<()> {
        let m = typed::<Machine>(&row.machine)?;
        let events = row
            .events
            .as_deref()
            .map(typed::<EventContainer>)
            .transpose()?;
        let p = self
            .embed
            .partitions
            .get(&m.partitionid)
            .map(|(p, _)| p.clone());
        let s = self.embed.sizes.get(&m.sizeid).map(|(s, _)| s.clone());
        let i = m
            .allocation
            .as_ref()
            .and_then(|a| self.embed.images.get(&a.imageid))
            .map(|(i, _)| i.clone());
        let answer = MachineResponse::build(m, p, s, i, events.as_ref());
        serde_json::to_writer(&mut self.buf, &answer).map_err(|e| ApiError::Internal(e.into()))
    }

    /// The bytes written so far.
    fn take(&mut self) -> Bytes {
        Bytes::from(std::mem::replace(
            &mut self.buf,
            Vec::with_capacity(BLOCK + 64 * 1024),
        ))
    }

    /// The rest of the answer, closing the array.
    fn finish(&mut self) -> Bytes {
        if self.count == 0 {
            self.buf.push(b'[');
        }
        self.buf.push(b']');
        self.take()
    }
}

/// A stored document that even the long way cannot read: the store is damaged.
fn typed<T: serde::de::DeserializeOwned>(doc: &str) -> ApiResult<T> {
    serde_json::from_str(doc).map_err(|e| {
        ApiError::Internal(
            anyhow::Error::new(e).context("a stored machine document is not readable"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn stored<T: Serialize + serde::de::DeserializeOwned>(v: Value) -> (T, String) {
        let t: T = serde_json::from_value(v).expect("test document");
        let doc = serde_json::to_string(&t).unwrap();
        (t, doc)
    }

    fn embedded() -> Embedded {
        let partition: Partition = serde_json::from_value(json!({"id": "fra",
            "name": "Frankfurt", "bootconfig": {"imageurl": "http://x/i", "kernelurl": "http://x/k",
            "commandline": "console=ttyS0"}, "privatenetworkprefixlength": 22,
            "labels": {"a": "b"}, "dns_servers": [{"ip": "1.1.1.1"}]}))
        .unwrap();
        let size: Size = serde_json::from_value(json!({"id": "c1-large", "constraints": [
            {"type": "cores", "min": 8, "max": 8}]}))
        .unwrap();
        let image: Image = serde_json::from_value(json!({"id": "debian-12.0.20240101",
            "url": "http://images/d.tar.lz4", "features": ["machine"],
            "expirationDate": "2030-01-01T00:00:00Z", "classification": "supported"}))
        .unwrap();
        Embedded {
            partitions: encoded(vec![partition], |p| p.id.clone()).unwrap(),
            sizes: encoded(vec![size], |s| s.id.clone()).unwrap(),
            images: encoded(vec![image], |i| i.id.clone()).unwrap(),
        }
    }

    fn events(n: usize) -> Value {
        let log: Vec<Value> = (0..n)
            .map(|i| {
                json!({"time": format!("2026-12-07T10:{:02}:00Z", 59 - i), "event": "Waiting",
                    "message": if i % 2 == 0 { "with \"quotes\" \u{e9}" } else { "" }})
            })
            .collect();
        json!({"id": "x", "liveliness": "Dead", "events": log,
            "last_event_time": "2026-12-07T10:59:00Z",
            "last_error_event": {"time": "2026-12-07T09:00:00Z", "event": "Crashed", "message": "oops"},
            "crash_loop": true, "failed_machine_reclaim": false})
    }

    /// Machines of every shape the copy must get right, stored as the store writes them.
    fn fleet() -> Vec<(Machine, MachineDocs)> {
        let firewall = json!({"id": "fw-\u{e9}\"1", "name": "fw", "description": "line\nbreak",
            "partitionid": "fra", "rackid": "r1", "sizeid": "c1-large",
            "hardware": {"memory": 68719476736u64, "cpu_cores": 8,
                "disks": [{"name": "/dev/sda", "size": 1000}],
                "nics": [{"mac": "aa:00:00:00:00:01", "name": "eth0", "identifier": "x",
                    "neighbors": [{"mac": "bb:00:00:00:00:01", "name": "swp1", "hostname": "leaf01"}]}],
                "cpus": [{"vendor": "AMD", "model": "EPYC", "cores": 8, "threads": 16}]},
            "bios": {"version": "1", "vendor": "v", "date": "d"},
            "state": {"value": "LOCKED", "description": "kept", "issuer": "ops"},
            "ledstate": {"value": "LED-ON", "description": "find me"},
            "tags": ["a=b", "c"],
            "ipmi": {"address": "10.0.0.1", "user": "admin", "password": "secret"},
            "allocation": {"allocationuuid": "u1", "creator": "me", "created": "2026-12-01T00:00:00Z",
                "name": "fw", "description": "", "hostname": "fw", "project": "p1",
                "imageid": "debian-12.0.20240101", "networks": [{"networkid": "internet",
                "projectid": "", "prefixes": ["203.0.113.0/24"], "ips": ["203.0.113.5"],
                "destinationprefixes": ["0.0.0.0/0"], "vrf": 104009, "asn": 4200000001u64, "nat": true,
                "private": false, "underlay": false, "networktype": "external",
                "networktypev2": "external", "nattypev2": "ipv4-masquerade"}],
                "ssh_pub_keys": ["ssh-ed25519 AAAA"], "user_data": "I2Nsb3VkLWNvbmZpZw==",
                "console_password": "never-answered", "succeeded": true, "reinstall": false,
                "boot_info": {"image_id": "debian-12", "primary_disk": "/dev/sda"},
                "role": "firewall",
                "firewall_rules": {"egress": [{"protocol": "tcp", "ports": [443],
                    "to": ["0.0.0.0/0"], "comment": "web"}], "ingress": []},
                "dns_servers": [{"ip": "1.1.1.1"}], "ntp_servers": [{"address": "pool.ntp.org"}]},
            "created": "2026-11-01T00:00:00Z", "changed": "2026-12-01T00:00:00.123456789Z"});
        let waiting = json!({"id": "m-waiting", "partitionid": "gone", "sizeid": "unknown",
            "hardware": {"cpu_cores": 4}});
        let unknown_image = json!({"id": "m-alloc", "partitionid": "fra", "sizeid": "c1-large",
            "allocation": {"allocationuuid": "u2", "project": "p2", "imageid": "deleted-image",
                "role": "machine"}});
        let mut out = Vec::new();
        for (m, ev) in [
            (firewall, Some(events(25))),
            (waiting, None),
            (unknown_image, Some(events(3))),
        ] {
            let (machine, doc): (Machine, String) = stored(m);
            let events = ev.map(|e| stored::<EventContainer>(e).1);
            out.push((
                machine,
                MachineDocs {
                    machine: doc,
                    events,
                },
            ));
        }
        // written before `ledstate` and `tags` existed: the long way answers it
        let (machine, doc): (Machine, String) =
            stored(json!({"id": "m-old", "partitionid": "fra"}));
        let mut old: serde_json::Map<String, Value> = serde_json::from_str(&doc).unwrap();
        old.remove("ledstate");
        old.remove("tags");
        out.push((
            machine,
            MachineDocs {
                machine: Value::Object(old).to_string(),
                events: None,
            },
        ));
        out
    }

    fn written(q: MachineFindRequest, rows: &[(Machine, MachineDocs)]) -> Value {
        written_counting(q, rows).0
    }

    /// The answer, and how many machines of it were built the long way.
    fn written_counting(q: MachineFindRequest, rows: &[(Machine, MachineDocs)]) -> (Value, usize) {
        let mut w = ListWriter::new(embedded(), q);
        let mut out = Vec::new();
        for (_, row) in rows {
            w.push(row).unwrap();
            // blocks are cut anywhere: the pieces must still join into one array
            out.extend_from_slice(&w.take());
        }
        out.extend_from_slice(&w.finish());
        let v = serde_json::from_slice(&out).expect("the answer is one JSON document");
        (v, w.built)
    }

    fn built(rows: &[(Machine, MachineDocs)]) -> Value {
        let e = embedded();
        let answers: Vec<MachineResponse> = rows
            .iter()
            .map(|(m, row)| {
                let ev: Option<EventContainer> = row
                    .events
                    .as_deref()
                    .map(|d| serde_json::from_str(d).unwrap());
                MachineResponse::build(
                    m.clone(),
                    e.partitions.get(&m.partitionid).map(|(p, _)| p.clone()),
                    e.sizes.get(&m.sizeid).map(|(s, _)| s.clone()),
                    m.allocation
                        .as_ref()
                        .and_then(|a| e.images.get(&a.imageid))
                        .map(|(i, _)| i.clone()),
                    ev.as_ref(),
                )
            })
            .collect();
        serde_json::to_value(answers).unwrap()
    }

    #[test]
    fn copied_answers_equal_built_ones() {
        let rows = fleet();
        let (got, long_way) = written_counting(MachineFindRequest::default(), &rows);
        assert_eq!(got, built(&rows));
        assert_eq!(long_way, 1, "only the old document is built the long way");
        let text = got.to_string();
        assert!(!text.contains("never-answered"), "console password leaked");
        assert!(!text.contains("secret"), "BMC password leaked");
        assert_eq!(
            got[0]["events"]["log"].as_array().unwrap().len(),
            event::RECENT_EVENTS
        );
        assert_eq!(got[0]["allocation"]["image"]["id"], "debian-12.0.20240101");
        assert_eq!(got[0]["partition"]["id"], "fra");
        assert_eq!(got[1]["partition"], Value::Null);
        assert_eq!(got[1]["liveliness"], "");
        assert_eq!(got[2]["allocation"]["image"], Value::Null);
        // the old document is built, with its defaults
        assert_eq!(got[3]["tags"], json!([]));
    }

    #[test]
    fn fields_beyond_the_indexed_ones_are_checked_on_each_document() {
        let rows = fleet();
        let q = MachineFindRequest {
            tags: vec!["c".into()],
            ..Default::default()
        };
        let got = written(q, &rows);
        assert_eq!(got, built(&rows[..1]));
        let none = written(
            MachineFindRequest {
                hardware_cpu_cores: Some(99),
                ..Default::default()
            },
            &rows,
        );
        assert_eq!(none, json!([]));
    }

    #[test]
    fn an_empty_search_is_an_empty_array() {
        assert_eq!(written(MachineFindRequest::default(), &[]), json!([]));
    }

    #[test]
    fn only_the_indexed_fields_leave_the_documents_unread() {
        use crate::app::machine::indexed_only;
        assert!(indexed_only(&MachineFindRequest::default()));
        assert!(indexed_only(&MachineFindRequest {
            partition_id: Some("fra".into()),
            allocation_project: Some("p".into()),
            ..Default::default()
        }));
        assert!(!indexed_only(&MachineFindRequest {
            allocation_hostname: Some("h".into()),
            ..Default::default()
        }));
    }
}
