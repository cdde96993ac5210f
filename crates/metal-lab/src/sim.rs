//! `metal-lab sim`: a lab without hardware. Simulates racks of machines with their leaf
//! switches against a running metal-api (see `metal_sim::sim`): the switches register, the
//! machines PXE boot, register, wait, install when allocated and phone home, and return to
//! waiting when freed. It runs until Ctrl-C or SIGTERM and logs how many machines are in which
//! phase every `--log-interval` seconds.
//!
//! Every flag can also be given as environment variable `METAL_LAB_<FLAG>`, e.g.
//! `METAL_LAB_API_URL`, `METAL_LAB_MACHINES`.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use metal_client::HmacAuthType;
use metal_sim::sim::{GpuSpec, HardwareSpec, SimConfig, Simulator};

#[derive(Debug, Args)]
pub struct SimArgs {
    /// REST base URL of metal-api, including the base path
    #[arg(long, env = "METAL_LAB_API_URL")]
    api_url: String,
    /// gRPC address of metal-api (host:port)
    #[arg(long, env = "METAL_LAB_GRPC_ADDR")]
    grpc_addr: String,
    /// HMAC key for the REST calls (the edit key by default, see --hmac-auth-type)
    #[arg(long, env = "METAL_LAB_HMAC", hide_env_values = true)]
    hmac: String,
    /// technical user of the HMAC key: Metal-Edit or Metal-Admin
    #[arg(long, env = "METAL_LAB_HMAC_AUTH_TYPE", default_value = "Metal-Edit")]
    hmac_auth_type: HmacAuthType,
    /// partition of the machines and switches (must exist)
    #[arg(long, env = "METAL_LAB_PARTITION")]
    partition: String,
    /// number of machines
    #[arg(long, env = "METAL_LAB_MACHINES", default_value_t = 4)]
    machines: usize,
    /// number of racks (two leaf switches each); machines are spread evenly
    #[arg(long, env = "METAL_LAB_RACKS", default_value_t = 1)]
    racks: usize,
    /// CPU cores per machine
    #[arg(long, env = "METAL_LAB_CORES", default_value_t = 4)]
    cores: u32,
    /// memory per machine in GiB
    #[arg(long, env = "METAL_LAB_MEMORY_GIB", default_value_t = 64)]
    memory_gib: u64,
    /// disk size per machine in GiB
    #[arg(long, env = "METAL_LAB_DISK_GIB", default_value_t = 100)]
    disk_gib: u64,
    /// GPUs per machine
    #[arg(long, env = "METAL_LAB_GPUS", default_value_t = 0)]
    gpus: u32,
    /// GPU model (PCI device name)
    #[arg(
        long,
        env = "METAL_LAB_GPU_MODEL",
        default_value = "AD102GL [RTX 6000 Ada Generation]"
    )]
    gpu_model: String,
    /// seconds between two phone-home batches of metal-core
    #[arg(long, env = "METAL_LAB_PHONE_HOME_INTERVAL", default_value_t = 60.0)]
    phone_home_interval: f64,
    /// seconds between two Alive events of metal-hammer
    #[arg(long, env = "METAL_LAB_ALIVE_INTERVAL", default_value_t = 60.0)]
    alive_interval: f64,
    /// seconds between two REST polls for freed or reinstalled machines
    #[arg(long, env = "METAL_LAB_RECLAIM_POLL_INTERVAL", default_value_t = 10.0)]
    reclaim_poll_interval: f64,
    /// seconds an installation takes
    #[arg(long, env = "METAL_LAB_INSTALL_SECONDS", default_value_t = 0.0)]
    install_seconds: f64,
    /// seconds over which the machines power on
    #[arg(long, env = "METAL_LAB_START_SPREAD", default_value_t = 0.0)]
    start_spread: f64,
    /// seed of machine UUIDs, MACs and passwords
    #[arg(long, env = "METAL_LAB_SEED", default_value_t = 0)]
    seed: u64,
    /// prefix of rack and switch ids (default: "<partition>-")
    #[arg(long, env = "METAL_LAB_NAME_PREFIX", default_value = "")]
    name_prefix: String,
    /// machines sharing one gRPC connection
    #[arg(long, env = "METAL_LAB_MACHINES_PER_CONNECTION", default_value_t = 50)]
    machines_per_connection: usize,
    /// seconds between two log lines with the phase counts
    #[arg(long, env = "METAL_LAB_LOG_INTERVAL", default_value_t = 30.0)]
    log_interval: f64,
    /// CA certificate the gRPC server certificate must chain to (enables mTLS)
    #[arg(long, env = "METAL_LAB_GRPC_CA_CERT", requires_all = ["grpc_client_cert", "grpc_client_key"])]
    grpc_ca_cert: Option<PathBuf>,
    /// client certificate for gRPC mTLS
    #[arg(long, env = "METAL_LAB_GRPC_CLIENT_CERT", requires = "grpc_ca_cert")]
    grpc_client_cert: Option<PathBuf>,
    /// client key for gRPC mTLS
    #[arg(long, env = "METAL_LAB_GRPC_CLIENT_KEY", requires = "grpc_ca_cert")]
    grpc_client_key: Option<PathBuf>,
    /// name the gRPC server certificate must be valid for (default: the host of --grpc-addr)
    #[arg(long, env = "METAL_LAB_GRPC_SERVER_NAME")]
    grpc_server_name: Option<String>,
    /// log filter (tracing env-filter syntax); RUST_LOG wins when set
    #[arg(long, env = "METAL_LAB_LOG_LEVEL", default_value = "info")]
    pub log_level: String,
}

fn seconds(name: &str, s: f64) -> anyhow::Result<Duration> {
    Duration::try_from_secs_f64(s)
        .map_err(|_| anyhow::anyhow!("--{name} must be a non-negative number of seconds, got {s}"))
}

impl SimArgs {
    fn config(&self) -> anyhow::Result<SimConfig> {
        let mut c = SimConfig::new(
            self.grpc_addr.clone(),
            self.api_url.clone(),
            self.hmac.clone(),
            self.partition.clone(),
        );
        c.hmac_auth_type = self.hmac_auth_type;
        c.machines = self.machines;
        c.racks = self.racks;
        c.hardware = HardwareSpec {
            cores: self.cores,
            memory_gib: self.memory_gib,
            disk_gib: self.disk_gib,
            gpu: (self.gpus > 0).then(|| GpuSpec {
                vendor: "NVIDIA Corporation".into(),
                model: self.gpu_model.clone(),
                count: self.gpus,
            }),
        };
        c.phone_home_interval = seconds("phone-home-interval", self.phone_home_interval)?;
        c.alive_interval = seconds("alive-interval", self.alive_interval)?;
        c.reclaim_poll_interval = seconds("reclaim-poll-interval", self.reclaim_poll_interval)?;
        c.install_duration = seconds("install-seconds", self.install_seconds)?;
        c.start_spread = seconds("start-spread", self.start_spread)?;
        c.seed = self.seed;
        c.name_prefix = self.name_prefix.clone();
        c.machines_per_connection = self.machines_per_connection;
        if let (Some(ca), Some(cert), Some(key)) = (
            &self.grpc_ca_cert,
            &self.grpc_client_cert,
            &self.grpc_client_key,
        ) {
            let host = self
                .grpc_server_name
                .clone()
                .unwrap_or_else(|| host_of(&self.grpc_addr));
            c.grpc_tls = Some(metal_proto::tls::client_tls_config(ca, cert, key, host)?);
        }
        c.validate().map_err(anyhow::Error::msg)?;
        Ok(c)
    }
}

/// The host part of `host:port` or of a URL.
fn host_of(addr: &str) -> String {
    let rest = addr.split_once("://").map_or(addr, |(_, r)| r);
    let hostport = rest.split('/').next().unwrap_or(rest);
    if let Some(v6) = hostport.strip_prefix('[') {
        return v6.split(']').next().unwrap_or(v6).to_string();
    }
    hostport
        .rsplit_once(':')
        .map_or(hostport, |(h, _)| h)
        .to_string()
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() -> anyhow::Result<&'static str> {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r.map(|_| "SIGINT").map_err(Into::into),
            _ = term.recv() => Ok("SIGTERM"),
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await?;
        Ok("Ctrl-C")
    }
}

pub async fn run(args: SimArgs) -> anyhow::Result<()> {
    let config = args.config()?;
    let log_every = seconds("log-interval", args.log_interval)?.max(Duration::from_millis(100));
    tracing::info!(
        api = config.api_url,
        grpc = config.grpc_addr,
        partition = config.partition,
        machines = config.machines,
        racks = config.racks,
        "starting the simulation"
    );
    // the signal handlers are installed before anything runs
    let signal = shutdown_signal();
    tokio::pin!(signal);
    let sim = Simulator::start(config).await?;
    let handle = sim.handle();
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + log_every, log_every);
    let signal = loop {
        tokio::select! {
            s = &mut signal => break s?,
            _ = tick.tick() => tracing::info!(
                switches_registered = handle.switches_registered(),
                "machines: {}",
                handle.counts()
            ),
        }
    };
    tracing::info!(signal, "stopping the simulation");
    sim.stop().await;
    tracing::info!("machines at stop: {}", handle.counts());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts() {
        assert_eq!(host_of("api.example:50051"), "api.example");
        assert_eq!(host_of("https://api.example:50051/"), "api.example");
        assert_eq!(host_of("[::1]:50051"), "::1");
        assert_eq!(host_of("localhost"), "localhost");
    }

    #[test]
    fn flags_build_a_config() {
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            args: SimArgs,
        }
        let cli = <Cli as clap::Parser>::try_parse_from([
            "metal-lab",
            "--api-url",
            "http://127.0.0.1:8080/metal/",
            "--grpc-addr",
            "127.0.0.1:50051",
            "--hmac",
            "k",
            "--partition",
            "fra",
            "--machines",
            "6",
            "--racks",
            "2",
            "--gpus",
            "2",
            "--phone-home-interval",
            "0.5",
        ])
        .unwrap();
        let c = cli.args.config().unwrap();
        assert_eq!((c.machines, c.racks), (6, 2));
        assert_eq!(c.phone_home_interval, Duration::from_millis(500));
        assert_eq!(c.hardware.gpu.unwrap().count, 2);
        assert_eq!(c.hmac_auth_type, HmacAuthType::Edit);
    }
}
