//! The agent: the reporter (leases → BMC readings → `POST /v1/machine/ipmi`, at start and then
//! every report interval) and the command consumer (metal-api's gRPC command stream → BMC
//! actions → acknowledgements). Both run until the agent is stopped.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use futures::StreamExt;
use ipnet::IpNet;
use metal_client::{Client, Method};
use metal_domain::firmware::FirmwareKind;
use metal_domain::machine::{
    BmcCommand, MachineIpmiReport, MachineIpmiReportResponse, MachineIpmiReports,
};
use metal_proto::api::v1 as pb;
use metal_proto::api::v1::bmc_service_client::BmcServiceClient;
use tonic::transport::{Channel, Endpoint};

use crate::bmc::{split_host_port, Access, Action, Bmc, Credentials, FirmwareUpdate, Reading};
use crate::leases;

/// What the agent needs to run.
#[derive(Debug, Clone)]
pub struct Settings {
    pub partition_id: String,
    /// a name for this agent in metal-api's delivery records
    pub agent: String,
    pub lease_file: std::path::PathBuf,
    pub report_interval: Duration,
    pub allowed_cidrs: Vec<IpNet>,
    pub ignore_macs: Vec<String>,
    /// the factory (superuser) account used for reports and for machines without own BMC user
    pub credentials: Credentials,
    pub access: Access,
    /// how many BMCs are read at the same time
    pub concurrency: usize,
    /// how many commands run at the same time
    pub max_in_flight: usize,
}

impl Settings {
    /// The settings of the command line's defaults (report every 5 minutes, every address
    /// allowed, 20 BMCs read and 10 commands run at a time) for the given partition, lease file,
    /// factory account and BMC access.
    pub fn new(
        partition_id: &str,
        lease_file: std::path::PathBuf,
        credentials: Credentials,
        access: Access,
    ) -> Settings {
        Settings {
            partition_id: partition_id.to_string(),
            agent: "metal-bmc".to_string(),
            lease_file,
            report_interval: Duration::from_secs(300),
            allowed_cidrs: Vec::new(),
            ignore_macs: Vec::new(),
            credentials,
            access,
            concurrency: 20,
            max_in_flight: 10,
        }
    }
}

/// The agent's connections to metal-api.
#[derive(Clone)]
pub struct Agent {
    pub settings: Arc<Settings>,
    pub rest: Client,
    pub grpc: Channel,
}

impl Agent {
    /// Reads every leased BMC and reports the readings. BMCs that fail or run over their
    /// timeout are logged and left out; the others are reported.
    pub async fn report_once(&self) -> anyhow::Result<MachineIpmiReportResponse> {
        let s = &self.settings;
        let text = tokio::fs::read_to_string(&s.lease_file)
            .await
            .with_context(|| format!("reading the lease file {}", s.lease_file.display()))?;
        let active = leases::active(
            leases::parse(&text),
            chrono::Utc::now(),
            &s.allowed_cidrs,
            &s.ignore_macs,
        );
        let readings: Vec<(String, anyhow::Result<Reading>)> =
            futures::stream::iter(active.into_iter().map(|l| {
                let ip = l.ip.to_string();
                async move {
                    let r = self.read_bmc(&ip, &s.credentials).await;
                    (ip, r)
                }
            }))
            .buffer_unordered(s.concurrency.max(1))
            .collect()
            .await;
        let mut reports = BTreeMap::new();
        let (mut failed, mut anonymous) = (0, 0);
        for (ip, r) in readings {
            match r {
                Ok(r) if r.uuid.is_empty() => {
                    anonymous += 1;
                    tracing::warn!(bmc = ip, "the BMC tells no machine uuid, not reported");
                }
                Ok(r) => {
                    reports.insert(r.uuid.clone(), to_report(&ip, r));
                }
                Err(e) => {
                    failed += 1;
                    tracing::warn!(bmc = ip, error = format!("{e:#}"), "reading the BMC failed");
                }
            }
        }
        let n = reports.len();
        let answer = self.send(reports).await?;
        tracing::info!(
            reported = n,
            failed,
            anonymous,
            created = answer.created.len(),
            updated = answer.updated.len(),
            "BMC report sent"
        );
        Ok(answer)
    }

    async fn send(
        &self,
        reports: BTreeMap<String, MachineIpmiReport>,
    ) -> anyhow::Result<MachineIpmiReportResponse> {
        let body = MachineIpmiReports {
            partitionid: self.settings.partition_id.clone(),
            reports,
        };
        self.rest
            .request(Method::POST, "v1/machine/ipmi", Some(&body))
            .await
            .context("sending the BMC report to metal-api")
    }

    /// One BMC, bounded as a whole (each call is bounded too).
    async fn read_bmc(&self, host: &str, creds: &Credentials) -> anyhow::Result<Reading> {
        let access = &self.settings.access;
        let whole = access.timeout * 8;
        tokio::time::timeout(whole, async {
            let bmc = Bmc::connect(host, creds, access).await?;
            bmc.read().await
        })
        .await
        .map_err(|_| anyhow::anyhow!("reading BMC {host} took longer than {whole:?}"))?
    }

    /// Reports every `report_interval`, the first time right away; a run that takes longer
    /// than the interval delays the next one (runs never overlap).
    pub async fn reporter(self, mut stop: tokio::sync::watch::Receiver<bool>) {
        let mut tick = tokio::time::interval(self.settings.report_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.changed() => return,
            }
            if let Err(e) = self.report_once().await {
                tracing::warn!(error = format!("{e:#}"), "BMC report failed");
            }
        }
    }

    /// Consumes the command stream until stopped, reconnecting with backoff.
    pub async fn commands(self, mut stop: tokio::sync::watch::Receiver<bool>) {
        let mut backoff = Duration::from_millis(500);
        let limit = Arc::new(tokio::sync::Semaphore::new(
            self.settings.max_in_flight.max(1),
        ));
        loop {
            let run = self.consume(&limit);
            tokio::select! {
                r = run => match r {
                    Ok(()) => {
                        tracing::info!("command stream ended, reconnecting");
                        backoff = Duration::from_millis(500);
                    }
                    Err(e) => tracing::warn!(error = format!("{e:#}"), "command stream failed, reconnecting"),
                },
                _ = stop.changed() => return,
            }
            tokio::select! {
                _ = tokio::time::sleep(backoff) => {}
                _ = stop.changed() => return,
            }
            backoff = (backoff * 2).min(Duration::from_secs(10));
        }
    }

    async fn consume(&self, limit: &Arc<tokio::sync::Semaphore>) -> anyhow::Result<()> {
        let mut client = BmcServiceClient::new(self.grpc.clone());
        let mut stream = client
            .commands(pb::BmcServiceCommandsRequest {
                partition_id: self.settings.partition_id.clone(),
                agent: self.settings.agent.clone(),
            })
            .await
            .context("opening the command stream")?
            .into_inner();
        tracing::info!(
            partition = self.settings.partition_id,
            "command stream open"
        );
        while let Some(c) = stream
            .message()
            .await
            .context("reading the command stream")?
        {
            if c.seq == 0 {
                continue; // keep-alive
            }
            let permit = limit.clone().acquire_owned().await?;
            let agent = self.clone();
            tokio::spawn(async move {
                let _permit = permit;
                agent.execute(c).await;
            });
        }
        Ok(())
    }

    /// Runs one command and acknowledges it; after a power action the machine's BMC is read
    /// and reported at once, so metal-api shows the new power state without waiting for the
    /// next report.
    pub async fn execute(&self, c: pb::BmcCommand) {
        let started = std::time::Instant::now();
        let outcome = self.run_command(&c).await;
        let error = match &outcome {
            Ok(()) => String::new(),
            Err(e) => format!("{e:#}"),
        };
        if error.is_empty() {
            tracing::info!(
                machine = c.machine_id,
                command = c.command,
                seq = c.seq,
                took_ms = started.elapsed().as_millis() as u64,
                "command executed"
            );
        } else {
            tracing::warn!(
                machine = c.machine_id,
                command = c.command,
                seq = c.seq,
                error,
                "command failed"
            );
        }
        let mut client = BmcServiceClient::new(self.grpc.clone());
        let ack = pb::BmcServiceAckRequest {
            partition_id: self.settings.partition_id.clone(),
            seq: c.seq,
            error,
        };
        if let Err(e) = client.ack(ack).await {
            // not acknowledged: metal-api delivers it again after its redelivery interval
            tracing::warn!(seq = c.seq, error = %e, "acknowledging the command failed");
        }
    }

    async fn run_command(&self, c: &pb::BmcCommand) -> anyhow::Result<()> {
        let command: BmcCommand = c
            .command
            .parse()
            .map_err(|_| anyhow::anyhow!("unknown command {:?}", c.command))?;
        let firmware = match command {
            BmcCommand::UpdateFirmware => Some(firmware_update(c)?),
            _ => None,
        };
        let conn = c.bmc.clone().unwrap_or_default();
        if conn.address.is_empty() {
            anyhow::bail!("machine {} has no BMC address yet", c.machine_id);
        }
        // all BMCs of the partition's BMC network answer on the configured ports
        let (host, _) = split_host_port(&conn.address);
        let creds = if conn.user.is_empty() {
            self.settings.credentials.clone()
        } else {
            Credentials {
                user: conn.user,
                password: conn.password,
            }
        };
        let bmc = Bmc::connect(host, &creds, &self.settings.access).await?;
        if let Some(update) = &firmware {
            // the BMC flashes on its own after accepting the file; its next reading reports
            // the new version
            return bmc.update_firmware(update).await;
        }
        let actions = Action::of(command).unwrap_or_default();
        for a in &actions {
            bmc.run(*a).await?;
        }
        let touches_power = actions.iter().any(|a| {
            matches!(
                a,
                Action::PowerOn
                    | Action::PowerOff
                    | Action::PowerReset
                    | Action::PowerCycle
                    | Action::LedOn
                    | Action::LedOff
            )
        });
        if touches_power {
            match bmc.read().await {
                Ok(r) if r.uuid.is_empty() || r.uuid == c.machine_id => {
                    let mut one = BTreeMap::new();
                    one.insert(c.machine_id.clone(), to_report(host, r));
                    if let Err(e) = self.send(one).await {
                        tracing::warn!(
                            machine = c.machine_id,
                            error = format!("{e:#}"),
                            "reporting after the command failed"
                        );
                    }
                }
                Ok(r) => tracing::warn!(
                    machine = c.machine_id,
                    bmc_uuid = r.uuid,
                    "the BMC at the machine's address belongs to another machine"
                ),
                Err(e) => {
                    tracing::debug!(machine = c.machine_id, error = %e, "reading after the command failed")
                }
            }
        }
        Ok(())
    }
}

/// The firmware file of an `UPDATE-FIRMWARE` command.
fn firmware_update(c: &pb::BmcCommand) -> anyhow::Result<FirmwareUpdate> {
    let f = c
        .firmware_update
        .as_ref()
        .filter(|f| !f.url.is_empty())
        .ok_or_else(|| anyhow::anyhow!("UPDATE-FIRMWARE without a firmware download URL"))?;
    Ok(FirmwareUpdate {
        kind: FirmwareKind::parse(&f.kind)?,
        url: f.url.clone(),
    })
}

/// A reading as metal-api's report item.
pub fn to_report(ip: &str, r: Reading) -> MachineIpmiReport {
    MachineIpmiReport {
        bmc_ip: ip.to_string(),
        fru: Some(r.fru),
        bios_version: r.bios_version,
        bmc_version: r.bmc_version,
        power_state: r.power_state.as_str().to_string(),
        indicator_led_state: r.led.as_str().to_string(),
        power_metric: r.power_metric,
        power_supplies: if r.power_supplies.is_empty() {
            None
        } else {
            Some(r.power_supplies)
        },
    }
}

/// The gRPC channel to metal-api (`http://` or, with TLS files, `https://`), connected lazily
/// so the agent starts even while metal-api is down.
pub fn grpc_channel(
    address: &str,
    tls: Option<tonic::transport::ClientTlsConfig>,
) -> anyhow::Result<Channel> {
    let mut e = Endpoint::from_shared(address.to_string())
        .with_context(|| format!("invalid gRPC address {address:?}"))?
        .connect_timeout(Duration::from_secs(5));
    e = metal_proto::keepalive::endpoint(e);
    if let Some(tls) = tls {
        e = e.tls_config(tls)?;
    }
    Ok(e.connect_lazy())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_firmware_update_needs_a_url_and_a_known_kind() {
        let command = |kind: &str, url: &str| pb::BmcCommand {
            seq: 1,
            command: "UPDATE-FIRMWARE".into(),
            firmware_update: Some(pb::FirmwareUpdate {
                kind: kind.into(),
                url: url.into(),
                revision: "2.0".into(),
            }),
            ..Default::default()
        };
        let f = firmware_update(&command("bmc", "http://10.0.0.1/f")).unwrap();
        assert_eq!(
            (f.kind, f.url.as_str()),
            (FirmwareKind::Bmc, "http://10.0.0.1/f")
        );
        let missing = pb::BmcCommand {
            firmware_update: None,
            ..command("bios", "x")
        };
        for (c, want) in [
            (missing, "without a firmware download URL"),
            (command("bios", ""), "without a firmware download URL"),
            (command("uefi", "http://x"), "kind must be bios or bmc"),
        ] {
            let e = firmware_update(&c).unwrap_err().to_string();
            assert!(e.contains(want), "{e}");
        }
    }
}
