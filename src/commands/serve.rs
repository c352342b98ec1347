//! `clickday serve` / `clickday gateway`: run until SIGINT or SIGTERM, then
//! drain. (`serve` will also run the persister once it exists.)

use clickday_config::Config;
use tokio_util::sync::CancellationToken;

pub async fn run(cfg: Config) -> anyhow::Result<()> {
    let store = super::open_store(&cfg).await?;
    let queue = super::open_queue(&cfg).await?;
    let shutdown = CancellationToken::new();
    let running = clickday_gateway::start(
        &cfg,
        queue,
        store,
        clickday_gateway::system_clock(),
        shutdown.clone(),
    )
    .await?;
    let scheme = if cfg.gateway.tls { "https" } else { "http" };
    tracing::info!(
        url = %format!("{scheme}://{}", running.local_addr),
        cert = ?running.cert_path,
        click_days = ?cfg.calendar.days().map(|d| d.id.as_str()).collect::<Vec<_>>(),
        "clickday is serving; POST /v1/submissions"
    );
    wait_for_signal().await;
    tracing::info!("shutdown requested");
    shutdown.cancel();
    running.wait().await;
    Ok(())
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
