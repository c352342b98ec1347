//! clickday-loadgen: rehearses a click day. Virtual mini-clients with their
//! own keys and pre-signed applications, connections opened and warmed
//! before the instant, a burst at an exact wall-clock instant (or an open-
//! model rate, or a closed loop), honest latency measurement, JSON and HTML
//! reports, shard merging, and an audit that every acknowledged submission
//! was kept.

pub mod agent;
pub mod audit;
pub mod cpu;
mod deadline;
pub mod engine;
pub mod handshakes;
pub mod html;
mod progress;
pub mod record;
pub mod report;
pub mod schedule;
pub mod workload;

pub use clickday_transport::{Protocol, Trust};
pub use engine::{Schedule, Start, WallClock};
pub use progress::Tally;
pub use report::Report;
pub use workload::Shard;

use bytes::Bytes;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What kind of load.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub enum Mode {
    /// Every application at the start instant.
    Burst { per_account: u32 },
    /// Open model at a staged arrival rate.
    Rate {
        start_per_second: f64,
        stages: Vec<schedule::Stage>,
    },
    /// Fixed concurrency (`connections × streams`) until the applications
    /// run out or `duration` passes.
    Closed {
        per_account: u32,
        duration: Option<Duration>,
    },
}

/// A whole load test, as the command line or `clickday demo` describes it.
#[derive(Debug, Clone)]
pub struct LoadTest {
    /// One gateway, or several that share the connections evenly.
    pub targets: Vec<String>,
    pub trust: Option<Trust>,
    pub protocol: Protocol,
    pub connections: usize,
    pub streams: usize,
    pub mode: Mode,
    pub start: Start,
    pub seed: u64,
    pub accounts: u32,
    pub shard: Shard,
    /// None = the first click day the gateway lists.
    pub click_day: Option<String>,
    pub provinces: Vec<String>,
    pub timeout: Duration,
    pub max_attempts: u32,
    pub progress: bool,
    /// The wall clock the start instant is read on (shifted only by
    /// agents under test).
    pub clock: WallClock,
    /// Finished requests so far, for whoever follows the run (an agent
    /// reports them to its controller).
    pub tally: Arc<Tally>,
}

#[derive(Debug, thiserror::Error)]
pub enum LoadTestError {
    #[error(transparent)]
    Transport(#[from] clickday_transport::TransportError),
    #[error(transparent)]
    Run(#[from] engine::RunError),
    #[error("{0}")]
    Workload(String),
    #[error("the gateway's click days: {0}")]
    ClickDays(String),
}

/// Prepares (click day, workload, signatures), runs and reports.
pub async fn load_test(test: &LoadTest) -> Result<Report, LoadTestError> {
    let mut targets = Vec::with_capacity(test.targets.len());
    for url in &test.targets {
        targets
            .push(clickday_transport::Target::new(url, test.protocol, test.trust.as_ref()).await?);
    }
    let first = targets.first().ok_or(engine::RunError::NoSenders)?;
    let (click_day, categories) = click_day(first, test.click_day.as_deref()).await?;
    let spec = workload::WorkloadSpec {
        seed: test.seed,
        accounts: test.accounts,
        shard: test.shard,
        click_day: click_day.clone(),
        categories,
        provinces: test.provinces.clone(),
    };
    let shard_accounts = test.shard.size_of(test.accounts) as usize;
    let (count, schedule, stages) = match &test.mode {
        Mode::Burst { per_account } => (
            shard_accounts * *per_account as usize,
            Schedule::Burst,
            None,
        ),
        Mode::Closed {
            per_account,
            duration,
        } => (
            shard_accounts * *per_account as usize,
            Schedule::Closed {
                duration: *duration,
            },
            None,
        ),
        Mode::Rate {
            start_per_second,
            stages,
        } => {
            let mut offsets = schedule::arrivals(*start_per_second, stages);
            // Each shard sends every n-th arrival, so together they keep the rate.
            if test.shard.count > 1 {
                offsets = offsets
                    .into_iter()
                    .skip(test.shard.index as usize)
                    .step_by(test.shard.count as usize)
                    .collect();
            }
            (
                offsets.len(),
                Schedule::Rate(Arc::new(offsets)),
                Some(stages.clone()),
            )
        }
    };
    let signing = Instant::now();
    let jobs = workload::build(&spec, count, test.protocol).map_err(LoadTestError::Workload)?;
    tracing::info!(
        applications = jobs.len(),
        accounts = shard_accounts,
        seconds = signing.elapsed().as_secs_f64(),
        "applications built and signed"
    );
    let start_instant = match test.start {
        Start::At(at) => Some(clickday_core::time::format_rfc3339_nanos(
            engine::unix_nanos(at),
        )),
        _ => None,
    };
    let meta = report::Meta {
        mode: match test.mode {
            Mode::Burst { .. } => "burst",
            Mode::Rate { .. } => "rate",
            Mode::Closed { .. } => "closed",
        },
        target: test.targets.join(" "),
        connections: test.connections as u64,
        streams: test.streams as u64,
        seed: test.seed,
        accounts: test.accounts,
        shard: test.shard,
        click_day,
        start_instant,
        stages,
        timeout_ms: test.timeout.as_millis() as u64,
        max_attempts: test.max_attempts,
    };
    let result = engine::run(
        engine::RunSpec {
            targets,
            connections: test.connections,
            streams: test.streams,
            schedule,
            start: test.start,
            timeout: test.timeout,
            max_attempts: test.max_attempts,
            progress: test.progress,
            clock: test.clock,
            tally: test.tally.clone(),
        },
        Arc::new(jobs),
    )
    .await?;
    Ok(Report::new(meta, result))
}

/// Reads `GET /v1/click-days` and picks `wanted` (or the first).
async fn click_day(
    target: &clickday_transport::Target,
    wanted: Option<&str>,
) -> Result<(String, Vec<String>), LoadTestError> {
    #[derive(serde::Deserialize)]
    struct Day {
        id: String,
        categories: Vec<String>,
    }
    let gate = Arc::new(clickday_transport::Gate::new(Instant::now()));
    let conn = target.connect(gate).await?;
    let req = http::Request::get(target.uri("/v1/click-days"))
        .body(Bytes::new())
        .map_err(clickday_transport::TransportError::Request)?;
    let answer = conn.send(req).await?;
    if !answer.status.is_success() {
        return Err(LoadTestError::ClickDays(format!(
            "status {}",
            answer.status
        )));
    }
    let days: Vec<Day> = serde_json::from_slice(&answer.body)
        .map_err(|e| LoadTestError::ClickDays(format!("unreadable list: {e}")))?;
    let known: Vec<&str> = days.iter().map(|d| d.id.as_str()).collect();
    let day = match wanted {
        Some(id) => days.iter().find(|d| d.id == id).ok_or_else(|| {
            LoadTestError::ClickDays(format!("no click day {id:?}; the gateway lists {known:?}"))
        })?,
        None => days
            .first()
            .ok_or_else(|| LoadTestError::ClickDays("the gateway lists no click day".into()))?,
    };
    Ok((day.id.clone(), day.categories.clone()))
}
