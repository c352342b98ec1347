//! `clickday-client`: the applicant's program. Exit codes: 0 done (for
//! `send`: every application accepted), 1 a failure explained on standard
//! error (portal or gateway unreachable, refused sign-in, …), 2 bad usage,
//! 3 `send` finished but some applications were refused for good.

use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use clap::{Parser, Subcommand};
use clickday_client::clock;
use clickday_client::home::{Home, Session};
use clickday_client::journal::{Journal, Outcome};
use clickday_client::portal::Portal;
use clickday_client::send;
use clickday_client::text::{Lang, say};
use clickday_transport::Protocol;
use clickday_transport::Trust;
use clickday_transport::{Connection, Gate, Target};
use std::collections::BTreeMap;
use std::io::{BufRead as _, IsTerminal as _};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

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
    /// (default: none; plain http:// needs none).
    #[arg(long, global = true, env = "CLICKDAY_CLIENT_CA")]
    ca: Option<PathBuf>,
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
    /// Example: clickday-client activate --portal https://portale.example.it --email mario@example.it
    Activate {
        #[arg(long)]
        portal: String,
        #[arg(long)]
        email: String,
        /// The gateway's address, kept for the other commands (opening
        /// instants, the clock, sending).
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
    /// Example: clickday-client verify-receipt ricevuta.pdf --key 3q2-7w…
    VerifyReceipt {
        file: PathBuf,
        /// The published receipt public key, base64url of 32 bytes.
        #[arg(long, env = "CLICKDAY_RECEIPT_KEY")]
        key: String,
    },
    /// Measures this computer's clock against the gateway's.
    ///
    /// Example: clickday-client clock --gateway https://invio.example.it
    Clock {
        #[arg(long)]
        gateway: String,
        /// Round trips to measure; the shortest one counts.
        #[arg(long, default_value_t = 8)]
        samples: usize,
    },
}

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
    let trust = cli.ca.map(Trust::CaFile);
    match cli.command {
        Command::Activate {
            portal,
            email,
            gateway,
        } => activate(&home, trust.as_ref(), cli.lang, &portal, &email, gateway).await,
        Command::List => list(&home, trust.as_ref(), cli.lang).await,
        Command::Send {
            click_day,
            gateway,
            protocol,
        } => {
            return send(
                &home,
                trust.as_ref(),
                cli.lang,
                click_day,
                gateway,
                protocol,
            )
            .await;
        }
        Command::Receipts { out } => receipts(&home, trust.as_ref(), cli.lang, out).await,
        Command::VerifyReceipt { file, key } => verify_receipt(cli.lang, &file, &key),
        Command::Clock { gateway, samples } => {
            clock(trust.as_ref(), cli.lang, &gateway, samples).await
        }
    }
    .map(|()| ExitCode::SUCCESS)
}

/// The password without echo on a terminal; the first line of standard
/// input otherwise (scripts, tests).
fn read_password(lang: Lang, email: &str) -> anyhow::Result<String> {
    let prompt = say(lang, "password", &[&email]);
    if std::io::stdin().is_terminal() {
        return rpassword::prompt_password(prompt).context("reading the password");
    }
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

async fn activate(
    home: &Home,
    trust: Option<&Trust>,
    lang: Lang,
    url: &str,
    email: &str,
    gateway: Option<String>,
) -> anyhow::Result<()> {
    let password = read_password(lang, email)?;
    let mut portal = Portal::connect(url, trust).await?;
    let (token, account_id) = portal.sign_in(email, &password).await?;
    let key = match home.key()? {
        Some(key) => key,
        None => home.create_key()?,
    };
    let public = URL_SAFE_NO_PAD.encode(key.verifying_key().as_bytes());
    let key_id = portal.register_key(&public).await?;
    home.save_session(&Session {
        portal: url.trim_end_matches('/').to_string(),
        email: email.to_string(),
        token,
        account_id: account_id.clone(),
        key_id: key_id.clone(),
        gateway: gateway.map(|g| g.trim_end_matches('/').to_string()),
    })?;
    println!("{key_id}");
    eprintln!("{}", say(lang, "activated", &[&key_id, &account_id]));
    Ok(())
}

async fn list(home: &Home, trust: Option<&Trust>, lang: Lang) -> anyhow::Result<()> {
    let session = home.session()?;
    let openings = match &session.gateway {
        Some(gateway) => openings(gateway, trust).await?,
        None => BTreeMap::new(),
    };
    let portal = Portal::connect(&session.portal, trust)
        .await?
        .with_token(session.token);
    let ready = portal.ready().await?;
    if ready.is_empty() {
        println!("{}", say(lang, "no_ready", &[]));
        return Ok(());
    }
    let mut by_day: BTreeMap<&str, Vec<_>> = BTreeMap::new();
    for app in &ready {
        by_day.entry(app.click_day.as_str()).or_default().push(app);
    }
    for (day, apps) in by_day {
        let opening = openings
            .get(day)
            .cloned()
            .unwrap_or_else(|| say(lang, "unknown_opening", &[]));
        println!("{}", say(lang, "click_day", &[&day, &opening, &apps.len()]));
        for app in apps {
            println!(
                "  {}  {}  {}  {}",
                app.application_id, app.category, app.province, app.worker_name
            );
        }
    }
    Ok(())
}

/// A warm HTTP/2 connection to the gateway.
async fn gateway(url: &str, trust: Option<&Trust>) -> anyhow::Result<(Target, Connection)> {
    let target = Target::new(url, Protocol::Http2, trust)
        .await
        .with_context(|| format!("gateway {url}"))?;
    let connection = target
        .connect(Arc::new(Gate::new(std::time::Instant::now())))
        .await
        .with_context(|| format!("cannot reach the gateway at {url}"))?;
    Ok((target, connection))
}

/// Click day id → opening instant, from the gateway's calendar.
async fn openings(url: &str, trust: Option<&Trust>) -> anyhow::Result<BTreeMap<String, String>> {
    let (target, connection) = gateway(url, trust).await?;
    let request = http::Request::get(target.uri("/v1/click-days")).body(bytes::Bytes::new())?;
    let answer = connection.send(request).await?;
    let days: Vec<serde_json::Value> = serde_json::from_slice(&answer.body)
        .with_context(|| format!("the gateway's calendar is not a list ({})", answer.status))?;
    Ok(days
        .iter()
        .filter_map(|d| {
            Some((
                d["id"].as_str()?.to_string(),
                d["opens_at"].as_str()?.to_string(),
            ))
        })
        .collect())
}

async fn clock(trust: Option<&Trust>, lang: Lang, url: &str, samples: usize) -> anyhow::Result<()> {
    let (target, connection) = gateway(url.trim_end_matches('/'), trust).await?;
    let estimate = clock::estimate(&connection, &target.uri("/v1/time"), samples).await?;
    let ms = |n: f64| format!("{n:+.1}");
    println!(
        "{}",
        say(
            lang,
            "clock",
            &[
                &ms(estimate.offset_nanos as f64 / 1e6),
                &format!("{:.1}", estimate.round_trip.as_secs_f64() * 1e3),
                &estimate.samples,
            ]
        )
    );
    if estimate.needs_warning() {
        eprintln!("{}", say(lang, "clock_warning", &[]));
    }
    Ok(())
}

/// A click day of the gateway's calendar, in Unix nanoseconds.
struct Day {
    id: String,
    opens_at: i64,
    closes_at: i64,
}

async fn calendar(connection: &Connection, target: &Target) -> anyhow::Result<Vec<Day>> {
    let request = http::Request::get(target.uri("/v1/click-days")).body(bytes::Bytes::new())?;
    let answer = connection.send(request).await?;
    let days: Vec<serde_json::Value> = serde_json::from_slice(&answer.body)
        .with_context(|| format!("the gateway's calendar is not a list ({})", answer.status))?;
    let instant = |v: &serde_json::Value| {
        v.as_str()
            .and_then(|t| clickday_core::time::parse_rfc3339(t).ok())
            .map(|n| n as i64)
    };
    Ok(days
        .iter()
        .filter_map(|d| {
            Some(Day {
                id: d["id"].as_str()?.to_string(),
                opens_at: instant(&d["opens_at"])?,
                closes_at: instant(&d["closes_at"])?,
            })
        })
        .collect())
}

async fn send(
    home: &Home,
    trust: Option<&Trust>,
    lang: Lang,
    click_day: Option<String>,
    gateway: Option<String>,
    protocol: Option<Protocol>,
) -> anyhow::Result<ExitCode> {
    let session = home.session()?;
    let key = home
        .key()?
        .context("this installation has no key: run `clickday-client activate` first")?;
    let gateway = gateway
        .or(session.gateway.clone())
        .context("give --gateway URL (or activate with --gateway)")?;
    let line = send::open(gateway.trim_end_matches('/'), protocol, trust).await?;
    let estimate = line.estimate;
    let days = calendar(&line.connection, &line.target).await?;
    let mut journal = Journal::load(home.dir())?;
    // The portal's list adds what is new; if it cannot be reached the
    // journal alone still holds everything signed before.
    let portal = Portal::connect(&session.portal, trust).await;
    let ready = match portal {
        Ok(portal) => portal.with_token(session.token.clone()).ready().await,
        Err(e) => Err(e),
    };
    let ready = match ready {
        Ok(ready) => ready,
        Err(e) => {
            eprintln!("{}", say(lang, "portal_unreachable", &[&format!("{e:#}")]));
            Vec::new()
        }
    };
    let now = estimate.now_nanos();
    let wanted: std::collections::BTreeSet<&str> = ready
        .iter()
        .map(|a| a.click_day.as_str())
        .chain(
            journal
                .entries
                .values()
                .filter(|e| e.outcome == Outcome::Pending)
                .map(|e| e.click_day.as_str()),
        )
        .collect();
    let day = match &click_day {
        Some(id) => days
            .iter()
            .find(|d| &d.id == id)
            .with_context(|| format!("--click-day {id:?} is not in the gateway's calendar"))?,
        None => match days
            .iter()
            .filter(|d| d.closes_at > now && wanted.contains(d.id.as_str()))
            .min_by_key(|d| d.opens_at)
        {
            Some(day) => day,
            None => {
                println!("{}", say(lang, "no_ready", &[]));
                return Ok(ExitCode::SUCCESS);
            }
        },
    };
    if day.closes_at <= now {
        anyhow::bail!("click day {} is closed", day.id);
    }
    send::prepare(
        home.dir(),
        &mut journal,
        &key,
        &session.key_id,
        &day.id,
        &ready,
    )?;
    let count = journal
        .entries
        .values()
        .filter(|e| e.click_day == day.id && e.outcome == Outcome::Pending)
        .count();
    eprintln!("{}", say(lang, "prepared", &[&count, &day.id]));
    let countdown = tokio::spawn(countdown(lang, day.opens_at, estimate));
    let printer = move |id: &str, outcome: &Outcome| println!("{}", describe(lang, id, outcome));
    let journal =
        send::send_all(home.dir(), journal, &line, &day.id, day.opens_at, printer).await?;
    countdown.abort();
    let refused = journal
        .entries
        .values()
        .filter(|e| e.click_day == day.id && matches!(e.outcome, Outcome::Refused { .. }))
        .count();
    Ok(if refused == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(3)
    })
}

/// "Invio tra N s" once a second on standard error until the opening.
async fn countdown(lang: Lang, opens_at: i64, estimate: clickday_client::clock::Estimate) {
    loop {
        let left = (opens_at - estimate.now_nanos()) / 1_000_000_000;
        if left <= 0 {
            return;
        }
        eprintln!("{}", say(lang, "countdown", &[&left]));
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
}

/// One line per application, in plain words.
fn describe(lang: Lang, id: &str, outcome: &Outcome) -> String {
    match outcome {
        Outcome::Accepted {
            submission_id,
            received_at,
            ..
        } => say(lang, "sent_ok", &[&id, submission_id, received_at]),
        Outcome::Refused { code, detail, .. } => {
            let reason = say(lang, &format!("refusal.{code}"), &[]);
            let reason = if reason.starts_with("refusal.") {
                detail.clone()
            } else {
                reason
            };
            say(lang, "refused", &[&id, &reason])
        }
        Outcome::Pending => say(lang, "pending", &[&id]),
    }
}

async fn receipts(
    home: &Home,
    trust: Option<&Trust>,
    lang: Lang,
    out: Option<PathBuf>,
) -> anyhow::Result<()> {
    let session = home.session()?;
    let journal = Journal::load(home.dir())?;
    let out = out.unwrap_or_else(|| home.dir().join("receipts"));
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let portal = Portal::connect(&session.portal, trust)
        .await?
        .with_token(session.token);
    for (id, entry) in &journal.entries {
        if !matches!(entry.outcome, Outcome::Accepted { .. }) {
            continue;
        }
        match portal.receipt(id).await? {
            Some(pdf) => {
                let path = out.join(format!("{id}.pdf"));
                std::fs::write(&path, &pdf)
                    .with_context(|| format!("writing {}", path.display()))?;
                println!("{}", say(lang, "receipt_saved", &[&id, &path.display()]));
            }
            None => println!("{}", say(lang, "receipt_pending", &[&id])),
        }
    }
    Ok(())
}

fn verify_receipt(lang: Lang, file: &std::path::Path, key: &str) -> anyhow::Result<()> {
    let pdf = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let verified = clickday_client::receipt::verify(&pdf, key)?;
    println!("{}", say(lang, "receipt_valid", &[&file.display()]));
    print!("{}", verified.statement);
    Ok(())
}
