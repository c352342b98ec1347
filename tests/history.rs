//! `clickday import-history` as an operator runs it against a running
//! portal's store: a file with bad lines is refused whole, naming each
//! line; a good one (JSON Lines or CSV) is added once and importing it
//! again changes nothing; the employer then finds those applications by
//! year in the portal's search, with their outcome.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod common;

use clickday_config::Config;
use clickday_testkit::browser::{Browser, text};
use clickday_testsystem::System;
use common::clickday;

const PASSWORD: &str = "password-di-elena";

fn line(id: &str, worker: &str, outcome: &str) -> String {
    serde_json::json!({
        "application_id": id,
        "owner_email": "elena@example.it",
        "click_day": "2019-03-27",
        "category": "lavoro-domestico",
        "province": "NA",
        "worker_name": worker,
        "submission_id": "0000000000000001",
        "received_at": "2019-03-27T08:00:00.051Z",
        "outcome": outcome,
        "answers": { "lavoratore_cognome": worker }
    })
    .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_click_days_are_imported_once_and_found_by_year() {
    let dir = tempfile::tempdir().unwrap();
    let text_config = format!(
        "data_dir = \"{}\"\n[portal]\nlisten = \"127.0.0.1:0\"\npublic_url = \"http://portal.test\"\n",
        dir.path().display()
    );
    let config = dir.path().join("clickday.toml");
    std::fs::write(&config, &text_config).unwrap();
    let cfg = Config::from_toml(&text_config, std::iter::empty(), 0).unwrap();
    let sys = System::open(cfg).await.with_persister().with_portal().await;
    let portal = sys.portal.as_ref().unwrap();

    // The employer registers on the portal first.
    let mut browser = Browser::open(portal.local_addr).await.unwrap();
    browser
        .submit(
            "/registrazione",
            &[
                ("kind", "employer"),
                ("full_name", "Elena Esposito"),
                ("codice_fiscale", "RSSMRA85T10A562S"),
                ("email", "elena@example.it"),
                ("password", PASSWORD),
                ("password_again", PASSWORD),
            ],
        )
        .await;
    let link = common::emailed_link(
        &dir.path().join("outbox"),
        "registration-confirmation",
        "http://portal.test/",
    )
    .await;
    browser
        .get(link.trim_start_matches("http://portal.test"))
        .await;
    let login = browser
        .submit(
            "/accesso",
            &[("email", "elena@example.it"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(login.status, 303);

    let import = |file: &std::path::Path| {
        clickday(&config, &["import-history", file.to_str().unwrap()])
            .output()
            .unwrap()
    };

    // Bad lines: each named, nothing written.
    let bad = dir.path().join("bad.jsonl");
    let mut unknown_owner = line("2019-BBBBBBBBB2", "Santos Maria", "granted");
    unknown_owner = unknown_owner.replace("elena@example.it", "nobody@example.it");
    std::fs::write(
        &bad,
        [
            line("2019-AAAAAAAAA1", "Okafor Grace", "granted"),
            unknown_owner,
            line("2019-CCCCCCCCC3", "Nguyen Lan", "approved"),
            line("19-DDDD", "Ali Omar", "rejected"),
            "{not json".to_string(),
        ]
        .join("\n"),
    )
    .unwrap();
    let refused = import(&bad);
    assert_eq!(refused.status.code(), Some(64));
    let said = String::from_utf8_lossy(&refused.stderr).to_string();
    for named in [
        "nothing imported",
        "line 2: owner_email \"nobody@example.it\"",
        "line 3: outcome \"approved\"",
        "line 4: application_id \"19-DDDD\"",
        "line 5:",
    ] {
        assert!(said.contains(named), "{named}: {said}");
    }
    assert!(!text(&browser.get("/domande?anno=2019").await).contains("Okafor Grace"));

    // A good file, then the same again: added once.
    let good = dir.path().join("history.jsonl");
    std::fs::write(
        &good,
        [
            line("2019-AAAAAAAAA1", "Okafor Grace", "granted"),
            line("2019-BBBBBBBBB2", "Santos Maria", "beyond_quota"),
        ]
        .join("\n"),
    )
    .unwrap();
    let first = import(&good);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert!(
        String::from_utf8_lossy(&first.stdout)
            .contains("2 past applications added, 0 already there")
    );
    let again = import(&good);
    assert!(again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stdout)
            .contains("0 past applications added, 2 already there")
    );

    // The same id with other data is refused.
    let changed = dir.path().join("changed.jsonl");
    std::fs::write(
        &changed,
        line("2019-AAAAAAAAA1", "Okafor Grace", "rejected"),
    )
    .unwrap();
    let conflict = import(&changed);
    assert_eq!(conflict.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&conflict.stderr).contains("imported before with other data"));

    // CSV, without answers.
    let csv = dir.path().join("history.csv");
    std::fs::write(
        &csv,
        "application_id,owner_email,click_day,category,province,worker_name,submission_id,received_at,outcome\n\
         2018-EEEEEEEEE5,elena@example.it,2018-01-31,lavoro-stagionale,SA,Kumar Raj,,,within_quota\n",
    )
    .unwrap();
    let from_csv = import(&csv);
    assert!(
        from_csv.status.success(),
        "{}",
        String::from_utf8_lossy(&from_csv.stderr)
    );

    // Found by year, with the outcome and the arrival in Rome time.
    let page = text(&browser.get("/domande?anno=2019").await);
    assert!(page.contains("Domande dei click day passati"), "{page}");
    assert!(
        page.contains("Okafor Grace") && page.contains("Santos Maria"),
        "{page}"
    );
    assert!(page.contains("Nulla osta rilasciato"), "{page}");
    assert!(page.contains("27/03/2019 09:00:00.051 CET"), "{page}");
    assert!(page.contains("Napoli"), "{page}");
    assert!(!page.contains("Kumar Raj"), "2018 is another year");
    let page = text(&browser.get("/domande?q=kumar").await);
    assert!(
        page.contains("Kumar Raj") && !page.contains("Okafor Grace"),
        "{page}"
    );
    sys.stop().await;
}
