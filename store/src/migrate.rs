//! Migrations embedded in the binary, one ordered list per backend.

use sqlx::migrate::{Migration, MigrationType, Migrator};
use std::borrow::Cow;

fn migrator(steps: &'static Steps) -> Migrator {
    let migrations = steps
        .iter()
        .map(|&(version, name, sql)| {
            Migration::new(
                version,
                Cow::Borrowed(name),
                MigrationType::Simple,
                Cow::Borrowed(sql),
                false,
            )
        })
        .collect();
    Migrator {
        migrations: Cow::Owned(migrations),
        ..Migrator::DEFAULT
    }
}

/// (version, name, SQL) per backend, in order. Append only: a released
/// migration is never edited.
type Steps = [(i64, &'static str, &'static str)];

const SQLITE: &Steps = &[
    (
        1,
        "accounts",
        include_str!("../migrations/sqlite/0001_accounts.sql"),
    ),
    (
        2,
        "submissions",
        include_str!("../migrations/sqlite/0002_submissions.sql"),
    ),
    (
        3,
        "receipts",
        include_str!("../migrations/sqlite/0003_receipts.sql"),
    ),
    (
        4,
        "email_outbox",
        include_str!("../migrations/sqlite/0004_email_outbox.sql"),
    ),
    (
        5,
        "written_emails",
        include_str!("../migrations/sqlite/0005_written_emails.sql"),
    ),
    (
        6,
        "portal",
        include_str!("../migrations/sqlite/0006_portal.sql"),
    ),
    (
        7,
        "help_desk_and_offices",
        include_str!("../migrations/sqlite/0007_help_desk_and_offices.sql"),
    ),
    (
        8,
        "ledger",
        include_str!("../migrations/sqlite/0008_ledger.sql"),
    ),
    (
        9,
        "receipt_leases",
        include_str!("../migrations/sqlite/0009_receipt_leases.sql"),
    ),
    (
        10,
        "published_keys",
        include_str!("../migrations/sqlite/0010_published_keys.sql"),
    ),
    (
        11,
        "application_history",
        include_str!("../migrations/sqlite/0011_application_history.sql"),
    ),
    (
        12,
        "office_outcomes",
        include_str!("../migrations/sqlite/0012_office_outcomes.sql"),
    ),
];

const POSTGRES: &Steps = &[
    (
        1,
        "accounts",
        include_str!("../migrations/postgres/0001_accounts.sql"),
    ),
    (
        2,
        "submissions",
        include_str!("../migrations/postgres/0002_submissions.sql"),
    ),
    (
        3,
        "receipts",
        include_str!("../migrations/postgres/0003_receipts.sql"),
    ),
    (
        4,
        "email_outbox",
        include_str!("../migrations/postgres/0004_email_outbox.sql"),
    ),
    (
        5,
        "written_emails",
        include_str!("../migrations/postgres/0005_written_emails.sql"),
    ),
    (
        6,
        "portal",
        include_str!("../migrations/postgres/0006_portal.sql"),
    ),
    (
        7,
        "help_desk_and_offices",
        include_str!("../migrations/postgres/0007_help_desk_and_offices.sql"),
    ),
    (
        8,
        "ledger",
        include_str!("../migrations/postgres/0008_ledger.sql"),
    ),
    (
        9,
        "receipt_leases",
        include_str!("../migrations/postgres/0009_receipt_leases.sql"),
    ),
    (
        10,
        "published_keys",
        include_str!("../migrations/postgres/0010_published_keys.sql"),
    ),
    (
        11,
        "application_history",
        include_str!("../migrations/postgres/0011_application_history.sql"),
    ),
    (
        12,
        "office_outcomes",
        include_str!("../migrations/postgres/0012_office_outcomes.sql"),
    ),
];

pub(crate) fn sqlite() -> Migrator {
    migrator(SQLITE)
}

pub(crate) fn postgres() -> Migrator {
    migrator(POSTGRES)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A submission row as a writer before the ledger stored it.
    const OLD_ROW: &str = "INSERT INTO submissions (submission_id, account_id, application_id, \
        click_day, category, province, form, received_at, node, node_seq, key_id, body, \
        body_sha256, signature, stored_at) VALUES ('s-1', 'a', 'app', 'cd', 'c', 'RM', 'f', \
        1, 1, 1, 'k', x'00', x'00', x'00', 7)";

    #[tokio::test]
    async fn an_upgraded_sqlite_store_queues_its_old_submissions_for_the_ledger() {
        let dir = tempfile::tempdir().unwrap();
        let options = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(dir.path().join("old.db"))
            .create_if_missing(true);
        let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
        migrator(&SQLITE[..7]).run(&pool).await.unwrap();
        sqlx::query(OLD_ROW).execute(&pool).await.unwrap();
        sqlite().run(&pool).await.unwrap();
        let queued: Vec<(String, String, i64)> =
            sqlx::query_as("SELECT submission_id, click_day, stored_at FROM ledger_pending")
                .fetch_all(&pool)
                .await
                .unwrap();
        assert_eq!(queued, vec![("s-1".to_string(), "cd".to_string(), 7)]);
    }

    #[tokio::test]
    async fn an_upgraded_postgres_store_queues_its_old_submissions_for_the_ledger() {
        let pg = clickday_testkit::Postgres::start();
        let pool = sqlx::PgPool::connect(&pg.url()).await.unwrap();
        migrator(&POSTGRES[..7]).run(&pool).await.unwrap();
        let row = OLD_ROW.replace("x'00'", "'\\x00'::bytea");
        sqlx::query(&row).execute(&pool).await.unwrap();
        postgres().run(&pool).await.unwrap();
        let queued: Vec<(String, String, i64)> =
            sqlx::query_as("SELECT submission_id, click_day, stored_at FROM ledger_pending")
                .fetch_all(&pool)
                .await
                .unwrap();
        assert_eq!(queued, vec![("s-1".to_string(), "cd".to_string(), 7)]);
    }
}
