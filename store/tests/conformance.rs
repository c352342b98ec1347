//! One conformance suite for both store backends: SQLite in a temp dir and
//! a private PostgreSQL started by the harness.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use clickday_core::PublicKey;
use clickday_store::{NewAccount, PgStore, SqliteStore, Store, StoreError};
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

async fn suite(store: &dyn Store) {
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
        matches!(err, StoreError::Rejected(ref m) if m.contains("acct-4")),
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

#[tokio::test]
async fn sqlite_store_conforms() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("store.db"))
        .await
        .unwrap();
    suite(&store).await;
    import_100k(&store).await;
}

#[tokio::test]
async fn postgres_store_conforms() {
    let pg = Postgres::start();
    let store = PgStore::connect(&pg.url()).await.unwrap();
    suite(&store).await;
    import_100k(&store).await;
}
