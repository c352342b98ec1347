//! `clickday import-history FILE`: applications of past click days, so the
//! portal's search spans the years. The file is JSON Lines (one object per
//! line, with the form's answers) or CSV (a header line, the same fields
//! but `answers`); docs/operations.md describes both. Every line is checked
//! before anything is written, and the whole file goes in one transaction;
//! importing the same file again changes nothing.

use super::UsageError;
use clickday_config::Config;
use clickday_store::PortalStore;
use clickday_store::portal::{PAST_OUTCOMES, PastApplication};
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// One past application as the file gives it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Record {
    application_id: String,
    /// The portal user it belongs to (registered before the import).
    owner_email: String,
    click_day: String,
    category: String,
    province: String,
    worker_name: String,
    #[serde(default)]
    submission_id: Option<String>,
    /// RFC 3339, e.g. `2019-03-27T08:00:00.051Z`.
    #[serde(default)]
    received_at: Option<String>,
    outcome: String,
    #[serde(default)]
    answers: BTreeMap<String, String>,
}

/// `YYYY-` and ten capital letters or digits, as the portal makes them:
/// the year search reads the prefix.
fn valid_id(id: &str) -> bool {
    let Some((year, rest)) = id.split_once('-') else {
        return false;
    };
    year.len() == 4
        && year
            .parse::<u16>()
            .is_ok_and(|y| (2000..=2100).contains(&y))
        && rest.len() == 10
        && rest
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

fn bounded(name: &str, value: &str, max: usize) -> Result<(), String> {
    match value.trim().chars().count() {
        0 => Err(format!("{name} is empty")),
        n if n > max => Err(format!("{name} is longer than {max} characters")),
        _ => Ok(()),
    }
}

/// What is wrong with a record, if anything (the owner is looked up later).
fn check(r: &Record) -> Result<Option<i64>, String> {
    if !valid_id(&r.application_id) {
        return Err(format!(
            "application_id {:?} is not YYYY-XXXXXXXXXX (a year from 2000, ten capital letters or digits)",
            r.application_id
        ));
    }
    bounded("click_day", &r.click_day, 64)?;
    bounded("category", &r.category, 64)?;
    bounded("worker_name", &r.worker_name, 200)?;
    if clickday_config::province_name(&r.province) == r.province {
        return Err(format!(
            "province {:?} is not an Italian province code",
            r.province
        ));
    }
    if !PAST_OUTCOMES.contains(&r.outcome.as_str()) {
        return Err(format!(
            "outcome {:?} is not one of {}",
            r.outcome,
            PAST_OUTCOMES.join(", ")
        ));
    }
    if let Some(id) = &r.submission_id {
        bounded("submission_id", id, 64)?;
    }
    if r.answers.len() > 200 || r.answers.values().any(|v| v.chars().count() > 1_000) {
        return Err("answers has more than 200 fields or a value over 1000 characters".into());
    }
    r.received_at
        .as_deref()
        .map(|t| {
            clickday_core::time::parse_rfc3339(t)
                .map(|n| n as i64)
                .map_err(|e| format!("received_at {t:?}: {e}"))
        })
        .transpose()
}

/// A problem of the file: its line and what is wrong.
type LineProblem = (u64, String);

/// The records of `text` with their line numbers, and the lines that are
/// not records.
fn parse(path: &Path, text: &str) -> (Vec<(u64, Record)>, Vec<LineProblem>) {
    let csv = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("csv"));
    let mut records = Vec::new();
    let mut errors = Vec::new();
    if csv {
        let mut reader = csv::ReaderBuilder::new()
            .trim(csv::Trim::All)
            .from_reader(text.as_bytes());
        let headers = match reader.headers() {
            Ok(headers) => headers.clone(),
            Err(e) => return (Vec::new(), vec![(1, e.to_string())]),
        };
        for row in reader.records() {
            let parsed = row.and_then(|row| {
                let line = row.position().map_or(0, |p| p.line());
                row.deserialize::<Record>(Some(&headers)).map(|r| (line, r))
            });
            match parsed {
                Ok(record) => records.push(record),
                Err(e) => errors.push((e.position().map_or(0, |p| p.line()), e.to_string())),
            }
        }
    } else {
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            match serde_json::from_str::<Record>(line) {
                Ok(record) => records.push((i as u64 + 1, record)),
                Err(e) => errors.push((i as u64 + 1, e.to_string())),
            }
        }
    }
    (records, errors)
}

pub async fn import(cfg: &Config, file: &Path) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| UsageError(format!("{}: {e}", file.display())))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let (records, mut problems) = parse(file, text);
    let store = super::open_portal_store(cfg).await?;
    let (fresh, unchanged) = resolve(&*store, records, &mut problems).await?;
    if !problems.is_empty() {
        return Err(UsageError(refused(file, problems)).into());
    }
    let added = store.add_past_applications(&fresh).await?;
    println!(
        "{}: {added} past applications added, {unchanged} already there",
        file.display()
    );
    Ok(())
}

/// Every problem, in file order.
fn refused(file: &Path, mut problems: Vec<LineProblem>) -> String {
    problems.sort_by_key(|(line, _)| *line);
    let lines: Vec<String> = problems
        .iter()
        .map(|(line, what)| format!("line {line}: {what}"))
        .collect();
    format!(
        "{}: nothing imported, {} problem(s):\n  {}",
        file.display(),
        lines.len(),
        lines.join("\n  ")
    )
}

/// The records checked and tied to their owners: the new ones and how
/// many are already there as they are; the problems found join `errors`.
async fn resolve(
    store: &dyn PortalStore,
    records: Vec<(u64, Record)>,
    errors: &mut Vec<LineProblem>,
) -> anyhow::Result<(Vec<PastApplication>, usize)> {
    let mut owners: HashMap<String, Option<String>> = HashMap::new();
    let mut seen: HashMap<String, u64> = HashMap::new();
    let mut fresh = Vec::new();
    let mut unchanged = 0;
    for (line, r) in records {
        let received_at = match check(&r) {
            Ok(at) => at,
            Err(e) => {
                errors.push((line, e));
                continue;
            }
        };
        if let Some(first) = seen.insert(r.application_id.clone(), line) {
            errors.push((
                line,
                format!(
                    "application_id {} is also on line {first}",
                    r.application_id
                ),
            ));
            continue;
        }
        let email = r.owner_email.trim().to_lowercase();
        let owner = match owners.get(&email) {
            Some(owner) => owner.clone(),
            None => {
                let owner = store.user_by_email(&email).await?.map(|u| u.user_id);
                owners.insert(email.clone(), owner.clone());
                owner
            }
        };
        let Some(user_id) = owner else {
            errors.push((
                line,
                format!(
                    "owner_email {:?} is not a portal user (register them first)",
                    r.owner_email
                ),
            ));
            continue;
        };
        let past = PastApplication {
            application_id: r.application_id,
            user_id,
            click_day: r.click_day.trim().to_string(),
            category: r.category.trim().to_string(),
            province: r.province,
            worker_name: r.worker_name.trim().to_string(),
            submission_id: r.submission_id,
            received_at,
            outcome: r.outcome,
            answers: serde_json::to_string(&r.answers)?,
        };
        match store.past_application(&past.application_id).await? {
            None => fresh.push(past),
            Some(there) if there == past => unchanged += 1,
            Some(_) => errors.push((
                line,
                format!(
                    "application_id {} was imported before with other data",
                    past.application_id
                ),
            )),
        }
    }
    Ok((fresh, unchanged))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_the_portals() {
        assert!(valid_id("2019-AB12CD34EF"));
        for bad in [
            "2019-ab12cd34ef",
            "19-AB12CD34EF",
            "1999-AB12CD34EF",
            "2019-AB12",
            "2019AB12CD34EF",
        ] {
            assert!(!valid_id(bad), "{bad}");
        }
    }
}
