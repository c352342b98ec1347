//! One conformance suite for both store backends: SQLite in a temp dir and
//! a private PostgreSQL started by the harness.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use clickday_core::{PublicKey, Submission};
use clickday_store::{
    DeadLetter, EmailContent, LedgerBatch, NewAccount, NewEmail, OFFICES, Persisted, PgStore,
    Quota, RankingFilter, RankingInput, Receipt, SqliteStore, Store, StoreError,
};
use clickday_testkit::{Applicant, Postgres};
use std::time::Instant;

fn account(n: u64) -> NewAccount {
    let applicant = Applicant::new(n);
    NewAccount {
        account_id: applicant.account_id.clone(),
        email: applicant.email.clone(),
        public_key: PublicKey::from_base64(&applicant.public_key_b64()).unwrap(),
    }
}

async fn accounts_and_keys(store: &dyn Store) {
    // Import is idempotent, and the last line wins for an account's email.
    let mut batch: Vec<NewAccount> = (0..10).map(account).collect();
    store.import_accounts(&batch).await.unwrap();
    batch[3].email = "changed@example.it".into();
    store.import_accounts(&batch).await.unwrap();
    let keys = store.list_keys().await.unwrap();
    assert_eq!(keys.len(), 10);
    let k3 = keys.iter().find(|k| k.account_id == "acct-3").unwrap();
    assert_eq!(k3.key_id, Applicant::new(3).key_id());
    assert_eq!(
        k3.public_key,
        PublicKey::from_base64(&Applicant::new(3).public_key_b64())
            .unwrap()
            .to_bytes()
    );

    // A key stolen by another account is refused and nothing of the batch lands.
    let mut thief = account(4);
    thief.account_id = "thief".into();
    let err = store
        .import_accounts(&[account(100), thief])
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::KeyConflict { ref owner, ref wanted, .. } if owner == "acct-4" && wanted == "thief"),
        "{err}"
    );
    assert_eq!(store.list_keys().await.unwrap().len(), 10, "all or nothing");

    // Changes are visible through key_changes, revocations included.
    let before = store.key_changes(None).await.unwrap();
    assert_eq!(before.rows.len(), 10);
    assert!(store.revoke_key(&Applicant::new(5).key_id()).await.unwrap());
    assert!(
        !store.revoke_key(&Applicant::new(5).key_id()).await.unwrap(),
        "already revoked"
    );
    assert!(
        !store
            .revoke_key("00000000000000000000000000000000")
            .await
            .unwrap()
    );
    let after = store.key_changes(Some(before.db_now)).await.unwrap();
    assert_eq!(after.rows.len(), 1);
    assert!(after.rows[0].revoked);
    assert!(after.db_now >= before.db_now);
    // Re-importing a revoked key does not bring it back to life.
    store.import_accounts(&[account(5)]).await.unwrap();
    assert!(
        store
            .list_keys()
            .await
            .unwrap()
            .iter()
            .find(|k| k.account_id == "acct-5")
            .unwrap()
            .revoked
    );
}

/// 100k lines must import in seconds (the figure is printed, not asserted).
async fn import_100k(store: &dyn Store) {
    let accounts: Vec<NewAccount> = (1_000..101_000).map(account).collect();
    let start = Instant::now();
    store.import_accounts(&accounts).await.unwrap();
    println!("imported 100000 accounts in {:?}", start.elapsed());
    assert!(store.list_keys().await.unwrap().len() >= 100_000);
}

fn submission(
    account: &str,
    app: &str,
    received_at: u64,
    node: u16,
    seq: u64,
    province: &str,
) -> Submission {
    let mut s = clickday_testkit::submission(
        account,
        app,
        format!("{{\"application_id\":\"{app}\"}}"),
        received_at,
    );
    s.submission_id = format!("{received_at:020}-{node:05}");
    s.application.province = province.into();
    s.stamp.node = node;
    s.stamp.seq = seq;
    s
}

async fn persisting_is_idempotent(store: &dyn Store) {
    let batch: Vec<Submission> = (0..50)
        .map(|i| submission(&format!("a{i}"), "x", 1_000 + i, 1, i, "RM"))
        .collect();
    let first = store.persist_batch(&batch, &[]).await.unwrap();
    assert_eq!(
        first,
        Persisted {
            stored: 50,
            already: 0,
            dead: 0
        }
    );
    // A redelivery of the same batch changes nothing.
    let again = store.persist_batch(&batch, &[]).await.unwrap();
    assert_eq!(
        again,
        Persisted {
            stored: 0,
            already: 50,
            dead: 0
        }
    );
    let stored = store
        .stored_body(&batch[7].submission_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            stored.received_at,
            &stored.body,
            stored.body_sha256,
            stored.signature
        ),
        (
            1_007,
            &batch[7].body.to_vec(),
            batch[7].body_sha256,
            [7; 64]
        )
    );
    let mut offices = store.forwarding(&batch[7].submission_id).await.unwrap();
    offices.sort();
    let mut expected: Vec<String> = OFFICES.iter().map(|o| o.to_string()).collect();
    expected.sort();
    assert_eq!(offices, expected, "one forwarding entry per office, once");
    // Same account and application under another id: dead letter, not a second row.
    let clash = submission("a3", "x", 9_999, 2, 1, "RM");
    let garbage = DeadLetter {
        queue_id: "1-0".into(),
        shard: 1,
        reason: "field sig missing".into(),
        record: "{}".into(),
    };
    let outcome = store
        .persist_batch(&[clash], std::slice::from_ref(&garbage))
        .await
        .unwrap();
    assert_eq!(
        outcome,
        Persisted {
            stored: 0,
            already: 0,
            dead: 2
        }
    );
    let letters = store.dead_letters().await.unwrap();
    assert_eq!(letters.len(), 2);
    assert!(
        letters
            .iter()
            .any(|l| l.reason.contains("another submission id"))
    );
    assert!(letters.contains(&garbage));
    // Dead letters are idempotent too.
    store.persist_batch(&[], &[garbage]).await.unwrap();
    assert_eq!(store.dead_letters().await.unwrap().len(), 2);
}

async fn ranking_orders_by_stamp_node_seq_and_cuts_quotas(store: &dyn Store) {
    let t = 2_000_000u64;
    let batch = vec![
        // Same instant on three gateways: node decides, then the sequence.
        submission("r1", "a", t + 10, 3, 1, "MI"),
        submission("r2", "a", t + 10, 1, 9, "MI"),
        submission("r3", "a", t + 10, 2, 4, "MI"),
        submission("r4", "a", t + 5, 9, 1, "MI"),
        submission("r5", "a", t + 20, 1, 10, "MI"),
        // Outside the window: never ranked.
        submission("early", "a", t - 1, 1, 1, "MI"),
        submission("late", "a", t + 1_000, 1, 2, "MI"),
        // Another province has its own ranking and no quota.
        submission("n1", "a", t + 1, 1, 3, "NA"),
    ];
    store.persist_batch(&batch, &[]).await.unwrap();
    let input = RankingInput {
        click_day: "cd".into(),
        opens_at: t,
        closes_at: t + 1_000,
        quotas: vec![Quota {
            category: "lavoro-domestico".into(),
            province: "MI".into(),
            places: 3,
        }],
        ledger_size: None,
    };
    assert_eq!(store.rank(&input).await.unwrap(), 6);
    let filter = RankingFilter {
        province: Some("MI".into()),
        ..Default::default()
    };
    let rows = store.ranking("cd", &filter).await.unwrap();
    let order: Vec<(&str, Option<u64>, Option<bool>)> = rows
        .iter()
        .map(|r| (r.account_id.as_str(), r.rank, r.within_quota))
        .collect();
    assert_eq!(
        order,
        vec![
            ("r4", Some(1), Some(true)),
            ("r2", Some(2), Some(true)),
            ("r3", Some(3), Some(true)),
            ("r1", Some(4), Some(false)),
            ("r5", Some(5), Some(false)),
            ("early", None, None),
            ("late", None, None),
        ]
    );
    let naples = store
        .ranking(
            "cd",
            &RankingFilter {
                province: Some("NA".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        (naples[0].rank, naples[0].within_quota),
        (Some(1), Some(false)),
        "no quota configured: no place"
    );
    // Ranking again changes nothing.
    assert!(store.ranked_at("cd").await.unwrap().is_some());
    store.rank(&input).await.unwrap();
    assert_eq!(store.ranking("cd", &filter).await.unwrap(), rows);
    assert!(store.ranked_at("other").await.unwrap().is_none());
}

/// Receipts and the email outbox: jobs oldest first, saved once, leases
/// exclusive, retries delayed, sent ones never handed out again.
async fn receipts_and_outbox(store: &dyn Store) {
    // Only acct-9001 has an account among the stored submissions' owners.
    store.import_accounts(&[account(9_001)]).await.unwrap();
    let fresh = submission("acct-9001", "mail-me", 5_000_000, 1, 1, "RM");
    store
        .persist_batch(std::slice::from_ref(&fresh), &[])
        .await
        .unwrap();
    let status = store.status().await.unwrap();
    assert!(status.submissions >= 1 && status.without_receipt == status.submissions);
    assert_eq!(
        status.unsent_emails, status.submissions,
        "every submission waits for its email at first"
    );
    let mut taken = 0;
    loop {
        let n = store.queue_confirmations(7).await.unwrap();
        if n == 0 {
            break;
        }
        taken += n;
    }
    assert_eq!(
        taken, status.submissions,
        "every submission moved to the outbox once"
    );
    assert_eq!(
        store.unsent_emails().await.unwrap(),
        1,
        "only submissions of known accounts get an email"
    );

    // A receipt carries its ledger proof: nothing is due before the
    // submissions are in a signed checkpoint.
    let minute = std::time::Duration::from_secs(60);
    assert!(
        store
            .claim_receipt_jobs(1_000, minute)
            .await
            .unwrap()
            .is_empty()
    );
    log_everything(store).await;
    // A lease that ran out (its persister died) hands the jobs out again …
    let lapsed = store
        .claim_receipt_jobs(1_000, std::time::Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(lapsed.len() as u64, status.without_receipt);
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let jobs = store.claim_receipt_jobs(1_000, minute).await.unwrap();
    assert_eq!(jobs, lapsed);
    // … a live one to nobody else: persisters make disjoint receipts.
    assert!(
        store
            .claim_receipt_jobs(1_000, minute)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        jobs.windows(2)
            .all(|w| w[0].received_at() <= w[1].received_at()),
        "oldest first"
    );
    assert_eq!(
        store.oldest_without_receipt().await.unwrap(),
        Some(jobs[0].received_at())
    );
    let receipt = |id: &str, sig: &str| Receipt {
        submission_id: id.into(),
        statement: format!("statement of {id}"),
        signature: sig.into(),
        key_id: "k".into(),
        pdf: vec![b'%', b'P', b'D', b'F'],
        ledger_proof: Some(format!("proof of {id}")),
    };
    let made: Vec<Receipt> = jobs
        .iter()
        .map(|j| receipt(&j.submission_id, "first"))
        .collect();
    store.save_receipts(&made).await.unwrap();
    // A second persister saving the same receipt later keeps the first.
    store
        .save_receipts(&[receipt(&jobs[0].submission_id, "second")])
        .await
        .unwrap();
    assert_eq!(
        store
            .receipt(&jobs[0].submission_id)
            .await
            .unwrap()
            .unwrap()
            .signature,
        "first"
    );
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    assert!(
        store
            .claim_receipt_jobs(10, std::time::Duration::ZERO)
            .await
            .unwrap()
            .is_empty(),
        "saved receipts are not handed out again"
    );
    assert_eq!(store.oldest_without_receipt().await.unwrap(), None);

    let lease = std::time::Duration::from_secs(60);
    let claimed = store.claim_emails("s1", 10, lease).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].recipient, "acct-9001@example.it");
    assert!(
        matches!(&claimed[0].content, EmailContent::Received(s) if s.submission_id == fresh.submission_id),
        "{:?}",
        claimed[0].content
    );
    assert!(
        store
            .claim_emails("s2", 10, lease)
            .await
            .unwrap()
            .is_empty(),
        "leased to s1"
    );
    store
        .email_failed(
            claimed[0].id,
            "451 try later",
            std::time::Duration::from_secs(3600),
        )
        .await
        .unwrap();
    assert!(
        store
            .claim_emails("s2", 10, lease)
            .await
            .unwrap()
            .is_empty(),
        "not due before its retry time"
    );
    store
        .email_failed(claimed[0].id, "again", std::time::Duration::ZERO)
        .await
        .unwrap();
    let again = store.claim_emails("s2", 10, lease).await.unwrap();
    assert_eq!((again.len(), again[0].attempts), (1, 2));
    store.email_sent(again[0].id).await.unwrap();
    assert!(
        store
            .claim_emails("s3", 10, std::time::Duration::ZERO)
            .await
            .unwrap()
            .is_empty(),
        "sent is final"
    );
    assert_eq!(store.unsent_emails().await.unwrap(), 0);

    // The keys receipts and checkpoints are checked with, as published:
    // every key kept, a republished one keeps its first date.
    assert!(store.published_keys().await.unwrap().is_empty());
    store.publish_key("receipt", "k1", "pub-1").await.unwrap();
    store
        .publish_key("ledger", "l1", "log+l1+key")
        .await
        .unwrap();
    let first = store.published_keys().await.unwrap();
    store.publish_key("receipt", "k1", "pub-1").await.unwrap();
    store.publish_key("receipt", "k2", "pub-2").await.unwrap();
    let keys = store.published_keys().await.unwrap();
    assert_eq!(keys.len(), 3);
    assert_eq!(&keys[..2], &first[..], "republishing changes nothing");
    assert_eq!(
        (keys[2].kind.as_str(), keys[2].public_key.as_str()),
        ("receipt", "pub-2")
    );
}

/// The portal's messages share the outbox: queued written, leased and sent
/// like the rest; what would forge or break an email is refused.
async fn written_emails_share_the_outbox(store: &dyn Store) {
    let email = NewEmail {
        kind: "registration-confirmation".into(),
        recipient: "mario.rossi@example.it".into(),
        subject: "Conferma la registrazione / Confirm your registration".into(),
        body: "Apra il collegamento / Open the link: https://portal.example/conferma?t=abc\n"
            .into(),
    };
    let id = store.queue_written_email(&email).await.unwrap();
    let lease = std::time::Duration::from_secs(60);
    let claimed = store.claim_emails("s1", 10, lease).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(
        (
            claimed[0].id,
            claimed[0].kind.as_str(),
            claimed[0].recipient.as_str()
        ),
        (id, "registration-confirmation", "mario.rossi@example.it")
    );
    assert_eq!(
        claimed[0].content,
        EmailContent::Written {
            subject: email.subject.clone(),
            body: email.body.clone()
        }
    );
    assert_eq!(claimed[0].reference(), format!("outbox-{id}"));
    assert_eq!(store.unsent_emails().await.unwrap(), 1);
    store.email_sent(id).await.unwrap();
    assert_eq!(store.unsent_emails().await.unwrap(), 0);
    for (what, bad) in [
        (
            "subject injection",
            NewEmail {
                subject: "Hi\r\nBcc: all@example.it".into(),
                ..email.clone()
            },
        ),
        (
            "bad address",
            NewEmail {
                recipient: "mario@".into(),
                ..email.clone()
            },
        ),
        (
            "empty body",
            NewEmail {
                body: " ".into(),
                ..email.clone()
            },
        ),
        (
            "bad kind",
            NewEmail {
                kind: "a b".into(),
                ..email.clone()
            },
        ),
    ] {
        assert!(
            matches!(
                store.queue_written_email(&bad).await,
                Err(StoreError::Invalid { .. })
            ),
            "{what}"
        );
    }
    assert_eq!(
        store.unsent_emails().await.unwrap(),
        0,
        "nothing half-written"
    );
}

/// Appends every unlogged submission to its click day's log, as the
/// persister's ledger stage does, and signs a checkpoint for each.
async fn log_everything(store: &dyn Store) {
    let (key, _) = clickday_ledger::LogKey::generate("test/v1/ledger").unwrap();
    loop {
        let rows = store.unlogged(100).await.unwrap();
        let Some(first) = rows.first() else { return };
        let day = first.application.click_day.clone();
        let rows: Vec<_> = rows
            .into_iter()
            .filter(|r| r.application.click_day == day)
            .collect();
        let (old, tree) = match store.ledger_state(&day).await.unwrap() {
            None => (0, clickday_ledger::LogTree::empty()),
            Some((size, root)) => {
                let mut tiles = Vec::new();
                for path in clickday_ledger::LogTree::edge_paths(size) {
                    let data = store.ledger_tile(&day, &path.to_string()).await.unwrap();
                    tiles.push((path, data.unwrap()));
                }
                let root = clickday_ledger::Hash(root);
                (
                    size,
                    clickday_ledger::LogTree::resume(size, root, tiles).unwrap(),
                )
            }
        };
        let leaves: Vec<Vec<u8>> = rows
            .iter()
            .map(|r| clickday_ledger::Leaf::of(r).to_bytes())
            .collect();
        let (_, appended) = tree.append(leaves.iter().map(Vec::as_slice)).unwrap();
        let tiles: Vec<(String, Vec<u8>)> = appended
            .tiles
            .iter()
            .map(|(p, d)| (p.to_string(), d.clone()))
            .collect();
        let ids: Vec<String> = rows.iter().map(|r| r.submission_id.clone()).collect();
        let batch = LedgerBatch {
            click_day: &day,
            old_size: old,
            new_size: appended.size,
            root: appended.root.0,
            tiles: &tiles,
            submission_ids: &ids,
        };
        // A batch appended to a size the log no longer has is refused whole.
        if old > 0 {
            let stale = LedgerBatch {
                old_size: old - 1,
                ..batch.clone()
            };
            assert!(!store.append_ledger(&stale).await.unwrap());
        }
        assert!(store.append_ledger(&batch).await.unwrap());
        // The same batch again: the log moved, nothing is written twice.
        assert!(!store.append_ledger(&batch).await.unwrap());
        assert_eq!(
            store.ledger_state(&day).await.unwrap(),
            Some((appended.size, appended.root.0))
        );
        assert_eq!(store.leaf_index(&ids[0]).await.unwrap(), Some(old));
        let checkpoint = key.sign(
            &format!("test/v1/ledger/{day}"),
            appended.size,
            &appended.root,
        );
        store
            .save_checkpoint(&day, appended.size, &checkpoint.note)
            .await
            .unwrap();
        assert_eq!(
            store.latest_checkpoint(&day).await.unwrap(),
            Some((appended.size, checkpoint.note))
        );
        assert_eq!(store.unlogged_count(&day).await.unwrap(), 0);
    }
}

/// One test per property and backend, each on a fresh store: the same
/// case body runs on SQLite and on a private PostgreSQL.
macro_rules! on_both_stores {
    ($($case:ident),* $(,)?) => {
        $(
            mod $case {
                use super::*;

                #[tokio::test]
                async fn sqlite() {
                    let dir = tempfile::tempdir().unwrap();
                    let store = SqliteStore::open(&dir.path().join("store.db")).await.unwrap();
                    super::$case(&store).await;
                }

                #[tokio::test]
                async fn postgres() {
                    let pg = Postgres::start();
                    let store = PgStore::connect(&pg.url()).await.unwrap();
                    super::$case(&store).await;
                }
            }
        )*
    };
}

on_both_stores!(
    accounts_and_keys,
    persisting_is_idempotent,
    ranking_orders_by_stamp_node_seq_and_cuts_quotas,
    receipts_and_outbox,
    written_emails_share_the_outbox,
    import_100k,
);

/// Both migration sets make the same schema: tables, their columns, views
/// and named indexes (column types are spelled per database, so only names
/// are compared).
#[tokio::test]
async fn both_backends_migrate_to_the_same_schema() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = SqliteStore::open(&dir.path().join("store.db"))
        .await
        .unwrap();
    let pg = Postgres::start();
    let postgres = PgStore::connect(&pg.url()).await.unwrap();
    let mut lite: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT m.type, m.name, coalesce(c.name, '') FROM sqlite_master m \
         LEFT JOIN pragma_table_info(m.name) c ON m.type IN ('table', 'view') \
         WHERE m.type IN ('table', 'view', 'index') AND m.name NOT LIKE 'sqlite_%' \
         AND m.name NOT LIKE '_sqlx%'",
    )
    .fetch_all(sqlite.pool())
    .await
    .unwrap();
    let mut pgsql: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT CASE t.table_type WHEN 'VIEW' THEN 'view' ELSE 'table' END, c.table_name::text, \
                c.column_name::text \
         FROM information_schema.columns c JOIN information_schema.tables t \
           ON t.table_schema = c.table_schema AND t.table_name = c.table_name \
         WHERE c.table_schema = 'public' AND c.table_name NOT LIKE '_sqlx%' \
         UNION ALL \
         SELECT 'index', indexname::text, '' FROM pg_indexes WHERE schemaname = 'public' \
           AND indexname NOT IN (SELECT conname FROM pg_constraint)",
    )
    .fetch_all(postgres.pool())
    .await
    .unwrap();
    lite.sort();
    pgsql.sort();
    assert!(lite.len() > 50, "the schema was read: {lite:?}");
    assert_eq!(lite, pgsql);
}
