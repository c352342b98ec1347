//! Receipts end to end: made by the running persister, read back from the
//! PDF by an independent reader (poppler's `pdftotext`), their statement
//! verified offline with the published key, and a tampered one refused.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use clickday_config::Config;
use clickday_core::receipt::{find_statement, verify_text};
use clickday_core::time::format_rfc3339_nanos;
use clickday_core::{PublicKey, Submission};
use clickday_queue::{Queue, SqliteInbox};
use clickday_store::{SqliteStore, Store};
use ed25519_dalek::SigningKey;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

fn record(i: u64) -> Submission {
    let body = format!(
        r#"{{"application_id":"domanda-{i}","click_day":"cd","category":"lavoro-domestico","province":"RM","form":"LD","data":{{"datore":{{"nome":"Mario Rossi","comune":"Città di Castello"}},"lavoratore":{{"nome":"Ana Pop","nascita":"1990-02-03"}},"ore":30}}}}"#
    );
    let mut s = clickday_testkit::submission(
        &format!("acct-{i}"),
        &format!("domanda-{i}"),
        body,
        1_296_457_200_051_234_567 + i,
    );
    s.submission_id = format!("20110131T07000000000{i:04}Z-00001");
    s.stamp.seq = i;
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receipts_are_readable_signed_and_tamper_evident() {
    let dir = tempfile::tempdir().unwrap();
    let key = SigningKey::from_bytes(&[42; 32]);
    let key_file = dir.path().join("receipt-key");
    std::fs::write(&key_file, URL_SAFE_NO_PAD.encode(key.to_bytes())).unwrap();
    let text = format!(
        "data_dir = \"{}\"\n[receipts]\nkey_file = \"{}\"\n[persister]\nrank_after_close = false\n",
        dir.path().display(),
        key_file.display()
    );
    let cfg = Config::from_toml(&text, std::iter::empty(), 0).unwrap();
    let queue: Arc<dyn Queue> = Arc::new(
        SqliteInbox::open(&dir.path().join("q.db"), 64)
            .await
            .unwrap(),
    );
    let store: Arc<dyn Store> =
        Arc::new(SqliteStore::open(&dir.path().join("s.db")).await.unwrap());
    let mut records: Vec<Submission> = (0..40).map(record).collect();
    // One that follows the built-in form model: its receipt names the
    // fields by their labels and shows the values as the portal does.
    let modelled = br#"{"application_id":"domanda-40","click_day":"cd","category":"lavoro-domestico","province":"RM","form":"LD","data":{"lavoratore_cognome":"Okafor","lavoratore_nascita":"1992-03-03","provincia":"RM","lavoratore_sesso":"F"}}"#;
    let mut with_model = clickday_testkit::submission(
        "acct-40",
        "domanda-40",
        &modelled[..],
        1_296_457_200_051_234_607,
    );
    with_model.submission_id = "20110131T070000000000040Z-00001".into();
    with_model.stamp.seq = 40;
    records.push(with_model);
    for r in &records {
        queue.enqueue(r).await.unwrap();
    }
    let shutdown = CancellationToken::new();
    let task = {
        let (queue, store, token) = (queue.clone(), store.clone(), shutdown.clone());
        let clock: clickday_core::Clock = Arc::new(|| 0);
        tokio::spawn(async move {
            clickday_persister::run(&cfg, queue, store, clock, token)
                .await
                .unwrap()
        })
    };
    clickday_testkit::eventually("every receipt made", Duration::from_secs(60), async || {
        let last = store.receipt(&records[40].submission_id).await.unwrap();
        let waiting = store.oldest_without_receipt().await.unwrap();
        (last.is_some() && waiting.is_none()).then_some(())
    })
    .await;
    shutdown.cancel();
    task.await.unwrap();

    let public = PublicKey::from_bytes(&key.verifying_key().to_bytes()).unwrap();
    let r = &records[7];
    let receipt = store.receipt(&r.submission_id).await.unwrap().unwrap();
    assert_eq!(receipt.key_id, public.id().to_string());
    let pdf = dir.path().join("receipt.pdf");
    std::fs::write(&pdf, &receipt.pdf).unwrap();
    let out = Command::new("pdftotext")
        .arg(&pdf)
        .arg("-")
        .output()
        .expect("pdftotext (poppler-utils) must be installed");
    assert!(out.status.success());
    let extracted = String::from_utf8(out.stdout).unwrap();
    for expected in [
        "Ricevuta di invio",
        "Submission receipt",
        r.submission_id.as_str(),
        &format_rfc3339_nanos(r.received_at()),
        "31/01/2011 08:00:00.051 CET",
        &hex(&r.body_sha256),
        "La domanda è stata ricevuta",
        "datore.comune",
        "Città di Castello",
        "lavoratore.nome",
        "Ana Pop",
    ] {
        assert!(
            extracted.contains(expected),
            "{expected:?} missing from:\n{extracted}"
        );
    }
    // The document is dated by the arrival it certifies.
    let info = Command::new("pdfinfo")
        .arg(&pdf)
        .output()
        .expect("pdfinfo (poppler-utils)");
    let info = String::from_utf8_lossy(&info.stdout);
    let created = info
        .lines()
        .find(|l| l.starts_with("CreationDate:"))
        .unwrap_or_default();
    assert!(created.contains("2011"), "{info}");
    // All on one page, proof of inclusion included.
    assert!(
        info.lines()
            .any(|l| l.starts_with("Pages:") && l.ends_with(" 1")),
        "{info}"
    );
    let labelled = store
        .receipt(&records[40].submission_id)
        .await
        .unwrap()
        .unwrap();
    std::fs::write(&pdf, &labelled.pdf).unwrap();
    let out = Command::new("pdftotext")
        .arg(&pdf)
        .arg("-")
        .output()
        .unwrap();
    let labelled = String::from_utf8(out.stdout).unwrap();
    for expected in [
        "Cognome",
        "Okafor",
        "Data di nascita",
        "03/03/1992",
        "Roma (RM)",
        "Femminile",
    ] {
        assert!(
            labelled.contains(expected),
            "{expected:?} missing from:\n{labelled}"
        );
    }
    assert!(
        !labelled.contains("lavoratore_cognome"),
        "labels, not keys:\n{labelled}"
    );
    std::fs::write(&pdf, &receipt.pdf).unwrap();
    // The statement read back from the PDF is the one stored, and verifies.
    let statement = find_statement(&extracted).expect("statement block in the PDF");
    assert_eq!(statement, receipt.statement);
    assert_eq!(verify_text(&public, &statement, &receipt.signature), Ok(()));
    // One changed byte in the statement and the signature fails.
    let mut tampered = statement.clone().into_bytes();
    let at = tampered.iter().position(|&b| b == b'-').unwrap();
    tampered[at] = b'+';
    assert!(
        verify_text(
            &public,
            &String::from_utf8(tampered).unwrap(),
            &receipt.signature
        )
        .is_err()
    );
    // Every submission got exactly its own receipt.
    for r in &records {
        let receipt = store.receipt(&r.submission_id).await.unwrap().unwrap();
        assert!(receipt.statement.contains(&r.submission_id));
        assert_eq!(
            verify_text(&public, &receipt.statement, &receipt.signature),
            Ok(())
        );
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
