//! The audit: every acknowledged submission of a report must be in the
//! store's `submission_ranking` view exactly once with the same arrival
//! stamp, the ranks there must follow the stamps, and the click day's
//! arrival ledger must hold a leaf for it with that stamp (the log rebuilt
//! from its leaves up to the newest checkpoint's root; the checkpoint's
//! signature is `clickday ledger verify`'s to check, with the published
//! key).

use crate::report::Report;
use clickday_core::time::format_rfc3339_nanos;
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

/// One row of the view.
#[derive(Debug, Clone)]
struct Row {
    submission_id: String,
    account_id: String,
    application_id: String,
    category: String,
    province: String,
    received_at: i64,
    node: i64,
    node_seq: i64,
    rank: Option<i64>,
    within_quota: Option<bool>,
}

#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct AuditResult {
    pub acknowledged: u64,
    /// Acknowledged but not stored.
    pub lost: u64,
    /// Stored more than once (by id, or the same account and application
    /// under two ids).
    pub duplicated: u64,
    /// Stored with another arrival stamp than the one acknowledged.
    pub mismatched: u64,
    /// Ranks that do not follow (received_at, node, sequence), or quota
    /// flags that are not a prefix of the ranking.
    pub rank_errors: u64,
    /// Rows of the click day in the store.
    pub stored_rows: u64,
    /// Stored rows not in this report (other shards, or answers lost to a
    /// timeout): informative only.
    pub not_in_report: u64,
    /// Acknowledged submissions without a leaf in the newest checkpoint of
    /// the arrival ledger.
    pub ledger_missing: u64,
    /// Leaves whose stamp is not the acknowledged one.
    pub ledger_mismatched: u64,
    /// Leaves in the newest checkpoint.
    pub ledger_leaves: u64,
    /// Ranked (category, province) groups checked; 0 = not ranked yet.
    pub ranked_groups: u64,
    /// Fairness against first sending: applications ranked behind one whose
    /// first attempt was sent more than [`OVERTAKE_MARGIN_NANOS`] later
    /// (this machine's clock). Informative: it measures the gateway's
    /// fairness under overload, not the store's integrity.
    pub overtaken: u64,
    /// The first few problems, for people.
    pub examples: Vec<String>,
}

impl AuditResult {
    pub fn clean(&self) -> bool {
        self.lost == 0
            && self.duplicated == 0
            && self.mismatched == 0
            && self.rank_errors == 0
            && self.ledger_missing == 0
            && self.ledger_mismatched == 0
    }

    pub fn summary(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "audit: {} acknowledged, {} stored rows; lost {}, duplicated {}, mismatched {}, rank errors {} ({} ranked groups); {} stored rows not in the report; overtaken against first sending {}",
            self.acknowledged,
            self.stored_rows,
            self.lost,
            self.duplicated,
            self.mismatched,
            self.rank_errors,
            self.ranked_groups,
            self.not_in_report,
            self.overtaken
        );
        let _ = writeln!(
            out,
            "audit: arrival ledger {} leaves; acknowledged without a leaf {}, leaf with another stamp {}",
            self.ledger_leaves, self.ledger_missing, self.ledger_mismatched
        );
        for e in &self.examples {
            let _ = writeln!(out, "  {e}");
        }
        let _ = write!(
            out,
            "audit: {}",
            if self.clean() { "CLEAN" } else { "FAILED" }
        );
        out
    }

    fn problem(&mut self, text: String) {
        if self.examples.len() < 10 {
            self.examples.push(text);
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("store {0}: {1}")]
    Store(String, sqlx::Error),
    #[error("--store {0:?} must be a postgres:// or sqlite: URL")]
    Url(String),
    #[error("the arrival ledger of {0}: {1}")]
    Ledger(String, String),
}

/// How long the audit waits for the arrival ledger to cover every stored
/// row (the persister checkpoints within a second of storing).
const LEDGER_WAIT: std::time::Duration = std::time::Duration::from_secs(60);

/// Audits `report` against the store at `url` (read only).
pub async fn audit(report: &Report, url: &str) -> Result<AuditResult, AuditError> {
    let day = &report.run.click_day;
    let rows = read_rows(url, day).await?;
    let started = std::time::Instant::now();
    let ledger = loop {
        let ledger = read_ledger(url, day).await?;
        let covered = ledger.as_ref().map_or(0, |l| l.leaves.len());
        if covered >= rows.len() || started.elapsed() > LEDGER_WAIT {
            break ledger;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    };
    let mut result = check(report, rows)?;
    check_ledger(report, ledger.as_ref(), &mut result)?;
    Ok(result)
}

/// The store, read only: the same SQL on both databases.
enum Db {
    Pg(sqlx::PgPool),
    Sqlite(sqlx::SqlitePool),
}

/// Runs the same code on whichever database it is (sqlx's types differ,
/// the text does not).
macro_rules! on_db {
    ($db:expr, |$pool:ident| $body:expr) => {
        match $db {
            Db::Pg($pool) => $body,
            Db::Sqlite($pool) => $body,
        }
    };
}

async fn connect(url: &str) -> Result<Db, AuditError> {
    use std::str::FromStr as _;
    let err = |e| AuditError::Store(url.to_string(), e);
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(1)
            .connect(url)
            .await
            .map_err(err)?;
        Ok(Db::Pg(pool))
    } else if url.starts_with("sqlite:") {
        let options = sqlx::sqlite::SqliteConnectOptions::from_str(url)
            .map_err(err)?
            .read_only(true);
        let pool = sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await
            .map_err(err)?;
        Ok(Db::Sqlite(pool))
    } else {
        Err(AuditError::Url(url.to_string()))
    }
}

async fn read_rows(url: &str, click_day: &str) -> Result<Vec<Row>, AuditError> {
    const QUERY: &str = "SELECT submission_id, account_id, application_id, category, province, \
        received_at, node, node_seq, rank, within_quota FROM submission_ranking WHERE click_day = $1";
    let err = |e| AuditError::Store(url.to_string(), e);
    on_db!(connect(url).await?, |pool| {
        let rows = sqlx::query(QUERY).bind(click_day).fetch_all(&pool).await;
        rows.and_then(|rows| rows.iter().map(to_row).collect())
            .map_err(err)
    })
}

/// The leaves of the newest checkpoint, the log rebuilt from them; `None`
/// when the click day has no checkpoint yet.
async fn read_ledger(
    url: &str,
    click_day: &str,
) -> Result<Option<clickday_ledger::LeafSet>, AuditError> {
    const CHECKPOINT: &str =
        "SELECT note FROM ledger_checkpoints WHERE click_day = $1 ORDER BY size DESC LIMIT 1";
    const TILES: &str = "SELECT path, data FROM ledger_tiles WHERE click_day = $1";
    let err = |e| AuditError::Store(url.to_string(), e);
    let (note, tiles): (Option<String>, Vec<(String, Vec<u8>)>) =
        on_db!(connect(url).await?, |pool| (
            sqlx::query_scalar(CHECKPOINT)
                .bind(click_day)
                .fetch_optional(&pool)
                .await
                .map_err(err)?,
            sqlx::query_as(TILES)
                .bind(click_day)
                .fetch_all(&pool)
                .await
                .map_err(err)?,
        ));
    let Some(note) = note else { return Ok(None) };
    let ledger_err = |e: String| AuditError::Ledger(click_day.to_string(), e);
    let checkpoint = clickday_ledger::Checkpoint::read_unverified(&note)
        .map_err(|e| ledger_err(e.to_string()))?;
    let tiles: HashMap<clickday_ledger::TilePath, Vec<u8>> = tiles
        .into_iter()
        .filter_map(|(path, data)| Some((clickday_ledger::TilePath::parse(&path)?, data)))
        .collect();
    let audit = clickday_ledger::Audit::run(click_day, &checkpoint, &[], &tiles)
        .map_err(|e| ledger_err(e.to_string()))?;
    Ok(Some(audit.leaves))
}

/// Every acknowledged submission has a leaf with the acknowledged stamp.
fn check_ledger(
    report: &Report,
    ledger: Option<&clickday_ledger::LeafSet>,
    result: &mut AuditResult,
) -> Result<(), AuditError> {
    let leaves: HashMap<&str, u64> = ledger
        .map(|l| {
            l.leaves
                .iter()
                .map(|leaf| (leaf.submission_id.as_str(), leaf.stamp.unix_nanos))
                .collect()
        })
        .unwrap_or_default();
    result.ledger_leaves = leaves.len() as u64;
    let mut seen = std::collections::HashSet::new();
    for ack in &report.acknowledged {
        if !seen.insert(ack.submission_id.as_str()) {
            continue;
        }
        let want = ack.received_at;
        match leaves.get(ack.submission_id.as_str()) {
            None => {
                result.ledger_missing += 1;
                result.problem(format!(
                    "{} has no leaf in the arrival ledger",
                    ack.submission_id
                ));
            }
            Some(&at) if at != want => {
                result.ledger_mismatched += 1;
                result.problem(format!(
                    "{} acknowledged at {} but its leaf says {at} ns",
                    ack.submission_id,
                    format_rfc3339_nanos(want)
                ));
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// The same mapping for both databases: the view has the same columns.
fn to_row<R>(r: &R) -> Result<Row, sqlx::Error>
where
    R: sqlx::Row,
    usize: sqlx::ColumnIndex<R>,
    for<'a> String: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> i64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> bool: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
{
    Ok(Row {
        submission_id: r.try_get(0)?,
        account_id: r.try_get(1)?,
        application_id: r.try_get(2)?,
        category: r.try_get(3)?,
        province: r.try_get(4)?,
        received_at: r.try_get(5)?,
        node: r.try_get(6)?,
        node_seq: r.try_get(7)?,
        rank: r.try_get(8)?,
        within_quota: r.try_get(9)?,
    })
}

fn check(report: &Report, rows: Vec<Row>) -> Result<AuditResult, AuditError> {
    let mut result = AuditResult {
        stored_rows: rows.len() as u64,
        ..AuditResult::default()
    };
    // A resend acknowledged twice is one submission.
    let mut acked: HashMap<&str, u64> = HashMap::new();
    for ack in &report.acknowledged {
        acked.insert(&ack.submission_id, ack.received_at);
    }
    result.acknowledged = acked.len() as u64;

    let mut by_id: HashMap<&str, Vec<&Row>> = HashMap::new();
    let mut by_application: HashMap<(&str, &str), u64> = HashMap::new();
    for row in &rows {
        by_id.entry(&row.submission_id).or_default().push(row);
        *by_application
            .entry((&row.account_id, &row.application_id))
            .or_default() += 1;
    }
    for ((account, application), n) in &by_application {
        if *n > 1 {
            result.duplicated += n - 1;
            result.problem(format!("{account}/{application} stored {n} times"));
        }
    }
    for (id, &want) in &acked {
        // Text only for a problem's message, not for every acknowledgement.
        let received_at = || format_rfc3339_nanos(want);
        match by_id.get(id).map(Vec::as_slice) {
            None | Some([]) => {
                result.lost += 1;
                result.problem(format!(
                    "{id} acknowledged at {} is not stored",
                    received_at()
                ));
            }
            Some(found) => {
                if found.len() > 1 {
                    result.duplicated += found.len() as u64 - 1;
                    result.problem(format!("{id} stored {} times", found.len()));
                }
                if found.iter().any(|r| r.received_at as u64 != want) {
                    result.mismatched += 1;
                    result.problem(format!(
                        "{id} acknowledged at {} but stored at {} ns",
                        received_at(),
                        found[0].received_at
                    ));
                }
            }
        }
    }
    result.not_in_report = by_id.keys().filter(|id| !acked.contains_key(*id)).count() as u64;
    check_ranks(&rows, &mut result);
    let first_sent: HashMap<&str, u64> = report
        .acknowledged
        .iter()
        .filter_map(|a| Some((a.submission_id.as_str(), a.first_sent_at?)))
        .collect();
    result.overtaken = overtaken(&rows, &first_sent);
    Ok(result)
}

/// How much later a first send must be before being ranked ahead of it
/// counts against fairness: clocks and networks blur less than this.
pub const OVERTAKE_MARGIN_NANOS: u64 = 1_000_000_000;

/// Within each (category, province), in ranking order: rows ranked behind
/// an earlier-ranked row whose first attempt was sent more than the margin
/// after theirs. Only rows whose first send this report knows are judged.
fn overtaken(rows: &[Row], first_sent: &HashMap<&str, u64>) -> u64 {
    let mut groups: BTreeMap<(&str, &str), Vec<(i64, u64)>> = BTreeMap::new();
    for row in rows {
        if let (Some(rank), Some(&sent)) = (row.rank, first_sent.get(row.submission_id.as_str())) {
            groups
                .entry((&row.category, &row.province))
                .or_default()
                .push((rank, sent));
        }
    }
    let mut overtaken = 0;
    for group in groups.values_mut() {
        group.sort_unstable();
        let mut latest_ahead = 0u64;
        for &(_, sent) in group.iter() {
            if latest_ahead > sent.saturating_add(OVERTAKE_MARGIN_NANOS) {
                overtaken += 1;
            }
            latest_ahead = latest_ahead.max(sent);
        }
    }
    overtaken
}

/// Within each (category, province), ranked rows must be numbered 1..n in
/// (received_at, node, sequence) order, with `within_quota` true for a
/// prefix only.
fn check_ranks(rows: &[Row], result: &mut AuditResult) {
    let mut groups: BTreeMap<(&str, &str), Vec<&Row>> = BTreeMap::new();
    for row in rows.iter().filter(|r| r.rank.is_some()) {
        groups
            .entry((&row.category, &row.province))
            .or_default()
            .push(row);
    }
    result.ranked_groups = groups.len() as u64;
    for ((category, province), mut group) in groups {
        group.sort_by_key(|r| (r.received_at, r.node, r.node_seq));
        let mut quota_ended = false;
        for (i, row) in group.iter().enumerate() {
            let expected = i as i64 + 1;
            if row.rank != Some(expected) {
                result.rank_errors += 1;
                result.problem(format!(
                    "{category}/{province}: {} has rank {:?}, its stamp puts it at {expected}",
                    row.submission_id, row.rank
                ));
            }
            match row.within_quota {
                Some(false) => quota_ended = true,
                Some(true) if quota_ended => {
                    result.rank_errors += 1;
                    result.problem(format!(
                        "{category}/{province}: {} is within quota after one that is not",
                        row.submission_id
                    ));
                }
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str, app: &str, at: i64, rank: Option<i64>, within: Option<bool>) -> Row {
        Row {
            submission_id: id.into(),
            account_id: "acct".into(),
            application_id: app.into(),
            category: "c".into(),
            province: "RM".into(),
            received_at: at,
            node: 1,
            node_seq: at,
            rank,
            within_quota: within,
        }
    }

    #[test]
    fn overtaking_is_counted_against_first_sending_beyond_the_margin() {
        let rows = [
            row("a", "1", 10, Some(1), None),
            row("b", "2", 20, Some(2), None),
            row("c", "3", 30, Some(3), None),
            row("d", "4", 40, Some(4), None),
        ];
        let s = 1_000_000_000u64;
        // b first sent 0.5 s before a: within the margin. d first sent 3 s
        // before c and a: overtaken. Unknown first sends are not judged.
        let first: HashMap<&str, u64> = [
            ("a", 10 * s),
            ("b", 9 * s + s / 2),
            ("c", 11 * s),
            ("d", 7 * s),
        ]
        .into();
        assert_eq!(overtaken(&rows, &first), 1);
        let fair: HashMap<&str, u64> = [("a", s), ("b", 2 * s), ("d", 3 * s)].into();
        assert_eq!(overtaken(&rows, &fair), 0);
    }

    #[test]
    fn ranks_must_follow_stamps_and_quota_must_be_a_prefix() {
        let mut r = AuditResult::default();
        let good = [
            row("a", "1", 10, Some(1), Some(true)),
            row("b", "2", 20, Some(2), Some(false)),
            row("c", "3", 30, Some(3), Some(false)),
        ];
        check_ranks(&good, &mut r);
        assert_eq!((r.rank_errors, r.ranked_groups), (0, 1));
        let swapped = [
            row("a", "1", 10, Some(2), Some(true)),
            row("b", "2", 20, Some(1), Some(true)),
        ];
        check_ranks(&swapped, &mut r);
        assert_eq!(r.rank_errors, 2);
        let mut r = AuditResult::default();
        let gap = [
            row("a", "1", 10, Some(1), Some(false)),
            row("b", "2", 20, Some(2), Some(true)),
        ];
        check_ranks(&gap, &mut r);
        assert_eq!(r.rank_errors, 1);
        assert!(r.examples[0].contains("within quota after"));
    }
}
