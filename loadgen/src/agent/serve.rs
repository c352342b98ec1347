//! The agent: waits for its controller, proves the token both ways, answers
//! clock readings, runs one assignment at a time and streams its progress
//! and report back. A peer that has not proved the token gets nothing but
//! a refusal; a controller that goes away stops the run.

use super::{
    Assignment, FromAgent, MAX_TO_AGENT, Role, SERVER_NAME, ToAgent, Token, WireError, exporter,
    read_message, write_message,
};
use crate::{LoadTest, Start, Tally, WallClock};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, UNIX_EPOCH};
use tokio::io::{AsyncWrite, BufReader};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Control connections at once, proved or not: a flood of silent peers
/// holds at most this many descriptors and tasks.
pub(super) const MAX_SESSIONS: usize = 16;
/// Connections from one address still proving the token: one address
/// (a silent flood from one machine) cannot take every session and lock
/// the controller out; many addresses can only hold them for
/// [`HELLO_TIMEOUT`].
const MAX_PROVING_PER_ADDRESS: usize = 4;
/// A peer has this long to finish TLS and prove the token.
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);
/// How often a running agent reports its progress.
const PROGRESS_EVERY: Duration = Duration::from_millis(500);

/// A listening agent.
pub struct Agent {
    listener: TcpListener,
    tls: tokio_rustls::TlsAcceptor,
    token: Token,
    clock: WallClock,
    busy: Arc<AtomicBool>,
    proving: ProvingByAddress,
}

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("listen on {0}: {1}")]
    Listen(String, std::io::Error),
    #[error("the agent's TLS certificate: {0}")]
    Certificate(String),
}

impl Agent {
    /// Binds `listen` and makes the agent's certificate.
    pub async fn bind(listen: &str, token: Token, clock: WallClock) -> Result<Agent, AgentError> {
        let listener = TcpListener::bind(listen)
            .await
            .map_err(|e| AgentError::Listen(listen.to_string(), e))?;
        let generated = rcgen::generate_simple_self_signed(vec![SERVER_NAME.to_string()])
            .map_err(|e| AgentError::Certificate(e.to_string()))?;
        let key =
            rustls::pki_types::PrivateKeyDer::Pkcs8(generated.signing_key.serialize_der().into());
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])
            .and_then(|b| {
                b.with_no_client_auth()
                    .with_single_cert(vec![generated.cert.der().clone()], key)
            })
            .map_err(|e| AgentError::Certificate(e.to_string()))?;
        Ok(Agent {
            listener,
            tls: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
            token,
            clock,
            busy: Arc::default(),
            proving: Arc::default(),
        })
    }

    pub fn local_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves control connections until `shutdown`.
    pub async fn serve(self, shutdown: CancellationToken) {
        let sessions = Arc::new(tokio::sync::Semaphore::new(MAX_SESSIONS));
        let agent = Arc::new(self);
        loop {
            let accepted = tokio::select! {
                _ = shutdown.cancelled() => return,
                accepted = agent.listener.accept() => accepted,
            };
            let (stream, peer) = match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of descriptors and the like: wait, do not spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let Some(proving) = Proving::enter(&agent.proving, peer.ip()) else {
                tracing::warn!(%peer, "too many control connections from this address still proving the token; this one is closed");
                continue;
            };
            let Ok(permit) = sessions.clone().try_acquire_owned() else {
                tracing::warn!(%peer, "too many control connections; this one is closed");
                continue;
            };
            let agent = agent.clone();
            tokio::spawn(async move {
                if let Err(e) = agent.session(stream, proving).await {
                    tracing::warn!(%peer, error = %e, "control connection ended");
                }
                drop(permit);
            });
        }
    }

    async fn session(
        &self,
        stream: tokio::net::TcpStream,
        proving: Proving,
    ) -> Result<(), SessionError> {
        let _ = stream.set_nodelay(true);
        let (conn, hello) = tokio::time::timeout(HELLO_TIMEOUT, async {
            let mut conn = BufReader::new(self.tls.accept(stream).await?);
            let hello = read_message::<ToAgent>(&mut conn, MAX_TO_AGENT).await;
            Ok::<_, SessionError>((conn, hello))
        })
        .await
        .map_err(|_| SessionError::Silent)??;
        let exported = exporter(conn.get_ref().get_ref().1).map_err(SessionError::Tls)?;
        let (reader, mut writer) = tokio::io::split(conn);
        let mut reader = BufReader::new(reader);
        let proved = matches!(&hello, Ok(Some(ToAgent::Hello { proof }))
            if self.token.verify(Role::Controller, &exported, proof));
        if !proved {
            let refusal = FromAgent::Refused {
                reason: "the controller did not prove the token".into(),
            };
            let _ = write_message(&mut writer, &refusal).await;
            return Err(SessionError::NotProved);
        }
        drop(proving);
        let welcome = FromAgent::Welcome {
            proof: self.token.prove(Role::Agent, &exported),
            version: env!("CARGO_PKG_VERSION").into(),
        };
        write_message(&mut writer, &welcome).await?;
        tracing::info!("controller proved the token");
        while let Some(message) = read_message::<ToAgent>(&mut reader, MAX_TO_AGENT).await? {
            match message {
                ToAgent::Clock => {
                    let now = FromAgent::Clock {
                        unix_nanos: self.clock.now(),
                    };
                    write_message(&mut writer, &now).await?;
                }
                ToAgent::Hello { .. } => {
                    return Err(SessionError::Protocol("a second hello"));
                }
                ToAgent::Run(assignment) => {
                    if self.busy.swap(true, Ordering::AcqRel) {
                        let busy = FromAgent::Refused {
                            reason: "busy: this agent is running another assignment".into(),
                        };
                        write_message(&mut writer, &busy).await?;
                        continue;
                    }
                    let result = self.run(*assignment, &mut reader, &mut writer).await;
                    self.busy.store(false, Ordering::Release);
                    result?;
                }
            }
        }
        Ok(())
    }

    /// Runs `assignment`, reporting progress, then the report; stops the
    /// run if the controller goes away.
    async fn run(
        &self,
        assignment: Assignment,
        reader: &mut (impl tokio::io::AsyncBufRead + Unpin),
        writer: &mut (impl AsyncWrite + Unpin),
    ) -> Result<(), SessionError> {
        let tally = Arc::new(Tally::default());
        let test = load_test(assignment, self.clock, tally.clone());
        tracing::info!(
            shard = %test.shard,
            connections = test.connections,
            start = ?test.start,
            "armed"
        );
        let mut running = tokio::spawn(async move { crate::load_test(&test).await });
        let mut ticks = tokio::time::interval(PROGRESS_EVERY);
        let result = loop {
            tokio::select! {
                ended = &mut running => break ended,
                _ = ticks.tick() => {
                    let progress = FromAgent::Progress {
                        total: tally.total.load(Ordering::Relaxed),
                        done: tally.done.load(Ordering::Relaxed),
                        acknowledged: tally.acknowledged.load(Ordering::Relaxed),
                    };
                    if let Err(e) = write_message(writer, &progress).await {
                        running.abort();
                        return Err(e.into());
                    }
                }
                message = read_message::<ToAgent>(reader, MAX_TO_AGENT) => {
                    // Only clock readings make sense during a run; a
                    // controller that closed or garbled its side is gone.
                    match message {
                        Ok(Some(ToAgent::Clock)) => {
                            write_message(writer, &FromAgent::Clock { unix_nanos: self.clock.now() }).await?;
                        }
                        _ => {
                            running.abort();
                            tracing::warn!("the controller went away: run stopped");
                            return Err(SessionError::Protocol("controller gone mid-run"));
                        }
                    }
                }
            }
        };
        let answer = match result {
            Ok(Ok(report)) => {
                tracing::info!(
                    acknowledged = report.totals.acknowledged,
                    "run done; report sent"
                );
                FromAgent::Report(Box::new(report))
            }
            Ok(Err(e)) => FromAgent::Failed {
                reason: e.to_string(),
            },
            Err(e) => FromAgent::Failed {
                reason: format!("the run panicked: {e}"),
            },
        };
        write_message(writer, &answer).await?;
        Ok(())
    }
}

/// The load test an assignment describes, on this agent's clock.
fn load_test(a: Assignment, clock: WallClock, tally: Arc<Tally>) -> LoadTest {
    LoadTest {
        targets: a.targets,
        trust: a.trust,
        protocol: a.protocol,
        connections: a.connections,
        streams: a.streams,
        mode: a.mode,
        start: Start::At(UNIX_EPOCH + Duration::from_nanos(a.start_unix_nanos)),
        seed: a.seed,
        accounts: a.accounts,
        shard: a.shard,
        click_day: a.click_day,
        provinces: a.provinces,
        timeout: Duration::from_millis(a.timeout_ms),
        max_attempts: a.max_attempts,
        progress: false,
        clock,
        tally,
    }
}

/// Connections still proving the token, per peer address.
type ProvingByAddress = Arc<std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, usize>>>;

/// One connection's place among its address's connections still proving
/// the token; given back when dropped.
struct Proving {
    by_address: ProvingByAddress,
    address: std::net::IpAddr,
}

impl Proving {
    fn enter(by_address: &ProvingByAddress, address: std::net::IpAddr) -> Option<Proving> {
        let mut counts = by_address.lock().unwrap_or_else(|p| p.into_inner());
        let count = counts.entry(address).or_default();
        if *count >= MAX_PROVING_PER_ADDRESS {
            return None;
        }
        *count += 1;
        Some(Proving {
            by_address: by_address.clone(),
            address,
        })
    }
}

impl Drop for Proving {
    fn drop(&mut self) {
        let mut counts = self.by_address.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = counts.get_mut(&self.address) {
            *count -= 1;
            if *count == 0 {
                counts.remove(&self.address);
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
enum SessionError {
    #[error("no TLS handshake and hello within {HELLO_TIMEOUT:?}")]
    Silent,
    #[error("TLS: {0}")]
    Tls(rustls::Error),
    #[error("refused: the peer did not prove the token")]
    NotProved,
    #[error("{0}")]
    Wire(#[from] WireError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("protocol: {0}")]
    Protocol(&'static str),
}
