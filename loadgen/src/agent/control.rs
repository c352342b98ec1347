//! The controller: connects to every agent and proves the token, measures
//! each agent's clock against its own (NTP-style: the reading with the
//! shortest round trip, its midpoint), refuses an agent whose clock is off
//! or uncertain past a bound, arms every agent with its shard for one
//! instant expressed on that agent's clock, follows their progress, and
//! merges their reports onto its own clock. An agent that fails or goes
//! silent mid-run is reported as such; the others' reports still merge.

use super::{
    Assignment, FromAgent, MAX_FROM_AGENT, Role, SERVER_NAME, ToAgent, Token, WireError, exporter,
    read_message, write_message,
};
use crate::report::{self, Report};
use crate::{LoadTest, Shard, Start, Trust, WallClock};
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{BufReader, ReadHalf, WriteHalf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

/// Clock readings per agent; the one with the shortest round trip counts.
const CLOCK_READINGS: usize = 8;
/// Past this, a corrected clock offset or its uncertainty is warned about.
const CLOCK_WARN: Duration = Duration::from_millis(20);
/// An agent silent this long during a run is taken for lost (it reports
/// progress every half second).
const SILENCE: Duration = Duration::from_secs(10);
/// Connecting and proving the token.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Without `--at` or `--in`, the agents start this long after arming.
pub const DEFAULT_LEAD: Duration = Duration::from_secs(10);

/// The agents and how to hold them to one instant.
#[derive(Debug, Clone)]
pub struct Fleet {
    /// `host:port` of each agent.
    pub agents: Vec<String>,
    pub token: Token,
    /// An agent whose clock is off (or uncertain) by more than this is
    /// refused: its machine needs NTP before it can rehearse.
    pub max_clock_offset: Duration,
    /// Per-agent progress lines on the log.
    pub progress: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    #[error("agent {agent}: {what}")]
    Agent { agent: String, what: String },
    #[error("the start instant is {0:.3} s away: too close to arm every agent")]
    StartTooSoon(f64),
    #[error("no agent reported: {0}")]
    NothingReported(String),
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Merge(#[from] report::ReportError),
}

/// The agents section of a merged report.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AgentsReport {
    /// The instant every agent was armed for, on the controller's clock.
    pub start_instant: String,
    /// Latest minus earliest gate opening across the agents that reported,
    /// on the controller's clock (after each agent's clock correction).
    pub start_spread_us: u64,
    /// Half the longest clock-reading round trip: how far the correction
    /// itself may be off.
    pub clock_uncertainty_us: u64,
    pub agents: Vec<AgentRun>,
}

/// One agent's part, as the controller saw it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AgentRun {
    pub address: String,
    pub shard: Shard,
    /// The agent's clock minus the controller's.
    pub clock_offset_us: i64,
    pub round_trip_us: u64,
    /// "reported", "failed" or "lost".
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// When its gate opened, on the controller's clock.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gate_opened_at: Option<String>,
    pub requests: u64,
    pub done: u64,
    pub acknowledged: u64,
}

impl AgentsReport {
    /// Lines for the plain-text summary.
    pub fn describe(&self, out: &mut String) {
        let reported = self
            .agents
            .iter()
            .filter(|a| a.status == "reported")
            .count();
        let _ = writeln!(
            out,
            "agents: {reported} of {} reported; armed for {}; gates opened within {:.3} ms of each other (clock correction ± {:.3} ms)",
            self.agents.len(),
            self.start_instant,
            self.start_spread_us as f64 / 1000.0,
            self.clock_uncertainty_us as f64 / 1000.0,
        );
        for a in &self.agents {
            let _ = writeln!(
                out,
                "  {} shard {}: {}{} — {} of {} done, {} acknowledged; clock {:+.3} ms (round trip {:.3} ms)",
                a.address,
                a.shard,
                a.status.to_uppercase(),
                a.detail
                    .as_ref()
                    .map(|d| format!(" ({d})"))
                    .unwrap_or_default(),
                a.done,
                a.requests,
                a.acknowledged,
                a.clock_offset_us as f64 / 1000.0,
                a.round_trip_us as f64 / 1000.0,
            );
        }
    }

    /// Every agent reported.
    pub fn complete(&self) -> bool {
        self.agents.iter().all(|a| a.status == "reported")
    }
}

/// A proved control connection.
struct Session {
    address: String,
    reader: BufReader<ReadHalf<TlsStream<TcpStream>>>,
    writer: WriteHalf<TlsStream<TcpStream>>,
}

impl Session {
    async fn open(address: &str, token: &Token) -> Result<Session, FleetError> {
        let fail = |what: String| FleetError::Agent {
            agent: address.to_string(),
            what,
        };
        let config =
            clickday_transport::client_config(&Trust::Insecure).map_err(|e| fail(e.to_string()))?;
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        let name = rustls::pki_types::ServerName::try_from(SERVER_NAME).expect("a DNS name");
        let tls = tokio::time::timeout(CONNECT_TIMEOUT, async {
            let tcp = TcpStream::connect(address).await?;
            let _ = tcp.set_nodelay(true);
            connector.connect(name, tcp).await
        })
        .await
        .map_err(|_| fail(format!("no connection within {CONNECT_TIMEOUT:?}")))?
        .map_err(|e| fail(format!("cannot connect: {e}")))?;
        let exported = exporter(tls.get_ref().1).map_err(|e| fail(e.to_string()))?;
        let (reader, writer) = tokio::io::split(tls);
        let mut session = Session {
            address: address.to_string(),
            reader: BufReader::new(reader),
            writer,
        };
        session
            .send(&ToAgent::Hello {
                proof: token.prove(Role::Controller, &exported),
            })
            .await?;
        match session.receive().await? {
            FromAgent::Welcome { proof, .. } if token.verify(Role::Agent, &exported, &proof) => {
                Ok(session)
            }
            FromAgent::Welcome { .. } => Err(fail(
                "it did not prove the token: not our agent (or another token)".into(),
            )),
            FromAgent::Refused { reason } => Err(fail(format!(
                "refused the control connection: {reason} (is --token-file the agent's?)"
            ))),
            other => Err(fail(format!("unexpected answer {other:?}"))),
        }
    }

    /// Ends the session with TLS's close_notify.
    async fn close(&mut self) {
        let _ = tokio::io::AsyncWriteExt::shutdown(&mut self.writer).await;
    }

    async fn send(&mut self, message: &ToAgent) -> Result<(), FleetError> {
        write_message(&mut self.writer, message)
            .await
            .map_err(|e| self.error(e))
    }

    async fn receive(&mut self) -> Result<FromAgent, FleetError> {
        match read_message(&mut self.reader, MAX_FROM_AGENT).await {
            Ok(Some(message)) => Ok(message),
            Ok(None) => Err(self.error(WireError::Io(std::io::ErrorKind::UnexpectedEof.into()))),
            Err(e) => Err(self.error(e)),
        }
    }

    fn error(&self, e: WireError) -> FleetError {
        FleetError::Agent {
            agent: self.address.clone(),
            what: match e {
                WireError::Io(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                    "connection closed".into()
                }
                e => e.to_string(),
            },
        }
    }

    /// The agent's clock against ours: (offset, round trip), from the
    /// reading with the shortest round trip.
    async fn clock(&mut self) -> Result<(i64, u64), FleetError> {
        let mut best: Option<(i64, u64)> = None;
        for _ in 0..CLOCK_READINGS {
            let sent = WallClock::default().now();
            let local = Instant::now();
            self.send(&ToAgent::Clock).await?;
            let FromAgent::Clock { unix_nanos } = self.receive().await? else {
                return Err(self.error(WireError::Io(std::io::ErrorKind::InvalidData.into())));
            };
            let round_trip = local.elapsed().as_nanos() as u64;
            let midpoint = sent + round_trip / 2;
            let offset = unix_nanos as i64 - midpoint as i64;
            if best.is_none_or(|(_, rtt)| round_trip < rtt) {
                best = Some((offset, round_trip));
            }
        }
        Ok(best.expect("at least one reading"))
    }
}

/// How one agent's run ended.
enum End {
    Reported(Box<Report>),
    Failed(String),
    Lost(String),
}

/// An armed agent, as the controller keeps it while it runs.
struct Armed {
    address: String,
    shard: Shard,
    clock_offset: i64,
    round_trip: u64,
    seen: Arc<Seen>,
}

/// Progress an agent last reported.
#[derive(Default)]
struct Seen {
    total: AtomicU64,
    done: AtomicU64,
    acknowledged: AtomicU64,
}

/// Runs `test` split over `fleet`'s agents; the merged report (on this
/// machine's clock) with its agents section.
pub async fn run(test: &LoadTest, fleet: &Fleet) -> Result<Report, FleetError> {
    if fleet.agents.is_empty() {
        return Err(FleetError::Usage("--agents names no agent".into()));
    }
    if test.shard != Shard::WHOLE {
        return Err(FleetError::Usage(
            "--shard and --agents do not go together: the controller shards".into(),
        ));
    }
    let trust = match &test.trust {
        Some(Trust::CaFile(path)) => Some(Trust::CaPem(
            std::fs::read_to_string(path)
                .map_err(|e| FleetError::Usage(format!("--ca {}: {e}", path.display())))?,
        )),
        other => other.clone(),
    };
    // Connect and prove the token everywhere before arming anyone.
    let mut opening = tokio::task::JoinSet::new();
    for (i, address) in fleet.agents.iter().enumerate() {
        let (address, token) = (address.clone(), fleet.token.clone());
        opening.spawn(async move { (i, Session::open(&address, &token).await) });
    }
    let mut opened: Vec<(usize, Session)> = Vec::new();
    while let Some(joined) = opening.join_next().await {
        let (i, session) = joined.map_err(|e| FleetError::Usage(e.to_string()))?;
        opened.push((i, session?));
    }
    opened.sort_by_key(|(i, _)| *i);
    let mut sessions: Vec<Session> = opened.into_iter().map(|(_, s)| s).collect();
    let mut clocks = Vec::new();
    for session in &mut sessions {
        let (offset, round_trip) = session.clock().await?;
        let off = Duration::from_nanos(offset.unsigned_abs());
        let uncertainty = Duration::from_nanos(round_trip / 2);
        if off > fleet.max_clock_offset || uncertainty > fleet.max_clock_offset {
            return Err(FleetError::Agent {
                agent: session.address.clone(),
                what: format!(
                    "its clock is {:+.3} ms from this machine's (± {:.3} ms), past --max-clock-offset {:?}: synchronise it (chrony/NTP) first",
                    offset as f64 / 1e6,
                    round_trip as f64 / 2e6,
                    fleet.max_clock_offset
                ),
            });
        }
        if off > CLOCK_WARN || uncertainty > CLOCK_WARN {
            tracing::warn!(
                agent = %session.address,
                offset_ms = offset as f64 / 1e6,
                round_trip_ms = round_trip as f64 / 1e6,
                "the agent's clock is off; the start is corrected for it, but synchronise it"
            );
        }
        clocks.push((offset, round_trip));
    }
    let now = WallClock::default().now();
    let start = match test.start {
        Start::At(at) => crate::engine::unix_nanos(at),
        Start::In(d) => now + d.as_nanos() as u64,
        Start::WhenWarm => now + DEFAULT_LEAD.as_nanos() as u64,
    };
    let longest_trip = clocks.iter().map(|c| c.1).max().unwrap_or(0);
    if start < now + longest_trip {
        return Err(FleetError::StartTooSoon((start as f64 - now as f64) / 1e9));
    }
    let n = sessions.len() as u32;
    let mut followers = tokio::task::JoinSet::new();
    let mut runs = Vec::new();
    for (i, (mut session, (offset, round_trip))) in
        sessions.into_iter().zip(clocks.iter().copied()).enumerate()
    {
        let shard = Shard {
            index: i as u32,
            count: n,
        };
        let assignment = Assignment {
            targets: test.targets.clone(),
            trust: trust.clone(),
            protocol: test.protocol,
            connections: share(test.connections, n as usize, i),
            streams: test.streams,
            mode: test.mode.clone(),
            start_unix_nanos: start.saturating_add_signed(offset),
            seed: test.seed,
            accounts: test.accounts,
            shard,
            click_day: test.click_day.clone(),
            provinces: test.provinces.clone(),
            timeout_ms: test.timeout.as_millis() as u64,
            max_attempts: test.max_attempts,
        };
        session.send(&ToAgent::Run(Box::new(assignment))).await?;
        let seen = Arc::new(Seen::default());
        runs.push(Armed {
            address: session.address.clone(),
            shard,
            clock_offset: offset,
            round_trip,
            seen: seen.clone(),
        });
        followers.spawn(async move { (i, follow(session, seen).await) });
    }
    tracing::info!(
        agents = n,
        start = %clickday_core::time::format_rfc3339_nanos(start),
        "every agent armed"
    );
    let runs = Arc::new(runs);
    let ticker = fleet
        .progress
        .then(|| tokio::spawn(log_progress(runs.clone())));
    let mut ends: Vec<Option<End>> = (0..runs.len()).map(|_| None).collect();
    while let Some(joined) = followers.join_next().await {
        if let Ok((i, end)) = joined {
            ends[i] = Some(end);
        }
    }
    if let Some(ticker) = ticker {
        ticker.abort();
    }
    let mut reports = Vec::new();
    let mut agents = Vec::new();
    let mut opened = Vec::new();
    for (armed, end) in runs.iter().zip(ends) {
        let (offset, seen) = (armed.clock_offset, &armed.seen);
        let mut agent = AgentRun {
            address: armed.address.clone(),
            shard: armed.shard,
            clock_offset_us: offset / 1000,
            round_trip_us: armed.round_trip / 1000,
            status: String::new(),
            detail: None,
            gate_opened_at: None,
            requests: seen.total.load(Ordering::Relaxed),
            done: seen.done.load(Ordering::Relaxed),
            acknowledged: seen.acknowledged.load(Ordering::Relaxed),
        };
        match end.unwrap_or(End::Lost("its follower stopped".into())) {
            End::Reported(mut report) => {
                report.shift_clock(-offset);
                let gate = report.run.started_unix_nanos;
                opened.push(gate);
                agent.status = "reported".into();
                agent.gate_opened_at = Some(clickday_core::time::format_rfc3339_nanos(gate));
                agent.requests = report.totals.requests;
                agent.done = report.totals.requests;
                agent.acknowledged = report.totals.acknowledged;
                reports.push(*report);
            }
            End::Failed(why) => {
                agent.status = "failed".into();
                agent.detail = Some(why);
            }
            End::Lost(why) => {
                agent.status = "lost".into();
                agent.detail = Some(why);
            }
        }
        if agent.status != "reported" {
            tracing::error!(agent = %agent.address, status = %agent.status, detail = ?agent.detail, "an agent did not report; the merge covers the others");
        }
        agents.push(agent);
    }
    if reports.is_empty() {
        let why: Vec<String> = agents
            .iter()
            .map(|a| format!("{}: {}", a.address, a.detail.clone().unwrap_or_default()))
            .collect();
        return Err(FleetError::NothingReported(why.join("; ")));
    }
    let mut merged = report::merge(reports)?;
    let spread = match (opened.iter().min(), opened.iter().max()) {
        (Some(first), Some(last)) => (last - first) / 1000,
        _ => 0,
    };
    merged.agents = Some(AgentsReport {
        start_instant: clickday_core::time::format_rfc3339_nanos(start),
        start_spread_us: spread,
        clock_uncertainty_us: longest_trip / 2000,
        agents,
    });
    Ok(merged)
}

/// Reads an armed agent's messages until its report, a failure, or silence.
async fn follow(mut session: Session, seen: Arc<Seen>) -> End {
    loop {
        let message = match tokio::time::timeout(SILENCE, session.receive()).await {
            Err(_) => return End::Lost(format!("silent for {SILENCE:?} mid-run")),
            Ok(Err(e)) => return End::Lost(lost_detail(e, &seen)),
            Ok(Ok(message)) => message,
        };
        match message {
            FromAgent::Progress {
                total,
                done,
                acknowledged,
            } => {
                seen.total.store(total, Ordering::Relaxed);
                seen.done.store(done, Ordering::Relaxed);
                seen.acknowledged.store(acknowledged, Ordering::Relaxed);
            }
            FromAgent::Report(report) => {
                session.close().await;
                return End::Reported(report);
            }
            FromAgent::Failed { reason } | FromAgent::Refused { reason } => {
                session.close().await;
                return End::Failed(reason);
            }
            FromAgent::Clock { .. } | FromAgent::Welcome { .. } => {}
        }
    }
}

fn lost_detail(e: FleetError, seen: &Seen) -> String {
    let what = match e {
        FleetError::Agent { what, .. } => what,
        e => e.to_string(),
    };
    format!(
        "{what} mid-run, after {} of {} done",
        seen.done.load(Ordering::Relaxed),
        seen.total.load(Ordering::Relaxed)
    )
}

/// A line per agent each second while its counts move.
async fn log_progress(runs: Arc<Vec<Armed>>) {
    let mut last = vec![u64::MAX; runs.len()];
    let mut ticks = tokio::time::interval(Duration::from_secs(1));
    loop {
        ticks.tick().await;
        for (
            i,
            Armed {
                address,
                shard,
                seen,
                ..
            },
        ) in runs.iter().enumerate()
        {
            let done = seen.done.load(Ordering::Relaxed);
            if done != last[i] {
                last[i] = done;
                tracing::info!(
                    agent = %address,
                    shard = %shard,
                    done,
                    of = seen.total.load(Ordering::Relaxed),
                    acknowledged = seen.acknowledged.load(Ordering::Relaxed),
                    "agent progress"
                );
            }
        }
    }
}

/// Agent `i`'s share of `total` over `n` agents (the first ones take the
/// remainder), at least one.
fn share(total: usize, n: usize, i: usize) -> usize {
    (total / n + usize::from(i < total % n)).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_are_shared_out_whole() {
        assert_eq!(
            (0..3).map(|i| share(10, 3, i)).collect::<Vec<_>>(),
            [4, 3, 3]
        );
        assert_eq!(share(1, 2, 1), 1);
    }

    #[test]
    fn a_proof_is_bound_to_its_session_and_role() {
        let token = Token::new("0123456789abcdefghijklmnop").unwrap();
        let other = Token::new("0123456789abcdefghijklmnoq").unwrap();
        let proof = token.prove(Role::Controller, &[1; 32]);
        assert!(token.verify(Role::Controller, &[1; 32], &proof));
        assert!(!token.verify(Role::Agent, &[1; 32], &proof));
        assert!(!token.verify(Role::Controller, &[2; 32], &proof));
        assert!(!other.verify(Role::Controller, &[1; 32], &proof));
        assert!(!token.verify(Role::Controller, &[1; 32], "not base64!"));
        assert!(Token::new("short").is_err());
    }

    /// A silent flood from one address takes only its share of the
    /// agent's control connections: the controller still gets in.
    #[tokio::test]
    async fn silent_connections_from_one_address_do_not_lock_the_controller_out() {
        let token = Token::new("0123456789abcdefghijklmnop").unwrap();
        let agent =
            crate::agent::serve::Agent::bind("127.0.0.1:0", token.clone(), WallClock::default())
                .await
                .unwrap();
        let address = agent.local_addr().unwrap();
        let shutdown = tokio_util::sync::CancellationToken::new();
        tokio::spawn(agent.serve(shutdown.clone()));
        let mut silent = Vec::new();
        for _ in 0..crate::agent::serve::MAX_SESSIONS {
            let socket = tokio::net::TcpSocket::new_v4().unwrap();
            socket.bind("127.0.0.2:0".parse().unwrap()).unwrap();
            silent.push(socket.connect(address).await.unwrap());
        }
        // Accepted in order: the flood before the controller.
        let mut session = Session::open(&address.to_string(), &token).await.unwrap();
        let (_offset, round_trip) = session.clock().await.unwrap();
        assert!(round_trip < 1_000_000_000, "{round_trip}");
        shutdown.cancel();
    }
}
