//! Confirmation emails: one per stored submission, carrying its id, through
//! a relay that fails at first, and never sent again after a restart; and
//! the embedded `.eml` outbox.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use clickday_config::Config;
use clickday_core::{PublicKey, Submission};
use clickday_queue::{Queue, SqliteInbox};
use clickday_store::{NewAccount, SqliteStore, Store};
use clickday_testkit::{Applicant, SmtpSink, eventually};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

const N: u64 = 20;

fn record(i: u64) -> Submission {
    let mut s = clickday_testkit::submission(
        &Applicant::new(i).account_id,
        &format!("domanda-{i}"),
        format!("{{\"application_id\":\"domanda-{i}\"}}"),
        1_296_457_200_000_000_000 + i,
    );
    s.submission_id = format!("20110131T0700000000000{i:02}Z-00001");
    s.stamp.seq = i;
    s
}

struct Setup {
    cfg: Config,
    queue: Arc<dyn Queue>,
    store: Arc<dyn Store>,
}

async fn setup(dir: &Path, email: &str) -> Setup {
    let text = format!(
        "data_dir = \"{}\"\n[persister]\nrank_after_close = false\n[email]\n{email}\n",
        dir.display()
    );
    let cfg = Config::from_toml(&text, std::iter::empty(), 0).unwrap();
    let queue: Arc<dyn Queue> = Arc::new(SqliteInbox::open(&dir.join("q.db"), 64).await.unwrap());
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.join("s.db")).await.unwrap());
    let accounts: Vec<NewAccount> = (0..N)
        .map(|i| {
            let a = Applicant::new(i);
            NewAccount {
                account_id: a.account_id.clone(),
                email: a.email.clone(),
                public_key: PublicKey::from_base64(&a.public_key_b64()).unwrap(),
            }
        })
        .collect();
    store.import_accounts(&accounts).await.unwrap();
    for i in 0..N {
        queue.enqueue(&record(i)).await.unwrap();
    }
    Setup { cfg, queue, store }
}

async fn run_until(s: &Setup, mut done: impl AsyncFnMut() -> bool) {
    let shutdown = CancellationToken::new();
    let task = {
        let (cfg, queue, store, token) = (
            s.cfg.clone(),
            s.queue.clone(),
            s.store.clone(),
            shutdown.clone(),
        );
        let clock: clickday_core::Clock = Arc::new(|| 0);
        tokio::spawn(async move {
            clickday_persister::run(&cfg, queue, store, clock, token)
                .await
                .unwrap()
        })
    };
    eventually(
        "the persister's work",
        Duration::from_secs(60),
        async || done().await.then_some(()),
    )
    .await;
    shutdown.cancel();
    task.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_relay_still_gets_exactly_one_message_per_submission() {
    let sink = SmtpSink::start(7).await;
    let dir = tempfile::tempdir().unwrap();
    let s = setup(
        dir.path(),
        &format!(
            "transport = \"smtp://127.0.0.1:{}\"\nmax_backoff_ms = 100",
            sink.port
        ),
    )
    .await;
    run_until(&s, async || {
        s.store.unsent_emails().await.unwrap() == 0 && sink.messages().len() == N as usize
    })
    .await;
    assert_eq!(
        sink.refused.load(std::sync::atomic::Ordering::SeqCst),
        7,
        "the relay refused the first seven"
    );
    // A restarted persister finds nothing left to send: once a message
    // queued after the restart is out, it has made its passes, and still
    // every confirmation went exactly once.
    s.store
        .queue_written_email(&clickday_store::NewEmail {
            kind: "probe".into(),
            recipient: "probe@example.it".into(),
            subject: "Probe".into(),
            body: "after the restart\n".into(),
        })
        .await
        .unwrap();
    run_until(&s, async || sink.messages().len() == N as usize + 1).await;
    let messages: Vec<String> = sink
        .messages()
        .into_iter()
        .filter(|m| !m.contains("To: probe@example.it"))
        .collect();
    let mut per_submission: HashMap<String, usize> = HashMap::new();
    for m in &messages {
        let id = m
            .lines()
            .find_map(|l| l.strip_prefix("Message-ID: <"))
            .unwrap()
            .split('.')
            .next()
            .unwrap()
            .to_string();
        *per_submission.entry(id).or_default() += 1;
    }
    assert_eq!(per_submission.len(), N as usize);
    assert!(
        per_submission.values().all(|&n| n == 1),
        "{per_submission:?}"
    );
    let first = messages
        .iter()
        .find(|m| m.contains(&record(3).submission_id))
        .unwrap();
    assert!(first.contains("To: acct-3@example.it"));
    assert!(first.contains("Domanda ricevuta"), "{first}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_outbox_has_one_eml_file_per_submission() {
    let dir = tempfile::tempdir().unwrap();
    let s = setup(dir.path(), "transport = \"file\"").await;
    let outbox = dir.path().join("outbox");
    let eml_files = || -> Vec<std::path::PathBuf> {
        std::fs::read_dir(&outbox)
            .map(|d| {
                d.filter_map(Result::ok)
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|x| x == "eml"))
                    .collect()
            })
            .unwrap_or_default()
    };
    run_until(&s, async || {
        eml_files().len() == N as usize && s.store.unsent_emails().await.unwrap() == 0
    })
    .await;
    let files = eml_files();
    assert_eq!(files.len(), N as usize, "{files:?}");
    for i in 0..N {
        let id = record(i).submission_id;
        let text = std::fs::read_to_string(outbox.join(format!("{id}-received.eml"))).unwrap();
        assert!(text.contains(&id));
        assert!(text.contains(&format!("Message-ID: <{id}.received@clickday>")));
        assert!(text.contains("MIME-Version: 1.0"), "{text}");
        // Where the receipt is, as a link (the default portal address).
        assert!(text.contains("http://127.0.0.1:8080/domande"), "{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_written_message_goes_out_as_written_beside_the_confirmations() {
    let dir = tempfile::tempdir().unwrap();
    let s = setup(dir.path(), "transport = \"file\"").await;
    let id = s
        .store
        .queue_written_email(&clickday_store::NewEmail {
            kind: "registration-confirmation".into(),
            recipient: "mario.rossi@example.it".into(),
            subject: "Conferma della registrazione".into(),
            body: "Per confermare apra: https://portale.example/conferma?t=abc\n".into(),
        })
        .await
        .unwrap();
    let file = dir
        .path()
        .join("outbox")
        .join(format!("outbox-{id}-registration-confirmation.eml"));
    run_until(&s, async || {
        file.exists() && s.store.unsent_emails().await.unwrap() == 0
    })
    .await;
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains("To: mario.rossi@example.it"), "{text}");
    assert!(
        text.contains("Subject: Conferma della registrazione"),
        "{text}"
    );
    assert!(
        text.contains("https://portale.example/conferma?t=abc"),
        "{text}"
    );
    assert!(text.contains(&format!(
        "Message-ID: <outbox-{id}.registration-confirmation@clickday>"
    )));
    assert!(
        !text.contains("Domanda ricevuta"),
        "not rendered as a confirmation"
    );
}
