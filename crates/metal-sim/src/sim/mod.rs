//! A machine simulator for tests, benchmarks and labs: it plays pixie, metal-hammer,
//! metal-core and metal-bmc against a running metal-api, over its real gRPC and REST
//! interfaces.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use std::time::Duration;
//! use metal_sim::sim::{Phase, SimConfig, Simulator};
//!
//! let mut config = SimConfig::new("127.0.0.1:50051", "http://127.0.0.1:8080/metal/", "edit-key", "fra");
//! config.machines = 6;
//! config.racks = 2;
//! let sim = Simulator::start(config).await?;
//! let handle = sim.handle();
//! handle.wait_for_count(Phase::Waiting, 6, Duration::from_secs(30)).await?;
//! sim.stop().await;
//! # Ok(()) }
//! ```
//!
//! What happens ([`SimConfig`] sets the numbers):
//!
//! 1. The two Cumulus leaf switches of every rack register (`POST /v1/switch/register`, ports
//!    `swp1..swpN`), retried until metal-api takes them.
//! 2. Every machine then runs its own task: PXE Booting (`Dhcp`, `Boot`), `Preparing`,
//!    `SuperUserPassword`, `Registering`, `Register` with its hardware (cores, memory, one disk
//!    `/dev/sda`, optional GPUs, BIOS, BMC) and two NICs whose LLDP neighbours are the same port
//!    of its rack's two leaves, the reinstall check over REST, `Waiting` and the `Wait` stream,
//!    with an `Alive` event every [`SimConfig::alive_interval`] meanwhile. When the stream ends
//!    (allocated): `Installing`, `Report` with boot info (image id of the allocation, primary
//!    disk `/dev/sda`, root partition of the allocation's filesystem layout), `Booting New
//!    Kernel`. The machine is installed now.
//! 3. metal-core sends `Phoned Home` for all installed machines in one `EventService.Send` every
//!    [`SimConfig::phone_home_interval`] (60 s by default, as metal-core).
//! 4. An installed machine whose allocation is gone or replaced, or that is to be reinstalled,
//!    is power-cycled into PXE (found by a REST poll every
//!    [`SimConfig::reclaim_poll_interval`], or at once with [`SimHandle::free`] or
//!    [`SimHandle::reboot`]) and goes through PXE Booting … Waiting again (straight to
//!    Installing for a reinstall).
//!
//! Transient failures (metal-api down or restarting, timeouts, conflicts) are retried with
//! exponential backoff over lazily reconnecting gRPC channels; a broken Wait stream is
//! reopened. Other failures crash metal-hammer: a `Crashed` event, a pause, a reboot.
//!
//! Identities (machine UUIDs, MACs, BMC addresses and passwords) derive from
//! [`SimConfig::seed`] and the partition, so the same configuration is the same lab again.
//! [`Simulator::stop`] (or dropping the simulator) ends every task and closes the Wait streams.

mod agents;
mod config;
mod identity;
mod machine;
mod rpc;
mod state;

use std::sync::Arc;

use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};
use tonic::transport::Endpoint;

pub use config::{GpuSpec, HardwareSpec, SimConfig};
pub use identity::{Layout, MachineSpec, NicSpec, SwitchPortSpec, SwitchSpec};
pub use state::{MachineInfo, Phase, PhaseCounts, SimHandle, Timeout};

use machine::stopped;
use state::Shared;

/// A running simulation. Stop it with [`Simulator::stop`]; dropping it stops it too (without
/// waiting for the tasks to finish).
pub struct Simulator {
    handle: SimHandle,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Simulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Simulator")
            .field("handle", &self.handle)
            .finish()
    }
}

impl Simulator {
    /// Checks the configuration, builds the clients (nothing connects yet) and starts the
    /// simulation in the background: switch registration first, then the machines. Fails only
    /// on a bad configuration; an unreachable metal-api is retried.
    pub async fn start(config: SimConfig) -> anyhow::Result<Self> {
        config.validate().map_err(anyhow::Error::msg)?;
        let rest = metal_client::Client::builder(&config.api_url)
            .hmac(config.hmac_key.clone(), config.hmac_auth_type)
            .timeout(config.call_timeout)
            .connect_timeout(config.call_timeout)
            .user_agent("metal-lab-sim")
            .build()?;
        let mut endpoint =
            metal_proto::keepalive::endpoint(Endpoint::from_shared(config.grpc_url())?)
                .connect_timeout(config.call_timeout);
        if let Some(tls) = &config.grpc_tls {
            endpoint = endpoint.tls_config(tls.clone())?;
        }
        let connections = config.machines.div_ceil(config.machines_per_connection);
        let channels = (0..connections).map(|_| endpoint.connect_lazy()).collect();
        let layout = Layout::new(&config);
        let shared = Arc::new(Shared::new(config, layout, rest, channels));
        let (stop, stop_rx) = watch::channel(false);
        let task = tokio::spawn(supervise(shared.clone(), stop_rx));
        Ok(Self {
            handle: SimHandle { shared },
            stop,
            task: Some(task),
        })
    }

    /// A handle to watch and nudge the machines; it stays usable after the simulator stopped.
    pub fn handle(&self) -> SimHandle {
        self.handle.clone()
    }

    /// Stops every machine and agent and waits until their tasks ended (open Wait streams
    /// are closed then).
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            if let Err(e) = task.await {
                if e.is_panic() {
                    std::panic::resume_unwind(e.into_panic());
                }
            }
        }
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            // aborting the supervisor drops its task set, which aborts every machine
            task.abort();
        }
    }
}

/// Registers the switches, then runs the machines and the agents until the stop signal.
async fn supervise(shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    tokio::select! {
        _ = stopped(&mut stop) => return,
        _ = agents::register_switches(&shared) => {}
    }
    shared.mark_switches_registered();
    let mut tasks = JoinSet::new();
    for idx in 0..shared.layout.machines.len() {
        tasks.spawn(machine::run(shared.clone(), idx, stop.clone()));
    }
    {
        let shared = shared.clone();
        let mut stop = stop.clone();
        tasks.spawn(async move {
            tokio::select! {
                _ = stopped(&mut stop) => {}
                never = agents::phone_home(&shared) => match never {},
            }
        });
    }
    {
        let shared = shared.clone();
        let mut stop = stop.clone();
        tasks.spawn(async move {
            tokio::select! {
                _ = stopped(&mut stop) => {}
                never = agents::reclaim_poll(&shared) => match never {},
            }
        });
    }
    tracing::info!(
        machines = shared.layout.machines.len(),
        racks = shared.config.racks,
        partition = shared.config.partition,
        "machines powered on"
    );
    while let Some(r) = tasks.join_next().await {
        if let Err(e) = r {
            if e.is_panic() {
                std::panic::resume_unwind(e.into_panic());
            }
        }
    }
}
