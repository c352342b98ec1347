//! The arrival ledger end to end: a persister appends 700 stored
//! submissions in batches of 256 and signs a checkpoint after each, the
//! gateway serves the log, and `clickday ledger verify` — the auditor's
//! tool, run as a process — accepts the untouched log and catches each way
//! of tampering with it, one per test, on its own copy of the store.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use clickday_config::Config;
use clickday_ledger::{LogKey, TilePath, bundle_entries, entry_bundle, origin_for};
use clickday_testkit::{Client, Proto};
use clickday_testsystem::System;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

const N: u64 = 700;
const BASE: u64 = 1_800_000_000_000_000_000;
const PROVINCES: [&str; 2] = ["RM", "MI"];

fn config_text(dir: &Path) -> String {
    format!(
        r#"data_dir = "{dir}"
[gateway]
listen = "127.0.0.1:0"
[store]
url = "sqlite://{dir}/store.db"
[queue]
url = "sqlite://{dir}/queue.db"
[ledger]
batch_max = 256
checkpoint_interval_ms = 1
[[click_days]]
id = "cd"
opens_at = "2020-01-01T00:00:00Z"
closes_at = "2100-01-01T00:00:00Z"
categories = ["lavoro-domestico"]
[[click_days.quotas]]
category = "lavoro-domestico"
province = "RM"
places = 100
"#,
        dir = dir.display()
    )
}

fn submission(i: u64) -> clickday_core::Submission {
    // Arrival order differs from storage order: the ranking must follow
    // the stamps, the log the storage.
    let at = BASE + (i * 7919) % 100_003;
    let mut s = clickday_testkit::submission(
        &format!("acct-{i}"),
        &format!("app-{i}"),
        format!("{{\"application_id\":\"app-{i}\"}}"),
        at,
    );
    s.submission_id = format!("{at:020}-{i:05}");
    s.application.province = PROVINCES[(i % 2) as usize].into();
    s.stamp.seq = i;
    s
}

/// The sealed click day, built once: stored, logged, checkpointed, ranked.
fn sealed() -> &'static Path {
    static SEALED: OnceLock<tempfile::TempDir> = OnceLock::new();
    SEALED
        .get_or_init(|| {
            // Its own runtime on its own thread: the tests' runtimes come
            // and go, this fixture outlives them.
            std::thread::spawn(|| {
                tokio::runtime::Runtime::new()
                    .unwrap()
                    .block_on(build_sealed())
            })
            .join()
            .unwrap()
        })
        .path()
}

async fn build_sealed() -> tempfile::TempDir {
    // Under target/, not /tmp: a static is never dropped, so this folder
    // outlives the test process (each CI run left one in /tmp).
    let dir = tempfile::Builder::new()
        .prefix("ledger-sealed-")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .unwrap();
    std::fs::write(dir.path().join("clickday.toml"), config_text(dir.path())).unwrap();
    let cfg = Config::from_toml(&config_text(dir.path()), std::iter::empty(), 0).unwrap();
    let sys = System::open(cfg).await;
    for chunk in (0..N).collect::<Vec<_>>().chunks(100) {
        let batch: Vec<_> = chunk.iter().map(|&i| submission(i)).collect();
        sys.store.persist_batch(&batch, &[]).await.unwrap();
    }
    let sys = sys.with_persister();
    clickday_testsystem::wait_for_checkpoint(&*sys.store, "cd", N).await;
    // The oldest receipts too (they are made oldest first).
    clickday_testkit::eventually(
        "the first receipt",
        std::time::Duration::from_secs(60),
        async || {
            let first = sys.store.receipt(&submission(0).submission_id).await;
            first.ok().flatten().map(|_| ())
        },
    )
    .await;
    sys.stop().await;
    let ranked = clickday(&["rank", "cd"], dir.path());
    assert!(ranked.status.success(), "{}", stderr(&ranked));
    dir
}

/// A copy of the sealed click day to tamper with.
fn copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for name in ["store.db", "store.db-wal", "store.db-shm", "queue.db"] {
        let from = sealed().join(name);
        if from.exists() {
            std::fs::copy(&from, dir.path().join(name)).unwrap();
        }
    }
    for key in ["ledger/log-key", "receipts/receipt-key"] {
        std::fs::create_dir_all(dir.path().join(key).parent().unwrap()).unwrap();
        std::fs::copy(sealed().join(key), dir.path().join(key)).unwrap();
    }
    std::fs::write(dir.path().join("clickday.toml"), config_text(dir.path())).unwrap();
    dir
}

fn clickday(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_clickday"))
        .args(args)
        .arg("--config")
        .arg(dir.join("clickday.toml"))
        .env("RUST_LOG", "error")
        .output()
        .unwrap()
}

fn verify(dir: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["ledger", "verify", "cd"];
    args.extend_from_slice(extra);
    clickday(&args, dir)
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Verification refuses, naming what it found.
fn assert_refused(o: &Output, says: &str) {
    assert!(
        !o.status.success(),
        "verified a tampered ledger: {}",
        stdout(o)
    );
    assert!(
        stderr(o).contains(says),
        "expected {says:?} in: {}",
        stderr(o)
    );
}

/// Runs `statement` on the copy's store; returns the rows it changed.
async fn sql(dir: &Path, statement: &str) -> u64 {
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}/store.db", dir.display()))
        .await
        .unwrap();
    let done = sqlx::query(statement).execute(&pool).await.unwrap();
    pool.close().await;
    done.rows_affected()
}

fn log_key(dir: &Path) -> LogKey {
    LogKey::from_text(&std::fs::read_to_string(dir.join("ledger/log-key")).unwrap()).unwrap()
}

#[tokio::test]
async fn an_untouched_ledger_verifies_from_the_store_and_from_the_gateway() {
    let dir = copy();
    let ok = verify(dir.path(), &[]);
    assert!(ok.status.success(), "{}", stderr(&ok));
    let out = stdout(&ok);
    assert!(out.contains(&format!("{N} leaves")), "{out}");
    // 256, 512 and 700: each batch was checkpointed, each is a prefix.
    assert!(
        out.contains("3 checkpoints verified and consistent"),
        "{out}"
    );
    assert!(
        out.contains(
            "ranking = sorted leaves: 700 stored rows, 2 (category, province) rankings checked"
        ),
        "{out}"
    );

    let key = clickday(&["ledger", "key"], dir.path());
    let key = stdout(&key).trim().to_string();
    assert!(key.starts_with("localhost/v1/ledger+"), "{key}");

    // The same log as a gateway serves it, checked with the public key only.
    let cfg = Config::from_toml(&config_text(dir.path()), std::iter::empty(), 0).unwrap();
    let sys = System::open(cfg).await.with_gateway().await;
    let url = sys.gateway_url();
    let ca = sys.gateway_ca();
    let (url2, ca2, key2) = (url.clone(), ca.clone(), key.clone());
    let remote = tokio::task::spawn_blocking(move || {
        let elsewhere = tempfile::tempdir().unwrap();
        std::fs::write(
            elsewhere.path().join("clickday.toml"),
            config_text(elsewhere.path()),
        )
        .unwrap();
        verify(
            elsewhere.path(),
            &[
                "--from",
                &url2,
                "--ca",
                ca2.to_str().unwrap(),
                "--key",
                &key2,
            ],
        )
    })
    .await
    .unwrap();
    assert!(remote.status.success(), "{}", stderr(&remote));
    assert!(
        stdout(&remote).contains("700 leaves"),
        "{}",
        stdout(&remote)
    );
    assert!(stdout(&remote).contains("ranking not checked"));

    let ca = clickday_gateway::tls::read_certificate(&ca).unwrap();
    let addr = sys.gateway.as_ref().unwrap().local_addr;
    let mut client = Client::connect(addr, Proto::Http2, Some(&ca))
        .await
        .unwrap();
    let checkpoint = client.get("/v1/ledger/cd/checkpoint").await.unwrap();
    assert_eq!(checkpoint.status, 200);
    assert_eq!(
        checkpoint.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
    assert!(String::from_utf8_lossy(&checkpoint.body).starts_with("localhost/v1/ledger/cd\n700\n"));
    let tile = client.get("/v1/ledger/cd/tile/0/000").await.unwrap();
    assert_eq!((tile.status.as_u16(), tile.body.len()), (200, 256 * 32));
    assert!(tile.header("cache-control").unwrap().contains("immutable"));
    let bundle = client
        .get("/v1/ledger/cd/tile/entries/002.p/188")
        .await
        .unwrap();
    assert_eq!(bundle_entries(&bundle.body).map(|e| e.len()), Some(188));
    for missing in [
        "/v1/ledger/cd/tile/0/003",
        "/v1/ledger/cd/tile/0/000.p/0",
        "/v1/ledger/cd/tile/../../etc/passwd",
        "/v1/ledger/other/checkpoint",
    ] {
        let reply = client.get(missing).await.unwrap();
        assert_eq!(reply.status, 404, "{missing}");
    }
    // The keys to check receipts and checkpoints with, as the persister
    // published them, are listed beside the log.
    let keys = client.get("/v1/keys").await.unwrap();
    assert_eq!(keys.status, 200);
    let keys = keys.json();
    assert_eq!(keys["ledger_keys"][0]["verifier_key"], key.as_str());
    // A copy, never the sealed directory itself: opening its store
    // checkpoints the WAL under the other tests' copies.
    let copied = copy();
    let receipt_key = stdout(&clickday(
        &["keys", "public", "--only", "receipt"],
        copied.path(),
    ));
    assert_eq!(keys["receipt_keys"][0]["public_key"], receipt_key.trim());
    assert_eq!(keys["receipt_keys"].as_array().unwrap().len(), 1);
    sys.stop().await;
}

#[tokio::test]
async fn a_row_deleted_from_the_store_is_caught() {
    let dir = copy();
    let victim = submission(42).submission_id;
    // With what refers to it (its receipt, its position in the log): the
    // log's own leaf stays, as it is append-only and signed.
    for table in ["receipts", "email_outbox", "ledger_leaves", "submissions"] {
        sql(
            dir.path(),
            &format!("DELETE FROM {table} WHERE submission_id = '{victim}'"),
        )
        .await;
    }
    assert_refused(
        &verify(dir.path(), &[]),
        &format!("submission {victim} is in the ledger but missing from the store"),
    );
}

#[tokio::test]
async fn a_stamp_moved_by_one_nanosecond_is_caught() {
    let dir = copy();
    let victim = submission(77).submission_id;
    let moved = sql(
        dir.path(),
        &format!(
            "UPDATE submissions SET received_at = received_at + 1 WHERE submission_id = '{victim}'"
        ),
    )
    .await;
    assert_eq!(moved, 1);
    assert_refused(
        &verify(dir.path(), &[]),
        &format!("submission {victim}: the store says"),
    );
}

#[tokio::test]
async fn two_rows_swapped_in_the_ranking_are_caught() {
    let dir = copy();
    // Places 1 and 2 of RM trade places.
    let swapped = sql(
        dir.path(),
        "UPDATE submissions SET rank = 3 - rank WHERE province = 'RM' AND rank IN (1, 2)",
    )
    .await;
    assert_eq!(swapped, 2);
    assert_refused(
        &verify(dir.path(), &[]),
        "but is number 1 by arrival in the ledger",
    );
}

#[tokio::test]
async fn a_leaf_appended_out_of_band_is_caught() {
    // A leaf added to the served entry bundle, without the log key.
    let dir = copy();
    let path = TilePath::Entries {
        index: 2,
        width: 188,
    }
    .to_string();
    let store = clickday_store::open(&format!("sqlite://{}/store.db", dir.path().display()))
        .await
        .unwrap();
    let bundle = store.ledger_tile("cd", &path).await.unwrap().unwrap();
    let mut leaves: Vec<Vec<u8>> = bundle_entries(&bundle)
        .unwrap()
        .into_iter()
        .map(<[u8]>::to_vec)
        .collect();
    leaves.push(clickday_ledger::Leaf::of(&submission(N)).to_bytes());
    let forged = entry_bundle(leaves.iter().map(Vec::as_slice));
    drop(store);
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}/store.db", dir.path().display()))
        .await
        .unwrap();
    sqlx::query("UPDATE ledger_tiles SET data = $1 WHERE click_day = 'cd' AND path = $2")
        .bind(forged)
        .bind(&path)
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    assert_refused(&verify(dir.path(), &[]), "is not a valid entry bundle");

    // A row stored after the final checkpoint, never logged.
    let dir = copy();
    let store = clickday_store::open(&format!("sqlite://{}/store.db", dir.path().display()))
        .await
        .unwrap();
    let late = submission(N + 1);
    store
        .persist_batch(std::slice::from_ref(&late), &[])
        .await
        .unwrap();
    drop(store);
    assert_refused(
        &verify(dir.path(), &[]),
        &format!(
            "stored submission {} is not in the ledger",
            late.submission_id
        ),
    );
}

#[tokio::test]
async fn a_checkpoint_resigned_with_another_key_is_caught() {
    let dir = copy();
    let (other, _) = LogKey::generate("localhost/v1/ledger").unwrap();
    let store = clickday_store::open(&format!("sqlite://{}/store.db", dir.path().display()))
        .await
        .unwrap();
    let (size, note) = store.latest_checkpoint("cd").await.unwrap().unwrap();
    let genuine = log_key(dir.path())
        .verifier()
        .open(&note, &origin_for("localhost/v1/ledger", "cd"))
        .unwrap();
    let resigned = other.sign(&genuine.origin, size, &genuine.root);
    drop(store);
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}/store.db", dir.path().display()))
        .await
        .unwrap();
    sqlx::query("UPDATE ledger_checkpoints SET note = $1 WHERE click_day = 'cd' AND size = $2")
        .bind(&resigned.note)
        .bind(size as i64)
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    assert_refused(&verify(dir.path(), &[]), "not signed by the log key");
}

#[tokio::test]
async fn a_forked_log_is_caught() {
    // The log's own key signs a second tree of size 300 with another root:
    // whoever holds that checkpoint (from a receipt) sees the fork.
    let dir = copy();
    let key = log_key(dir.path());
    let origin = origin_for("localhost/v1/ledger", "cd");
    let mut root = clickday_ledger::leaf_hash(b"another history");
    root.0[0] ^= 1;
    let fork = key.sign(&origin, 300, &root);
    let file: PathBuf = dir.path().join("fork.checkpoint");
    std::fs::write(&file, &fork.note).unwrap();
    assert_refused(
        &verify(dir.path(), &["--checkpoint", file.to_str().unwrap()]),
        "the leaves hash to another root than checkpoint 300 says",
    );
    // A genuine earlier checkpoint is held to the log and passes.
    let store = clickday_store::open(&format!("sqlite://{}/store.db", dir.path().display()))
        .await
        .unwrap();
    let (_, first) = store.checkpoints("cd").await.unwrap().remove(0);
    std::fs::write(&file, first).unwrap();
    let ok = verify(dir.path(), &["--checkpoint", file.to_str().unwrap()]);
    assert!(ok.status.success(), "{}", stderr(&ok));
}

/// What the administration publishes comes from the keys the persister
/// made and signs with: the receipt key verifies a stored receipt, the
/// ledger key is the log's; `--only` prints one bare; a data directory
/// without keys is told where they come from (nothing is made).
#[tokio::test]
async fn the_published_keys_are_the_ones_receipts_and_checkpoints_are_signed_with() {
    // A copy, never the sealed directory itself: opening its store
    // checkpoints the WAL under the other tests' copies (a torn copy).
    let copied = copy();
    let dir = copied.path();
    let all = clickday(&["keys", "public"], dir);
    assert!(all.status.success(), "{}", stderr(&all));
    let receipt_key = clickday(&["keys", "public", "--only", "receipt"], dir);
    let receipt_key = stdout(&receipt_key).trim().to_string();
    let ledger_key = stdout(&clickday(&["keys", "public", "--only", "ledger"], dir))
        .trim()
        .to_string();
    assert!(stdout(&all).contains(&receipt_key) && stdout(&all).contains(&ledger_key));
    assert_eq!(ledger_key, log_key(dir).verifier_key());
    let public = clickday_core::PublicKey::from_base64(&receipt_key).unwrap();
    assert!(stdout(&all).contains(&public.id().to_string()));
    let store = clickday_store::open(&format!("sqlite://{}/store.db", dir.display()))
        .await
        .unwrap();
    let receipt = store
        .receipt(&submission(0).submission_id)
        .await
        .unwrap()
        .expect("a receipt for the first submission");
    assert_eq!(receipt.key_id, public.id().to_string());
    clickday_core::receipt::verify_text(&public, &receipt.statement, &receipt.signature)
        .expect("the published key verifies the receipt");

    let empty = tempfile::tempdir().unwrap();
    std::fs::write(
        empty.path().join("clickday.toml"),
        config_text(empty.path()),
    )
    .unwrap();
    let refused = clickday(&["keys", "public"], empty.path());
    assert!(!refused.status.success());
    assert!(stderr(&refused).contains("made on the persister's first start"));
    assert!(!empty.path().join("receipts/receipt-key").exists());
}
