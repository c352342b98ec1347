//! Tests only: the whole system inside the test process, on one
//! configuration — queue and store opened from it, then the parts a test
//! asks for (gateway, persister, portal), all stopped by one token (at the
//! latest on drop). Shared by the root end-to-end tests and the
//! mini-client's; testkit cannot hold it, since the crates it starts test
//! themselves with testkit.

#![allow(clippy::unwrap_used)] // test harness: a failed unwrap is a failed test

use clickday_config::Config;
use clickday_queue::Queue;
use clickday_store::PortalStore;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub struct System {
    pub cfg: Config,
    pub queue: Arc<dyn Queue>,
    pub store: Arc<dyn PortalStore>,
    pub gateway: Option<clickday_gateway::Running>,
    pub portal: Option<clickday_portal::Running>,
    persister: Option<JoinHandle<Result<(), clickday_persister::PersisterError>>>,
    pub shutdown: CancellationToken,
    /// The data directory, removed with the system when it is the owner.
    dir: Option<tempfile::TempDir>,
}

impl System {
    /// Opens (creating and migrating) the queue and the store of `cfg`.
    pub async fn open(cfg: Config) -> System {
        let queue = clickday_queue::open(&cfg.queue.url.to_url(), &(&cfg.queue).into())
            .await
            .unwrap();
        let store = clickday_store::open_portal(&cfg.store.to_url())
            .await
            .unwrap();
        System {
            cfg,
            queue,
            store,
            gateway: None,
            portal: None,
            persister: None,
            shutdown: CancellationToken::new(),
            dir: None,
        }
    }

    /// Removes `dir` (the configuration's data directory) when dropped.
    pub fn owning(mut self, dir: tempfile::TempDir) -> System {
        self.dir = Some(dir);
        self
    }

    /// Starts the gateway on the system clock; returns once its keys are
    /// loaded, so the accounts imported before are known to it.
    pub async fn with_gateway(self) -> System {
        self.with_gateway_clock(clickday_core::system_clock()).await
    }

    /// [`System::with_gateway`] with the gateway reading `clock` (e.g. one
    /// running ahead of the test machine's).
    pub async fn with_gateway_clock(mut self, clock: clickday_core::Clock) -> System {
        let running = clickday_gateway::start(
            &self.cfg,
            self.queue.clone(),
            self.store.clone(),
            clock,
            self.shutdown.clone(),
        )
        .await
        .unwrap();
        clickday_testkit::eventually(
            "the gateway's keys",
            std::time::Duration::from_secs(10),
            async || running.gateway.keys().is_loaded().then_some(()),
        )
        .await;
        self.gateway = Some(running);
        self
    }

    /// Starts the persister. Its clock stands at 0, so it never ranks a
    /// click day by itself: tests rank when they mean to.
    pub fn with_persister(mut self) -> System {
        let (cfg, queue, store, token) = (
            self.cfg.clone(),
            self.queue.clone(),
            self.store.clone(),
            self.shutdown.clone(),
        );
        self.persister = Some(tokio::spawn(async move {
            let clock: clickday_core::Clock = Arc::new(|| 0);
            clickday_persister::run(&cfg, queue, store, clock, token).await
        }));
        self
    }

    /// Starts the portal on `portal.listen`.
    /// With a gateway on a port picked by the system, the portal hands out
    /// that port (`portal.gateway_url` derived from `gateway.listen` would
    /// say port 0).
    pub async fn with_portal(mut self) -> System {
        if self.gateway.is_some() && self.cfg.gateway.listen.port() == 0 {
            self.cfg.portal.gateway_url = self.gateway_url();
        }
        let running = clickday_portal::start(&self.cfg, self.store.clone(), self.shutdown.clone())
            .await
            .unwrap();
        self.portal = Some(running);
        self
    }

    fn running_gateway(&self) -> &clickday_gateway::Running {
        self.gateway.as_ref().expect("the gateway was started")
    }

    /// `http://ADDR` of the portal.
    pub fn portal_url(&self) -> String {
        let portal = self.portal.as_ref().expect("the portal was started");
        format!("http://{}", portal.local_addr)
    }

    /// The data directory the system owns (see [`System::owning`]).
    pub fn dir(&self) -> &std::path::Path {
        self.dir
            .as_ref()
            .expect("the system owns its directory")
            .path()
    }

    /// `https://localhost:PORT` of the gateway.
    pub fn gateway_url(&self) -> String {
        format!(
            "https://localhost:{}",
            self.running_gateway().local_addr.port()
        )
    }

    /// The certificate file the gateway serves (clients trust it as CA).
    pub fn gateway_ca(&self) -> PathBuf {
        self.running_gateway().cert_path.clone().unwrap()
    }

    /// Stops every part and waits for each: requests in flight finish, the
    /// persister stores and acks what it holds.
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        if let Some(gateway) = self.gateway.take() {
            gateway.wait().await;
        }
        if let Some(portal) = self.portal.take() {
            portal.wait().await;
        }
        if let Some(persister) = self.persister.take() {
            persister.await.unwrap().unwrap();
        }
    }
}

impl Drop for System {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Waits until the newest signed checkpoint of `click_day`'s arrival
/// ledger covers `size` leaves (the persister's ledger stage caught up).
pub async fn wait_for_checkpoint(
    store: &(impl clickday_store::Ledger + ?Sized),
    click_day: &str,
    size: u64,
) {
    clickday_testkit::eventually(
        "every stored submission in a signed checkpoint",
        std::time::Duration::from_secs(60),
        async || {
            let signed = store.latest_checkpoint(click_day).await.unwrap();
            (signed.map(|(n, _)| n) == Some(size)).then_some(())
        },
    )
    .await;
}
