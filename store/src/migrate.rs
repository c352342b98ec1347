//! Migrations embedded in the binary, one ordered list per backend.

use sqlx::migrate::{Migration, MigrationType, Migrator};
use std::borrow::Cow;

fn migrator(steps: &[(i64, &'static str, &'static str)]) -> Migrator {
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

pub(crate) fn sqlite() -> Migrator {
    migrator(&[
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
    ])
}

pub(crate) fn postgres() -> Migrator {
    migrator(&[
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
    ])
}
