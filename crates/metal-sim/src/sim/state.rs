//! What the simulated machines are doing, shared between their tasks and the [`SimHandle`]
//! that tests and the `metal-lab` binary use to watch (and nudge) them.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::{watch, Notify};

use super::config::SimConfig;
use super::identity::{Layout, MachineSpec, SwitchSpec};

/// Where a simulated machine is in its provisioning cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Phase {
    /// not powered on yet (the switches are not registered yet, or the start is spread)
    Off,
    /// pixie's `Dhcp` and `Boot` calls
    PxeBooting,
    /// metal-hammer started
    Preparing,
    /// metal-hammer registers the hardware
    Registering,
    /// the `Wait` stream is open: the machine can be allocated
    Waiting,
    /// allocated: installing the image and reporting
    Installing,
    /// installed and kexec'd; metal-core has not phoned home for it yet
    BootingNewKernel,
    /// installed, and metal-core phoned home for it at least once
    PhonedHome,
    /// metal-hammer failed; the machine reboots shortly
    Crashed,
}

impl Phase {
    /// Every phase in cycle order.
    pub const ALL: [Phase; 9] = [
        Phase::Off,
        Phase::PxeBooting,
        Phase::Preparing,
        Phase::Registering,
        Phase::Waiting,
        Phase::Installing,
        Phase::BootingNewKernel,
        Phase::PhonedHome,
        Phase::Crashed,
    ];

    /// A short snake-case name, e.g. `phoned_home`.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Off => "off",
            Phase::PxeBooting => "pxe_booting",
            Phase::Preparing => "preparing",
            Phase::Registering => "registering",
            Phase::Waiting => "waiting",
            Phase::Installing => "installing",
            Phase::BootingNewKernel => "booting_new_kernel",
            Phase::PhonedHome => "phoned_home",
            Phase::Crashed => "crashed",
        }
    }

    /// Installed: metal-core phones home for the machine.
    pub fn is_installed(self) -> bool {
        matches!(self, Phase::BootingNewKernel | Phase::PhonedHome)
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How many machines are in each phase.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PhaseCounts(BTreeMap<Phase, usize>);

impl PhaseCounts {
    /// Machines in `phase`.
    pub fn get(&self, phase: Phase) -> usize {
        self.0.get(&phase).copied().unwrap_or(0)
    }

    /// All machines.
    pub fn total(&self) -> usize {
        self.0.values().sum()
    }

    /// Installed machines (booting the new kernel or phoned home).
    pub fn installed(&self) -> usize {
        self.get(Phase::BootingNewKernel) + self.get(Phase::PhonedHome)
    }

    /// Phases with at least one machine, in cycle order.
    pub fn iter(&self) -> impl Iterator<Item = (Phase, usize)> + '_ {
        self.0.iter().map(|(p, n)| (*p, *n)).filter(|(_, n)| *n > 0)
    }
}

impl fmt::Display for PhaseCounts {
    /// `waiting=3 phoned_home=3`; `none` without machines.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.iter().map(|(p, n)| format!("{p}={n}")).collect();
        if parts.is_empty() {
            f.write_str("none")
        } else {
            f.write_str(&parts.join(" "))
        }
    }
}

/// A machine as the handle reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MachineInfo {
    pub id: String,
    pub rack_id: String,
    pub phase: Phase,
    /// power-ons so far (1 after the first PXE boot)
    pub boots: u64,
    /// crashes so far
    pub crashes: u64,
    /// the error of the newest crash
    pub last_error: Option<String>,
    /// the allocation the machine installed (while installed)
    pub allocation_uuid: Option<String>,
}

/// Mutable state of one machine.
#[derive(Debug, Clone)]
pub(crate) struct MachineStatus {
    pub phase: Phase,
    pub boots: u64,
    pub crashes: u64,
    pub last_error: Option<String>,
    pub allocation_uuid: Option<String>,
    /// when the installed OS came up
    pub installed_at: Option<(Instant, chrono::DateTime<chrono::Utc>)>,
}

impl Default for MachineStatus {
    fn default() -> Self {
        Self {
            phase: Phase::Off,
            boots: 0,
            crashes: 0,
            last_error: None,
            allocation_uuid: None,
            installed_at: None,
        }
    }
}

/// State shared by all tasks of one simulator.
pub(crate) struct Shared {
    pub config: SimConfig,
    pub layout: Layout,
    pub rest: metal_client::Client,
    pub channels: Vec<tonic::transport::Channel>,
    status: Mutex<Vec<MachineStatus>>,
    by_id: HashMap<String, usize>,
    changed: watch::Sender<u64>,
    reboot: Vec<Notify>,
    switches_registered: AtomicBool,
}

impl Shared {
    pub fn new(
        config: SimConfig,
        layout: Layout,
        rest: metal_client::Client,
        channels: Vec<tonic::transport::Channel>,
    ) -> Self {
        let n = layout.machines.len();
        let by_id = layout
            .machines
            .iter()
            .map(|m| (m.id.clone(), m.index))
            .collect();
        Self {
            config,
            layout,
            rest,
            channels,
            status: Mutex::new(vec![MachineStatus::default(); n]),
            by_id,
            changed: watch::channel(0).0,
            reboot: (0..n).map(|_| Notify::new()).collect(),
            switches_registered: AtomicBool::new(false),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Vec<MachineStatus>> {
        self.status.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The gRPC connection of machine `idx`.
    pub fn channel(&self, idx: usize) -> tonic::transport::Channel {
        self.channels[idx / self.config.machines_per_connection % self.channels.len()].clone()
    }

    pub fn machine(&self, idx: usize) -> &MachineSpec {
        &self.layout.machines[idx]
    }

    /// Changes the status of machine `idx` and tells the watchers.
    pub fn update<R>(&self, idx: usize, f: impl FnOnce(&mut MachineStatus) -> R) -> R {
        let r = f(&mut self.lock()[idx]);
        self.changed.send_modify(|v| *v = v.wrapping_add(1));
        r
    }

    pub fn set_phase(&self, idx: usize, phase: Phase) {
        self.update(idx, |s| s.phase = phase);
    }

    /// A copy of one machine's status.
    pub fn status(&self, idx: usize) -> MachineStatus {
        self.lock()[idx].clone()
    }

    /// A copy of every machine's status.
    pub fn snapshot(&self) -> Vec<MachineStatus> {
        self.lock().clone()
    }

    pub fn reboot_signal(&self, idx: usize) -> &Notify {
        &self.reboot[idx]
    }

    pub fn mark_switches_registered(&self) {
        self.switches_registered.store(true, Ordering::SeqCst);
        self.changed.send_modify(|v| *v = v.wrapping_add(1));
    }
}

/// The simulator did not reach the expected state in time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timeout {
    /// what was waited for
    pub what: String,
    /// the phase counts at the deadline
    pub counts: PhaseCounts,
}

impl std::error::Error for Timeout {}

impl fmt::Display for Timeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "timed out waiting for {}; machines: {}",
            self.what, self.counts
        )
    }
}

/// A cheap, cloneable view of a running simulator: counts by phase, per-machine status, and
/// the actions an operator (or metal-bmc) would take on a machine.
#[derive(Clone)]
pub struct SimHandle {
    pub(crate) shared: Arc<Shared>,
}

impl fmt::Debug for SimHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimHandle")
            .field("partition", &self.shared.config.partition)
            .field("counts", &self.counts())
            .finish()
    }
}

impl SimHandle {
    /// How many machines are in each phase.
    pub fn counts(&self) -> PhaseCounts {
        let mut m = BTreeMap::new();
        for s in self.shared.lock().iter() {
            *m.entry(s.phase).or_insert(0) += 1;
        }
        PhaseCounts(m)
    }

    /// Machines in `phase`.
    pub fn count(&self, phase: Phase) -> usize {
        self.counts().get(phase)
    }

    /// The phase of a machine; `None` for a machine the simulator does not run.
    pub fn phase(&self, machine_id: &str) -> Option<Phase> {
        let idx = *self.shared.by_id.get(machine_id)?;
        Some(self.shared.lock()[idx].phase)
    }

    /// Every machine with its status, in simulator order (rack by rack).
    pub fn machines(&self) -> Vec<MachineInfo> {
        let status = self.shared.snapshot();
        self.shared
            .layout
            .machines
            .iter()
            .zip(status)
            .map(|(m, s)| MachineInfo {
                id: m.id.clone(),
                rack_id: m.rack_id.clone(),
                phase: s.phase,
                boots: s.boots,
                crashes: s.crashes,
                last_error: s.last_error,
                allocation_uuid: s.allocation_uuid,
            })
            .collect()
    }

    /// The ids of the machines in `phase`.
    pub fn ids_in(&self, phase: Phase) -> Vec<String> {
        self.machines()
            .into_iter()
            .filter(|m| m.phase == phase)
            .map(|m| m.id)
            .collect()
    }

    /// The machines' identities (UUIDs, NICs and their cabling, BMC).
    pub fn machine_specs(&self) -> &[MachineSpec] {
        &self.shared.layout.machines
    }

    /// The leaf switches, two per rack.
    pub fn switches(&self) -> &[SwitchSpec] {
        &self.shared.layout.switches
    }

    /// Whether every leaf switch is registered (machines power on afterwards).
    pub fn switches_registered(&self) -> bool {
        self.shared.switches_registered.load(Ordering::SeqCst)
    }

    /// Waits until `done` holds for the phase counts, at most `timeout`.
    pub async fn wait_until(
        &self,
        what: &str,
        timeout: Duration,
        mut done: impl FnMut(&PhaseCounts) -> bool,
    ) -> Result<PhaseCounts, Timeout> {
        let mut rx = self.shared.changed.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            rx.borrow_and_update();
            let counts = self.counts();
            if done(&counts) {
                return Ok(counts);
            }
            match tokio::time::timeout_at(deadline, rx.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) | Err(_) => {
                    return Err(Timeout {
                        what: what.to_string(),
                        counts: self.counts(),
                    })
                }
            }
        }
    }

    /// Waits until at least `n` machines are in `phase`.
    pub async fn wait_for_count(
        &self,
        phase: Phase,
        n: usize,
        timeout: Duration,
    ) -> Result<PhaseCounts, Timeout> {
        self.wait_until(&format!("{n} machines {phase}"), timeout, |c| {
            c.get(phase) >= n
        })
        .await
    }

    /// Waits until the machine is in `phase`.
    pub async fn wait_for_phase(
        &self,
        machine_id: &str,
        phase: Phase,
        timeout: Duration,
    ) -> Result<(), Timeout> {
        let what = format!("machine {machine_id} {phase}");
        self.wait_until(&what, timeout, |_| self.phase(machine_id) == Some(phase))
            .await
            .map(|_| ())
    }

    /// Power-cycles a machine into PXE boot, as metal-bmc does after a free or a reinstall:
    /// whatever it does is abandoned and it goes through PXE Booting … Waiting again.
    /// `false` for a machine the simulator does not run.
    pub fn reboot(&self, machine_id: &str) -> bool {
        match self.shared.by_id.get(machine_id) {
            Some(&idx) => {
                self.shared.reboot[idx].notify_one();
                true
            }
            None => false,
        }
    }

    /// Frees a machine over REST (`DELETE /v1/machine/{id}/free`, edit role) and reboots it
    /// at once instead of waiting for the reclaim poll to notice.
    pub async fn free(&self, machine_id: &str) -> Result<(), metal_client::Error> {
        self.shared.rest.free_machine(machine_id).await?;
        self.reboot(machine_id);
        Ok(())
    }
}
