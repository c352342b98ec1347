//! How the application search holds up with 100,000 applications in one
//! association (half of them its sub-account's), on SQLite and on
//! PostgreSQL: each query's median time, and its ratio to the same query
//! for an account with 100 applications in the same database (baseline).
//!
//! `cargo bench -p clickday-portal --bench search`

#![allow(clippy::unwrap_used)] // a benchmark: a failed unwrap is a failed run

use clickday_store::portal::{
    DraftSearch, NewToken, NewUser, PortalStore, SearchState, TokenPurpose, UserKind,
};
use clickday_store::{PgStore, SqliteStore};
use std::time::{Duration, Instant};

const BIG: u32 = 100_000;
const SMALL: u32 = 100;
const RUNS: usize = 15;

fn user(id: &str, kind: UserKind, parent: Option<&str>) -> (NewUser, NewToken) {
    let user = NewUser {
        user_id: id.into(),
        email: format!("{id}@example.it"),
        password_hash: "x".into(),
        kind,
        full_name: id.into(),
        codice_fiscale: "RSSMRA85T10A562S".into(),
        parent_user_id: parent.map(Into::into),
        province: None,
        office_kind: None,
        approved: false,
    };
    let token = NewToken {
        token_hash: format!("t-{id}"),
        user_id: id.into(),
        purpose: TokenPurpose::Confirm,
        valid_for_micros: 1,
    };
    (user, token)
}

async fn users(store: &dyn PortalStore) {
    for (id, kind, parent) in [
        ("assoc", UserKind::Association, None),
        ("child", UserKind::SubAccount, Some("assoc")),
        ("small", UserKind::Employer, None),
    ] {
        let (user, token) = user(id, kind, parent);
        store.create_user(&user, &token).await.unwrap();
    }
}

/// One statement that makes `n` applications for `owner` (or alternately
/// for `owner` and `other`), numbered from `from`.
fn seed_sql(series: &str, owner: &str, other: &str) -> String {
    format!(
        "INSERT INTO applications (application_id, user_id, click_day, category, answers, \
         province, worker_name, state, created_at, updated_at) \
         SELECT (2020 + i % 7) || '-' || '{owner}' || i, \
         CASE WHEN i % 2 = 0 THEN '{owner}' ELSE '{other}' END, \
         (2020 + i % 7) || '-03-27', \
         CASE WHEN i % 3 = 0 THEN 'lavoro-subordinato' ELSE 'lavoro-domestico' END, '{{}}', \
         CASE i % 4 WHEN 0 THEN 'RM' WHEN 1 THEN 'MI' WHEN 2 THEN 'NA' ELSE 'TO' END, \
         'Cognome' || i || ' Nome', \
         CASE WHEN i % 5 = 0 THEN 'ready' ELSE 'to_complete' END, i, i FROM {series}"
    )
}

fn searches() -> Vec<(&'static str, DraftSearch)> {
    let page = |n: u64| DraftSearch {
        offset: n * 50,
        limit: 50,
        ..Default::default()
    };
    vec![
        ("first page, no filter", page(0)),
        ("page 20, no filter", page(19)),
        (
            "province + state + year",
            DraftSearch {
                province: Some("RM".into()),
                state: Some(SearchState::Ready),
                year: Some(2023),
                limit: 50,
                ..Default::default()
            },
        ),
        (
            "free text (worker name)",
            DraftSearch {
                text: Some("cognome4242 ".into()),
                limit: 50,
                ..Default::default()
            },
        ),
        (
            "free text (application id)",
            DraftSearch {
                text: Some("2024-ASSOC4242".into()),
                limit: 50,
                ..Default::default()
            },
        ),
    ]
}

async fn median(store: &dyn PortalStore, user: &str, search: &DraftSearch) -> Duration {
    let mut times = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let start = Instant::now();
        let (page, _) = store.search_drafts(user, search).await.unwrap();
        std::hint::black_box(page);
        times.push(start.elapsed());
    }
    times.sort();
    times[RUNS / 2]
}

async fn report(name: &str, store: &dyn PortalStore) {
    println!("\n{name}: {BIG} applications (association + sub-account) vs {SMALL} (baseline)");
    println!(
        "{:<28} {:>10} {:>10} {:>7}",
        "query", "100k ms", "100 ms", "ratio"
    );
    for (label, search) in searches() {
        let big = median(store, "assoc", &search).await;
        let small = median(store, "small", &search).await;
        println!(
            "{label:<28} {:>10.2} {:>10.2} {:>7.1}",
            big.as_secs_f64() * 1e3,
            small.as_secs_f64() * 1e3,
            big.as_secs_f64() / small.as_secs_f64()
        );
    }
}

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = SqliteStore::open(&dir.path().join("store.db"))
        .await
        .unwrap();
    users(&sqlite).await;
    let series = |n: u32| {
        format!(
            "(WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {n}) SELECT i FROM s)"
        )
    };
    sqlx::query(&seed_sql(&series(BIG), "assoc", "child"))
        .execute(sqlite.pool())
        .await
        .unwrap();
    sqlx::query(&seed_sql(&series(SMALL), "small", "small"))
        .execute(sqlite.pool())
        .await
        .unwrap();
    sqlx::query("ANALYZE").execute(sqlite.pool()).await.unwrap();
    report("SQLite", &sqlite).await;

    let pg = clickday_testkit::Postgres::start();
    let postgres = PgStore::connect(&pg.url()).await.unwrap();
    users(&postgres).await;
    let series = |n: u32| format!("generate_series(1, {n}) AS s(i)");
    sqlx::query(&seed_sql(&series(BIG), "assoc", "child"))
        .execute(postgres.pool())
        .await
        .unwrap();
    sqlx::query(&seed_sql(&series(SMALL), "small", "small"))
        .execute(postgres.pool())
        .await
        .unwrap();
    sqlx::query("ANALYZE")
        .execute(postgres.pool())
        .await
        .unwrap();
    report("PostgreSQL", &postgres).await;
}
