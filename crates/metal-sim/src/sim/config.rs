//! What to simulate and against which metal-api: addresses and credentials, the partition, the
//! rack layout, the hardware of every machine, the seed of the identities and the timing of
//! the agents (metal-hammer's Alive ticker, metal-core's phone-home flush, the reclaim poll).

use std::time::Duration;

use metal_client::HmacAuthType;
use tonic::transport::ClientTlsConfig;

/// A GPU model built into every machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GpuSpec {
    /// PCI vendor name, e.g. `NVIDIA Corporation`
    pub vendor: String,
    /// PCI device name; size constraints match it with a glob
    pub model: String,
    /// cards per machine
    pub count: u32,
}

/// The hardware every simulated machine reports at registration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HardwareSpec {
    /// CPU cores (one package with two threads per core)
    pub cores: u32,
    /// physical memory in GiB
    pub memory_gib: u64,
    /// size of the one disk `/dev/sda` in GiB
    pub disk_gib: u64,
    /// GPUs, if any
    pub gpu: Option<GpuSpec>,
}

impl Default for HardwareSpec {
    fn default() -> Self {
        Self {
            cores: 4,
            memory_gib: 64,
            disk_gib: 100,
            gpu: None,
        }
    }
}

impl HardwareSpec {
    /// Memory in bytes, as metal-hammer reports it.
    pub fn memory_bytes(&self) -> u64 {
        self.memory_gib << 30
    }

    /// Disk size in bytes.
    pub fn disk_bytes(&self) -> u64 {
        self.disk_gib << 30
    }
}

/// Everything a [`Simulator`](super::Simulator) needs.
///
/// [`SimConfig::new`] fills in metal-stack's timings (Alive every 60 s, phone home every
/// 60 s); tests shorten them.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// gRPC address of metal-api: `host:port`, or a URL with `http://` / `https://`
    pub grpc_addr: String,
    /// client TLS for the gRPC connections (metal-api with mTLS); plain HTTP/2 when `None`
    pub grpc_tls: Option<ClientTlsConfig>,
    /// REST base URL of metal-api including the base path, e.g. `http://127.0.0.1:8080/metal/`
    pub api_url: String,
    /// HMAC key of the REST calls (switch registration needs the edit role)
    pub hmac_key: String,
    /// the technical user the HMAC key belongs to
    pub hmac_auth_type: HmacAuthType,
    /// partition the machines and switches are in; it must exist
    pub partition: String,
    /// prefix of rack and switch ids; `<partition>-` when empty
    pub name_prefix: String,
    /// number of machines
    pub machines: usize,
    /// number of racks, two leaf switches each; the machines are spread evenly
    pub racks: usize,
    /// hardware of every machine
    pub hardware: HardwareSpec,
    /// seed of the machine UUIDs, MACs and passwords: the same seed and partition give the
    /// same machines
    pub seed: u64,
    /// how often metal-core sends `Phoned Home` for the installed machines (one batch per tick)
    pub phone_home_interval: Duration,
    /// how often metal-hammer sends `Alive` while it runs
    pub alive_interval: Duration,
    /// how often the installed machines are checked over REST for a free or reinstall
    pub reclaim_poll_interval: Duration,
    /// how long an installation takes
    pub install_duration: Duration,
    /// how long a machine takes from power on (or a crash) to its PXE request
    pub boot_duration: Duration,
    /// the machines power on spread over this time instead of all at once
    pub start_spread: Duration,
    /// pause after a crash before the machine reboots (5 s in metal-hammer)
    pub crash_reboot_delay: Duration,
    /// pause before metal-hammer reopens a Wait stream that failed (3 s in metal-hammer)
    pub wait_retry: Duration,
    /// first pause after a failed call (doubled up to [`SimConfig::max_backoff`])
    pub min_backoff: Duration,
    /// longest pause between retries
    pub max_backoff: Duration,
    /// time a unary gRPC or REST call may take
    pub call_timeout: Duration,
    /// machines sharing one gRPC connection (HTTP/2 servers limit concurrent streams)
    pub machines_per_connection: usize,
    /// the version string metal-hammer reports
    pub hammer_version: String,
}

impl SimConfig {
    /// A configuration with one rack, four machines of [`HardwareSpec::default`] and
    /// metal-stack's timings.
    pub fn new(
        grpc_addr: impl Into<String>,
        api_url: impl Into<String>,
        hmac_key: impl Into<String>,
        partition: impl Into<String>,
    ) -> Self {
        Self {
            grpc_addr: grpc_addr.into(),
            grpc_tls: None,
            api_url: api_url.into(),
            hmac_key: hmac_key.into(),
            hmac_auth_type: HmacAuthType::Edit,
            partition: partition.into(),
            name_prefix: String::new(),
            machines: 4,
            racks: 1,
            hardware: HardwareSpec::default(),
            seed: 0,
            phone_home_interval: Duration::from_secs(60),
            alive_interval: Duration::from_secs(60),
            reclaim_poll_interval: Duration::from_secs(10),
            install_duration: Duration::ZERO,
            boot_duration: Duration::ZERO,
            start_spread: Duration::ZERO,
            crash_reboot_delay: Duration::from_secs(5),
            wait_retry: Duration::from_secs(3),
            min_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(10),
            call_timeout: Duration::from_secs(10),
            machines_per_connection: 50,
            hammer_version: format!("v{} (metal-lab sim)", env!("CARGO_PKG_VERSION")),
        }
    }

    /// The prefix of rack and switch ids.
    pub fn prefix(&self) -> String {
        if self.name_prefix.is_empty() {
            format!("{}-", self.partition)
        } else {
            self.name_prefix.clone()
        }
    }

    /// Checks what the types cannot.
    pub fn validate(&self) -> Result<(), String> {
        if self.partition.trim().is_empty() {
            return Err("the partition must not be empty".into());
        }
        if self.machines == 0 {
            return Err("at least one machine is needed".into());
        }
        if self.racks == 0 || self.racks > self.machines {
            return Err(format!(
                "racks must be between 1 and the number of machines ({}), got {}",
                self.machines, self.racks
            ));
        }
        if self.racks > usize::from(u16::MAX) || self.machines >= 1 << 24 {
            return Err("at most 65535 racks and 16777215 machines".into());
        }
        if self.machines.div_ceil(self.racks) > usize::from(u16::MAX) {
            return Err("at most 65535 machines per rack".into());
        }
        if self.hardware.cores == 0 || self.hardware.memory_gib == 0 || self.hardware.disk_gib == 0
        {
            return Err("cores, memory and disk must be positive".into());
        }
        for (name, d) in [
            ("phone-home interval", self.phone_home_interval),
            ("alive interval", self.alive_interval),
            ("reclaim poll interval", self.reclaim_poll_interval),
            ("wait retry", self.wait_retry),
            ("min backoff", self.min_backoff),
            ("call timeout", self.call_timeout),
        ] {
            if d.is_zero() {
                return Err(format!("the {name} must be positive"));
            }
        }
        if self.max_backoff < self.min_backoff {
            return Err("the max backoff must not be shorter than the min backoff".into());
        }
        if self.machines_per_connection == 0 {
            return Err("machines per connection must be positive".into());
        }
        Ok(())
    }

    /// The gRPC endpoint URL.
    pub fn grpc_url(&self) -> String {
        if self.grpc_addr.contains("://") {
            self.grpc_addr.clone()
        } else if self.grpc_tls.is_some() {
            format!("https://{}", self.grpc_addr)
        } else {
            format!("http://{}", self.grpc_addr)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation() {
        let ok = SimConfig::new("127.0.0.1:1", "http://127.0.0.1:2/", "k", "fra");
        assert_eq!(ok.validate(), Ok(()));
        assert_eq!(ok.prefix(), "fra-");
        assert_eq!(ok.grpc_url(), "http://127.0.0.1:1");
        let mut c = ok.clone();
        c.racks = 5;
        assert!(c.validate().unwrap_err().contains("racks"));
        let mut c = ok.clone();
        c.machines = 0;
        assert!(c.validate().is_err());
        let mut c = ok.clone();
        c.phone_home_interval = Duration::ZERO;
        assert!(c.validate().unwrap_err().contains("phone-home"));
        let mut c = ok;
        c.grpc_addr = "https://api:50051".into();
        assert_eq!(c.grpc_url(), "https://api:50051");
    }
}
