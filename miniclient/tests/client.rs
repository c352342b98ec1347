//! clickday-client as an applicant runs it, against an in-process portal
//! and gateway: activate (key pair, owner-only file, key registered),
//! list, clock (and its warning), and clear failures.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use axum::response::IntoResponse as _;
use clickday_config::Config;
use clickday_store::portal::{Draft, DraftState};
use clickday_testkit::browser::Browser;
use clickday_testsystem::System;
use std::path::Path;
use std::process::Output;
use std::sync::Arc;

/// Portal and gateway on one embedded store; the gateway's clock runs
/// `skew_ms` ahead of this computer's.
async fn system(skew_ms: i64) -> System {
    system_opening(skew_ms, "2020-01-01T00:00:00Z").await
}

/// The same, with the click day `cd-client` opening at `opens_at`.
async fn system_opening(skew_ms: i64, opens_at: &str) -> System {
    system_with(skew_ms, opens_at, "").await
}

/// The same, with more configuration (`extra`, after the `[gateway]`
/// keys).
async fn system_with(skew_ms: i64, opens_at: &str, extra: &str) -> System {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        r#"data_dir = "{dir}"
[gateway]
listen = "127.0.0.1:0"
key_refresh_interval_ms = 200
{extra}
[portal]
listen = "127.0.0.1:0"
public_url = "http://portal.test"
[[click_days]]
id = "cd-client"
opens_at = "{opens_at}"
closes_at = "2100-01-01T00:00:00Z"
categories = ["lavoro-domestico"]
"#,
        dir = dir.path().display()
    );
    let cfg = Config::from_toml(&text, std::iter::empty(), 0).unwrap();
    let skew = skew_ms * 1_000_000;
    let clock: clickday_core::Clock =
        Arc::new(move || (clickday_client::clock::local_nanos() + skew) as u64);
    System::open(cfg)
        .await
        .owning(dir)
        .with_gateway_clock(clock)
        .await
        .with_portal()
        .await
}

/// A confirmed employer with one application ready for `cd-client`.
async fn employer(sys: &System, email: &str, password: &str) {
    employer_with(sys, email, password, 1).await;
}

/// A confirmed employer with `ready` applications ready for `cd-client`.
async fn employer_with(sys: &System, email: &str, password: &str, ready: u32) {
    let addr = sys
        .portal_url()
        .trim_start_matches("http://")
        .parse()
        .unwrap();
    let mut browser = Browser::open(addr).await.unwrap();
    let form = [
        ("kind", "employer"),
        ("full_name", "Rosa Gialli"),
        ("codice_fiscale", "RSSMRA85T10A562S"),
        ("email", email),
        ("password", password),
        ("password_again", password),
    ];
    assert_eq!(browser.submit("/registrazione", &form).await.status, 200);
    let jobs = sys
        .store
        .claim_emails("test", 10, std::time::Duration::from_secs(60))
        .await
        .unwrap();
    let clickday_store::EmailContent::Written { body, .. } = &jobs.last().unwrap().content else {
        panic!("no confirmation email");
    };
    let link = body
        .split_whitespace()
        .find(|w| w.starts_with("http://portal.test/"))
        .unwrap();
    browser
        .get(link.trim_start_matches("http://portal.test"))
        .await;
    let user = sys.store.user_by_email(email).await.unwrap().unwrap();
    for n in 1..=ready {
        let draft = Draft {
            application_id: format!("2030-READY{n:05}"),
            user_id: user.user_id.clone(),
            click_day: "cd-client".into(),
            category: "lavoro-domestico".into(),
            answers: r#"{"provincia":"RM","lavoratore_cognome":"Ali"}"#.into(),
            province: Some("RM".into()),
            worker_name: Some("Ali".into()),
            state: DraftState::Ready,
            created_at: 0,
            updated_at: 0,
            sent: None,
        };
        sys.store.create_draft(&draft).await.unwrap();
    }
}

async fn client(home: &Path, args: &[&str], stdin: &str) -> Output {
    use tokio::io::AsyncWriteExt as _;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_clickday-client"))
        .arg("--home")
        .arg(home)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.as_bytes()).await.unwrap();
    drop(input);
    child.wait_with_output().await.unwrap()
}

fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn activate_list_and_clock() {
    let sys = system(0).await;
    employer(&sys, "rosa@example.it", "password-di-rosa").await;
    let home = sys.dir().join("client-home");

    let activated = client(
        &home,
        &[
            "activate",
            "--portal",
            &sys.portal_url(),
            "--email",
            "rosa@example.it",
        ],
        "password-di-rosa\n",
    )
    .await;
    assert!(activated.status.success(), "{}", err(&activated));
    let key_id = out(&activated).trim().to_string();
    assert_eq!(key_id.len(), 32, "{key_id}");
    assert!(
        err(&activated).contains("Installazione attivata"),
        "{}",
        err(&activated)
    );
    let keys = sys.store.list_keys().await.unwrap();
    let user = sys
        .store
        .user_by_email("rosa@example.it")
        .await
        .unwrap()
        .unwrap();
    assert!(
        keys.iter()
            .any(|k| k.key_id == key_id && Some(&k.account_id) == user.account_id.as_ref())
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(home.join("signing-key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "owner-only key file");
        let mode = std::fs::metadata(&home).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
    }
    // Activating again keeps the key (applications signed with it may be pending).
    let again = client(
        &home,
        &[
            "activate",
            "--portal",
            &sys.portal_url(),
            "--email",
            "rosa@example.it",
        ],
        "password-di-rosa\n",
    )
    .await;
    assert!(again.status.success(), "{}", err(&again));
    assert_eq!(out(&again).trim(), key_id);

    // Activation fetched the portal's settings file (gateway, the CA its
    // self-signed certificate needs, published keys) and kept it: no flag
    // names the gateway or the CA from now on.
    let kept = std::fs::read_to_string(home.join("settings.toml")).unwrap();
    assert!(kept.contains(&sys.gateway_url()), "{kept}");
    assert!(home.join("ca.pem").exists());
    let listed = client(&home, &["list"], "").await;
    assert!(listed.status.success(), "{}", err(&listed));
    assert!(
        // In Rome time, as the administration announces it.
        out(&listed).contains("apertura 01/01/2020 01:00:00.000 CET (1 domanda)"),
        "{}",
        out(&listed)
    );
    assert!(
        out(&listed).contains("Click day cd-client") && out(&listed).contains("2030-READY00001"),
        "{}",
        out(&listed)
    );
    let english = client(&home, &["--lang", "en", "list"], "").await;
    assert!(
        out(&english).contains("opens 01/01/2020 01:00:00.000 CET (1 application)"),
        "{}",
        out(&english)
    );
    let by_settings = client(&home, &["clock"], "").await;
    assert!(by_settings.status.success(), "{}", err(&by_settings));

    // A settings file that names no gateway, given explicitly, wins over
    // the kept one: the calendar is then unknown.
    let empty = sys.dir().join("empty.toml");
    std::fs::write(&empty, "").unwrap();
    let home_without = sys.dir().join("client-home-2");
    let bare = client(
        &home_without,
        &[
            "--settings",
            empty.to_str().unwrap(),
            "activate",
            "--portal",
            &sys.portal_url(),
            "--email",
            "rosa@example.it",
        ],
        "password-di-rosa\n",
    )
    .await;
    assert!(bare.status.success(), "{}", err(&bare));
    let listed = client(
        &home_without,
        &["--settings", empty.to_str().unwrap(), "list"],
        "",
    )
    .await;
    assert!(
        out(&listed).contains("orario non pubblicato"),
        "no gateway known: {}",
        out(&listed)
    );

    let ca = sys.gateway_ca().to_string_lossy().to_string();
    // Without --ca or settings the computer's own certificate authorities
    // are trusted, as a browser's: a self-signed gateway is refused,
    // naming why.
    let untrusted = client(
        &home_without,
        &[
            "--settings",
            empty.to_str().unwrap(),
            "clock",
            "--gateway",
            &sys.gateway_url(),
        ],
        "",
    )
    .await;
    assert!(!untrusted.status.success());
    assert!(
        err(&untrusted).to_lowercase().contains("certificate"),
        "{}",
        err(&untrusted)
    );
    let clock = client(
        &home,
        &["--ca", &ca, "clock", "--gateway", &sys.gateway_url()],
        "",
    )
    .await;
    assert!(clock.status.success(), "{}", err(&clock));
    assert!(
        out(&clock).contains("Scarto dall'orologio del sistema"),
        "{}",
        out(&clock)
    );
    assert!(
        !err(&clock).contains("ATTENZIONE"),
        "no warning for a true clock: {}",
        err(&clock)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clock_off_by_two_seconds_is_measured_and_warned() {
    let sys = system(2_000).await;
    let home = sys.dir().join("h");
    let ca = sys.gateway_ca().to_string_lossy().to_string();
    let clock = client(
        &home,
        &[
            "--ca",
            &ca,
            "clock",
            "--gateway",
            &sys.gateway_url(),
            "--samples",
            "4",
        ],
        "",
    )
    .await;
    assert!(clock.status.success(), "{}", err(&clock));
    let text = out(&clock);
    let ms: f64 = text
        .split("Scarto dall'orologio del sistema: ")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (ms - 2_000.0).abs() < 50.0,
        "measured {ms} ms for a 2,000 ms skew"
    );
    assert!(err(&clock).contains("ATTENZIONE"), "{}", err(&clock));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_are_explained() {
    let sys = system(0).await;
    employer(&sys, "rosa@example.it", "password-di-rosa").await;
    let home = sys.dir().join("h");
    let wrong = client(
        &home,
        &[
            "activate",
            "--portal",
            &sys.portal_url(),
            "--email",
            "rosa@example.it",
        ],
        "sbagliata\n",
    )
    .await;
    assert_eq!(wrong.status.code(), Some(1));
    assert!(
        err(&wrong).contains("wrong email or password"),
        "{}",
        err(&wrong)
    );
    assert!(
        !home.join("signing-key").exists(),
        "no key for a refused sign-in"
    );
    let free = clickday_testkit::free_port();
    let unreachable = client(
        &home,
        &[
            "activate",
            "--portal",
            &format!("http://127.0.0.1:{free}"),
            "--email",
            "x@example.it",
        ],
        "x\n",
    )
    .await;
    assert_eq!(unreachable.status.code(), Some(1));
    assert!(
        err(&unreachable).contains("cannot reach the portal"),
        "{}",
        err(&unreachable)
    );
    let gateway = client(
        &home,
        &["clock", "--gateway", &format!("http://127.0.0.1:{free}")],
        "",
    )
    .await;
    assert_eq!(gateway.status.code(), Some(1));
    assert!(
        err(&gateway).contains("cannot reach the gateway"),
        "{}",
        err(&gateway)
    );
    let before = client(&home, &["list"], "").await;
    assert_eq!(before.status.code(), Some(1));
    assert!(
        err(&before).contains("run `clickday-client activate` first"),
        "{}",
        err(&before)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_everything_at_the_opening_instant_once_over_http2() {
    send_at_the_opening("h2").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_everything_at_the_opening_instant_once_over_http3() {
    send_at_the_opening("h3").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_picks_http3_when_the_gateway_offers_it() {
    send_at_the_opening("auto").await;
}

/// `protocol`: h2, h3, or `auto` (no flag: HTTP/3 from Alt-Svc); the
/// gateway's own metrics tell which one carried the submissions.
async fn send_at_the_opening(protocol: &str) {
    let opens = clickday_client::clock::local_nanos() + 3_000_000_000;
    let opens_at = clickday_core::time::format_rfc3339_nanos(opens as u64);
    let sys = system_opening(0, &opens_at).await.with_persister();
    employer_with(&sys, "rosa@example.it", "password-di-rosa", 6).await;
    let home = sys.dir().join("h");
    let ca = sys.gateway_ca().to_string_lossy().to_string();
    activate_with_gateway(&sys, &home, &ca).await;
    // The gateway refreshes its keys every 200 ms here; the opening is
    // 3 s away, so the new key is known by then.
    let mut args = vec!["--ca", ca.as_str(), "send"];
    if protocol != "auto" {
        args.extend(["--protocol", protocol]);
    }
    let sent = client(&home, &args, "").await;
    assert!(sent.status.success(), "{}\n{}", out(&sent), err(&sent));
    assert!(
        err(&sent).contains("6 domande firmate per il click day cd-client"),
        "{}",
        err(&sent)
    );
    assert!(
        err(&sent).contains("Invio tra"),
        "a countdown: {}",
        err(&sent)
    );
    let printed = out(&sent);
    let lines: Vec<&str> = printed
        .lines()
        .filter(|l| l.starts_with("Invio corretto"))
        .collect();
    assert_eq!(lines.len(), 6, "{}", out(&sent));

    // The journal: every entry accepted at or after the opening, with the
    // bytes the portal gave.
    let journal: serde_json::Value =
        serde_json::from_slice(&std::fs::read(home.join("journal.json")).unwrap()).unwrap();
    let entries = journal["entries"].as_object().unwrap();
    assert_eq!(entries.len(), 6);
    for (id, entry) in entries {
        assert_eq!(entry["state"], "accepted", "{id}: {entry}");
        let received =
            clickday_core::time::parse_rfc3339(entry["received_at"].as_str().unwrap()).unwrap();
        assert!(received as i64 >= opens, "{id} arrived before the opening");
        assert!(entry["body"].as_str().unwrap().contains(id.as_str()));
    }

    let carried = if protocol == "h2" { "h2" } else { "h3" };
    let metrics = gateway_metrics(&sys).await;
    let accepted = format!(
        "clickday_gateway_submissions_total{{outcome=\"accepted\",protocol=\"{carried}\"}} 6"
    );
    assert!(metrics.contains(&accepted), "{protocol}: {metrics}");

    // Sending again sends nothing and changes nothing.
    let before = std::fs::read(home.join("journal.json")).unwrap();
    let again = client(&home, &args, "").await;
    assert!(again.status.success(), "{}", err(&again));
    assert!(!out(&again).contains("Invio corretto"), "{}", out(&again));
    assert_eq!(std::fs::read(home.join("journal.json")).unwrap(), before);

    // Receipts, once the persister has made them, and their offline check.
    let receipts = home.join("receipts");
    clickday_testkit::eventually(
        "six receipts saved",
        std::time::Duration::from_secs(30),
        async || {
            let got = client(&home, &["receipts"], "").await;
            assert!(got.status.success(), "{}", err(&got));
            (out(&got).matches("salvata").count() == 6).then_some(())
        },
    )
    .await;
    let key = receipt_key(&sys);
    let pdf = receipts.join("2030-READY00001.pdf");
    let pdf = pdf.to_str().unwrap();
    let valid = client(&home, &["verify-receipt", pdf, "--key", &key], "").await;
    assert!(valid.status.success(), "{}", err(&valid));
    assert!(
        out(&valid).contains("valida") && out(&valid).contains("application_id: 2030-READY00001"),
        "{}",
        out(&valid)
    );
    let forged = client(
        &home,
        &[
            "verify-receipt",
            pdf,
            "--key",
            &clickday_testkit::Applicant::new(3).public_key_b64(),
        ],
        "",
    )
    .await;
    assert_eq!(forged.status.code(), Some(1));
    assert!(
        err(&forged).contains("altered or not made by the system"),
        "{}",
        err(&forged)
    );
    // A key whose base64url begins with '-' is a key, not an option (one
    // published key in 64 does): refused as the wrong key, never as usage.
    let hyphen = format!("-{}", "A".repeat(42));
    let wrong = client(&home, &["verify-receipt", pdf, "--key", &hyphen], "").await;
    assert_eq!(wrong.status.code(), Some(1), "{}", err(&wrong));

    // Its place in the arrival ledger, offline with the ledger's published
    // key, then against the gateway's newest checkpoint.
    let ledger_key = clickday_ledger::LogKey::from_text(
        &std::fs::read_to_string(&sys.cfg.ledger.key_file).unwrap(),
    )
    .unwrap()
    .verifier_key()
    .to_string();
    let ca = sys.gateway_ca();
    let placed = client(
        &home,
        &[
            "--ca",
            ca.to_str().unwrap(),
            "verify-receipt",
            pdf,
            "--key",
            &key,
            "--ledger-key",
            &ledger_key,
            "--gateway",
            &sys.gateway_url(),
        ],
        "",
    )
    .await;
    assert!(placed.status.success(), "{}", err(&placed));
    assert!(
        out(&placed).contains("registro pubblico degli arrivi verificata")
            && out(&placed).contains("nessuna voce tolta o cambiata"),
        "{}",
        out(&placed)
    );
    // The same receipt against a ledger whose key is another's: refused.
    let (other, _) = clickday_ledger::LogKey::generate("localhost/v1/ledger").unwrap();
    let refused = client(
        &home,
        &[
            "verify-receipt",
            pdf,
            "--key",
            &key,
            "--ledger-key",
            other.verifier_key(),
        ],
        "",
    )
    .await;
    assert_eq!(refused.status.code(), Some(1), "{}", out(&refused));
    assert!(
        err(&refused).contains("does not verify"),
        "{}",
        err(&refused)
    );
}

/// SIGKILL in the middle of sending: a second `send` resends exactly the
/// journaled bytes where no answer was recorded; the gateway ends up with
/// one record per application, none lost, none doubled, none altered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_killed_midway_is_finished_by_the_next_without_loss_or_change() {
    use tokio::io::AsyncBufReadExt as _;
    const APPS: u32 = 150;
    let opens = clickday_client::clock::local_nanos() + 2_000_000_000;
    let sys = system_opening(0, &clickday_core::time::format_rfc3339_nanos(opens as u64)).await;
    employer_with(&sys, "rosa@example.it", "password-di-rosa", APPS).await;
    let home = sys.dir().join("h");
    let ca = sys.gateway_ca().to_string_lossy().to_string();
    activate_with_gateway(&sys, &home, &ca).await;

    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_clickday-client"))
        .args(["--home", home.to_str().unwrap(), "--ca", &ca, "send"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    // The first answer printed: kill at once, most answers unjournaled.
    let first = tokio::time::timeout(std::time::Duration::from_secs(30), lines.next_line())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(first.starts_with("Invio corretto"), "{first}");
    child.start_kill().unwrap();
    child.wait().await.unwrap();

    let journal = |home: &Path| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(home.join("journal.json")).unwrap()).unwrap()
    };
    let killed = journal(&home);
    let entries = killed["entries"].as_object().unwrap();
    assert_eq!(
        entries.len(),
        APPS as usize,
        "every body journaled before sending"
    );
    let answered = entries
        .values()
        .filter(|e| e["state"] == "accepted")
        .count();
    assert!(
        answered < APPS as usize,
        "the kill came after every answer; nothing to test"
    );

    let resumed = client(&home, &["--ca", &ca, "send"], "").await;
    assert!(resumed.status.success(), "{}", err(&resumed));
    let finished = journal(&home);
    let mut records = Vec::new();
    for shard in 0..sys.queue.shards() {
        records.extend(sys.queue.all_submissions(shard).await.unwrap());
    }
    assert_eq!(
        records.len(),
        APPS as usize,
        "one record per application, none doubled"
    );
    for (id, entry) in finished["entries"].as_object().unwrap() {
        assert_eq!(entry["state"], "accepted", "{id}");
        assert_eq!(
            entry["body"], entries[id]["body"],
            "{id}: the body never changes"
        );
        let record = records
            .iter()
            .find(|r| &r.application.application_id == id)
            .unwrap_or_else(|| panic!("{id} lost"));
        assert_eq!(
            record.body.as_ref(),
            entry["body"].as_str().unwrap().as_bytes(),
            "{id}: bytes as journaled"
        );
        assert_eq!(
            entry["submission_id"],
            record.submission_id.as_str(),
            "{id}: the original id"
        );
    }
}

/// The gateway answers 503 while its Redis queue is down; the client keeps
/// resending the same bytes after each Retry-After and gets everything in
/// once Redis is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_answering_503_for_a_while_gets_everything_in_the_end() {
    let mut redis = clickday_testkit::RedisServer::start();
    let opens = clickday_client::clock::local_nanos() + 2_000_000_000;
    let extra = format!(
        "enqueue_timeout_ms = 300\n[queue]\nurl = \"{}\"\nshards = 1",
        redis.url()
    );
    let sys = system_with(
        0,
        &clickday_core::time::format_rfc3339_nanos(opens as u64),
        &extra,
    )
    .await;
    employer_with(&sys, "rosa@example.it", "password-di-rosa", 3).await;
    let home = sys.dir().join("h");
    let ca = sys.gateway_ca().to_string_lossy().to_string();
    activate_with_gateway(&sys, &home, &ca).await;
    redis.kill();
    let sending = tokio::spawn({
        let home = home.clone();
        let ca = ca.clone();
        async move { client(&home, &["--ca", &ca, "send"], "").await }
    });
    // Down across the opening and until every application was refused
    // twice (each resent after its Retry-After), then back.
    clickday_testkit::eventually(
        "two 503 answers per application",
        std::time::Duration::from_secs(60),
        async || {
            let refused = clickday_testkit::client::counter(
                &gateway_metrics(&sys).await,
                "clickday_gateway_submissions_total",
                "outcome=\"unavailable\"",
            );
            (refused >= 6).then_some(())
        },
    )
    .await;
    assert!(
        !sending.is_finished(),
        "the client gave up while the gateway answered 503"
    );
    let back_at = clickday_client::clock::local_nanos();
    redis.restart();
    let sent = tokio::time::timeout(std::time::Duration::from_secs(60), sending)
        .await
        .unwrap()
        .unwrap();
    assert!(sent.status.success(), "{}\n{}", out(&sent), err(&sent));
    assert_eq!(
        out(&sent)
            .lines()
            .filter(|l| l.starts_with("Invio corretto"))
            .count(),
        3,
        "{}",
        out(&sent)
    );
    let records = sys.queue.all_submissions(0).await.unwrap();
    assert_eq!(records.len(), 3);
    // Each kept the arrival of its first attempt through its admission
    // ticket, not the instant a resend finally got through.
    for r in &records {
        assert!(
            (r.received_at() as i64) < back_at && r.received_at() as i64 >= opens,
            "{}: stamped at {}, Redis back at {back_at}",
            r.application.application_id,
            r.received_at()
        );
    }
}

async fn gateway_metrics(sys: &System) -> String {
    let ca = clickday_gateway::tls::read_certificate(&sys.gateway_ca()).unwrap();
    let port: u16 = sys
        .gateway_url()
        .rsplit(':')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let mut c = clickday_testkit::Client::connect(
        ([127, 0, 0, 1], port).into(),
        clickday_testkit::Proto::Http2,
        Some(&ca),
    )
    .await
    .unwrap();
    String::from_utf8(c.get("/metrics").await.unwrap().body.to_vec()).unwrap()
}

/// A broken or hostile gateway on plain HTTP/1.1: its clock and calendar
/// are fine, but submissions first get garbage, a 202 without an id, an
/// HTML 500, a 503 without Retry-After and a 429 with a garbled one; only
/// then a real acknowledgement.
async fn broken_gateway(calendar_ok: bool) -> (String, Arc<std::sync::atomic::AtomicU32>) {
    use axum::http::StatusCode;
    use std::sync::atomic::{AtomicU32, Ordering};
    let attempts = Arc::new(AtomicU32::new(0));
    let counter = attempts.clone();
    let app = axum::Router::new()
        .route(
            "/v1/time",
            axum::routing::get(|| async {
                let now = clickday_client::clock::local_nanos();
                axum::Json(serde_json::json!({ "unix_nanos": now, "utc": "" }))
            }),
        )
        .route(
            "/v1/click-days",
            axum::routing::get(move || async move {
                match calendar_ok {
                    true => axum::Json(serde_json::json!([{ "id": "cd-client",
                        "opens_at": "2020-01-01T00:00:00Z", "closes_at": "2100-01-01T00:00:00Z",
                        "categories": ["lavoro-domestico"] }])).into_response(),
                    false => (StatusCode::OK, "\u{0}\u{1}garbage").into_response(),
                }
            }),
        )
        .route(
            "/v1/submissions",
            axum::routing::post(move |body: axum::body::Bytes| {
                let counter = counter.clone();
                async move {
                    let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
                    assert!(body.starts_with(b"{"), "the body sent is the journaled JSON");
                    match n {
                        1 => (StatusCode::OK, [("x", "1")], "not json {".to_string()),
                        2 => (StatusCode::ACCEPTED, [("x", "2")], "{}".to_string()),
                        3 => (StatusCode::INTERNAL_SERVER_ERROR, [("x", "3")], "<html>oops</html>".to_string()),
                        4 => (StatusCode::SERVICE_UNAVAILABLE, [("x", "4")], "x".to_string()),
                        5 => (StatusCode::TOO_MANY_REQUESTS, [("retry-after", "soon")], "".to_string()),
                        _ => (
                            StatusCode::ACCEPTED,
                            [("x", "6")],
                            format!(r#"{{"submission_id":"FAKE-{n}","received_at":"2030-01-01T00:00:00.000000000Z","duplicate":false}}"#),
                        ),
                    }
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), attempts)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_gateway_answers_never_pass_for_an_acknowledgement() {
    let sys = system(0).await;
    employer(&sys, "rosa@example.it", "password-di-rosa").await;
    let home = sys.dir().join("h");
    let activated = client(
        &home,
        &[
            "activate",
            "--portal",
            &sys.portal_url(),
            "--email",
            "rosa@example.it",
        ],
        "password-di-rosa\n",
    )
    .await;
    assert!(activated.status.success(), "{}", err(&activated));
    let (fake, attempts) = broken_gateway(true).await;
    let sent = client(&home, &["send", "--gateway", &fake, "--protocol", "h1"], "").await;
    assert!(sent.status.success(), "{}\n{}", out(&sent), err(&sent));
    assert!(!err(&sent).contains("panicked"), "{}", err(&sent));
    assert_eq!(
        attempts.load(std::sync::atomic::Ordering::SeqCst),
        6,
        "five unusable answers, then the real one"
    );
    assert!(
        out(&sent).contains("Invio corretto: domanda 2030-READY00001 — numero FAKE-6"),
        "{}",
        out(&sent)
    );

    let (garbled, _) = broken_gateway(false).await;
    let home2 = sys.dir().join("h2");
    std::fs::create_dir_all(&home2).unwrap();
    for file in ["signing-key", "session.json"] {
        std::fs::copy(home.join(file), home2.join(file)).unwrap();
    }
    let refused = client(
        &home2,
        &["send", "--gateway", &garbled, "--protocol", "h1"],
        "",
    )
    .await;
    assert_eq!(refused.status.code(), Some(1), "{}", err(&refused));
    assert!(
        err(&refused).contains("the gateway's calendar is not a list"),
        "{}",
        err(&refused)
    );
    assert!(!err(&refused).contains("panicked"));
}

/// The published receipt key of the system (base64url).
fn receipt_key(sys: &System) -> String {
    use base64::Engine as _;
    let seed = std::fs::read_to_string(&sys.cfg.receipts.key_file).unwrap();
    let seed: [u8; 32] = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(seed.trim())
        .unwrap()
        .try_into()
        .unwrap();
    let public = ed25519_dalek::SigningKey::from_bytes(&seed).verifying_key();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(public.as_bytes())
}

/// `activate` for rosa@example.it, remembering the gateway.
async fn activate_with_gateway(sys: &System, home: &Path, ca: &str) {
    let args = [
        "--ca",
        ca,
        "activate",
        "--portal",
        &sys.portal_url(),
        "--email",
        "rosa@example.it",
        "--gateway",
        &sys.gateway_url(),
    ];
    let activated = client(home, &args, "password-di-rosa\n").await;
    assert!(activated.status.success(), "{}", err(&activated));
}
