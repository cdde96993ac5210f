//! End-to-end tests of the generated gRPC code: real tonic servers on 127.0.0.1, called by the
//! generated clients, in plain text and with mutual TLS, and the server keepalive settings
//! observed on the wire.
//!
//! Kept in one file although it is long: every test here runs against the same in-file fake
//! `BootService` and `EventService` and the same server and TLS fixtures; split, those would
//! become a shared module whose only users are these tests, and one test binary would become
//! several that each compile the generated code's servers again.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use metal_proto::api::v1::boot_service_client::BootServiceClient;
use metal_proto::api::v1::boot_service_server::{BootService, BootServiceServer};
use metal_proto::api::v1::event_service_client::EventServiceClient;
use metal_proto::api::v1::event_service_server::{EventService, EventServiceServer};
use metal_proto::api::v1::{
    BootInfo, BootServiceAbortReinstallRequest, BootServiceAbortReinstallResponse,
    BootServiceBootRequest, BootServiceBootResponse, BootServiceDhcpRequest,
    BootServiceDhcpResponse, BootServiceRegisterRequest, BootServiceRegisterResponse,
    BootServiceReportRequest, BootServiceReportResponse, BootServiceSuperUserPasswordRequest,
    BootServiceSuperUserPasswordResponse, BootServiceWaitRequest, BootServiceWaitResponse,
    EventServiceSendRequest, EventServiceSendResponse, MachineBios, MachineBlockDevice, MachineCpu,
    MachineFru, MachineGpu, MachineHardware, MachineIpmi, MachineNic, MachineProvisioningEvent,
};
use metal_proto::{keepalive, tls};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio_stream::wrappers::TcpListenerStream;
use tokio_stream::{Stream, StreamExt};
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Server, ServerTlsConfig};
use tonic::{Code, Request, Response, Status};

const KERNEL: &str = "http://images.test/metal-kernel";
const INITRD: &str = "http://images.test/metal-hammer-initrd.img.lz4";

/// A BootService that keeps what it was told in memory: one partition `fra-1`, a size
/// `c1-large` for machines with at least 64 GiB memory, and a Wait stream of two keep-alives.
#[derive(Default, Clone)]
struct TestBoot {
    dhcp: Arc<Mutex<Vec<String>>>,
    registered: Arc<Mutex<Vec<BootServiceRegisterRequest>>>,
    reported: Arc<Mutex<Vec<BootServiceReportRequest>>>,
}

type WaitStream = Pin<Box<dyn Stream<Item = Result<BootServiceWaitResponse, Status>> + Send>>;

#[tonic::async_trait]
impl BootService for TestBoot {
    async fn dhcp(
        &self,
        request: Request<BootServiceDhcpRequest>,
    ) -> Result<Response<BootServiceDhcpResponse>, Status> {
        self.dhcp.lock().unwrap().push(request.into_inner().uuid);
        Ok(Response::new(BootServiceDhcpResponse {}))
    }

    async fn boot(
        &self,
        request: Request<BootServiceBootRequest>,
    ) -> Result<Response<BootServiceBootResponse>, Status> {
        let request = request.into_inner();
        if request.partition_id != "fra-1" {
            return Err(Status::not_found(format!(
                "partition {} not found",
                request.partition_id
            )));
        }
        Ok(Response::new(BootServiceBootResponse {
            kernel: KERNEL.to_string(),
            init_ram_disks: vec![INITRD.to_string()],
            cmdline: Some("console=ttyS0,115200n8 ip=dhcp".to_string()),
        }))
    }

    async fn super_user_password(
        &self,
        _request: Request<BootServiceSuperUserPasswordRequest>,
    ) -> Result<Response<BootServiceSuperUserPasswordResponse>, Status> {
        Ok(Response::new(BootServiceSuperUserPasswordResponse {
            feature_disabled: true,
            super_user_password: String::new(),
        }))
    }

    async fn register(
        &self,
        request: Request<BootServiceRegisterRequest>,
    ) -> Result<Response<BootServiceRegisterResponse>, Status> {
        let request = request.into_inner();
        let Some(hardware) = &request.hardware else {
            return Err(Status::invalid_argument("hardware is required"));
        };
        let size = if hardware.memory >= 64 << 30 {
            "c1-large"
        } else {
            "unknown"
        };
        let response = BootServiceRegisterResponse {
            uuid: request.uuid.clone(),
            size: size.to_string(),
            partition_id: request.partition_id.clone(),
        };
        self.registered.lock().unwrap().push(request);
        Ok(Response::new(response))
    }

    type WaitStream = WaitStream;

    async fn wait(
        &self,
        _request: Request<BootServiceWaitRequest>,
    ) -> Result<Response<Self::WaitStream>, Status> {
        let keepalives = tokio_stream::iter(vec![
            Ok(BootServiceWaitResponse {}),
            Ok(BootServiceWaitResponse {}),
        ]);
        Ok(Response::new(Box::pin(keepalives)))
    }

    async fn report(
        &self,
        request: Request<BootServiceReportRequest>,
    ) -> Result<Response<BootServiceReportResponse>, Status> {
        let request = request.into_inner();
        if request.boot_info.is_none() {
            return Err(Status::invalid_argument("boot_info is required"));
        }
        self.reported.lock().unwrap().push(request);
        Ok(Response::new(BootServiceReportResponse {}))
    }

    async fn abort_reinstall(
        &self,
        request: Request<BootServiceAbortReinstallRequest>,
    ) -> Result<Response<BootServiceAbortReinstallResponse>, Status> {
        let request = request.into_inner();
        let boot_info = if request.primary_disk_wiped {
            None
        } else {
            self.reported
                .lock()
                .unwrap()
                .iter()
                .rev()
                .find(|r| r.uuid == request.uuid)
                .and_then(|r| r.boot_info.clone())
        };
        Ok(Response::new(BootServiceAbortReinstallResponse {
            boot_info,
        }))
    }
}

/// An EventService that accepts the known event types and fails the others.
#[derive(Default, Clone)]
struct TestEvents {
    stored: Arc<Mutex<Vec<(String, MachineProvisioningEvent)>>>,
}

#[tonic::async_trait]
impl EventService for TestEvents {
    async fn send(
        &self,
        request: Request<EventServiceSendRequest>,
    ) -> Result<Response<EventServiceSendResponse>, Status> {
        let mut stored = 0;
        let mut failed = Vec::new();
        for (machine_id, event) in request.into_inner().events {
            if ["PXE Booting", "Preparing", "Alive"].contains(&event.event.as_str()) {
                self.stored.lock().unwrap().push((machine_id, event));
                stored += 1;
            } else {
                failed.push(machine_id);
            }
        }
        failed.sort();
        Ok(Response::new(EventServiceSendResponse {
            events: stored,
            failed,
        }))
    }
}

/// A server running in the background until dropped.
struct TestServer {
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    handle: Option<tokio::task::JoinHandle<Result<(), tonic::transport::Error>>>,
}

impl TestServer {
    async fn start(boot: TestBoot, events: TestEvents, tls: Option<ServerTlsConfig>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut builder = keepalive::server(Server::builder());
        if let Some(tls) = tls {
            builder = builder.tls_config(tls).unwrap();
        }
        let (shutdown, stopped) = oneshot::channel::<()>();
        let router = builder
            .add_service(BootServiceServer::new(boot))
            .add_service(EventServiceServer::new(events));
        let handle = tokio::spawn(router.serve_with_incoming_shutdown(
            TcpListenerStream::new(listener),
            async {
                let _ = stopped.await;
            },
        ));
        Self {
            addr,
            shutdown: Some(shutdown),
            handle: Some(handle),
        }
    }

    async fn stop(mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(handle) = self.handle.take() {
            handle.await.unwrap().unwrap();
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(handle) = &self.handle {
            handle.abort();
        }
    }
}

fn register_request() -> BootServiceRegisterRequest {
    let neighbor = |port: &str, switch: &str| MachineNic {
        mac: port.to_string(),
        name: port.to_string(),
        neighbors: Vec::new(),
        hostname: switch.to_string(),
        identifier: port.to_string(),
    };
    BootServiceRegisterRequest {
        uuid: "3f1a1b2c-0000-4000-8000-000000000001".to_string(),
        hardware: Some(MachineHardware {
            memory: 128 << 30,
            cpu_cores: 32,
            disks: vec![MachineBlockDevice {
                name: "/dev/nvme0n1".to_string(),
                size: 960_197_124_096,
            }],
            nics: vec![
                MachineNic {
                    mac: "b4:96:91:00:00:01".to_string(),
                    name: "eth0".to_string(),
                    neighbors: vec![neighbor("swp1", "leaf01")],
                    hostname: String::new(),
                    identifier: String::new(),
                },
                MachineNic {
                    mac: "b4:96:91:00:00:02".to_string(),
                    name: "eth1".to_string(),
                    neighbors: vec![neighbor("swp1", "leaf02")],
                    hostname: String::new(),
                    identifier: String::new(),
                },
            ],
            cpus: vec![MachineCpu {
                vendor: "AuthenticAMD".to_string(),
                model: "AMD EPYC 7402P 24-Core Processor".to_string(),
                cores: 24,
                threads: 48,
            }],
            gpus: vec![MachineGpu {
                vendor: "NVIDIA Corporation".to_string(),
                model: "AD102GL [RTX 6000 Ada Generation]".to_string(),
            }],
        }),
        bios: Some(MachineBios {
            version: "2.3a".to_string(),
            vendor: "American Megatrends Inc.".to_string(),
            date: "05/28/2021".to_string(),
        }),
        ipmi: Some(MachineIpmi {
            address: "10.1.0.17:623".to_string(),
            mac: "b4:96:91:00:00:ff".to_string(),
            user: "metal".to_string(),
            password: "s3cr3tpass".to_string(),
            interface: "lanplus".to_string(),
            fru: Some(MachineFru {
                board_mfg: Some("Supermicro".to_string()),
                product_serial: Some("S123456".to_string()),
                ..Default::default()
            }),
            bmc_version: "1.73.14".to_string(),
            power_state: "ON".to_string(),
        }),
        tags: vec!["rack=r01".to_string()],
        metal_hammer_version: "v0.13.0".to_string(),
        partition_id: "fra-1".to_string(),
    }
}

#[tokio::test]
async fn boot_service_round_trip() {
    let boot = TestBoot::default();
    let server = TestServer::start(boot.clone(), TestEvents::default(), None).await;
    let endpoint =
        keepalive::endpoint(Endpoint::from_shared(format!("http://{}", server.addr)).unwrap());
    let mut client = BootServiceClient::new(endpoint.connect().await.unwrap());

    // pixie: Dhcp, Boot
    let uuid = "3f1a1b2c-0000-4000-8000-000000000001";
    client
        .dhcp(BootServiceDhcpRequest {
            uuid: uuid.to_string(),
        })
        .await
        .unwrap();
    assert_eq!(*boot.dhcp.lock().unwrap(), vec![uuid.to_string()]);

    let spec = client
        .boot(BootServiceBootRequest {
            mac: "b4:96:91:00:00:01".to_string(),
            partition_id: "fra-1".to_string(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(spec.kernel, KERNEL);
    assert_eq!(spec.init_ram_disks, vec![INITRD.to_string()]);
    assert_eq!(
        spec.cmdline.as_deref(),
        Some("console=ttyS0,115200n8 ip=dhcp")
    );
    let unknown = client
        .boot(BootServiceBootRequest {
            mac: String::new(),
            partition_id: "nowhere".to_string(),
        })
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);
    assert_eq!(unknown.message(), "partition nowhere not found");

    // metal-hammer: SuperUserPassword, Register, Wait, Report, AbortReinstall
    let password = client
        .super_user_password(BootServiceSuperUserPasswordRequest {})
        .await
        .unwrap()
        .into_inner();
    assert!(password.feature_disabled);
    assert!(password.super_user_password.is_empty());

    let registered = client
        .register(register_request())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(registered.uuid, uuid);
    assert_eq!(registered.size, "c1-large");
    assert_eq!(registered.partition_id, "fra-1");
    // The whole discovery payload arrives unchanged.
    assert_eq!(*boot.registered.lock().unwrap(), vec![register_request()]);

    let mut stream = client
        .wait(BootServiceWaitRequest {
            machine_id: uuid.to_string(),
        })
        .await
        .unwrap()
        .into_inner();
    let mut keepalives = 0;
    while let Some(message) = stream.next().await {
        assert_eq!(message.unwrap(), BootServiceWaitResponse {});
        keepalives += 1;
    }
    assert_eq!(keepalives, 2, "two keep-alives, then the end of the stream");

    let boot_info = BootInfo {
        image_id: "debian-12.0.20240101".to_string(),
        primary_disk: "/dev/nvme0n1".to_string(),
        os_partition: "/dev/nvme0n1p2".to_string(),
        initrd: "boot/initrd.img-6.1.0-17-amd64".to_string(),
        cmdline: "console=ttyS0,115200n8 root=UUID=1234 init=/bin/systemd".to_string(),
        kernel: "boot/vmlinuz-6.1.0-17-amd64".to_string(),
        bootloader_id: "debian".to_string(),
    };
    let missing_boot_info = client
        .report(BootServiceReportRequest {
            uuid: uuid.to_string(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(missing_boot_info.code(), Code::InvalidArgument);
    client
        .report(BootServiceReportRequest {
            uuid: uuid.to_string(),
            console_password: "0123456789abcdef".to_string(),
            boot_info: Some(boot_info.clone()),
            success: true,
            message: String::new(),
        })
        .await
        .unwrap();

    let kept = client
        .abort_reinstall(BootServiceAbortReinstallRequest {
            uuid: uuid.to_string(),
            primary_disk_wiped: false,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(kept.boot_info, Some(boot_info));
    let wiped = client
        .abort_reinstall(BootServiceAbortReinstallRequest {
            uuid: uuid.to_string(),
            primary_disk_wiped: true,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(wiped.boot_info, None);

    drop(client);
    server.stop().await;
}

#[tokio::test]
async fn event_service_sends_a_batch() {
    let events = TestEvents::default();
    let server = TestServer::start(TestBoot::default(), events.clone(), None).await;
    let mut client = EventServiceClient::connect(format!("http://{}", server.addr))
        .await
        .unwrap();

    let time = metal_proto::prost_types::Timestamp {
        seconds: 1_700_000_000,
        nanos: 5,
    };
    let event = |name: &str| MachineProvisioningEvent {
        time: Some(time),
        event: name.to_string(),
        message: format!("{name} message"),
    };
    let batch = HashMap::from([
        ("m1".to_string(), event("PXE Booting")),
        ("m2".to_string(), event("Preparing")),
        ("m3".to_string(), event("Exploded")),
    ]);
    let response = client
        .send(EventServiceSendRequest { events: batch })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(response.events, 2);
    assert_eq!(response.failed, vec!["m3".to_string()]);

    let mut stored = events.stored.lock().unwrap().clone();
    stored.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        stored,
        vec![
            ("m1".to_string(), event("PXE Booting")),
            ("m2".to_string(), event("Preparing")),
        ]
    );
    drop(client);
    server.stop().await;
}

/// PEM files of a test PKI: a CA, a server certificate for localhost and 127.0.0.1, a client
/// certificate signed by the CA, and a client certificate of a CA the server does not trust.
struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    fn new() -> Self {
        use rcgen::{
            BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
            KeyUsagePurpose,
        };

        fn ca(name: &str) -> (rcgen::Certificate, KeyPair) {
            let key = KeyPair::generate().unwrap();
            let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            params.distinguished_name.push(DnType::CommonName, name);
            params.key_usages = vec![
                KeyUsagePurpose::KeyCertSign,
                KeyUsagePurpose::CrlSign,
                KeyUsagePurpose::DigitalSignature,
            ];
            let cert = params.self_signed(&key).unwrap();
            (cert, key)
        }

        fn leaf(
            names: &[&str],
            common_name: &str,
            usage: ExtendedKeyUsagePurpose,
            ca: &(rcgen::Certificate, KeyPair),
        ) -> (String, String) {
            let key = KeyPair::generate().unwrap();
            let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
            let mut params = CertificateParams::new(names).unwrap();
            params
                .distinguished_name
                .push(DnType::CommonName, common_name);
            params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
            params.extended_key_usages = vec![usage];
            let cert = params.signed_by(&key, &ca.0, &ca.1).unwrap();
            (cert.pem(), key.serialize_pem())
        }

        let dir = tempfile::tempdir().unwrap();
        let write =
            |name: &str, content: &str| std::fs::write(dir.path().join(name), content).unwrap();

        let trusted = ca("metal test CA");
        let (server_cert, server_key) = leaf(
            &["localhost", "127.0.0.1"],
            "metal-api",
            ExtendedKeyUsagePurpose::ServerAuth,
            &trusted,
        );
        let (client_cert, client_key) = leaf(
            &[],
            "metal-hammer",
            ExtendedKeyUsagePurpose::ClientAuth,
            &trusted,
        );
        let untrusted = ca("someone else's CA");
        let (rogue_cert, rogue_key) = leaf(
            &[],
            "metal-hammer",
            ExtendedKeyUsagePurpose::ClientAuth,
            &untrusted,
        );

        write("ca.pem", &trusted.0.pem());
        write("server.pem", &server_cert);
        write("server-key.pem", &server_key);
        write("client.pem", &client_cert);
        write("client-key.pem", &client_key);
        write("rogue.pem", &rogue_cert);
        write("rogue-key.pem", &rogue_key);
        Self { dir }
    }

    fn path(&self, name: &str) -> std::path::PathBuf {
        self.dir.path().join(name)
    }

    fn read(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.path(name)).unwrap()
    }
}

/// Connects over TLS and calls Dhcp, within a time limit.
async fn dhcp_over_tls(addr: SocketAddr, tls: ClientTlsConfig) -> Result<(), String> {
    let call = async {
        let endpoint = Endpoint::from_shared(format!("https://127.0.0.1:{}", addr.port()))
            .map_err(|e| e.to_string())?
            .tls_config(tls)
            .map_err(|e| e.to_string())?
            .connect_timeout(Duration::from_secs(5));
        let channel = endpoint
            .connect()
            .await
            .map_err(|e| format!("connect: {e:?}"))?;
        BootServiceClient::new(channel)
            .dhcp(BootServiceDhcpRequest {
                uuid: "m1".to_string(),
            })
            .await
            .map_err(|e| format!("call: {e:?}"))?;
        Ok(())
    };
    tokio::time::timeout(Duration::from_secs(20), call)
        .await
        .map_err(|_| "timed out".to_string())?
}

#[tokio::test]
async fn mutual_tls_requires_a_client_certificate() {
    let pki = Pki::new();
    let server_tls = tls::server_tls_config(
        pki.path("server.pem"),
        pki.path("server-key.pem"),
        pki.path("ca.pem"),
    )
    .unwrap();
    let boot = TestBoot::default();
    let server = TestServer::start(boot.clone(), TestEvents::default(), Some(server_tls)).await;

    // With a client certificate of the trusted CA: the call goes through.
    let with_cert = tls::client_tls_config(
        pki.path("ca.pem"),
        pki.path("client.pem"),
        pki.path("client-key.pem"),
        "localhost",
    )
    .unwrap();
    dhcp_over_tls(server.addr, with_cert).await.unwrap();
    // The same from in-memory PEM, verifying the server by its IP address.
    let from_pem = tls::client_tls_config_from_pem(
        &pki.read("ca.pem"),
        &pki.read("client.pem"),
        &pki.read("client-key.pem"),
        "127.0.0.1",
    )
    .unwrap();
    dhcp_over_tls(server.addr, from_pem).await.unwrap();
    assert_eq!(boot.dhcp.lock().unwrap().len(), 2);

    // Without a client certificate: refused.
    let without_cert = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(pki.read("ca.pem")))
        .domain_name("localhost");
    let err = dhcp_over_tls(server.addr, without_cert).await.unwrap_err();
    assert!(err.contains("CertificateRequired"), "{err}");

    // With a client certificate of a CA the server does not trust: refused.
    let rogue = tls::client_tls_config(
        pki.path("ca.pem"),
        pki.path("rogue.pem"),
        pki.path("rogue-key.pem"),
        "localhost",
    )
    .unwrap();
    let err = dhcp_over_tls(server.addr, rogue).await.unwrap_err();
    assert!(err.contains("UnknownCA"), "{err}");

    // A client that does not trust the server's CA refuses the server.
    let wrong_ca = tls::client_tls_config(
        pki.path("rogue.pem"),
        pki.path("client.pem"),
        pki.path("client-key.pem"),
        "localhost",
    )
    .unwrap();
    let err = dhcp_over_tls(server.addr, wrong_ca).await.unwrap_err();
    assert!(err.contains("UnknownIssuer"), "{err}");

    // Plain text to a TLS server fails too.
    let plain = async {
        let channel = Endpoint::from_shared(format!("http://{}", server.addr))
            .unwrap()
            .connect()
            .await
            .map_err(|e| e.to_string())?;
        BootServiceClient::new(channel)
            .dhcp(BootServiceDhcpRequest {
                uuid: "m2".to_string(),
            })
            .await
            .map_err(|e| e.to_string())
    };
    tokio::time::timeout(Duration::from_secs(20), plain)
        .await
        .expect("plain-text call must fail, not hang")
        .unwrap_err();

    assert_eq!(
        boot.dhcp.lock().unwrap().len(),
        2,
        "refused clients never reached the service"
    );
    drop(server);
}

#[test]
fn tls_errors_name_the_file() {
    let pki = Pki::new();
    let missing = pki.path("does-not-exist.pem");
    let err = tls::client_tls_config(
        pki.path("ca.pem"),
        &missing,
        pki.path("client-key.pem"),
        "localhost",
    )
    .unwrap_err();
    let message = err.to_string();
    assert!(
        message.starts_with(&format!(
            "cannot read client certificate file {}",
            missing.display()
        )),
        "{message}"
    );
    assert!(matches!(err, tls::TlsError::Read { ref path, .. } if path == &missing));
}

/// Reads one HTTP/2 frame header and skips the payload: (type, flags), or None at the end of
/// the connection.
async fn read_frame(stream: &mut TcpStream) -> Option<(u8, u8)> {
    let mut header = [0u8; 9];
    stream.read_exact(&mut header).await.ok()?;
    let length = u32::from_be_bytes([0, header[0], header[1], header[2]]) as usize;
    let mut payload = vec![0u8; length];
    stream.read_exact(&mut payload).await.ok()?;
    Some((header[3], header[4]))
}

#[tokio::test]
async fn server_pings_idle_clients_and_drops_silent_ones() {
    const SETTINGS: u8 = 0x4;
    const PING: u8 = 0x6;
    const ACK: u8 = 0x1;

    let server = TestServer::start(TestBoot::default(), TestEvents::default(), None).await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    // HTTP/2 connection preface and an empty SETTINGS frame.
    stream
        .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0")
        .await
        .unwrap();
    let start = Instant::now();

    // Acknowledge the server's SETTINGS, never answer its pings.
    let ping_at = loop {
        let frame = tokio::time::timeout(Duration::from_secs(15), read_frame(&mut stream))
            .await
            .expect("the server pings an idle connection")
            .expect("the connection stays open until the ping");
        match frame {
            (SETTINGS, 0) => stream
                .write_all(&[0, 0, 0, SETTINGS, ACK, 0, 0, 0, 0])
                .await
                .unwrap(),
            (PING, 0) => break start.elapsed(),
            _ => {}
        }
    };
    assert!(
        ping_at >= keepalive::SERVER_PING_INTERVAL - Duration::from_millis(500),
        "pinged after {ping_at:?}"
    );
    assert!(
        ping_at <= keepalive::SERVER_PING_INTERVAL + Duration::from_secs(3),
        "pinged after {ping_at:?}"
    );

    // The unanswered ping closes the connection (after an optional GOAWAY).
    let closed = tokio::time::timeout(Duration::from_secs(10), async {
        while read_frame(&mut stream).await.is_some() {}
        start.elapsed()
    })
    .await
    .expect("the server drops a connection whose ping is not answered");
    assert!(
        closed - ping_at <= keepalive::SERVER_PING_TIMEOUT + Duration::from_secs(3),
        "closed {:?} after the ping",
        closed - ping_at
    );
    server.stop().await;
}
