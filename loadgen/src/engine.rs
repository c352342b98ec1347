//! The run: connections opened and warmed before the start by one lane
//! per core (a thread with its own runtime owning its share of them), each
//! lane opening its starting gate at the exact instant by itself, and
//! `connections × streams` senders that take requests in their intended order, send them
//! like a mini-client (same bytes again after 503/429/timeouts) and record
//! everything against the intended instant.
//!
//! In a burst every sender's first request is sent before the instant into
//! a connection that holds its writes (framed, encrypted, in memory), and
//! at the instant the lane releases them, one `write` per connection in a
//! tight loop: the start is as tight as the kernel lets one thread per
//! core write.

use crate::deadline::Deadlines;
use crate::progress::Tally;
use crate::record::{Outcome, Recorder, Resend};
use crate::workload::Job;
use bytes::Bytes;
use clickday_transport::retry::{backoff, jitter, retry_after};
use clickday_transport::{Connection, Gate, Protocol, Target, TransportError};
use http::Request;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// How requests are timed.
#[derive(Debug, Clone)]
pub enum Schedule {
    /// Everything is due at the start instant.
    Burst,
    /// Open model: request k is due at the start plus `offsets[k]` ns.
    Rate(Arc<Vec<u64>>),
    /// Closed model: each sender sends its next request when the last one
    /// ended, until the requests run out or `duration` passes.
    Closed { duration: Option<Duration> },
}

/// When the run starts.
#[derive(Debug, Clone, Copy)]
pub enum Start {
    /// At this wall-clock instant (shards given the same one fire together).
    At(SystemTime),
    /// This long after the tool started.
    In(Duration),
    /// As soon as every connection is open and warm.
    WhenWarm,
}

#[derive(Debug, Clone)]
pub struct RunSpec {
    /// One gateway or several (behind no balancer): connection `i` goes to
    /// target `i mod n`, so the connections spread evenly.
    pub targets: Vec<Target>,
    pub connections: usize,
    /// Concurrent requests per connection (HTTP/2 streams; 1 for HTTP/1.1).
    pub streams: usize,
    pub schedule: Schedule,
    pub start: Start,
    /// Per attempt: no answer by then means resend.
    pub timeout: Duration,
    pub max_attempts: u32,
    /// Draw a progress display on the terminal.
    pub progress: bool,
    /// The wall clock instants are read on.
    pub clock: WallClock,
    /// Counts of finished requests, for whoever follows the run.
    pub tally: Arc<Tally>,
}

/// This machine's wall clock as a run reads it. An agent started with a
/// (test-only) offset reads it shifted, as if its clock were that far off,
/// so the controller's clock correction can be proved on one machine.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WallClock {
    pub offset_nanos: i64,
}

impl WallClock {
    /// Unix nanoseconds now.
    pub fn now(self) -> u64 {
        unix_nanos(SystemTime::now()).saturating_add_signed(self.offset_nanos)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("the start instant is {0:.3} s in the past")]
    StartInPast(f64),
    #[error("no connection could be opened: {0}")]
    NoConnection(TransportError),
    #[error("the run needs at least one connection and one stream")]
    NoSenders,
    #[error("bad target URI {0:?}")]
    BadUri(String),
}

/// Connection figures of a run.
#[derive(Debug, Default, Clone, serde::Serialize, serde::Deserialize)]
pub struct ConnectionStats {
    pub requested: u64,
    /// Open and warmed (TLS done, one GET /v1/time) when the gate opened.
    pub warm_at_start: u64,
    pub failed_to_open: u64,
    pub reopened: u64,
    /// Seconds spent opening and warming before the start.
    pub warmup_seconds: f64,
}

/// What [`run`] hands to the report.
#[derive(Debug)]
pub struct RunResult {
    pub recorder: Recorder,
    pub connections: ConnectionStats,
    /// Wall-clock Unix nanoseconds of the start instant (the gate).
    pub started_unix_nanos: u64,
    /// The instant the gate was meant to open, and when it did, in the
    /// gate's epoch nanoseconds.
    pub origin: u64,
    /// Per connection: first write after the gate − start instant, µs.
    pub first_write_skew: hdrhistogram::Histogram<u64>,
    pub protocol: Protocol,
    /// loadgen's CPU over the measurement, where it can be read.
    pub cpu: Option<crate::cpu::CpuUse>,
}

/// A connection several senders share, reopened when it fails.
struct Shared {
    target: Target,
    /// Where its submissions go.
    submissions: http::Uri,
    gate: Arc<Gate>,
    /// The current connection and its generation: read on every send, so
    /// a plain mutex held for a clone, never across an await.
    cell: Mutex<(u64, Option<Connection>)>,
    /// Held while (re)connecting, so one sender opens and the others wait.
    opening: tokio::sync::Mutex<()>,
    reopened: AtomicU64,
}

impl Shared {
    fn new(target: Target, gate: Arc<Gate>) -> Result<Shared, RunError> {
        let submissions = target
            .uri("/v1/submissions")
            .parse()
            .map_err(|_| RunError::BadUri(target.url.clone()))?;
        Ok(Shared {
            target,
            submissions,
            gate,
            cell: Mutex::new((0, None)),
            opening: tokio::sync::Mutex::new(()),
            reopened: AtomicU64::new(0),
        })
    }

    fn open_connection(&self) -> Option<(u64, Connection)> {
        let cell = self.cell.lock().unwrap_or_else(|p| p.into_inner());
        cell.1
            .as_ref()
            .filter(|c| c.is_open())
            .map(|c| (cell.0, c.clone()))
    }

    async fn get(&self) -> Result<(u64, Connection), TransportError> {
        if let Some(found) = self.open_connection() {
            return Ok(found);
        }
        let _opening = self.opening.lock().await;
        if let Some(found) = self.open_connection() {
            return Ok(found); // another sender reconnected meanwhile
        }
        let conn = self.target.connect(self.gate.clone()).await?;
        let mut cell = self.cell.lock().unwrap_or_else(|p| p.into_inner());
        if cell.0 > 0 {
            self.reopened.fetch_add(1, Ordering::Relaxed);
        }
        cell.0 += 1;
        cell.1 = Some(conn.clone());
        Ok((cell.0, conn))
    }

    /// Drops generation `generation` after a failure; later generations stay.
    fn discard(&self, generation: u64) {
        let mut cell = self.cell.lock().unwrap_or_else(|p| p.into_inner());
        if cell.0 == generation {
            cell.1 = None;
        }
    }

    /// Writes what the connection held for the gate.
    fn release(&self) {
        let cell = self.cell.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(connection) = &cell.1 {
            connection.release();
        }
    }

    fn current(&self) -> Option<Connection> {
        self.cell
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .1
            .clone()
    }
}

struct Run {
    jobs: Arc<Vec<Job>>,
    schedule: Schedule,
    timeout: Duration,
    max_attempts: u32,
    protocol: Protocol,
    gate: Arc<Gate>,
    /// Gate epoch nanoseconds of the start instant.
    origin: u64,
    /// The gate epoch on this machine's wall clock (Unix nanoseconds).
    epoch_unix: u64,
    next: AtomicUsize,
    tally: Arc<Tally>,
    recorder: Mutex<Recorder>,
}

/// Runs `jobs` against the target as `spec` says.
pub async fn run(spec: RunSpec, jobs: Arc<Vec<Job>>) -> Result<RunResult, RunError> {
    if spec.connections == 0 || spec.streams == 0 || spec.targets.is_empty() {
        return Err(RunError::NoSenders);
    }
    let protocol = spec.targets[0].protocol;
    let epoch = Instant::now();
    let epoch_unix = spec.clock.now();
    let gate = Arc::new(Gate::new(epoch));
    let planned = match spec.start {
        Start::At(at) => {
            let at = unix_nanos(at);
            if at < epoch_unix {
                return Err(RunError::StartInPast((epoch_unix - at) as f64 / 1e9));
            }
            Some(epoch + Duration::from_nanos(at - epoch_unix))
        }
        Start::In(d) => Some(epoch + d),
        Start::WhenWarm => None,
    };
    let streams = if protocol.multiplexed() {
        spec.streams
    } else {
        1
    };
    let shared: Vec<Arc<Shared>> = spec
        .targets
        .iter()
        .cycle()
        .take(spec.connections)
        .map(|target| Shared::new(target.clone(), gate.clone()).map(Arc::new))
        .collect::<Result<_, _>>()?;
    // One lane per core, each a thread with its own runtime owning its
    // share of the connections: at the instant every lane opens its own
    // gate, so no wake-up crosses threads and no task is stolen mid-burst.
    let lanes = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(shared.len());
    // Lanes are threads, not tasks: if this future is dropped (an agent's
    // controller went away), the guard tells them to stop.
    let stop = CancellationToken::new();
    let _stop_lanes_when_dropped = stop.clone().drop_guard();
    let connecting = crate::progress::Progress::connecting(spec.progress, shared.len() as u64);
    let (warmed_tx, mut warmed_rx) = tokio::sync::mpsc::unbounded_channel();
    let mut starts = Vec::with_capacity(lanes);
    let mut threads = Vec::with_capacity(lanes);
    for lane in 0..lanes {
        let group: Vec<Arc<Shared>> = shared.iter().skip(lane).step_by(lanes).cloned().collect();
        let (start_tx, start_rx) = tokio::sync::oneshot::channel();
        let (warmed, progress, stop) = (warmed_tx.clone(), connecting.clone(), stop.clone());
        let thread = std::thread::Builder::new()
            .name(format!("loadgen-lane-{lane}"))
            .spawn(move || {
                run_lane(group, streams, planned, progress, warmed, start_rx, stop);
            })
            .map_err(|e| RunError::NoConnection(TransportError::Connect(e)))?;
        starts.push(start_tx);
        threads.push(thread);
    }
    drop(warmed_tx);
    let (mut warm, mut failed, mut last_error) = (0, 0, None);
    while let Some(lane) = warmed_rx.recv().await {
        warm += lane.warm;
        failed += lane.failed;
        last_error = lane.last_error.or(last_error);
    }
    connecting.finish(warm);
    if let Some(e) = &last_error {
        tracing::warn!(failed, error = %e, "some connections could not be opened; senders will retry");
    }
    if warm == 0 && planned.is_none() {
        // Dropping the start senders sends the lanes home.
        return Err(RunError::NoConnection(last_error.unwrap_or(
            TransportError::Connect(std::io::ErrorKind::NotConnected.into()),
        )));
    }
    let warmup_seconds = epoch.elapsed().as_secs_f64();
    let start_at = planned.unwrap_or_else(|| Instant::now() + Duration::from_millis(50));
    let origin = gate.nanos(start_at);
    spec.tally.total.store(jobs.len() as u64, Ordering::Relaxed);
    let recorder = Mutex::new(Recorder::new(origin, jobs.len()));
    let run = Arc::new(Run {
        jobs,
        schedule: spec.schedule.clone(),
        timeout: spec.timeout,
        max_attempts: spec.max_attempts.max(1),
        protocol,
        gate: gate.clone(),
        origin,
        epoch_unix,
        next: AtomicUsize::new(0),
        tally: spec.tally.clone(),
        recorder,
    });
    for start in starts {
        let _ = start.send((run.clone(), start_at));
    }
    let progress = crate::progress::Progress::start(spec.progress, run.jobs.len() as u64);
    // loadgen's CPU from the start instant on, not the wait before it.
    let cpu_at_start = tokio::spawn(async move {
        tokio::time::sleep_until(start_at.into()).await;
        crate::cpu::sample()
    });
    let ticker = progress.follow(run.tally.clone());
    for thread in threads {
        let _ = tokio::task::spawn_blocking(move || thread.join()).await;
    }
    let cpu = match (cpu_at_start.await.ok().flatten(), crate::cpu::sample()) {
        (Some(start), Some(end)) => {
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
            Some(crate::cpu::between(&start, &end, cores))
        }
        _ => None,
    };
    ticker.abort();
    progress.finish(run.tally.done.load(Ordering::Relaxed));

    let mut first_write_skew = crate::record::histogram();
    for conn in &shared {
        if let Some(at) = conn.current().and_then(|c| c.first_write()) {
            let _ = first_write_skew.record(crate::record::micros(at.saturating_sub(origin)));
        }
    }
    let reopened = shared
        .iter()
        .map(|s| s.reopened.load(Ordering::Relaxed))
        .sum();
    let run = Arc::try_unwrap(run)
        .ok()
        .expect("every sender has finished");
    let mut recorder = run.recorder.into_inner().unwrap_or_else(|p| p.into_inner());
    recorder.settle();
    Ok(RunResult {
        recorder,
        connections: ConnectionStats {
            requested: spec.connections as u64,
            warm_at_start: warm,
            failed_to_open: failed,
            reopened,
            warmup_seconds,
        },
        started_unix_nanos: epoch_unix + origin,
        origin,
        first_write_skew,
        protocol: run.protocol,
        cpu,
    })
}

/// What a lane's warm-up came to.
struct Warmed {
    warm: u64,
    failed: u64,
    last_error: Option<TransportError>,
}

/// One lane: a thread with a current-thread runtime that opens and warms
/// its connections, hands back the count, waits for the run and its start
/// instant, opens its gate at the instant itself (sleeping, then spinning
/// the last 2 ms) and drives its senders to the end.
fn run_lane(
    group: Vec<Arc<Shared>>,
    streams: usize,
    deadline: Option<Instant>,
    progress: crate::progress::Progress,
    warmed: tokio::sync::mpsc::UnboundedSender<Warmed>,
    start: tokio::sync::oneshot::Receiver<(Arc<Run>, Instant)>,
    stop: CancellationToken,
) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            let _ = warmed.send(Warmed {
                warm: 0,
                failed: group.len() as u64,
                last_error: Some(TransportError::Connect(e)),
            });
            return;
        }
    };
    let lane = async move {
        let _ = warmed.send(warm_up(&group, deadline, &progress).await);
        drop(warmed);
        let Ok((run, at)) = start.await else {
            return; // the run was called off
        };
        let go = CancellationToken::new();
        // A burst's first requests are sent now into held connections
        // (QUIC's datagrams cannot be held: its senders wait for the gate).
        let hold = matches!(run.schedule, Schedule::Burst) && run.protocol != Protocol::Http3;
        let mut senders = JoinSet::new();
        for conn in &group {
            for _ in 0..streams {
                let (run, conn, go) = (run.clone(), conn.clone(), go.clone());
                senders.spawn(async move { run.sender(&conn, &go, hold).await });
            }
        }
        // The senders are polled (parked on `go`, or their first request
        // prepared and held) while this sleeps.
        let spin = Duration::from_millis(2);
        if let Some(early) = at.checked_sub(spin) {
            tokio::time::sleep_until(early.into()).await;
        }
        while Instant::now() < at {
            std::hint::spin_loop();
        }
        run.gate.open();
        for conn in &group {
            conn.release();
        }
        go.cancel();
        while senders.join_next().await.is_some() {}
    };
    runtime.block_on(async {
        tokio::select! {
            () = stop.cancelled() => {}
            () = lane => {}
        }
    });
}

/// Opens and warms a lane's connections, at most 256 handshakes at a time,
/// until done or until the start instant comes (then the rest open lazily).
async fn warm_up(
    shared: &[Arc<Shared>],
    deadline: Option<Instant>,
    progress: &crate::progress::Progress,
) -> Warmed {
    let limit = Arc::new(tokio::sync::Semaphore::new(256));
    let mut tasks = JoinSet::new();
    for conn in shared {
        let (conn, limit) = (conn.clone(), limit.clone());
        let uri = conn.target.uri("/v1/time");
        tasks.spawn(async move {
            let _permit = limit.acquire_owned().await;
            let (_, c) = conn.get().await?;
            let req = Request::get(uri).body(Bytes::new())?;
            c.send(req).await.map(|_| ())
        });
    }
    let (mut warm, mut failed, mut last_error) = (0, 0, None);
    let until = async {
        match deadline {
            Some(at) => tokio::time::sleep_until(at.into()).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(until);
    loop {
        tokio::select! {
            next = tasks.join_next() => match next {
                None => break,
                Some(Ok(Ok(()))) => { warm += 1; progress.inc(); }
                Some(Ok(Err(e))) => { failed += 1; last_error = Some(e); progress.inc(); }
                Some(Err(_)) => failed += 1,
            },
            _ = &mut until => {
                tracing::warn!(warm, of = shared.len(), "start instant reached before every connection of a lane was warm");
                tasks.detach_all();
                break;
            }
        }
    }
    Warmed {
        warm,
        failed,
        last_error,
    }
}

impl Run {
    fn now(&self) -> u64 {
        self.gate.nanos(Instant::now())
    }

    fn record<T>(&self, f: impl FnOnce(&mut Recorder) -> T) -> T {
        f(&mut self.recorder.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Sends requests until none are left. With `hold`, the first one is
    /// sent at once into the held connection (the lane releases it at the
    /// gate); everything else waits for `go`.
    async fn sender(&self, conn: &Shared, go: &CancellationToken, mut hold: bool) {
        let closed_until = match self.schedule {
            Schedule::Closed { duration: Some(d) } => Some(self.origin + d.as_nanos() as u64),
            _ => None,
        };
        if !hold {
            go.cancelled().await;
        }
        let mut deadlines = Deadlines::default();
        loop {
            let index = self.next.fetch_add(1, Ordering::Relaxed);
            let Some(job) = self.jobs.get(index) else {
                return;
            };
            let intended = match &self.schedule {
                Schedule::Burst => self.origin,
                Schedule::Rate(offsets) => self.origin + offsets.get(index).copied().unwrap_or(0),
                Schedule::Closed { .. } => {
                    let now = self.now();
                    if closed_until.is_some_and(|until| now >= until) {
                        return;
                    }
                    now
                }
            };
            let now = self.now();
            if intended > now && !hold {
                tokio::time::sleep(Duration::from_nanos(intended - now)).await;
            }
            let held = std::mem::take(&mut hold).then_some(go);
            if self
                .send_until_final(conn, index, job, intended, held, &mut deadlines)
                .await
            {
                self.tally.acknowledged.fetch_add(1, Ordering::Relaxed);
            }
            self.tally.done.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Sends `job` and sends the same bytes again, like a mini-client,
    /// until a final answer or `max_attempts`; records it all and says
    /// whether it was acknowledged. The final attempt is recorded with the
    /// outcome under one lock: the recorder is shared by every sender.
    /// `held`: the first attempt goes into a held connection before the
    /// gate, any other waits for the gate (`go`).
    async fn send_until_final(
        &self,
        conn: &Shared,
        index: usize,
        job: &Job,
        intended: u64,
        held: Option<&CancellationToken>,
        deadlines: &mut Deadlines,
    ) -> bool {
        // An admission ticket from a 503 keeps the first arrival for the
        // resends (PROTOCOL v1.1); a later 503 may bring a newer one.
        let mut ticket: Option<http::HeaderValue> = None;
        let mut first_sent: Option<u64> = None;
        for attempt in 1..=self.max_attempts {
            let first = (attempt == 1).then_some(intended);
            let (generation, connection) = match conn.get().await {
                Ok(c) => c,
                Err(e) => {
                    let at = self.now();
                    self.record(|r| {
                        r.attempt(at, first);
                        r.transport_error(&short(&e));
                        r.resend(Resend::Connection);
                    });
                    tokio::time::sleep(backoff(attempt)).await;
                    continue;
                }
            };
            let holding = attempt == 1 && held.is_some() && connection.hold();
            if let (false, Some(go)) = (holding, held) {
                go.cancelled().await;
            }
            let sent_now = self.now();
            // A held request's time starts at the gate.
            let deadline =
                self.gate.epoch + Duration::from_nanos(sent_now.max(self.origin)) + self.timeout;
            let uri = &conn.submissions;
            if ticket.is_some() {
                self.record(|r| r.tickets.resent_with += 1);
            }
            // Pinned where it is made: the exchange's future is large, and
            // moving it into the deadline's future copied it every request.
            let answer = {
                let exchange = std::pin::pin!(async {
                    match &ticket {
                        // Prepared before the run (HTTP/1.1: bytes copied).
                        None => {
                            let post = &http::Method::POST;
                            connection
                                .send_encoded(post, uri, &job.fields, &job.body)
                                .await
                        }
                        Some(ticket) => {
                            let body = job.body.clone();
                            let mut request = job.fields.request(&http::Method::POST, uri, body);
                            request.headers_mut().insert(TICKET, ticket.clone());
                            connection.send(request).await
                        }
                    }
                });
                deadlines.within(deadline.into(), exchange).await
            };
            let answered = self.now();
            let sent = match holding {
                // When the release (or a later write) put it on the wire.
                true => connection
                    .first_write()
                    .unwrap_or(self.origin)
                    .max(self.origin),
                false => sent_now,
            };
            let first_sent_unix = *first_sent.get_or_insert(self.epoch_unix + sent);
            let answer = match answer {
                None => {
                    self.record(|r| {
                        r.attempt(sent, first);
                        r.resend(Resend::Timeout);
                    });
                    // An HTTP/1.1 exchange cut short leaves the connection
                    // unusable; HTTP/2 and HTTP/3 just reset the stream.
                    if !self.protocol.multiplexed() {
                        conn.discard(generation);
                    }
                    continue;
                }
                Some(Err(e)) => {
                    self.record(|r| {
                        r.attempt(sent, first);
                        r.transport_error(&short(&e));
                        r.resend(Resend::Connection);
                    });
                    conn.discard(generation);
                    tokio::time::sleep(backoff(attempt)).await;
                    continue;
                }
                Some(Ok(answer)) => answer,
            };
            let status = answer.status.as_u16();
            // A ticket the deployment no longer honours: resend without it.
            if status == 400
                && ticket.is_some()
                && problem_code(&answer.body).as_deref() == Some("bad_ticket")
            {
                ticket = None;
                continue;
            }
            let outcome = match status {
                503 | 429 => None,
                // Copied: the body is a view of the connection's read
                // buffer, which keeping it would keep whole until the end.
                200 | 202 => Some(Outcome::Answered {
                    status,
                    body: answer.body[..].into(),
                }),
                _ => Some(Outcome::Refused {
                    status,
                    code: problem_code(&answer.body),
                }),
            };
            // Its body is read after the run (`Recorder::settle`).
            let acked = matches!(outcome, Some(Outcome::Answered { .. }));
            self.record(|r| {
                r.attempt(sent, first);
                r.answer(status, answered.saturating_sub(sent));
                match outcome {
                    Some(outcome) => r.finish(outcome, intended, answered, Some(first_sent_unix)),
                    None if status == 503 => r.resend(Resend::Unavailable),
                    None => r.resend(Resend::RateLimited),
                }
            });
            if status != 503 && status != 429 {
                return acked;
            }
            if let Some(issued) = answer.headers.value(TICKET) {
                ticket = Some(issued);
                self.record(|r| r.tickets.received += 1);
            }
            let wait = retry_after(&answer.headers);
            tokio::time::sleep(wait + jitter(wait, index, attempt)).await;
        }
        let end = self.now();
        self.record(|r| r.finish(Outcome::GaveUp, intended, end, first_sent));
        false
    }
}

/// The header carrying an admission ticket, both ways.
const TICKET: &str = "clickday-ticket";

fn problem_code(body: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Problem {
        code: String,
    }
    serde_json::from_slice::<Problem>(body).ok().map(|p| p.code)
}

/// The error's text, cut short so a report stays readable.
fn short(e: &TransportError) -> String {
    let text = e.to_string();
    text.chars().take(80).collect()
}

pub fn unix_nanos(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problem_codes_are_read_without_trusting_them() {
        assert_eq!(
            problem_code(br#"{"code":"closed","status":403}"#).as_deref(),
            Some("closed")
        );
        assert_eq!(problem_code(b"\xff\x00"), None);
    }
}
