//! `clickday-loadgen`: the command line. Parses arguments, starts the
//! runtime and hands over to the library.

use clap::{Args, Parser, Subcommand};
use clickday_loadgen::agent::Token;
use clickday_loadgen::agent::control::{self, Fleet};
use clickday_loadgen::agent::serve::Agent;
use clickday_loadgen::schedule::{parse_duration, parse_stages};
use clickday_loadgen::{
    LoadTest, Mode, Protocol, Report, Shard, Start, Trust, WallClock, audit, handshakes, html,
    report, workload,
};
use clickday_transport::Target;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// EX_USAGE: a bad argument.
const EXIT_USAGE: u8 = 64;
/// The audit found lost, duplicated or mismatched submissions.
const EXIT_AUDIT_FAILED: u8 = 3;
/// `run --agents`: an agent failed or was lost; the report merges the rest.
const EXIT_AGENT_LOST: u8 = 4;

#[derive(Parser)]
#[command(
    name = "clickday-loadgen",
    version,
    about = "Rehearses a click day: exact-instant bursts, open-model rates, honest latency, and an audit",
    after_help = "Examples:\n  clickday-loadgen accounts --seed 1 --accounts 5000 --out accounts.jsonl\n  clickday accounts import accounts.jsonl\n  clickday-loadgen burst --target https://127.0.0.1:8443 --ca ca.pem --seed 1 --accounts 5000 \\\n      --per-account 4 --connections 5000 --streams 4 --at 2026-12-01T09:00:00+01:00 --out r.json --html r.html\n  clickday-loadgen rate --target https://gw:8443 --insecure --stages 10s:1000,30s:20000,10s:0 --out r.json\n  clickday-loadgen audit --report r.json --store postgres://clickday@db/clickday\n  clickday-loadgen merge r0.json r1.json --out all.json --html all.html\n  clickday-loadgen burst --http3 --target https://gw:8443 --ca ca.pem --in 30s --per-account 2 --out h3.json\n  clickday-loadgen handshakes --http3 --target https://gw:8443 --ca ca.pem --duration 10s"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Writes the accounts of a seed as lines for `clickday accounts import`.
    Accounts {
        #[command(flatten)]
        workload: WorkloadArgs,
        /// Where to write the JSON lines ("-" = standard output).
        #[arg(long, default_value = "-")]
        out: String,
    },
    #[command(flatten)]
    Load(Load),
    /// Runs on each load machine: waits for `run --agents` to hand it its
    /// shard of a run and an instant.
    Agent {
        /// Where to listen for the controller, e.g. 0.0.0.0:7070.
        #[arg(long)]
        listen: String,
        /// The secret shared with the controller (at least 22 characters;
        /// `head -c 32 /dev/urandom | base64 > token`).
        #[arg(long)]
        token_file: PathBuf,
        /// Tests only: pretend this machine's clock is off by this many
        /// milliseconds.
        #[arg(long, hide = true, default_value_t = 0, allow_hyphen_values = true)]
        clock_offset_ms: i64,
    },
    /// Runs a burst, rate or closed load split over agents on many machines,
    /// all started at one instant, and merges their reports.
    Run {
        /// The agents, `host:port,host:port,…`.
        #[arg(long, required = true, value_delimiter = ',')]
        agents: Vec<String>,
        /// The secret shared with the agents.
        #[arg(long)]
        token_file: PathBuf,
        /// Refuse agents whose clock is further off than this (corrected
        /// offsets over 20 ms are warned about).
        #[arg(long, default_value = "500ms")]
        max_clock_offset: String,
        #[command(subcommand)]
        load: Load,
    },
    /// Connection set-up rate: open, prove with GET /v1/time, close, again.
    Handshakes {
        #[command(flatten)]
        connection: ConnectionArgs,
        /// Workers, each setting up one connection after another.
        #[arg(long, default_value_t = 32)]
        concurrency: usize,
        /// How long to keep going.
        #[arg(long, default_value = "10s")]
        duration: String,
        /// Also write the result as JSON here.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Checks a report's acknowledged submissions against the store.
    Audit {
        /// The JSON report of a run (or of a merge).
        #[arg(long)]
        report: PathBuf,
        /// The store: postgres://… or sqlite:path (read only).
        #[arg(long)]
        store: String,
    },
    /// Merges the JSON reports of shards of one run.
    Merge {
        /// The shard reports.
        #[arg(required = true)]
        reports: Vec<PathBuf>,
        #[arg(long)]
        out: PathBuf,
        /// Also write the merged HTML report here.
        #[arg(long)]
        html: Option<PathBuf>,
    },
    /// Renders the HTML report of a JSON report.
    Html {
        report: PathBuf,
        #[arg(long)]
        out: PathBuf,
    },
}

/// The load itself, run here or (under `run`) split over agents.
#[derive(Subcommand)]
enum Load {
    /// Everything at one instant (`--at` or `--in`), over connections opened before it.
    Burst {
        #[command(flatten)]
        common: Common,
        /// Applications per account.
        #[arg(long, default_value_t = 1)]
        per_account: u32,
    },
    /// Open model: arrivals at a staged rate, whatever the answers take.
    Rate {
        #[command(flatten)]
        common: Common,
        /// Stages `duration:rate,...`; each ramps linearly from the previous rate.
        #[arg(long, conflicts_with_all = ["rate", "duration"])]
        stages: Option<String>,
        /// A constant rate per second (with --duration).
        #[arg(long, requires = "duration")]
        rate: Option<f64>,
        /// How long to keep a constant --rate.
        #[arg(long)]
        duration: Option<String>,
        /// The rate the first stage ramps from.
        #[arg(long, default_value_t = 0.0)]
        start_rate: f64,
    },
    /// Closed model: connections × streams senders, each sending when its last answer came.
    Closed {
        #[command(flatten)]
        common: Common,
        /// Applications per account (the total to send).
        #[arg(long, default_value_t = 1)]
        per_account: u32,
        /// Stop sending after this long even if applications remain.
        #[arg(long)]
        duration: Option<String>,
    },
}

#[derive(Args)]
struct WorkloadArgs {
    /// Accounts, keys and applications derive from this seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Accounts across all shards.
    #[arg(long, default_value_t = 1000)]
    accounts: u32,
    /// This instance's part of the accounts, `i/n`.
    #[arg(long, default_value = "0/1")]
    shard: Shard,
}

/// Where the gateway is and how to talk to it.
#[derive(Args)]
struct ConnectionArgs {
    /// The gateway, e.g. https://127.0.0.1:8443; repeated for several
    /// gateways, which then share the connections evenly.
    #[arg(long, required = true)]
    target: Vec<String>,
    /// HTTP version.
    #[arg(long, value_enum, default_value = "h2")]
    protocol: Protocol,
    /// HTTP/3 over QUIC to the same port number over UDP (same as `--protocol h3`).
    #[arg(long, conflicts_with = "protocol")]
    http3: bool,
    /// Trust only the certificates in this PEM file.
    #[arg(long, conflicts_with = "insecure")]
    ca: Option<PathBuf>,
    /// Accept any certificate (throw-away gateways only).
    #[arg(long)]
    insecure: bool,
}

impl ConnectionArgs {
    fn protocol(&self) -> Protocol {
        if self.http3 {
            Protocol::Http3
        } else {
            self.protocol
        }
    }

    fn trust(&self) -> Option<Trust> {
        match (&self.ca, self.insecure) {
            (Some(ca), _) => Some(Trust::CaFile(ca.clone())),
            (None, true) => Some(Trust::Insecure),
            (None, false) => None,
        }
    }
}

#[derive(Args)]
struct Common {
    #[command(flatten)]
    connection: ConnectionArgs,
    #[command(flatten)]
    workload: WorkloadArgs,
    /// Connections, opened and warmed before the start.
    #[arg(long, default_value_t = 100)]
    connections: usize,
    /// Concurrent requests per HTTP/2 or HTTP/3 connection (HTTP/1.1: always 1).
    #[arg(long, default_value_t = 8)]
    streams: usize,
    /// Start at this RFC 3339 instant (shards given the same one fire together).
    #[arg(long, conflicts_with = "in")]
    at: Option<String>,
    /// Start this long after launch, e.g. 10s.
    #[arg(long = "in")]
    r#in: Option<String>,
    /// The click day (default: the first the gateway lists).
    #[arg(long)]
    click_day: Option<String>,
    /// Provinces the applications are spread over.
    #[arg(long, value_delimiter = ',', default_value = "RM,MI,NA,TO")]
    provinces: Vec<String>,
    /// No answer after this long: send the same bytes again.
    #[arg(long, default_value = "10s")]
    timeout: String,
    /// Attempts per application before giving up.
    #[arg(long, default_value_t = 20)]
    max_attempts: u32,
    /// Write the JSON report here.
    #[arg(long, default_value = "loadgen-report.json")]
    out: PathBuf,
    /// Write the HTML report here.
    #[arg(long)]
    html: Option<PathBuf>,
    /// No live progress display.
    #[arg(long)]
    quiet: bool,
}

/// A bad argument, named.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Usage(String);

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=error")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    // Thousands of connections need thousands of descriptors.
    clickday_edge::raise_nofile_limit();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("clickday-loadgen: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("clickday-loadgen: {e:#}");
            ExitCode::from(if e.downcast_ref::<Usage>().is_some() {
                EXIT_USAGE
            } else {
                1
            })
        }
    }
}

async fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Accounts { workload, out } => {
            let accounts = workload::accounts(workload.seed, workload.accounts, workload.shard);
            let lines: String = accounts.iter().map(|a| a.import_line() + "\n").collect();
            if out == "-" {
                print!("{lines}");
            } else {
                std::fs::write(&out, lines).map_err(|e| anyhow::anyhow!("{out}: {e}"))?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Load(load) => {
            if let Load::Burst { common, .. } = &load
                && common.at.is_none()
                && common.r#in.is_none()
            {
                return Err(
                    Usage("burst needs --at <RFC 3339 instant> or --in <duration>".into()).into(),
                );
            }
            let (common, mode) = mode_of(load)?;
            let test = test_of(&common, mode)?;
            let report = clickday_loadgen::load_test(&test).await?;
            write_reports(&report, &common)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Agent {
            listen,
            token_file,
            clock_offset_ms,
        } => {
            let token = Token::read(&token_file).map_err(Usage)?;
            let clock = WallClock {
                offset_nanos: clock_offset_ms * 1_000_000,
            };
            let agent = Agent::bind(&listen, token, clock)
                .await
                .map_err(|e| Usage(e.to_string()))?;
            tracing::info!(listen = %agent.local_addr()?, "agent waiting for its controller");
            let shutdown = tokio_util::sync::CancellationToken::new();
            let stop = shutdown.clone();
            tokio::spawn(async move {
                let _ = tokio::signal::ctrl_c().await;
                stop.cancel();
            });
            agent.serve(shutdown).await;
            Ok(ExitCode::SUCCESS)
        }
        Command::Run {
            agents,
            token_file,
            max_clock_offset,
            load,
        } => {
            let fleet = Fleet {
                agents,
                token: Token::read(&token_file).map_err(Usage)?,
                max_clock_offset: parse_duration(&max_clock_offset)
                    .map_err(|e| Usage(format!("--max-clock-offset: {e}")))?,
                progress: true,
            };
            let (common, mode) = mode_of(load)?;
            let test = test_of(&common, mode)?;
            let report = match control::run(&test, &fleet).await {
                Err(control::FleetError::Usage(e)) => return Err(Usage(e).into()),
                other => other?,
            };
            write_reports(&report, &common)?;
            Ok(if report.agents.as_ref().is_some_and(|a| a.complete()) {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(EXIT_AGENT_LOST)
            })
        }
        Command::Handshakes {
            connection,
            concurrency,
            duration,
            out,
        } => {
            let duration =
                parse_duration(&duration).map_err(|e| Usage(format!("--duration: {e}")))?;
            if concurrency == 0 {
                return Err(Usage("--concurrency must be at least 1".into()).into());
            }
            let [url] = &connection.target[..] else {
                return Err(
                    Usage("handshakes measures one gateway: give one --target".into()).into(),
                );
            };
            let target = Target::new(url, connection.protocol(), connection.trust().as_ref())
                .await
                .map_err(|e| Usage(e.to_string()))?;
            let result = handshakes::measure(&target, concurrency, duration).await;
            println!("{}", result.summary());
            if let Some(out) = out {
                std::fs::write(&out, serde_json::to_vec_pretty(&result)?)
                    .map_err(|e| anyhow::anyhow!("{}: {e}", out.display()))?;
            }
            Ok(if result.established > 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Audit { report, store } => {
            let report = Report::read(&report).map_err(|e| Usage(e.to_string()))?;
            let result = audit::audit(&report, &store).await?;
            println!("{}", result.summary());
            Ok(if result.clean() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(EXIT_AUDIT_FAILED)
            })
        }
        Command::Merge { reports, out, html } => {
            let reports = reports
                .iter()
                .map(|p| Report::read(p))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| Usage(e.to_string()))?;
            let merged = report::merge(reports).map_err(|e| Usage(e.to_string()))?;
            merged.write(&out)?;
            if let Some(html_path) = html {
                write_html(&merged, &html_path)?;
            }
            print!("{}", merged.summary());
            Ok(ExitCode::SUCCESS)
        }
        Command::Html { report, out } => {
            let report = Report::read(&report).map_err(|e| Usage(e.to_string()))?;
            write_html(&report, &out)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The common arguments and the mode of a load command.
fn mode_of(load: Load) -> anyhow::Result<(Common, Mode)> {
    Ok(match load {
        Load::Burst {
            common,
            per_account,
        } => (common, Mode::Burst { per_account }),
        Load::Rate {
            common,
            stages,
            rate,
            duration,
            start_rate,
        } => {
            let (start_per_second, stages) = match (stages, rate, duration) {
                (Some(stages), _, _) => (start_rate, parse_stages(&stages).map_err(Usage)?),
                (None, Some(rate), Some(duration)) => {
                    let stage = format!("{duration}:{rate}");
                    (rate, parse_stages(&stage).map_err(Usage)?)
                }
                _ => {
                    return Err(
                        Usage("rate needs --stages or --rate with --duration".into()).into(),
                    );
                }
            };
            (
                common,
                Mode::Rate {
                    start_per_second,
                    stages,
                },
            )
        }
        Load::Closed {
            common,
            per_account,
            duration,
        } => {
            let duration = duration
                .as_deref()
                .map(parse_duration)
                .transpose()
                .map_err(Usage)?;
            (
                common,
                Mode::Closed {
                    per_account,
                    duration,
                },
            )
        }
    })
}

fn test_of(common: &Common, mode: Mode) -> anyhow::Result<LoadTest> {
    let start = match (&common.at, &common.r#in) {
        (Some(at), _) => {
            let nanos = clickday_core::time::parse_rfc3339(at)
                .map_err(|e| Usage(format!("--at {at:?}: {e}")))?;
            Start::At(std::time::UNIX_EPOCH + Duration::from_nanos(nanos))
        }
        (None, Some(d)) => Start::In(parse_duration(d).map_err(|e| Usage(format!("--in: {e}")))?),
        (None, None) => Start::WhenWarm,
    };
    Ok(LoadTest {
        targets: common.connection.target.clone(),
        trust: common.connection.trust(),
        protocol: common.connection.protocol(),
        connections: common.connections,
        streams: common.streams,
        mode,
        start,
        seed: common.workload.seed,
        accounts: common.workload.accounts,
        shard: common.workload.shard,
        click_day: common.click_day.clone(),
        provinces: common.provinces.clone(),
        timeout: parse_duration(&common.timeout).map_err(|e| Usage(format!("--timeout: {e}")))?,
        max_attempts: common.max_attempts,
        progress: !common.quiet,
        clock: Default::default(),
        tally: Default::default(),
    })
}

/// Writes the JSON (and HTML) report and prints the summary.
fn write_reports(report: &Report, common: &Common) -> anyhow::Result<()> {
    report.write(&common.out)?;
    if let Some(path) = &common.html {
        write_html(report, path)?;
    }
    print!("{}", report.summary());
    eprintln!("report: {}", common.out.display());
    Ok(())
}

fn write_html(report: &Report, path: &std::path::Path) -> anyhow::Result<()> {
    std::fs::write(path, html::render(report))
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// clap checks the argument definitions (ids named by conflicts and
    /// requirements exist) only when asked, or on first use in a debug build.
    #[test]
    fn the_command_line_is_well_formed() {
        use clap::CommandFactory as _;
        Cli::command().debug_assert();
    }
}
