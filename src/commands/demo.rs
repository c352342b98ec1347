//! `clickday demo`: a whole click day on one machine in about a minute. A
//! temporary embedded deployment (gateway + persister, SQLite, TLS), a click
//! day opening a few seconds after start, a loadgen burst from thousands of
//! pre-connected mini-clients at the opening instant, then the receipts,
//! the ranking and the audit, with the reports and samples left in a folder.

use super::serve::{Roles, start};
use anyhow::Context as _;
use clickday_config::Config;
use clickday_core::time::format_rfc3339_nanos;
use clickday_loadgen::{LoadTest, Mode, Protocol, Shard, Start, Trust};
use clickday_store::{NewAccount, RankingFilter, Store};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, UNIX_EPOCH};
use tokio_util::sync::CancellationToken;

#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Where the reports, sample receipts and emails are left.
    #[arg(long, default_value = "clickday-demo")]
    out: PathBuf,
    /// Applicant accounts (virtual mini-clients, one connection each).
    #[arg(long, default_value_t = 5_000)]
    accounts: u32,
    /// Applications per account.
    #[arg(long, default_value_t = 4)]
    per_account: u32,
    /// Seconds from start to the opening instant (connections warm up meanwhile).
    #[arg(long, default_value_t = 8)]
    lead_secs: u64,
    /// HTTP version of the mini-clients.
    #[arg(long, value_enum, default_value = "h2")]
    protocol: Protocol,
    /// Seed of the accounts and applications.
    #[arg(long, default_value_t = 2011)]
    seed: u64,
    /// No live progress display.
    #[arg(long)]
    quiet: bool,
}

/// Places per category and province: small, so the quota cut shows.
const PLACES: u32 = 100;
const CATEGORIES: [&str; 3] = [
    "lavoro-subordinato",
    "lavoro-domestico",
    "lavoro-stagionale",
];
const PROVINCES: [&str; 4] = ["RM", "MI", "NA", "TO"];
/// How long the receipts and emails may take before the demo gives up.
const DRAIN_LIMIT: Duration = Duration::from_secs(600);

pub async fn run(args: DemoArgs) -> anyhow::Result<bool> {
    let began = Instant::now();
    // The open-files limit is raised (and shared out) by serve's start.
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let data = tempfile::Builder::new()
        .prefix("clickday-demo-")
        .tempdir()?;
    let opens_at = super::now_nanos() + args.lead_secs * 1_000_000_000;
    let cfg = demo_config(data.path(), opens_at, args.accounts)?;
    throwaway_keys(&cfg)?;
    let click_day = cfg
        .calendar
        .days()
        .next()
        .context("the demo calendar has a click day")?
        .clone();

    let accounts = clickday_loadgen::workload::accounts(args.seed, args.accounts, Shard::WHOLE);
    let store = super::open_store(&cfg).await?;
    let new_accounts = accounts
        .iter()
        .map(|a| {
            Ok(NewAccount {
                account_id: a.account_id.clone(),
                email: a.email.clone(),
                public_key: clickday_core::PublicKey::from_bytes(&a.public_key())?,
            })
        })
        .collect::<Result<Vec<_>, clickday_core::SignatureError>>()?;
    store.import_accounts(&new_accounts).await?;
    println!(
        "clickday demo: {} accounts registered; click day {:?} opens at {} with {} places per category and province",
        accounts.len(),
        click_day.id,
        format_rfc3339_nanos(opens_at),
        PLACES
    );

    let shutdown = CancellationToken::new();
    let started = start(&cfg, Roles::CLICK_DAY, shutdown.clone()).await?;
    let gateway = started.gateway.as_ref().context("the gateway runs")?;
    let test = LoadTest {
        targets: vec![format!("https://localhost:{}", gateway.local_addr.port())],
        trust: gateway.cert_path.clone().map(Trust::CaFile),
        protocol: args.protocol,
        connections: accounts.len(),
        streams: args.per_account as usize,
        mode: Mode::Burst {
            per_account: args.per_account,
        },
        start: Start::At(UNIX_EPOCH + Duration::from_nanos(opens_at)),
        seed: args.seed,
        accounts: args.accounts,
        shard: Shard::WHOLE,
        click_day: Some(click_day.id.clone()),
        provinces: PROVINCES.map(String::from).to_vec(),
        timeout: Duration::from_secs(10),
        max_attempts: 20,
        progress: !args.quiet,
        clock: Default::default(),
        tally: Default::default(),
    };
    let mut report = clickday_loadgen::load_test(&test).await?;
    print!("{}", report.summary());

    let drained = wait_for_receipts_and_emails(store.as_ref(), report.totals.accepted).await?;
    // The ranking names the ledger's final checkpoint: wait for it first.
    wait_for_ledger(store.as_ref(), &click_day.id).await?;
    clickday_persister::rank_click_day(store.as_ref(), &click_day).await?;
    let verifier = super::ledger::configured_verifier(&cfg)?;
    let ledger = super::ledger::verify_store(&cfg, store.clone(), &verifier, &click_day.id).await;
    if let Ok(verified) = &ledger {
        std::fs::write(args.out.join("checkpoint.txt"), &verified.latest.note)?;
        report.ledger = Some(clickday_loadgen::report::LedgerCheck {
            checkpoint: verified.latest.note.clone(),
            checkpoint_file: Some("checkpoint.txt".into()),
            verifier_key: verifier.key().to_string(),
            findings: std::iter::once(verified.summary())
                .chain(verified.ranking.clone())
                .collect(),
        });
    }
    report.write(&args.out.join("report.json"))?;
    let audit = clickday_loadgen::audit::audit(&report, &cfg.store.to_url()).await?;
    let samples = keep_samples(store.as_ref(), &report, &cfg, &args.out).await?;
    let podium = podium(store.as_ref(), &click_day.id).await?;
    std::fs::write(
        args.out.join("report.html"),
        clickday_loadgen::html::titled_with(
            &report,
            "clickday demo: a click day on this machine, from the opening burst to the verified ranking",
            &report_sections(&report, &audit, &drained, &podium),
        ),
    )?;
    shutdown.cancel();
    started.wait().await?;

    let l = &report.latency;
    println!("\n=== clickday demo: summary ===");
    println!(
        "accepted {} of {} applications at {:.0}/s (burst at the opening instant, {} over TLS)",
        report.totals.accepted,
        report.totals.requests,
        report.totals.acknowledged_per_second,
        args.protocol.name()
    );
    println!(
        "latency from the opening instant: p50 {} p99 {} p99.9 {} max {}",
        clickday_loadgen::report::ms(l.p50_us),
        clickday_loadgen::report::ms(l.p99_us),
        clickday_loadgen::report::ms(l.p999_us),
        clickday_loadgen::report::ms(l.max_us)
    );
    let lag = &report.stamp_lag;
    println!(
        "fairness: {:.2} answers 503 per accepted application, {} admission tickets kept their first arrival; \
         stamp lag (first send -> kept stamp) p50 {} p99 {} max {}; overtaken against first sending: {}",
        report.unavailable_per_acknowledgement(),
        report.tickets.received,
        clickday_loadgen::report::ms(lag.p50_us),
        clickday_loadgen::report::ms(lag.p99_us),
        clickday_loadgen::report::ms(lag.max_us),
        audit.overtaken
    );
    println!(
        "  what it means: every application was stamped the moment it arrived; while more arrived than \
         could be made durable at once, the gateway answered 503 with a ticket carrying that stamp, \
         and the resend kept it - being turned away cost no one a place (overtaken 0)"
    );
    println!(
        "  start skew p99 {}: this one machine writes {} applications one after another from the instant; \
         a real crowd sends from many machines, so the gateway sees them closer together",
        clickday_loadgen::report::ms(report.start_skew.p99_us),
        report.totals.requests
    );
    println!(
        "stored {}, receipts made {}, emails written {}, in {:.1} s after the opening",
        drained.stored, drained.receipts, drained.emails, drained.seconds
    );
    println!(
        "audit: lost = {}, duplicates = {}, mismatched stamps = {}, rank errors = {}",
        audit.lost, audit.duplicated, audit.mismatched, audit.rank_errors
    );
    match &ledger {
        Ok(verified) => println!(
            "ledger: {} leaves, checkpoint verified, ranking = sorted leaves (clickday ledger verify {}; checkpoint.txt)",
            verified.audit.size, click_day.id
        ),
        Err(e) => println!("ledger: NOT VERIFIED: {e:#}"),
    }
    println!("first places of lavoro-domestico / RM (provisional: the click day is still open):");
    for line in &podium {
        println!("  {line}");
    }
    println!(
        "left in {}: report.html, report.json, {} receipt PDFs, {} emails (total {:.0} s)",
        args.out.display(),
        samples.0,
        samples.1,
        began.elapsed().as_secs_f64()
    );
    if !audit.clean() {
        println!("{}", audit.summary());
    }
    Ok(audit.clean() && ledger.is_ok() && report.totals.gave_up == 0)
}

/// The demo's own sections of report.html: what happened after the burst.
fn report_sections(
    report: &clickday_loadgen::report::Report,
    audit: &clickday_loadgen::audit::AuditResult,
    drained: &Drained,
    podium: &[String],
) -> Vec<clickday_loadgen::html::Section> {
    use clickday_loadgen::html::Section;
    use clickday_loadgen::report::ms;
    let row = |label: &str, value: String| (label.to_string(), value);
    let lag = &report.stamp_lag;
    vec![
        Section {
            heading: "Audit".into(),
            intro: "Every acknowledged application looked up in the store after the run: kept once, with the stamp it was acknowledged with, ranked in arrival order, and a leaf of the arrival ledger.".into(),
            rows: vec![
                row("acknowledged", audit.acknowledged.to_string()),
                row("lost", audit.lost.to_string()),
                row("duplicated", audit.duplicated.to_string()),
                row("stored with another stamp", audit.mismatched.to_string()),
                row("rank errors", audit.rank_errors.to_string()),
                row("ledger leaves", audit.ledger_leaves.to_string()),
                row("acknowledged but not in the ledger", audit.ledger_missing.to_string()),
            ],
        },
        Section {
            heading: "Fairness".into(),
            intro: "While more arrived than could be made durable at once, the gateway answered 503 with an admission ticket carrying the arrival stamp; the resend kept it. Being turned away cost no one a place.".into(),
            rows: vec![
                row("503 answers per accepted application", format!("{:.2}", report.unavailable_per_acknowledgement())),
                row("admission tickets received", report.tickets.received.to_string()),
                row("stamp lag p50 (first send to kept stamp)", ms(lag.p50_us)),
                row("stamp lag p99", ms(lag.p99_us)),
                row("stamp lag max", ms(lag.max_us)),
                row("overtaken against first sending", audit.overtaken.to_string()),
            ],
        },
        Section {
            heading: "Receipts and emails".into(),
            intro: "After ingestion, the persister signs a one-page PDF receipt for each stored application (with its proof of inclusion in the ledger) and writes its confirmation email.".into(),
            rows: vec![
                row("stored", drained.stored.to_string()),
                row("receipts made", drained.receipts.to_string()),
                row("emails written", drained.emails.to_string()),
                row("all done, seconds after the opening", format!("{:.1}", drained.seconds)),
            ],
        },
        Section {
            heading: "Ranking".into(),
            intro: "The first places of lavoro-domestico in Rome, by arrival instant (provisional: the click day is still open).".into(),
            // "  1. ID account received … within quota": the rank, the rest.
            rows: podium
                .iter()
                .filter_map(|line| line.trim().split_once(". "))
                .map(|(rank, rest)| row(rank, rest.to_string()))
                .collect(),
        },
    ]
}

/// Makes the demo system's TLS certificate, receipt key and ledger key up
/// front. A real deployment warns when it generates one ("publish its
/// public key"); for a system that lives for one run in a temporary folder
/// that warning would be noise, so it is made quietly and said once.
fn throwaway_keys(cfg: &Config) -> anyhow::Result<()> {
    tracing::subscriber::with_default(tracing::subscriber::NoSubscriber::default(), || {
        clickday_gateway::tls::ensure_self_signed(&cfg.data_dir)?;
        clickday_persister::receipts::load_or_create_key(&cfg.receipts.key_file)?;
        clickday_ledger::LogKey::load_or_create(&cfg.ledger.key_file, &cfg.ledger.origin)?;
        anyhow::Ok(())
    })?;
    tracing::info!(dir = %cfg.data_dir.display(), "demo: throw-away TLS certificate, receipt key and ledger key made");
    Ok(())
}

/// The embedded default, with the demo's click day and no per-IP limits:
/// the demo's thousands of mini-clients all come from 127.0.0.1, each with
/// its own connection.
fn demo_config(data_dir: &Path, opens_at: u64, accounts: u32) -> anyhow::Result<Config> {
    let connections = u64::from(accounts) + 1024;
    let mut text = format!(
        r#"data_dir = {data:?}
[gateway]
listen = "127.0.0.1:0"
max_connections = {connections}
max_connections_per_ip = {connections}
max_unread_bodies_per_ip = 1000000
[gateway.rate_limit]
per_ip_per_second = 0
[[click_days]]
id = "demo"
opens_at = "{opens}"
closes_at = "{closes}"
categories = {categories:?}
"#,
        data = data_dir.display().to_string(),
        opens = format_rfc3339_nanos(opens_at),
        closes = format_rfc3339_nanos(opens_at + 3_600_000_000_000),
        categories = CATEGORIES,
    );
    for category in CATEGORIES {
        for province in PROVINCES {
            text.push_str(&format!(
                "[[click_days.quotas]]\ncategory = {category:?}\nprovince = {province:?}\nplaces = {PLACES}\n"
            ));
        }
    }
    Ok(Config::from_toml(
        &text,
        std::iter::empty(),
        super::now_nanos(),
    )?)
}

struct Drained {
    stored: u64,
    receipts: u64,
    emails: u64,
    seconds: f64,
}

async fn wait_for_receipts_and_emails(store: &dyn Store, accepted: u64) -> anyhow::Result<Drained> {
    let began = Instant::now();
    loop {
        let s = store.status().await?;
        let done = s.submissions >= accepted && s.without_receipt == 0 && s.unsent_emails == 0;
        if done || began.elapsed() > DRAIN_LIMIT {
            if !done {
                tracing::warn!(
                    ?s,
                    "receipts or emails still pending when the demo stopped waiting"
                );
            }
            return Ok(Drained {
                stored: s.submissions,
                receipts: s.submissions - s.without_receipt,
                emails: s.submissions - s.unsent_emails,
                seconds: began.elapsed().as_secs_f64(),
            });
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits until every stored submission of `day` is in its ledger and the
/// newest checkpoint covers them (the ledger stage signs within a second).
async fn wait_for_ledger(store: &dyn Store, day: &str) -> anyhow::Result<()> {
    let began = Instant::now();
    loop {
        let size = store.ledger_state(day).await?.map_or(0, |(size, _)| size);
        let signed = store
            .latest_checkpoint(day)
            .await?
            .map_or(0, |(size, _)| size);
        if store.unlogged_count(day).await? == 0 && signed == size {
            return Ok(());
        }
        anyhow::ensure!(
            began.elapsed() < DRAIN_LIMIT,
            "the arrival ledger did not catch up within {DRAIN_LIMIT:?} ({size} leaves, checkpoint at {signed})"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Copies three receipts and three emails next to the reports.
async fn keep_samples(
    store: &dyn Store,
    report: &clickday_loadgen::Report,
    cfg: &Config,
    out: &Path,
) -> anyhow::Result<(usize, usize)> {
    // Samples of an earlier demo would mix with this one's.
    let receipts_dir = out.join("receipts");
    let _ = std::fs::remove_dir_all(&receipts_dir);
    std::fs::create_dir_all(&receipts_dir)?;
    let mut receipts = 0;
    for ack in report.acknowledged.iter().take(3) {
        if let Some(receipt) = store.receipt(&ack.submission_id).await? {
            std::fs::write(
                receipts_dir.join(format!("{}.pdf", ack.submission_id)),
                receipt.pdf,
            )?;
            receipts += 1;
        }
    }
    let emails_dir = out.join("emails");
    let _ = std::fs::remove_dir_all(&emails_dir);
    std::fs::create_dir_all(&emails_dir)?;
    let mut emails = 0;
    // The confirmations of the same three submissions as the receipts.
    if let clickday_config::EmailTransport::Files(outbox) = &cfg.email.transport {
        for ack in report.acknowledged.iter().take(3) {
            let name = format!("{}-received.eml", ack.submission_id);
            if std::fs::copy(outbox.join(&name), emails_dir.join(&name)).is_ok() {
                emails += 1;
            }
        }
    }
    Ok((receipts, emails))
}

async fn podium(store: &dyn Store, click_day: &str) -> anyhow::Result<Vec<String>> {
    let filter = RankingFilter {
        category: Some("lavoro-domestico".into()),
        province: Some("RM".into()),
    };
    let rows = store.ranking(click_day, &filter).await?;
    Ok(rows
        .iter()
        .take(5)
        .map(|r| {
            format!(
                "{:>3}. {} {} received {} {}",
                r.rank.unwrap_or(0),
                r.submission_id,
                r.account_id,
                format_rfc3339_nanos(r.received_at),
                if r.within_quota == Some(true) {
                    "within quota"
                } else {
                    ""
                }
            )
        })
        .collect())
}
