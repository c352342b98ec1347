//! `clickday serve` / `gateway` / `persister` / `portal`: run the chosen
//! roles until SIGINT or SIGTERM, then drain: the gateway finishes
//! in-flight requests, the persister stores and acks the batch it holds,
//! the portal answers the requests it took.

use anyhow::Context as _;
use clickday_config::Config;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// Which parts of the system this process runs.
#[derive(Debug, Clone, Copy)]
pub struct Roles {
    gateway: bool,
    persister: bool,
    portal: bool,
}

impl Roles {
    pub const ALL: Roles = Roles {
        gateway: true,
        persister: true,
        portal: true,
    };
    /// What a click day needs: the demo runs these.
    pub const CLICK_DAY: Roles = Roles {
        portal: false,
        ..Roles::ALL
    };
    pub const GATEWAY: Roles = Roles {
        gateway: true,
        persister: false,
        portal: false,
    };
    pub const PERSISTER: Roles = Roles {
        gateway: false,
        persister: true,
        portal: false,
    };
    pub const PORTAL: Roles = Roles {
        gateway: false,
        persister: false,
        portal: true,
    };
}

pub async fn run(cfg: Config, roles: Roles) -> anyhow::Result<()> {
    let shutdown = CancellationToken::new();
    let started = start(&cfg, roles, shutdown.clone()).await?;
    wait_for_signal().await;
    tracing::info!("shutdown requested");
    shutdown.cancel();
    started.wait().await
}

/// The roles of one process, started.
pub struct Started {
    pub gateway: Option<clickday_gateway::Running>,
    persister: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    portal: Option<clickday_portal::Running>,
}

impl Started {
    /// Resolves once `shutdown` was cancelled and every role has drained.
    pub async fn wait(self) -> anyhow::Result<()> {
        if let Some(running) = self.gateway {
            running.wait().await;
        }
        if let Some(running) = self.portal {
            running.wait().await;
        }
        if let Some(task) = self.persister {
            task.await??;
        }
        Ok(())
    }
}

/// Starts `roles` on `cfg`'s queue and store; they stop when `shutdown` is
/// cancelled.
pub async fn start(
    cfg: &Config,
    roles: Roles,
    shutdown: CancellationToken,
) -> anyhow::Result<Started> {
    let cfg = &share_descriptors(cfg, roles);
    let store = super::open_portal_store(cfg).await?;
    let portal = if roles.portal {
        let running = clickday_portal::start(cfg, store.clone(), shutdown.clone())
            .await
            .with_context(|| format!("portal.listen {}", cfg.portal.listen))?;
        tracing::info!(
            url = %format!("http://{}", running.local_addr),
            public_url = %cfg.portal.public_url,
            "portal is serving"
        );
        Some(running)
    } else {
        None
    };
    let store: Arc<dyn clickday_store::Store> = store;
    let queue = super::open_queue(cfg).await?;
    let gateway = if roles.gateway {
        let running = clickday_gateway::start(
            cfg,
            queue.clone(),
            store.clone(),
            clickday_core::system_clock(),
            shutdown.clone(),
        )
        .await?;
        let scheme = if cfg.gateway.tls { "https" } else { "http" };
        tracing::info!(
            url = %format!("{scheme}://{}", running.local_addr),
            cert = ?running.cert_path,
            click_days = ?cfg.calendar.days().map(|d| d.id.as_str()).collect::<Vec<_>>(),
            "gateway is serving; POST /v1/submissions"
        );
        Some(running)
    } else {
        None
    };
    let persister = if roles.persister {
        let metrics = Arc::new(clickday_persister::metrics::Metrics::default());
        if let Some(gateway) = &gateway {
            let metrics = metrics.clone();
            gateway
                .gateway
                .metrics
                .add_source(Box::new(move || metrics.render()));
        } else if let Some(addr) = cfg.persister.metrics_listen {
            let render = metrics.clone();
            let bound = clickday_gateway::serve_metrics(
                addr,
                Arc::new(move || render.render()),
                shutdown.clone(),
            )
            .await?;
            tracing::info!(url = %format!("http://{bound}/metrics"), "persister metrics");
        }
        let (cfg, token) = (cfg.clone(), shutdown.clone());
        let clock = clickday_core::system_clock();
        Some(tokio::spawn(async move {
            clickday_persister::run_with_metrics(&cfg, queue, store, clock, metrics, token)
                .await
                .map_err(anyhow::Error::from)
        }))
    } else {
        None
    };
    Ok(Started {
        gateway,
        persister,
        portal,
    })
}

/// Descriptors kept for everything but client connections: database and
/// Redis pools, files, the metrics listener.
const RESERVED_DESCRIPTORS: u64 = 1024;

/// Raises the open-files limit as far as allowed and fits the listeners'
/// connection caps in it, each with its own share: a flood of portal
/// visitors can then never take the descriptors the gateway needs (F5).
fn share_descriptors(cfg: &Config, roles: Roles) -> Config {
    let limit = clickday_edge::raise_nofile_limit();
    let mut cfg = cfg.clone();
    let gateway = cfg.gateway.connections.max_connections;
    let portal = cfg.portal.connections.max_connections;
    let wanted = [
        if roles.gateway { gateway } else { 0 },
        if roles.portal { portal } else { 0 },
    ];
    let shares = clickday_edge::FdShares::fit(limit, RESERVED_DESCRIPTORS, &wanted);
    if shares.lowered {
        if roles.gateway {
            cfg.gateway.connections.max_connections = shares.caps[0];
        }
        if roles.portal {
            cfg.portal.connections.max_connections = shares.caps[1];
        }
        tracing::warn!(
            open_files_limit = limit,
            gateway.max_connections = cfg.gateway.connections.max_connections,
            gateway.configured = gateway,
            portal.max_connections = cfg.portal.connections.max_connections,
            portal.configured = portal,
            "the open-files limit cannot hold the configured connection caps: lowered them to fit (raise LimitNOFILE or ulimit -n)"
        );
    } else {
        tracing::debug!(
            open_files_limit = limit,
            "connection caps fit the open-files limit"
        );
    }
    cfg
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
