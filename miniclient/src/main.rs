//! `clickday-client`: the applicant's program. Exit codes: 0 done (for
//! `send`: every application accepted), 1 a failure explained on standard
//! error (portal or gateway unreachable, refused sign-in, …), 2 bad usage,
//! 3 `send` finished but some applications were refused for good.

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use clickday_client::home::Home;
use clickday_client::settings::Settings;
use clickday_client::text::Lang;
use clickday_transport::Protocol;
use clickday_transport::Trust;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    after_help = "Exit codes: 0 done (send: every application accepted), 1 failure (explained), 2 bad usage, 3 send finished with some applications refused for good.",
    name = "clickday-client",
    version,
    about = "Invia le domande del click day all'istante di apertura / Sends click-day applications at the opening instant"
)]
struct Cli {
    /// Folder of this installation's key and session (default: the
    /// platform's config folder, `clickday-client` below it).
    #[arg(long, global = true, env = "CLICKDAY_CLIENT_HOME")]
    home: Option<PathBuf>,
    /// PEM file of the certificates to trust for https:// addresses
    /// (default: the certificate authorities this computer trusts, as a
    /// browser would; a gateway with a self-signed certificate, such as a
    /// local `clickday serve`, needs its cert.pem here).
    #[arg(long, global = true, env = "CLICKDAY_CLIENT_CA")]
    ca: Option<PathBuf>,
    /// The settings file from the portal's download page (default: the
    /// copy kept by `activate`, else clickday-client.toml beside the
    /// program): portal, gateway, CA and published keys, so the flags
    /// below that name them can be left out.
    #[arg(long, global = true, env = "CLICKDAY_CLIENT_SETTINGS")]
    settings: Option<PathBuf>,
    /// Language of the messages.
    #[arg(long, global = true, value_enum, default_value = "it")]
    lang: Lang,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Signs in to the portal, makes this installation's key pair and
    /// registers its public key.
    ///
    /// Example: clickday-client activate --email mario@example.it
    Activate {
        /// The portal (default: from the settings file; without one, the
        /// settings are fetched from this portal's download page).
        #[arg(long)]
        portal: Option<String>,
        #[arg(long)]
        email: String,
        /// The gateway's address, kept for the other commands (opening
        /// instants, the clock, sending); default: from the settings.
        #[arg(long)]
        gateway: Option<String>,
    },
    /// Fetches the applications marked ready on the portal, by click day.
    ///
    /// Example: clickday-client list
    List,
    /// Sends every application ready for a click day (default: the next
    /// one that opens) at its opening instant, all at once; resends the
    /// same bytes after 503, 429 and timeouts; prints one line each.
    /// Exit code 3 if some were refused for good.
    ///
    /// Example: clickday-client send --click-day 2026-03-27
    Send {
        #[arg(long)]
        click_day: Option<String>,
        /// The gateway (default: the one given to activate).
        #[arg(long)]
        gateway: Option<String>,
        /// h2 or h3 (default: HTTP/3 when the gateway offers it and UDP
        /// gets through, HTTP/2 otherwise).
        #[arg(long, value_enum)]
        protocol: Option<Protocol>,
    },
    /// Downloads the PDF receipts of the applications sent.
    ///
    /// Example: clickday-client receipts --out ./ricevute
    Receipts {
        /// Where to save them (default: `receipts` in the home folder).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Checks a receipt's signature offline with the receipt key the
    /// administration publishes (not the one printed on the receipt).
    ///
    /// Example: clickday-client verify-receipt ricevuta.pdf
    VerifyReceipt {
        file: PathBuf,
        /// The published receipt public key, base64url of 32 bytes (it may
        /// begin with '-': base64url uses it); default: from the settings.
        #[arg(long, env = "CLICKDAY_RECEIPT_KEY", allow_hyphen_values = true)]
        key: Option<String>,
        /// The arrival ledger's published public key (name+id+key): with
        /// it, the receipt's proof of inclusion is checked too; default:
        /// from the settings.
        #[arg(long, env = "CLICKDAY_LEDGER_KEY")]
        ledger_key: Option<String>,
        /// Also fetch the ledger's newest checkpoint from this gateway and
        /// check that it extends the receipt's (nothing removed or changed
        /// since): needs the ledger key.
        #[arg(long)]
        gateway: Option<String>,
    },
    /// Measures this computer's clock against the gateway's.
    ///
    /// Example: clickday-client clock
    Clock {
        /// The gateway (default: the one given to activate, else the
        /// settings').
        #[arg(long)]
        gateway: Option<String>,
        /// Round trips to measure; the shortest one counts.
        #[arg(long, default_value_t = 8)]
        samples: usize,
    },
}

mod commands;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("clickday-client: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("clickday-client: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let home = Home::locate(cli.home)?;
    let found = Settings::find(cli.settings.as_deref(), home.dir())?;
    // --ca, else the settings' CA, else the computer's own roots.
    let settings_ca = match &found {
        Some((settings, _)) => settings.ca_file(home.dir())?,
        None => None,
    };
    let trust = Some(cli.ca.or(settings_ca).map_or(Trust::System, Trust::CaFile));
    let (settings, from_file) = match found {
        Some((settings, path)) => (settings, Some(path)),
        None => (Settings::default(), None),
    };
    match cli.command {
        Command::Activate {
            portal,
            email,
            gateway,
        } => {
            let given = commands::activate::Given {
                portal,
                email,
                gateway,
                settings,
                from_file,
            };
            commands::activate::run(&home, trust.as_ref(), cli.lang, given).await
        }
        Command::List => commands::list::run(&home, trust.as_ref(), cli.lang).await,
        Command::Send {
            click_day,
            gateway,
            protocol,
        } => {
            return commands::send::run(
                &home,
                trust.as_ref(),
                cli.lang,
                click_day,
                gateway
                    .or_else(|| home.session().ok().and_then(|s| s.gateway))
                    .or(settings.gateway),
                protocol,
            )
            .await;
        }
        Command::Receipts { out } => {
            commands::receipts::run(&home, trust.as_ref(), cli.lang, out).await
        }
        Command::VerifyReceipt {
            file,
            key,
            ledger_key,
            gateway,
        } => {
            let key = key.or(settings.receipt_key).context(
                "no receipt key: give --key (the administration publishes it) or a settings file",
            )?;
            let ledger_key = ledger_key.or(settings.ledger_key);
            if gateway.is_some() && ledger_key.is_none() {
                anyhow::bail!("--gateway checks the ledger: give --ledger-key as well");
            }
            commands::receipts::verify(
                cli.lang,
                &file,
                &key,
                ledger_key.as_deref(),
                gateway.as_deref(),
                trust.as_ref(),
            )
            .await
        }
        Command::Clock { gateway, samples } => {
            let gateway = gateway
                .or_else(|| home.session().ok().and_then(|s| s.gateway))
                .or(settings.gateway)
                .context("give --gateway URL (or a settings file)")?;
            commands::clock::run(trust.as_ref(), cli.lang, &gateway, samples).await
        }
    }
    .map(|()| ExitCode::SUCCESS)
}
