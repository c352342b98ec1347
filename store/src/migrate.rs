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
];

pub(crate) fn sqlite() -> Migrator {
    migrator(SQLITE)
}

pub(crate) fn postgres() -> Migrator {
    migrator(POSTGRES)
}
