//! Test harness: a metal-api in-process on port 0 with a fresh database of either backend, an
//! HTTP client that signs requests the way metal-stack's clients do, and a TCP proxy that
//! breaks connections on demand ([`FaultProxy`]). Virtual hardware (VMs, the test OS image,
//! BMCs, simulated machines) is in the `metal-sim` crate. Every answer the test client gets is
//! checked against the reference contract ([`conformance`]).
//!
//! PostgreSQL tests create their own database (`metal_test_<uuid>`) on the server named by
//! `METAL_TEST_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`) and drop
//! it afterwards, so suites run in parallel. A PostgreSQL that does not answer fails the test:
//! nothing is skipped silently.

mod client;
pub mod conformance;
mod proxy;

use std::path::PathBuf;

use metal_api::config::Secret;
use metal_api::{Config, RunningServer};

pub use client::{Caller, TestClient, TestResponse};
/// The test gates and the polling helper live with the virtual hardware (metal-sim), so that
/// the lab reaches them without this harness; tests reach them from here too.
pub use metal_sim::{privileged, tool_or_skip, try_until, until, until_blocking, until_every};
pub use proxy::FaultProxy;

/// The database backends every suite runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The admin URL of the PostgreSQL server tests create databases on.
pub fn postgres_admin_url() -> String {
    std::env::var("METAL_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A fresh database: its URL and what to clean up.
pub struct TestDb {
    pub url: String,
    pg_name: Option<String>,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    pub async fn new(backend: Backend) -> anyhow::Result<Self> {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir()?;
                let url = format!("sqlite://{}", dir.path().join("metal.db").display());
                Ok(Self {
                    url,
                    pg_name: None,
                    _dir: Some(dir),
                })
            }
            Backend::Postgres => {
                let admin = postgres_admin_url();
                let name = format!("metal_test_{}", uuid::Uuid::new_v4().simple());
                let url = metal_store::admin::create_database(&admin, &name)
                    .await
                    .map_err(|e| {
                        anyhow::anyhow!("PostgreSQL at {admin} is needed for this test: {e}")
                    })?;
                Ok(Self {
                    url,
                    pg_name: Some(name),
                    _dir: None,
                })
            }
        }
    }

    /// Drops a PostgreSQL database (SQLite files go with their temp dir).
    pub async fn drop_db(&self) {
        if let Some(name) = &self.pg_name {
            let _ = metal_store::admin::drop_database(&postgres_admin_url(), name).await;
        }
    }
}

/// A running API with its database.
pub struct TestApi {
    pub server: RunningServer,
    pub db: TestDb,
    pub data_dir: tempfile::TempDir,
    pub keys: Keys,
}

/// The HMAC keys the test server was started with.
#[derive(Debug, Clone)]
pub struct Keys {
    pub view: String,
    pub edit: String,
    pub admin: String,
}

impl TestApi {
    /// Starts an API on a fresh database with default settings.
    pub async fn start(backend: Backend) -> anyhow::Result<Self> {
        Self::start_with(backend, |_| {}).await
    }

    /// Starts an API after `tweak` adjusted its configuration.
    pub async fn start_with(
        backend: Backend,
        tweak: impl FnOnce(&mut Config),
    ) -> anyhow::Result<Self> {
        let db = TestDb::new(backend).await?;
        let data_dir = tempfile::tempdir()?;
        let keys = Keys {
            view: "view-key-for-tests".into(),
            edit: "edit-key-for-tests".into(),
            admin: "admin-key-for-tests".into(),
        };
        let mut config = Config::for_tests(db.url.clone(), PathBuf::from(data_dir.path()));
        config.hmac_view_key = Some(Secret::new(keys.view.clone()));
        config.hmac_edit_key = Some(Secret::new(keys.edit.clone()));
        config.hmac_admin_key = Some(Secret::new(keys.admin.clone()));
        tweak(&mut config);
        let server = metal_api::start(config).await?;
        Ok(Self {
            server,
            db,
            data_dir,
            keys,
        })
    }

    /// A second server on the same database (as a second replica would run), with the same
    /// keys; stop it before stopping `self`.
    pub async fn start_replica(&self) -> anyhow::Result<RunningServer> {
        let mut config =
            Config::for_tests(self.db.url.clone(), PathBuf::from(self.data_dir.path()));
        config.hmac_view_key = Some(Secret::new(self.keys.view.clone()));
        config.hmac_edit_key = Some(Secret::new(self.keys.edit.clone()));
        config.hmac_admin_key = Some(Secret::new(self.keys.admin.clone()));
        metal_api::start(config).await
    }

    /// The REST base URL (with the base path).
    pub fn url(&self) -> String {
        self.server.url()
    }

    /// A client signing as the given caller.
    pub fn client(&self, caller: Caller) -> TestClient {
        TestClient::new(self.url(), caller, self.keys.clone())
    }

    /// An admin client.
    pub fn admin(&self) -> TestClient {
        self.client(Caller::Admin)
    }

    /// The store, for setting up state no endpoint creates yet.
    pub fn store(&self) -> &metal_store::Store {
        &self.server.app.store
    }

    /// Stops the server and drops its database.
    pub async fn stop(self) {
        self.server.shutdown().await;
        self.db.drop_db().await;
    }
}

/// Inserts a machine referring to catalog entities through the store's document layer
/// (machines are registered by the machine lifecycle; the catalog tests only need the
/// references): `hardware` in the wire shape of `v1.MachineHardware`, a project or image as an
/// allocation to them.
pub async fn insert_machine(
    store: &metal_store::Store,
    id: &str,
    partition: Option<&str>,
    size: Option<&str>,
    project: Option<&str>,
    image: Option<&str>,
    hardware: serde_json::Value,
) -> anyhow::Result<()> {
    use metal_domain::machine::{Allocation, Machine};
    let allocation = (project.is_some() || image.is_some()).then(|| Allocation {
        project: project.unwrap_or_default().to_string(),
        imageid: image.unwrap_or_default().to_string(),
        ..Default::default()
    });
    let mut m = Machine {
        id: id.to_string(),
        partitionid: partition.unwrap_or_default().to_string(),
        sizeid: size.unwrap_or_default().to_string(),
        hardware: serde_json::from_value(hardware)?,
        allocation,
        ..Default::default()
    };
    let mut tx = store.begin().await?;
    metal_store::docs::insert(&mut tx, &mut m).await?;
    tx.commit().await?;
    Ok(())
}

/// Sets the BMC data of a stored machine as metal-bmc's reports leave it (`ipmi` in the wire
/// shape of `v1.MachineIPMI`), through the store's document layer like every write.
pub async fn set_machine_ipmi(
    store: &metal_store::Store,
    id: &str,
    ipmi: serde_json::Value,
) -> anyhow::Result<()> {
    use metal_domain::machine::Machine;
    let mut tx = store.begin().await?;
    let stored = metal_store::docs::must_get::<Machine>(&mut tx, id).await?;
    let mut m = stored.value;
    m.ipmi = serde_json::from_value(ipmi)?;
    metal_store::docs::update(&mut tx, &mut m, stored.revision).await?;
    tx.commit().await?;
    Ok(())
}

/// Declares a test once per backend: `backend_test!(name, |api| { ... })` expands to the
/// tests `name::sqlite` and `name::postgres`, each running the block (in an async context, with
/// `api: &TestApi`) against a fresh API.
#[macro_export]
macro_rules! backend_test {
    ($name:ident, |$api:ident| $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            async fn run(backend: $crate::Backend) {
                let server = $crate::TestApi::start(backend)
                    .await
                    .expect("starting metal-api");
                {
                    let $api: &$crate::TestApi = &server;
                    $body
                }
                server.stop().await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                run($crate::Backend::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                run($crate::Backend::Postgres).await
            }
        }
    };
}

/// A machine as metal-hammer's registration leaves it: hardware, partition, size and rack,
/// waiting, with an event log that says alive. (The gRPC registration arrives with the machine
/// lifecycle; until then tests seed machines through the store.)
pub async fn seed_waiting_machine(
    store: &metal_store::Store,
    id: &str,
    partition: &str,
    size: &str,
    rack: &str,
    cores: u32,
    disk_gib: u64,
) -> anyhow::Result<()> {
    use metal_domain::machine::{Machine, MachineBlockDevice, MachineHardware};
    let mut m = Machine {
        id: id.to_string(),
        partitionid: partition.to_string(),
        sizeid: size.to_string(),
        rackid: rack.to_string(),
        waiting: true,
        hardware: MachineHardware {
            cpu_cores: cores,
            memory: 64 << 30,
            disks: vec![MachineBlockDevice {
                name: "/dev/sda".into(),
                size: disk_gib << 30,
            }],
            ..Default::default()
        },
        ..Default::default()
    };
    let mut events = metal_domain::event::EventContainer::new(id);
    events.last_event_time = Some(chrono::Utc::now());
    let mut tx = store.begin().await?;
    metal_store::docs::insert(&mut tx, &mut m).await?;
    metal_store::docs::insert(&mut tx, &mut events).await?;
    tx.commit().await?;
    Ok(())
}

/// Seeds `n` waiting machines `<prefix>00000..` in batches (for fleet-sized tests and
/// benchmarks), spread over `racks` racks.
pub async fn seed_waiting_machines(
    store: &metal_store::Store,
    prefix: &str,
    n: usize,
    partition: &str,
    size: &str,
    racks: usize,
    cores: u32,
) -> anyhow::Result<()> {
    use metal_domain::machine::{Machine, MachineBlockDevice, MachineHardware, MachineNic};
    let now = chrono::Utc::now();
    for chunk in (0..n).collect::<Vec<_>>().chunks(200) {
        let mut machines: Vec<Machine> = chunk
            .iter()
            .map(|i| Machine {
                id: format!("{prefix}{i:05}"),
                partitionid: partition.to_string(),
                sizeid: size.to_string(),
                rackid: format!("rack-{}", i % racks.max(1)),
                waiting: true,
                hardware: MachineHardware {
                    cpu_cores: cores,
                    memory: 64 << 30,
                    disks: vec![MachineBlockDevice {
                        name: "/dev/sda".into(),
                        size: 100 << 30,
                    }],
                    nics: vec![MachineNic {
                        mac: format!("aa:00:00:{:02x}:{:02x}:01", i / 256 % 256, i % 256),
                        name: "eth0".into(),
                        ..Default::default()
                    }],
                    ..Default::default()
                },
                ..Default::default()
            })
            .collect();
        let mut events: Vec<metal_domain::event::EventContainer> = machines
            .iter()
            .map(|m| {
                let mut c = metal_domain::event::EventContainer::new(&m.id);
                c.last_event_time = Some(now);
                c
            })
            .collect();
        let mut tx = store.begin().await?;
        metal_store::docs::insert_many(&mut tx, &mut machines).await?;
        metal_store::docs::insert_many(&mut tx, &mut events).await?;
        tx.commit().await?;
    }
    Ok(())
}
