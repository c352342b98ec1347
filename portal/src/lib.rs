//! The web portal: registration with email confirmation, sign-in, and the
//! online compilation of applications, server-rendered so the core flows
//! work without JavaScript.
//!
//! `visitor` works out who is asking (language, session, CSRF token) for
//! every request; `account` owns registration, confirmation, sign-in and
//! password reset; `applications` owns compilation. Everything persistent
//! goes through [`PortalStore`], on SQLite or PostgreSQL alike.

// `Result<_, Response>` is how a handler's helpers answer early (a
// redirect, a refusal); its size is paid once per request.
#![allow(clippy::result_large_err)]

mod account;
mod api;
mod applications;
mod assets;
mod backoffice;
mod helpdesk;
mod home;
pub mod i18n;
mod offices;
pub mod secrets;
pub mod staff;
mod subaccounts;
mod views;
mod visitor;

use axum::Router;
use axum::routing::{get, post};
use clickday_config::{Config, PortalConfig};
use clickday_core::Calendar;
use clickday_edge::{Accepted, Activity, ConnectionBudget, Deadlines, Listener, drive};
use clickday_forms::ApplicationModel;
use clickday_store::PortalStore;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use visitor::{CSRF_COOKIE, LANG_COOKIE, SESSION_COOKIE};

/// Everything a request handler needs.
pub struct Portal {
    store: Arc<dyn PortalStore>,
    settings: PortalConfig,
    calendar: Calendar,
    /// "Now" for open click days and the forms' "today".
    clock: clickday_core::Clock,
    models: Vec<ApplicationModel>,
    views: views::Views,
    /// Sign-in attempts per client address, per (username, address) and,
    /// ten times slower to spend, per username from anywhere: a stranger's
    /// guesses spend the stranger's budgets, not the owner's (F7), and a
    /// campaign from many addresses still meets the global cap. Usernames
    /// are kept as SHA-256 of the normalised email: 32 bytes an entry,
    /// whatever a client sends (F3).
    logins_by_address: DefaultKeyedRateLimiter<std::net::IpAddr>,
    logins_by_user_and_address: DefaultKeyedRateLimiter<[u8; 32]>,
    logins_by_user: DefaultKeyedRateLimiter<[u8; 32]>,
    /// Registrations and password resets per client address: each hashes
    /// a password (F4).
    password_hashes_by_address: DefaultKeyedRateLimiter<std::net::IpAddr>,
    /// Checks since the limiters were last pruned of replenished entries.
    login_checks: std::sync::atomic::AtomicU64,
    /// Password hashes computed at once (argon2id takes 19 MiB and a core's
    /// tens of milliseconds each): a flood of forms waits its turn instead
    /// of taking the memory and the cores the gateway needs (F4).
    hashing: tokio::sync::Semaphore,
    /// SHA-256 of the mini-client builds offered for download.
    digests: Arc<home::Digests>,
}

impl Portal {
    pub fn new(cfg: &Config, store: Arc<dyn PortalStore>) -> Arc<Self> {
        Self::with_clock(cfg, store, clickday_core::system_clock())
    }

    /// [`Portal::new`] reading the time from `clock`.
    pub fn with_clock(
        cfg: &Config,
        store: Arc<dyn PortalStore>,
        clock: clickday_core::Clock,
    ) -> Arc<Self> {
        let per_minute =
            NonZeroU32::new(cfg.portal.login_attempts_per_minute).unwrap_or(NonZeroU32::MIN);
        let quota = Quota::per_minute(per_minute);
        Arc::new(Portal {
            store,
            settings: cfg.portal.clone(),
            calendar: cfg.calendar.clone(),
            clock,
            models: cfg.application_models.clone(),
            views: views::Views::new(&cfg.portal),
            logins_by_address: RateLimiter::keyed(quota),
            logins_by_user_and_address: RateLimiter::keyed(quota),
            password_hashes_by_address: RateLimiter::keyed(quota),
            logins_by_user: RateLimiter::keyed(Quota::per_minute(
                per_minute.saturating_mul(NonZeroU32::new(10).unwrap_or(NonZeroU32::MIN)),
            )),
            login_checks: std::sync::atomic::AtomicU64::new(0),
            digests: Arc::default(),
            hashing: tokio::sync::Semaphore::new(
                std::thread::available_parallelism().map_or(1, |n| n.get().min(4)),
            ),
        })
    }

    fn model(&self, category: &str) -> Option<&ApplicationModel> {
        self.models.iter().find(|m| m.category == category)
    }
}

/// The portal's routes (Italian paths: they are what users see).
pub fn router(portal: Arc<Portal>) -> Router {
    Router::new()
        .route("/", get(home::home))
        .route("/scarica", get(home::downloads))
        .route("/scarica/{name}", get(home::download))
        .route(
            "/registrazione",
            get(account::register_form).post(account::register),
        )
        .route("/conferma/{token}", get(account::confirm))
        .route("/accesso", get(account::login_form).post(account::login))
        .route("/uscita", post(account::logout))
        .route(
            "/password-dimenticata",
            get(account::forgot_form).post(account::forgot),
        )
        .route(
            "/reimposta-password/{token}",
            get(account::reset_form).post(account::reset),
        )
        .route(
            "/domande",
            get(applications::list).post(applications::create),
        )
        .route("/domande/{id}", get(applications::preview))
        .route(
            "/domande/{id}/pagine/{page}",
            get(applications::page_form).post(applications::save_page),
        )
        .route("/domande/{id}/pronta", post(applications::mark_ready))
        .route("/domande/{id}/ricevuta", get(applications::receipt))
        .route("/utenze", get(subaccounts::list).post(subaccounts::create))
        .route(
            "/utenze/importa",
            post(subaccounts::import).layer(axum::extract::DefaultBodyLimit::max(
                subaccounts::MAX_IMPORT_BYTES + 16 * 1024,
            )),
        )
        .route("/ufficio", get(backoffice::list))
        .route("/ufficio/{id}", get(backoffice::show))
        .route(
            "/ufficio/{id}/ricevuta",
            get(backoffice::receipt).post(backoffice::mark_received),
        )
        .route("/ufficio/{id}/esito", post(backoffice::record_outcome))
        .route("/uffici", get(offices::pending))
        .route("/uffici/{id}/approva", post(offices::approve))
        .route("/assistenza", get(helpdesk::list).post(helpdesk::open))
        .route("/assistenza/{id}", get(helpdesk::show))
        .route("/assistenza/{id}/{action}", post(helpdesk::act))
        .route("/static/{version}/{*path}", get(assets::serve))
        .nest("/api/v1", api_router())
        .fallback(visitor::not_found)
        .layer(axum::middleware::from_fn(visitor::cookies))
        .with_state(portal)
}

/// The JSON API (docs/openapi-portal.yaml).
fn api_router() -> Router<Arc<Portal>> {
    Router::new()
        .route("/token", post(api::token).delete(api::revoke_token))
        .route("/keys", post(api::register_key))
        .route("/applications", get(api::applications))
        .route("/applications/{id}", get(api::application))
        .route("/applications/{id}/receipt", get(api::receipt))
        .route("/office/applications", get(api::office_inbox))
        .route("/office/received", post(api::office_received))
        .fallback(api::not_found)
}

/// A started portal.
pub struct Running {
    pub local_addr: SocketAddr,
    done: JoinHandle<()>,
}

impl Running {
    /// Resolves once shutdown was requested and open requests finished.
    pub async fn wait(self) {
        let _ = self.done.await;
    }
}

/// Binds `portal.listen` and serves until `shutdown`, under the portal's
/// own connection budget and deadlines (`portal.*`): whatever its visitors
/// do, it holds at most `max_connections` descriptors, so under `serve` it
/// cannot take the ones the gateway needs.
pub async fn start(
    cfg: &Config,
    store: Arc<dyn PortalStore>,
    shutdown: CancellationToken,
) -> std::io::Result<Running> {
    let listener = tokio::net::TcpListener::bind(cfg.portal.listen).await?;
    let local_addr = listener.local_addr()?;
    let listening = Listening {
        app: router(Portal::new(cfg, store)),
        budget: ConnectionBudget::new(
            cfg.portal.connections.max_connections,
            cfg.portal.connections.max_connections_per_ip,
        ),
        deadlines: Deadlines {
            first_request: cfg.portal.connections.first_request_timeout,
            idle: cfg.portal.connections.idle_timeout,
            grace: DRAIN_GRACE,
        },
        request_timeout: cfg.portal.request_timeout,
        trusted_proxies: cfg.portal.trusted_proxies.clone(),
    };
    tracing::info!(%local_addr, public_url = %cfg.portal.public_url, "portal listening");
    let done = tokio::spawn(listening.run(listener, shutdown));
    Ok(Running { local_addr, done })
}

/// How long open requests get to finish on shutdown.
const DRAIN_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

struct Listening {
    app: Router,
    budget: Arc<ConnectionBudget>,
    deadlines: Deadlines,
    request_timeout: std::time::Duration,
    trusted_proxies: Vec<clickday_config::IpBlock>,
}

impl Listening {
    async fn run(self, listener: tokio::net::TcpListener, shutdown: CancellationToken) {
        let this = Arc::new(self);
        let listener = Listener::new(listener, this.budget.clone());
        // A trusted proxy carries every visitor: it is not counted as one.
        let counted = |ip| !this.trusted_proxies.iter().any(|b| b.contains(ip));
        loop {
            let accepted = tokio::select! {
                () = shutdown.cancelled() => break,
                accepted = listener.next(counted) => accepted,
            };
            let (stream, peer, slot) = match accepted {
                Some(Accepted::Admitted { stream, peer, slot }) => (stream, peer, slot),
                Some(Accepted::OverShare(peer)) => {
                    tracing::debug!(client.addr = %peer, "portal connection refused: address at max_connections_per_ip");
                    continue;
                }
                None => break,
            };
            let (this, shutdown) = (this.clone(), shutdown.clone());
            tokio::spawn(async move {
                let _slot = slot;
                this.serve(stream, peer, &shutdown).await;
            });
        }
        drop(listener);
        if !this.budget.drain(this.deadlines.grace).await {
            tracing::warn!("portal drain deadline passed; closing");
        }
    }

    async fn serve(
        &self,
        stream: tokio::net::TcpStream,
        peer: SocketAddr,
        shutdown: &CancellationToken,
    ) {
        let activity = Activity::new();
        let (app, request_timeout) = (self.app.clone(), self.request_timeout);
        let requests = activity.clone();
        let service =
            hyper::service::service_fn(move |mut req: http::Request<hyper::body::Incoming>| {
                req.extensions_mut()
                    .insert(axum::extract::ConnectInfo(peer));
                let busy = requests.request();
                let mut app = app.clone();
                async move {
                    let answer = tower_service::Service::call(&mut app, req);
                    let response = match tokio::time::timeout(request_timeout, answer).await {
                        Ok(Ok(response)) => response,
                        Ok(Err(never)) => match never {},
                        Err(_) => {
                            use axum::response::IntoResponse;
                            (http::StatusCode::REQUEST_TIMEOUT, "408 Request Timeout\n")
                                .into_response()
                        }
                    };
                    drop(busy);
                    Ok::<_, std::convert::Infallible>(response)
                }
            });
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(hyper_util::rt::TokioTimer::new())
            .header_read_timeout(self.deadlines.first_request)
            .keep_alive(true);
        let conn = builder.serve_connection(hyper_util::rt::TokioIo::new(stream), service);
        let (_, result) = drive(conn, &activity, self.deadlines, shutdown).await;
        if let Err(e) = result {
            tracing::debug!(client.addr = %peer, error = %e, "portal connection ended with an error");
        }
    }
}
