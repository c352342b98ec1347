//! `clickday ledger`: the arrival ledger's public key, and the auditor's
//! check of a click day — every checkpoint's signature and consistency,
//! the root recomputed from all leaves, and the ranking equal to the
//! leaves sorted by arrival.

use super::UsageError;
use anyhow::Context as _;
use clickday_config::Config;
use clickday_ledger::{Audit, Checkpoint, LogKey, LogVerifier, TilePath, origin_for};
use clickday_store::{RankingFilter, Store};
use std::collections::HashMap;
use std::io::Write as _;
use std::path::PathBuf;

#[derive(clap::Subcommand)]
pub enum Action {
    /// Prints the log's public (verifier) key: publish it beside the
    /// receipt key; applicants and auditors check checkpoints with it.
    Key,
    /// Checks a click day's ledger: the signature of every checkpoint, that
    /// each later one extends the earlier ones, the root recomputed from
    /// all leaves, every served tile, and (with a store) that the stored
    /// rows and the published ranking are exactly the leaves sorted by
    /// (instant, node, seq).
    Verify(VerifyArgs),
}

#[derive(clap::Args)]
pub struct VerifyArgs {
    /// The click day's id.
    click_day: String,
    /// Read the log from a gateway (https://HOST:PORT) instead of the store.
    #[arg(long)]
    from: Option<String>,
    /// The store holding the ranking to check (postgres://… or
    /// sqlite://PATH); default: the configured store, unless --from is
    /// given.
    #[arg(long)]
    store: Option<String>,
    /// The log's verifier key (name+id+key); default: derived from the
    /// configured ledger key file.
    #[arg(long)]
    key: Option<String>,
    /// Earlier checkpoints to hold the log to (from receipts or an earlier
    /// run): each must be a prefix of the newest.
    #[arg(long = "checkpoint")]
    checkpoints: Vec<PathBuf>,
    /// The certificates to trust (PEM) for --from; default: the system's
    /// certificate store.
    #[arg(long)]
    ca: Option<PathBuf>,
}

pub async fn run(cfg: &Config, action: Action) -> anyhow::Result<()> {
    match action {
        Action::Key => {
            let text = std::fs::read_to_string(&cfg.ledger.key_file).with_context(|| {
                format!(
                    "reading the ledger key {} (it is made on the persister's first start)",
                    cfg.ledger.key_file.display()
                )
            })?;
            let key = LogKey::from_text(&text)?;
            writeln!(std::io::stdout(), "{}", key.verifier_key())?;
            Ok(())
        }
        Action::Verify(args) => verify(cfg, args).await,
    }
}

/// Where the log's resources are read.
enum Source {
    Store(std::sync::Arc<dyn Store>),
    Gateway(Box<(clickday_transport::Connection, clickday_transport::Target)>),
}

impl Source {
    async fn get(&self, day: &str, resource: &str) -> anyhow::Result<Option<Vec<u8>>> {
        match self {
            Source::Store(store) => Ok(if resource == "checkpoint" {
                store
                    .latest_checkpoint(day)
                    .await?
                    .map(|(_, note)| note.into_bytes())
            } else {
                store.ledger_tile(day, resource).await?
            }),
            Source::Gateway(gateway) => {
                let (connection, target) = &**gateway;
                let uri = target.uri(&format!("/v1/ledger/{day}/{resource}"));
                // A whole log is thousands of reads: a 429 or 503 asks to
                // wait, not to give up.
                for _ in 0..10 {
                    let answer = connection
                        .send(http::Request::get(&uri).body(bytes::Bytes::new())?)
                        .await
                        .with_context(|| format!("GET {uri}"))?;
                    match answer.status.as_u16() {
                        200 => return Ok(Some(answer.body.to_vec())),
                        404 => return Ok(None),
                        429 | 503 => {
                            let wait = clickday_transport::retry::retry_after(&answer.headers);
                            tokio::time::sleep(wait).await;
                        }
                        status => anyhow::bail!("GET {uri}: {status}"),
                    }
                }
                anyhow::bail!("GET {uri}: still refused after 10 attempts")
            }
        }
    }
}

/// The outcome of a verification that passed.
pub struct Verified {
    pub latest: Checkpoint,
    pub audit: Audit,
    /// What the ranking check found, when a store was at hand.
    pub ranking: Option<String>,
}

impl Verified {
    pub fn summary(&self) -> String {
        format!(
            "ledger {}: {} leaves, {} checkpoints verified and consistent, root recomputed from every leaf, {} tiles match",
            self.latest.origin,
            self.audit.size,
            self.audit.checkpoints_checked,
            self.audit.tiles_checked
        )
    }
}

/// The verifier key from the configured ledger key file.
pub fn configured_verifier(cfg: &Config) -> anyhow::Result<LogVerifier> {
    let text = std::fs::read_to_string(&cfg.ledger.key_file).map_err(|e| {
        UsageError(format!(
            "no --key given and the ledger key {} cannot be read: {e}",
            cfg.ledger.key_file.display()
        ))
    })?;
    Ok(LogKey::from_text(&text)?.verifier())
}

/// Verifies the ledger of `day` in `store` (every stored checkpoint) and
/// the store's rows and ranking against it.
pub async fn verify_store(
    cfg: &Config,
    store: std::sync::Arc<dyn Store>,
    verifier: &LogVerifier,
    day: &str,
) -> anyhow::Result<Verified> {
    check(
        cfg,
        &Source::Store(store.clone()),
        Some(&*store),
        verifier,
        day,
        Vec::new(),
    )
    .await
}

async fn verify(cfg: &Config, args: VerifyArgs) -> anyhow::Result<()> {
    let day = &args.click_day;
    let verifier = match &args.key {
        Some(key) => LogVerifier::new(key).map_err(|e| UsageError(format!("--key: {e}")))?,
        None => configured_verifier(cfg)?,
    };
    let origin = origin_for(&cfg.ledger.origin, day);
    let store = match (&args.store, &args.from) {
        (Some(url), _) => Some(
            clickday_store::open(url)
                .await
                .with_context(|| format!("opening the store at {url}"))?,
        ),
        (None, None) => Some(super::open_store(cfg).await?),
        (None, Some(_)) => None,
    };
    let source = match &args.from {
        Some(url) => {
            let trust = Some(args.ca.clone().map_or(
                clickday_transport::Trust::System,
                clickday_transport::Trust::CaFile,
            ));
            let target = clickday_transport::Target::new(
                url,
                clickday_transport::Protocol::Http2,
                trust.as_ref(),
            )
            .await
            .with_context(|| format!("gateway {url}"))?;
            let connection = target
                .connect(std::sync::Arc::new(clickday_transport::Gate::new(
                    std::time::Instant::now(),
                )))
                .await
                .with_context(|| format!("cannot reach the gateway at {url}"))?;
            Source::Gateway(Box::new((connection, target)))
        }
        None => Source::Store(store.clone().expect("a store when not --from")),
    };
    let mut given = Vec::new();
    for path in &args.checkpoints {
        let note = std::fs::read_to_string(path)
            .map_err(|e| UsageError(format!("--checkpoint {}: {e}", path.display())))?;
        given.push(
            verifier
                .open(&note, &origin)
                .with_context(|| format!("--checkpoint {}", path.display()))?,
        );
    }
    let verified = check(cfg, &source, store.as_deref(), &verifier, day, given).await?;
    let mut out = std::io::stdout();
    writeln!(out, "{}", verified.summary())?;
    match verified.ranking {
        Some(ranking) => writeln!(out, "{ranking}")?,
        None => writeln!(out, "ranking not checked (give --store)")?,
    }
    Ok(())
}

async fn check(
    cfg: &Config,
    source: &Source,
    store: Option<&dyn Store>,
    verifier: &LogVerifier,
    day: &str,
    mut earlier: Vec<Checkpoint>,
) -> anyhow::Result<Verified> {
    let origin = origin_for(&cfg.ledger.origin, day);
    // The newest checkpoint, and every earlier one we can see.
    let note = source
        .get(day, "checkpoint")
        .await?
        .with_context(|| format!("click day {day} has no signed checkpoint yet"))?;
    let note = String::from_utf8(note).context("the checkpoint is not text")?;
    let latest = verifier
        .open(&note, &origin)
        .with_context(|| format!("checkpoint of {day}"))?;
    if let Source::Store(store) = source {
        for (size, note) in store.checkpoints(day).await? {
            if note == latest.note {
                continue;
            }
            earlier.push(
                verifier
                    .open(&note, &origin)
                    .with_context(|| format!("the stored checkpoint of size {size}"))?,
            );
        }
    }
    // Every tile and bundle of the newest tree, then the whole rebuild.
    let mut tiles: HashMap<TilePath, Vec<u8>> = HashMap::new();
    for path in Audit::paths(latest.size) {
        if let Some(data) = source.get(day, &path.to_string()).await? {
            tiles.insert(path, data);
        }
    }
    let audit = Audit::run(day, &latest, &earlier, &tiles)
        .with_context(|| format!("the ledger of {day} does not verify"))?;
    let ranking = match store {
        Some(store) => Some(check_ranking(cfg, store, day, &audit).await?),
        None => None,
    };
    Ok(Verified {
        latest,
        audit,
        ranking,
    })
}

/// The stored rows are exactly the leaves (same ids, stamps, places of
/// competition), and once ranked, each (category, province) ranks its
/// leaves in window sorted by (instant, node, seq), the quota a prefix.
async fn check_ranking(
    cfg: &Config,
    store: &dyn Store,
    day: &str,
    audit: &Audit,
) -> anyhow::Result<String> {
    let rows = store.ranking(day, &RankingFilter::default()).await?;
    let mut leaves: HashMap<&str, &clickday_ledger::Leaf> = audit
        .leaves
        .leaves
        .iter()
        .map(|l| (l.submission_id.as_str(), l))
        .collect();
    for row in &rows {
        let leaf = leaves.remove(row.submission_id.as_str()).with_context(|| {
            format!(
                "stored submission {} is not in the ledger (added after the checkpoint, or never logged)",
                row.submission_id
            )
        })?;
        let stored = (row.received_at, row.node, row.node_seq);
        anyhow::ensure!(
            stored == leaf.rank_key()
                && row.category == leaf.category
                && row.province == leaf.province,
            "submission {}: the store says {:?} in {}/{}, the ledger {:?} in {}/{}",
            row.submission_id,
            stored,
            row.category,
            row.province,
            leaf.rank_key(),
            leaf.category,
            leaf.province
        );
    }
    if let Some(id) = leaves.keys().next() {
        anyhow::bail!("submission {id} is in the ledger but missing from the store");
    }
    if store.ranked_at(day).await?.is_none() {
        return Ok(format!(
            "stored rows = leaves ({}); not ranked yet",
            rows.len()
        ));
    }
    let window = cfg
        .calendar
        .get(day)
        .map(|d| (d.opens_at, d.closes_at, d.quotas.clone()));
    let mut by_id: HashMap<&str, &clickday_store::RankedRow> =
        rows.iter().map(|r| (r.submission_id.as_str(), r)).collect();
    let mut groups = 0;
    for ((category, province), group) in audit.leaves.ranked_groups() {
        let in_window: Vec<_> = group
            .into_iter()
            .filter(|l| {
                window
                    .as_ref()
                    .is_none_or(|(o, c, _)| l.stamp.unix_nanos >= *o && l.stamp.unix_nanos < *c)
            })
            .collect();
        let places = window
            .as_ref()
            .and_then(|(_, _, q)| q.get(&(category.clone(), province.clone())).copied())
            .unwrap_or(0);
        for (i, leaf) in in_window.iter().enumerate() {
            let row = by_id
                .remove(leaf.submission_id.as_str())
                .expect("every leaf has its row (checked above)");
            let place = i as u64 + 1;
            anyhow::ensure!(
                row.rank == Some(place),
                "{category}/{province}: {} is ranked {:?}, but is number {place} by arrival in the ledger",
                leaf.submission_id,
                row.rank
            );
            anyhow::ensure!(
                window.is_none() || row.within_quota == Some(place <= u64::from(places)),
                "{category}/{province}: {} at place {place} is marked within_quota={:?} with {places} places",
                leaf.submission_id,
                row.within_quota
            );
        }
        groups += 1;
    }
    Ok(format!(
        "ranking = sorted leaves: {} stored rows, {groups} (category, province) rankings checked",
        rows.len()
    ))
}
