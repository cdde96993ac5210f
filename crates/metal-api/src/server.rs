//! Starting and stopping the server: opens the store, builds the router (behind the base
//! path), binds the REST and metrics listeners and serves until shutdown, finishing the
//! requests in flight.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use metal_store::notify::Channel;
use metal_store::{Store, StoreOptions};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::auth::oidc::{load_jwks, OidcAuth, OidcSettings};
use crate::auth::{hmac::HmacAuth, Authenticator, GroupRoles, Role};
use crate::config::Config;
use crate::error::error_response;
use crate::firmware_store::FirmwareStore;
use crate::firstrun;
use crate::runtime::auditforward::{AuditForwarder, Settings};
use crate::state::{App, AppState};
use crate::{middleware as mw, openapi, rest};

/// A running server.
pub struct RunningServer {
    pub addr: SocketAddr,
    pub metrics_addr: SocketAddr,
    pub grpc_addr: SocketAddr,
    pub app: App,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    /// The audit forwarder's stop signal and task: stopped after the REST server, so the
    /// entries of the requests it finished are sent too.
    audit_forward: Option<(watch::Sender<bool>, JoinHandle<()>)>,
}

impl RunningServer {
    /// The base URL of the REST API including the base path, e.g. `http://127.0.0.1:8080/metal/`.
    pub fn url(&self) -> String {
        format!("http://{}{}", self.addr, self.app.config.base_path)
    }

    /// Stops accepting, finishes requests in flight, sends the queued audit entries to Splunk
    /// (for at most a few seconds), closes the database.
    pub async fn shutdown(self) {
        // open Wait streams would hold the gRPC server's graceful stop forever
        self.app.waiters.close_all();
        self.app.command_streams.close_all();
        let _ = self.shutdown.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
        if let Some((stop, task)) = self.audit_forward {
            let _ = stop.send(true);
            let _ = task.await;
        }
        self.app.store.close().await;
    }
}

async fn build_authenticator(
    config: &Config,
    keys: &firstrun::HmacKeys,
) -> anyhow::Result<Authenticator> {
    let mut hmac_keys = Vec::new();
    for (role, key) in [
        (Role::View, &keys.view),
        (Role::Edit, &keys.edit),
        (Role::Admin, &keys.admin),
    ] {
        if let Some(k) = key {
            hmac_keys.push((role, k.clone()));
        }
    }
    let hmac = HmacAuth::new(
        hmac_keys,
        config.hmac_lifetime,
        config.provider_tenant.clone(),
    );
    let oidc = match (&config.oidc_issuer, &config.oidc_jwks) {
        (Some(issuer), Some(jwks)) => {
            let keys = load_jwks(jwks).await?;
            let settings = OidcSettings {
                issuer: issuer.clone(),
                client_id: config.oidc_client_id.clone(),
                groups_claim: config.oidc_groups_claim.clone(),
                roles: GroupRoles {
                    view: config.oidc_view_groups.clone(),
                    edit: config.oidc_edit_groups.clone(),
                    admin: config.oidc_admin_groups.clone(),
                },
                default_tenant: config.provider_tenant.clone(),
            };
            Some(OidcAuth::new(settings, keys))
        }
        (None, None) => None,
        _ => anyhow::bail!("--oidc-issuer and --oidc-jwks must be given together"),
    };
    Ok(Authenticator { hmac, oidc })
}

/// Refreshes a JWKS fetched from a URL; a failed fetch keeps the old keys.
fn spawn_jwks_refresh(
    auth: &Authenticator,
    config: &Config,
    mut stop: watch::Receiver<bool>,
) -> Option<JoinHandle<()>> {
    let oidc = auth.oidc.as_ref()?;
    let source = config.oidc_jwks.clone()?;
    if !source.starts_with("http") {
        return None;
    }
    let keys = oidc.keys();
    let every = std::time::Duration::from_secs(config.oidc_jwks_refresh.max(10));
    Some(tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = stop.changed() => return,
            }
            match load_jwks(&source).await {
                Ok(set) => {
                    if let Ok(mut k) = keys.write() {
                        *k = set;
                    }
                }
                Err(e) => tracing::warn!(error = format!("{e:#}"), "refreshing JWKS failed"),
            }
        }
    }))
}

/// The complete router: routes behind the base path, the API document, and the middleware.
pub fn router(app: App, auth: Arc<Authenticator>) -> Router {
    let (routes, paths, schemas) = rest::routes().finish();
    let doc = openapi::render(&openapi::document(paths, schemas, &app.config.base_path));
    let api = routes.merge(rest::firmware::download_routes()).route(
        "/apidocs.json",
        get(move || {
            let doc = doc.clone();
            async move {
                (
                    [(axum::http::header::CONTENT_TYPE, "application/json")],
                    doc,
                )
            }
        }),
    );
    let base = app.config.base_path.trim_end_matches('/').to_string();
    let routed = if base.is_empty() {
        api
    } else {
        Router::new().nest(&base, api)
    };
    routed
        .fallback(|| async {
            error_response(axum::http::StatusCode::NOT_FOUND, "no such route").into_response()
        })
        .layer(from_fn_with_state(app.clone(), mw::metrics))
        .layer(from_fn_with_state(app.clone(), mw::audit))
        .layer(from_fn_with_state(auth, crate::auth::authenticate))
        .layer(from_fn(mw::error_body))
        .layer(from_fn(mw::request_id))
        .layer(
            tower_http::cors::CorsLayer::new()
                .allow_methods([
                    axum::http::Method::GET,
                    axum::http::Method::POST,
                    axum::http::Method::PUT,
                    axum::http::Method::DELETE,
                ])
                .allow_headers([
                    axum::http::header::CONTENT_TYPE,
                    axum::http::header::ACCEPT,
                    axum::http::header::AUTHORIZATION,
                ])
                .allow_origin(tower_http::cors::Any),
        )
        .with_state(app)
}

/// What the REST listener serves: the router behind the one layer that runs before routing,
/// [`mw::collapse_slashes`] (a layer on the router would run after it had matched).
pub fn service(
    app: App,
    auth: Arc<Authenticator>,
) -> tower::util::MapRequest<Router, fn(axum::extract::Request) -> axum::extract::Request> {
    let collapse: fn(axum::extract::Request) -> axum::extract::Request = mw::collapse_slashes;
    tower::ServiceExt::map_request(router(app, auth), collapse)
}

fn context_url(addr: SocketAddr, base: &str) -> String {
    let host = match addr.ip() {
        ip if ip.is_unspecified() && ip.is_ipv4() => "127.0.0.1".to_string(),
        ip if ip.is_unspecified() => "[::1]".to_string(),
        std::net::IpAddr::V6(ip) => format!("[{ip}]"),
        ip => ip.to_string(),
    };
    format!("http://{host}:{}{base}", addr.port())
}

/// Where BMCs reach this server when `--firmware-download-url` is not given: the REST
/// listener's address with the base path; an unspecified bind address (`0.0.0.0`) is no
/// address a BMC can use, so this machine's hostname stands in for it.
fn download_base(addr: SocketAddr, base: &str) -> String {
    if addr.ip().is_unspecified() {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
        if !host.trim().is_empty() {
            return format!("http://{}:{}{base}", host.trim(), addr.port());
        }
    }
    context_url(addr, base)
}

/// Opens the store, binds the listeners and serves in the background.
pub async fn start(config: Config) -> anyhow::Result<RunningServer> {
    config.validate().map_err(anyhow::Error::msg)?;
    let data_dir = config.data_dir();
    std::fs::create_dir_all(&data_dir)
        .with_context(|| format!("creating data directory {}", data_dir.display()))?;
    let (keys, from_data_dir) = firstrun::resolve_keys(&config)?;
    let mut opts = StoreOptions::new(config.db_url());
    opts.max_connections = config.db_max_connections;
    let store = Store::open(&opts)
        .await
        .with_context(|| format!("opening database {}", metal_store::redact_url(&opts.url)))?;
    tracing::info!(db = %metal_store::redact_url(&opts.url), backend = ?store.backend(), "database ready");

    let (stop_tx, stop_rx) = watch::channel(false);
    let auth = build_authenticator(&config, &keys).await?;
    let mut tasks: Vec<JoinHandle<()>> = spawn_jwks_refresh(&auth, &config, stop_rx.clone())
        .into_iter()
        .collect();
    let listener = TcpListener::bind((config.bind_addr, config.port))
        .await
        .with_context(|| format!("binding REST port {}:{}", config.bind_addr, config.port))?;
    let metrics_listener = TcpListener::bind((config.bind_addr, config.metrics_port))
        .await
        .with_context(|| {
            format!(
                "binding metrics port {}:{}",
                config.bind_addr, config.metrics_port
            )
        })?;
    let grpc_listener = TcpListener::bind((config.bind_addr, config.grpc_port))
        .await
        .with_context(|| {
            format!(
                "binding gRPC port {}:{}",
                config.bind_addr, config.grpc_port
            )
        })?;
    let addr = listener.local_addr()?;
    let metrics_addr = metrics_listener.local_addr()?;
    let grpc_addr = grpc_listener.local_addr()?;

    let firmware = FirmwareStore::from_config(&config, &download_base(addr, &config.base_path))
        .context("configuring the firmware store")?;
    tracing::info!(store = %firmware.describe(), "firmware files");
    // not fatal, and not waited for long: the rest of the API works without it, and each
    // firmware request tries again
    match tokio::time::timeout(std::time::Duration::from_secs(15), firmware.prepare()).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::error!(error = %e, "the firmware store is not ready"),
        Err(_) => tracing::error!("the firmware store did not answer within 15 s"),
    }
    let mut state = AppState::new(store, config.clone(), firmware)?;
    let audit_forward = match Settings::from_config(&config).map_err(anyhow::Error::msg)? {
        Some(settings) => {
            tracing::info!(url = %settings.url, index = ?settings.meta.index, "forwarding the audit trail to Splunk");
            let (forwarder, worker) = AuditForwarder::new(settings, &state.metrics.registry)
                .context("starting the audit forwarding to Splunk")?;
            state.audit_forward = Some(forwarder);
            let (stop, stop_rx) = watch::channel(false);
            Some((stop, worker.spawn(stop_rx)))
        }
        None => None,
    };
    let app: App = state.into_shared();

    if from_data_dir && !config.no_metalctl_context {
        if let (Some(path), Some(admin)) = (firstrun::metalctl_config_path(), &keys.admin) {
            match firstrun::write_metalctl_context(
                &path,
                &context_url(addr, &config.base_path),
                admin,
            ) {
                Ok(true) => {
                    tracing::info!(path = %path.display(), "wrote metalctl context \"local\" for this server: try `metalctl health`")
                }
                Ok(false) => {}
                Err(e) => tracing::warn!(
                    error = format!("{e:#}"),
                    "could not write the metalctl context"
                ),
            }
        }
    }

    let service = axum::ServiceExt::<axum::extract::Request>::into_make_service_with_connect_info::<
        SocketAddr,
    >(service(app.clone(), Arc::new(auth)));
    let mut rx = stop_rx.clone();
    tasks.push(tokio::spawn(async move {
        let res = axum::serve(listener, service)
            .with_graceful_shutdown(async move {
                let _ = rx.wait_for(|s| *s).await;
            })
            .await;
        if let Err(e) = res {
            tracing::error!(error = %e, "REST server failed");
        }
    }));
    let metrics_app = app.clone();
    let metrics_router = Router::new().route(
        "/metrics",
        get(move || {
            let m = metrics_app.clone();
            async move { m.metrics.render() }
        }),
    );
    tasks.push(spawn_grpc(app.clone(), grpc_listener, stop_rx.clone())?);
    if let Some(t) = spawn_allocation_listener(&app, stop_rx.clone()) {
        tasks.push(t);
    }
    // the fleet metrics first: the whole-fleet jobs take turns (`AppState::fleet_jobs`), and
    // the first metric set should not wait for a resurrection run
    tasks.extend(crate::fleetmetrics::spawn(&app, stop_rx.clone()));
    tasks.extend(spawn_jobs(&app, &stop_rx));
    let mut rx = stop_rx;
    tasks.push(tokio::spawn(async move {
        let _ = axum::serve(metrics_listener, metrics_router)
            .with_graceful_shutdown(async move {
                let _ = rx.wait_for(|s| *s).await;
            })
            .await;
    }));
    tracing::info!(rest = %addr, metrics = %metrics_addr, base_path = %config.base_path, "metal-api listening");
    Ok(RunningServer {
        addr,
        metrics_addr,
        grpc_addr,
        app,
        shutdown: stop_tx,
        tasks,
        audit_forward,
    })
}

/// Serves the boot and event services on the gRPC port, with TLS and required client
/// certificates when configured.
fn spawn_grpc(
    app: App,
    listener: TcpListener,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<JoinHandle<()>> {
    use metal_proto::api::v1::bmc_service_server::BmcServiceServer;
    use metal_proto::api::v1::boot_service_server::BootServiceServer;
    use metal_proto::api::v1::event_service_server::EventServiceServer;
    let c = &app.config;
    let mut builder = metal_proto::keepalive::server(tonic::transport::Server::builder());
    match (&c.grpc_server_cert, &c.grpc_server_key, &c.grpc_client_ca) {
        (Some(cert), Some(key), Some(ca)) => {
            builder = builder.tls_config(metal_proto::tls::server_tls_config(cert, key, ca)?)?;
        }
        (None, None, None) => {}
        _ => anyhow::bail!(
            "--grpc-server-cert, --grpc-server-key and --grpc-client-ca must be given together"
        ),
    }
    let router = builder
        .add_service(BootServiceServer::new(crate::grpc::BootServer {
            app: app.clone(),
        }))
        .add_service(BmcServiceServer::new(crate::grpc::BmcServer {
            app: app.clone(),
        }))
        .add_service(EventServiceServer::new(crate::grpc::EventServer { app }));
    let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
    Ok(tokio::spawn(async move {
        let res = router
            .serve_with_incoming_shutdown(incoming, async move {
                let _ = stop.wait_for(|s| *s).await;
            })
            .await;
        if let Err(e) = res {
            tracing::error!(error = %e, "gRPC server failed");
        }
    }))
}

/// With PostgreSQL: wakes this replica's Wait streams when another replica allocates their
/// machine, and its BMC command streams when another replica queues or acknowledges a command
/// of their partition (see `metal_store::notify`).
fn spawn_allocation_listener(app: &App, mut stop: watch::Receiver<bool>) -> Option<JoinHandle<()>> {
    let mut listener = app.store.listener()?;
    let app = app.clone();
    Some(tokio::spawn(async move {
        loop {
            tokio::select! {
                n = listener.recv() => match n.channel {
                    Channel::BmcCommands => app.command_streams.wake(&n.payload),
                    Channel::Allocation => app.waiters.wake(&n.payload),
                },
                _ = stopped(&mut stop) => return,
            }
        }
    }))
}

/// The liveliness and resurrection loops. Each run takes the job's lease first, so with several
/// replicas one of them runs it.
fn spawn_jobs(app: &App, stop: &watch::Receiver<bool>) -> Vec<JoinHandle<()>> {
    let holder = uuid::Uuid::new_v4().to_string();
    let mut out = Vec::new();
    for (job, every) in [
        ("liveliness", app.config.liveliness_interval),
        ("resurrection", app.config.resurrection_interval),
    ] {
        if every == 0 {
            continue;
        }
        let app = app.clone();
        let holder = holder.clone();
        let mut stop = stop.clone();
        let every = std::time::Duration::from_secs(every);
        out.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = stopped(&mut stop) => return,
                }
                // the turn first: the time and the lease are those of the run
                let turn = tokio::select! {
                    t = app.fleet_jobs.acquire() => t,
                    _ = stopped(&mut stop) => return,
                };
                let Ok(_turn) = turn else { return };
                let now = metal_store::time::now();
                let ttl = chrono::Duration::from_std(every).unwrap_or(chrono::Duration::minutes(1));
                match crate::runtime::jobs::lease(&app, job, &holder, now, ttl).await {
                    Ok(true) => {}
                    Ok(false) => continue,
                    Err(e) => {
                        tracing::warn!(job, error = %e, "could not take the job lease");
                        continue;
                    }
                }
                match job {
                    "liveliness" => match crate::runtime::jobs::liveliness(&app, now).await {
                        Ok(c) => tracing::info!(
                            job,
                            alive = c.alive,
                            dead = c.dead,
                            unknown = c.unknown,
                            changed = c.changed,
                            "liveliness evaluated"
                        ),
                        Err(e) => tracing::warn!(job, error = %e, "liveliness failed"),
                    },
                    _ => match crate::runtime::jobs::resurrect(&app, now).await {
                        Ok(freed) => tracing::info!(job, freed = freed.len(), "resurrection done"),
                        Err(e) => tracing::warn!(job, error = %e, "resurrection failed"),
                    },
                }
            }
        }));
    }
    out
}

/// Resolves when the server is told to stop.
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// SIGTERM and SIGINT, caught from the moment this is created (before the server starts, so a
/// signal during start-up is not fatal either).
pub struct ShutdownSignals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl ShutdownSignals {
    pub fn install() -> anyhow::Result<Self> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Self {
            term: signal(SignalKind::terminate()).context("catching SIGTERM")?,
            int: signal(SignalKind::interrupt()).context("catching SIGINT")?,
        })
    }

    /// Waits for either signal.
    pub async fn wait(&mut self) {
        tokio::select! {
            _ = self.term.recv() => {}
            _ = self.int.recv() => {}
        }
    }
}

/// Runs the server until Ctrl-C or SIGTERM.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let mut signals = ShutdownSignals::install()?;
    let server = start(config).await?;
    signals.wait().await;
    tracing::info!("shutting down");
    server.shutdown().await;
    Ok(())
}
