//! `clickday`: the operator CLI. Thin by design: parse arguments and
//! configuration, start telemetry and the runtime, hand over to a library.

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

mod commands;
mod telemetry;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// EX_USAGE from sysexits.h: bad configuration or arguments.
const EXIT_CONFIG: u8 = 64;

#[derive(Parser)]
#[command(
    name = "clickday",
    version,
    about = "Runs a click day: the gateway, the queue and the store"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs everything in one process (embedded default with no configuration).
    Serve(ConfigArg),
    /// A whole click day on this machine: gateway, persister, a burst from
    /// thousands of mini-clients at the opening instant, receipts, audit.
    Demo(commands::demo::DemoArgs),
    /// Runs the gateway alone.
    Gateway(ConfigArg),
    /// Runs the persister alone (queue to store, ranking).
    Persister(ConfigArg),
    /// Runs the web portal alone (registration, compilation, JSON API).
    Portal(ConfigArg),
    /// Ranks a click day now (idempotent: running it twice changes nothing).
    Rank {
        #[command(flatten)]
        config: ConfigArg,
        /// The click day's id.
        click_day: String,
    },
    /// Prints the ranking of a click day.
    Ranking {
        #[command(flatten)]
        config: ConfigArg,
        /// The click day's id.
        click_day: String,
        /// Only this category.
        #[arg(long)]
        category: Option<String>,
        /// Only this province (two capital letters).
        #[arg(long)]
        province: Option<String>,
    },
    /// Prints the state of the queue and the store: backlog, receipts, emails, rankings.
    Status(ConfigArg),
    /// Creates or updates the store and queue schemas, then exits.
    Migrate(ConfigArg),
    /// Manages applicant accounts and their mini-client keys.
    Accounts {
        #[command(flatten)]
        config: ConfigArg,
        #[command(subcommand)]
        action: commands::accounts::Action,
    },
    /// The arrival ledger: its public key, and the auditor's check.
    Ledger {
        #[command(flatten)]
        config: ConfigArg,
        #[command(subcommand)]
        action: commands::ledger::Action,
    },
    /// The public keys to publish, so anyone can check receipts.
    Keys {
        #[command(flatten)]
        config: ConfigArg,
        #[command(subcommand)]
        action: commands::keys::Action,
    },
    /// Loads past click days' applications (JSON Lines, or CSV by the
    /// .csv extension; see docs/operations.md) so the portal's search
    /// spans the years: all or nothing, and again changes nothing.
    ImportHistory {
        #[command(flatten)]
        config: ConfigArg,
        /// The file to import.
        file: PathBuf,
    },
    /// Manages the portal's staff: help-desk operators and offices.
    Staff {
        #[command(flatten)]
        config: ConfigArg,
        #[command(subcommand)]
        action: commands::staff::Action,
    },
}

#[derive(clap::Args)]
struct ConfigArg {
    /// TOML configuration file; CLICKDAY_* variables override it.
    #[arg(long, short, global = true, env = "CLICKDAY_CONFIG")]
    config: Option<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    telemetry::init();
    let config_path = match &cli.command {
        Command::Serve(c)
        | Command::Gateway(c)
        | Command::Persister(c)
        | Command::Portal(c)
        | Command::Migrate(c)
        | Command::Status(c) => c.config.clone(),
        Command::Accounts { config, .. }
        | Command::Staff { config, .. }
        | Command::ImportHistory { config, .. }
        | Command::Ledger { config, .. }
        | Command::Keys { config, .. }
        | Command::Rank { config, .. }
        | Command::Ranking { config, .. } => config.config.clone(),
        Command::Demo(_) => None,
    };
    // `demo` runs its own system in its own folder: nothing of it is kept here.
    let keep_demo_day = !matches!(cli.command, Command::Demo(_));
    let cfg = match commands::load_config(config_path.as_deref(), keep_demo_day) {
        Ok(cfg) => cfg,
        Err(e) => {
            eprintln!("clickday: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("clickday: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve(_) => commands::serve::run(cfg, commands::serve::Roles::ALL).await,
            Command::Demo(args) => match commands::demo::run(args).await {
                Ok(true) => Ok(()),
                Ok(false) => Err(anyhow::anyhow!(
                    "the demo failed its audit or gave up on applications (see above)"
                )),
                Err(e) => Err(e),
            },
            Command::Gateway(_) => commands::serve::run(cfg, commands::serve::Roles::GATEWAY).await,
            Command::Persister(_) => {
                commands::serve::run(cfg, commands::serve::Roles::PERSISTER).await
            }
            Command::Portal(_) => commands::serve::run(cfg, commands::serve::Roles::PORTAL).await,
            Command::Rank { click_day, .. } => commands::ranking::rank(&cfg, &click_day).await,
            Command::Ranking {
                click_day,
                category,
                province,
                ..
            } => commands::ranking::print(&cfg, &click_day, category, province).await,
            Command::Migrate(_) => commands::migrate(&cfg).await,
            Command::Status(_) => commands::status::print(&cfg).await,
            Command::Accounts { action, .. } => commands::accounts::run(&cfg, action).await,
            Command::Staff { action, .. } => commands::staff::run(&cfg, action).await,
            Command::ImportHistory { file, .. } => commands::history::import(&cfg, &file).await,
            Command::Ledger { action, .. } => commands::ledger::run(&cfg, action).await,
            Command::Keys { action, .. } => commands::keys::run(&cfg, action),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // `clickday status | head`: the reader has all it wanted.
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("clickday: {e:#}");
            ExitCode::from(
                e.downcast_ref::<commands::UsageError>()
                    .map_or(1, |_| EXIT_CONFIG),
            )
        }
    }
}

/// Whether `e` is standard output closed by its reader.
fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
