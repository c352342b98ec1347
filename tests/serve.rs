//! `clickday serve` as an operator runs it: one process with gateway and
//! persister; one `/metrics` shows both; SIGTERM drains and exits cleanly.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod common;

use clickday_testkit::{Applicant, Client, Proto, free_port};
use common::{clickday, wait_ready};
use std::process::Stdio;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_stores_receipts_and_reports_both_roles() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = dir.path().join("clickday.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = \"{}\"\n[gateway]\nlisten = \"127.0.0.1:{port}\"\n",
            dir.path().display()
        ),
    )
    .unwrap();
    let alice = Applicant::new(1);
    let add = clickday(
        &config,
        &[
            "accounts",
            "add",
            "--account-id",
            &alice.account_id,
            "--email",
            &alice.email,
            "--public-key",
            &alice.public_key_b64(),
        ],
    )
    .output()
    .unwrap();
    assert!(add.status.success());
    assert_eq!(
        String::from_utf8_lossy(&add.stdout).trim(),
        alice.key_id(),
        "add prints the key_id"
    );

    let mut serve = clickday(&config, &["serve"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let ca = wait_ready(port, &dir.path().join("tls/cert.pem")).await;
    let mut c = Client::connect(([127, 0, 0, 1], port).into(), Proto::Http2, Some(&ca))
        .await
        .unwrap();
    // Zero configuration: the "demo" click day is open.
    let reply = c
        .submit(&alice, &clickday_testkit::signer::body("domanda-1", "demo"))
        .await
        .unwrap();
    assert_eq!(reply.status, 202, "{:?}", reply.body);
    let id = reply.json()["submission_id"].as_str().unwrap().to_string();

    let start = Instant::now();
    loop {
        let metrics = String::from_utf8(c.get("/metrics").await.unwrap().body.to_vec()).unwrap();
        let done = metrics.contains("clickday_persister_stored_total 1")
            && metrics.contains("clickday_persister_receipts_total 1")
            && metrics.contains("clickday_persister_emails_sent_total 1");
        if done {
            assert!(metrics.contains(
                "clickday_gateway_submissions_total{outcome=\"accepted\",protocol=\"h2\"} 1"
            ));
            assert_eq!(
                metrics.matches("# EOF").count(),
                1,
                "one exposition, one end marker"
            );
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "persister metrics never showed the submission:\n{metrics}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        dir.path()
            .join(format!("outbox/{id}-received.eml"))
            .exists()
    );

    // SIGTERM: drain and exit 0.
    let pid = serve.id().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = serve.wait().unwrap();
    assert!(
        status.success(),
        "serve exits cleanly on SIGTERM: {status:?}"
    );

    let out = clickday(&config, &["status"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("1 submissions stored")
            && text.contains("every stored submission has its receipt"),
        "{text}"
    );
}
