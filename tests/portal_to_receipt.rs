//! The whole path of one application through the system, in-process: an
//! employer registers on the portal and confirms from the emailed `.eml`,
//! compiles an application and marks it ready; the mini-client's API calls
//! (token, key, ready applications with the bytes to sign) get it signed
//! and sent to the gateway; the persister stores it and makes its receipt;
//! the portal then shows the submission id, arrival and the PDF.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod common;

use clickday_config::Config;
use clickday_testkit::browser::{Browser, csrf_of, text};
use clickday_testkit::{Applicant, Client, Proto, eventually};
use clickday_testsystem::System;
use std::path::Path;
use std::time::Duration;

const PASSWORD: &str = "password-di-lucia";

fn config(dir: &Path) -> Config {
    let text = format!(
        r#"data_dir = "{dir}"
[gateway]
listen = "127.0.0.1:0"
key_refresh_interval_ms = 100
[portal]
listen = "127.0.0.1:0"
public_url = "http://portal.test"
[[click_days]]
id = "cd-2026"
opens_at = "2020-01-01T00:00:00Z"
closes_at = "2100-01-01T00:00:00Z"
categories = ["lavoro-domestico"]
"#,
        dir = dir.display()
    );
    Config::from_toml(&text, std::iter::empty(), 0).unwrap()
}

async fn api(
    portal: &mut Client,
    method: http::Method,
    path: &str,
    token: Option<&str>,
    body: Option<serde_json::Value>,
) -> clickday_testkit::Reply {
    let mut req = http::Request::builder()
        .method(method)
        .uri(portal.uri(path));
    if let Some(token) = token {
        req = req.header("authorization", format!("Bearer {token}"));
    }
    let body = match body {
        Some(json) => {
            req = req.header("content-type", "application/json");
            bytes::Bytes::from(json.to_string())
        }
        None => bytes::Bytes::new(),
    };
    portal.send(req.body(body).unwrap()).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn from_registration_to_receipt() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    let sys = System::open(cfg)
        .await
        .with_gateway()
        .await
        .with_persister()
        .with_portal()
        .await;
    let portal = sys.portal.as_ref().unwrap();
    let gateway = sys.gateway.as_ref().unwrap();
    let outbox = dir.path().join("outbox");

    // Registration, confirmed from the email file.
    let mut browser = Browser::open(portal.local_addr).await.unwrap();
    let registered = browser
        .submit(
            "/registrazione",
            &[
                ("kind", "employer"),
                ("full_name", "Lucia Verdi"),
                ("codice_fiscale", "RSSMRA85T10A562S"),
                ("email", "lucia@example.it"),
                ("password", PASSWORD),
                ("password_again", PASSWORD),
            ],
        )
        .await;
    assert_eq!(registered.status, 200, "{}", text(&registered));
    let link =
        common::emailed_link(&outbox, "registration-confirmation", "http://portal.test/").await;
    let link = link.trim_start_matches("http://portal.test");
    assert!(text(&browser.get(link).await).contains("Registrazione confermata"));
    let login = browser
        .submit(
            "/accesso",
            &[("email", "lucia@example.it"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(login.status, 303);

    // Compilation.
    let created = browser
        .submit("/domande", &[("choice", "cd-2026|lavoro-domestico")])
        .await;
    let first_page = created.header("location").unwrap().to_string();
    let id = first_page.split('/').nth(2).unwrap().to_string();
    let pages: [(&str, &[(&str, &str)]); 3] = [
        (
            "datore",
            &[
                ("datore_cf", "RSSMRA85T10A562S"),
                ("datore_denominazione", "Lucia Verdi"),
                ("datore_email", "lucia@example.it"),
                ("reddito_annuo", "38000"),
            ],
        ),
        (
            "lavoratore",
            &[
                ("lavoratore_cognome", "Santos"),
                ("lavoratore_nome", "Maria"),
                ("lavoratore_sesso", "F"),
                ("lavoratore_nascita", "1985-06-01"),
                ("lavoratore_cittadinanza", "filippina"),
                ("lavoratore_passaporto", "P7654321"),
            ],
        ),
        (
            "rapporto",
            &[
                ("provincia", "MI"),
                ("mansione", "colf"),
                ("ore_settimanali", "40"),
            ],
        ),
    ];
    for (page, fields) in pages {
        let saved = browser
            .submit(&format!("/domande/{id}/pagine/{page}"), fields)
            .await;
        assert_eq!(saved.status, 303, "{page}: {}", text(&saved));
    }
    let summary = browser.get(&format!("/domande/{id}")).await;
    let ready = browser
        .post_with_token(
            &format!("/domande/{id}/pronta"),
            &[],
            &csrf_of(&text(&summary)),
        )
        .await;
    assert_eq!(ready.status, 303);

    // The mini-client's side: token, key, ready applications.
    let mut client = Client::connect(portal.local_addr, Proto::Http1, None)
        .await
        .unwrap();
    let credentials = serde_json::json!({ "email": "lucia@example.it", "password": PASSWORD });
    let token = api(
        &mut client,
        http::Method::POST,
        "/api/v1/token",
        None,
        Some(credentials),
    )
    .await;
    assert_eq!(token.status, 200, "{:?}", token.body);
    let token = token.json()["token"].as_str().unwrap().to_string();
    let installation = Applicant::new(77);
    let key = serde_json::json!({ "public_key": installation.public_key_b64() });
    let registered = api(
        &mut client,
        http::Method::POST,
        "/api/v1/keys",
        Some(&token),
        Some(key),
    )
    .await;
    assert_eq!(registered.status, 200, "{:?}", registered.body);
    assert_eq!(registered.json()["key_id"], installation.key_id());
    let listed = api(
        &mut client,
        http::Method::GET,
        "/api/v1/applications?click_day=cd-2026&state=ready",
        Some(&token),
        None,
    )
    .await;
    assert_eq!(listed.status, 200);
    let listed = listed.json();
    let apps = listed["applications"].as_array().unwrap();
    assert_eq!(apps.len(), 1);
    let body = apps[0]["body"].as_str().unwrap().as_bytes().to_vec();

    // Signed and sent as PROTOCOL.md says, once the gateway knows the key.
    let ca = clickday_gateway::tls::read_certificate(gateway.cert_path.as_ref().unwrap()).unwrap();
    let mut sender = Client::connect(gateway.local_addr, Proto::Http2, Some(&ca))
        .await
        .unwrap();
    // The key registered a moment ago reaches the gateway at its next refresh.
    let accepted = eventually(
        "the new key known to the gateway",
        Duration::from_secs(10),
        async || {
            let reply = sender.submit(&installation, &body).await.unwrap();
            (reply.status != 401).then_some(reply)
        },
    )
    .await;
    assert_eq!(accepted.status, 202, "{:?}", accepted.body);
    let submission_id = accepted.json()["submission_id"]
        .as_str()
        .unwrap()
        .to_string();

    // Stored and receipted: the API and the portal show it.
    let state = eventually("the receipt made", Duration::from_secs(30), async || {
        let reply = api(
            &mut client,
            http::Method::GET,
            &format!("/api/v1/applications/{id}"),
            Some(&token),
            None,
        )
        .await;
        let json = reply.json();
        (json["sent"]["receipt_ready"] == true).then_some(json)
    })
    .await;
    assert_eq!(state["sent"]["submission_id"], submission_id.as_str());
    assert_eq!(state["sent"]["received_at"], accepted.json()["received_at"]);
    let pdf = api(
        &mut client,
        http::Method::GET,
        &format!("/api/v1/applications/{id}/receipt"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(pdf.status, 200);
    assert_eq!(pdf.header("content-type"), Some("application/pdf"));
    assert!(pdf.body.starts_with(b"%PDF"));
    let page = text(&browser.get(&format!("/domande/{id}")).await);
    assert!(page.contains(&submission_id), "{page}");
    assert!(page.contains(&format!("/domande/{id}/ricevuta")), "{page}");
    let web_pdf = browser.get(&format!("/domande/{id}/ricevuta")).await;
    assert_eq!(web_pdf.body, pdf.body);

    // The mini-client's offline check: valid with the published receipt
    // key, refused with another key and after one changed character.
    let seed = std::fs::read_to_string(&sys.cfg.receipts.key_file).unwrap();
    let seed: [u8; 32] = base64::Engine::decode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        seed.trim(),
    )
    .unwrap()
    .try_into()
    .unwrap();
    let published = clickday_core::PublicKey::from_bytes(
        &ed25519_dalek::SigningKey::from_bytes(&seed)
            .verifying_key()
            .to_bytes(),
    )
    .unwrap()
    .to_base64();
    // ...and its place in the arrival ledger, with the ledger's published key.
    let ledger_key = clickday_ledger::LogKey::from_text(
        &std::fs::read_to_string(&sys.cfg.ledger.key_file).unwrap(),
    )
    .unwrap()
    .verifier_key()
    .to_string();
    let verified =
        clickday_client::receipt::verify(&pdf.body, &published, Some(&ledger_key)).unwrap();
    let place = verified.ledger.as_ref().expect("the proof was checked");
    assert_eq!(place.origin, "localhost/v1/ledger/cd-2026");
    assert!(place.index < place.size);
    assert!(
        verified
            .statement
            .contains(&format!("submission_id: {submission_id}"))
    );
    let other = Applicant::new(99).public_key_b64();
    assert!(
        clickday_client::receipt::verify(&pdf.body, &other, None).is_err(),
        "another key"
    );
    let mut doc = lopdf::Document::load_mem(&pdf.body).unwrap();
    doc.decompress();
    let mut plain = Vec::new();
    doc.save_to(&mut plain).unwrap();
    assert!(
        clickday_client::receipt::verify(&plain, &published, Some(&ledger_key)).is_ok(),
        "decompressed, still valid"
    );
    // One changed character of the proof (the checkpoint's root) and the
    // place no longer verifies, though the statement's signature still does.
    let proof = sys
        .store
        .receipt(&submission_id)
        .await
        .unwrap()
        .unwrap()
        .ledger_proof
        .expect("the receipt carries its proof");
    let lines: Vec<&str> = proof.lines().collect();
    let root = lines[lines.iter().position(|l| l.is_empty()).unwrap() + 3];
    let mut forged = plain.clone();
    let at = forged
        .windows(root.len())
        .position(|w| w == root.as_bytes())
        .expect("the proof in the page");
    forged[at] = if forged[at] == b'A' { b'B' } else { b'A' };
    assert!(clickday_client::receipt::verify(&forged, &published, None).is_ok());
    let refused =
        clickday_client::receipt::verify(&forged, &published, Some(&ledger_key)).unwrap_err();
    assert!(refused.to_string().contains("does not verify"), "{refused}");
    let needle = format!("application_id: {id}");
    let at = plain
        .windows(needle.len())
        .position(|w| w == needle.as_bytes())
        .expect("statement in the page");
    let last = at + needle.len() - 1;
    plain[last] = if plain[last] == b'Z' { b'Y' } else { b'Z' };
    let tampered = clickday_client::receipt::verify(&plain, &published, None).unwrap_err();
    assert!(tampered.to_string().contains("altered"), "{tampered}");
    // Sent bytes are final: the pages no longer open for editing.
    let edit = browser.get(&format!("/domande/{id}/pagine/datore")).await;
    assert_eq!(edit.status, 303);

    // The confirmation email is addressed to the applicant by name.
    let confirmation =
        common::link_emailed_to(&outbox, "received", "lucia@example.it", "Gentile").await;
    assert_eq!(confirmation, "Gentile");
    let eml = std::fs::read_to_string(outbox.join(format!("{submission_id}-received.eml")))
        .unwrap()
        .replace("=\r\n", "");
    assert!(eml.contains("Gentile Lucia Verdi,"), "{eml}");

    // The Sportello Unico of Milan finds it in its back office, with the
    // applicant, the answers and the receipt, and records an outcome that
    // reaches the applicant on the portal and by email.
    let mut office = office_of(&sys, "MI", "sportello.mi@example.it").await;
    let list = text(&office.get("/ufficio").await);
    assert!(
        list.contains(&submission_id) && list.contains("Lucia Verdi"),
        "{list}"
    );
    assert!(list.contains("Santos Maria"), "the worker: {list}");
    let detail = text(&office.get(&format!("/ufficio/{submission_id}")).await);
    assert!(
        detail.contains("Cittadinanza") && detail.contains("filippina"),
        "{detail}"
    );
    assert!(
        detail.contains("01/06/1985"),
        "dates as Italians write them: {detail}"
    );
    let office_pdf = office
        .get(&format!("/ufficio/{submission_id}/ricevuta"))
        .await;
    assert_eq!(office_pdf.body, pdf.body);
    let token = csrf_of(&detail);
    let unreasoned = office
        .post_with_token(
            &format!("/ufficio/{submission_id}/esito"),
            &[("outcome", "rejected")],
            &token,
        )
        .await;
    assert_eq!(unreasoned.status, 422, "a rejection needs its reason");
    let granted = office
        .post_with_token(
            &format!("/ufficio/{submission_id}/esito"),
            &[
                ("outcome", "granted"),
                ("note", "Ritiro presso lo Sportello dal 3 aprile."),
            ],
            &token,
        )
        .await;
    assert_eq!(granted.status, 303, "{}", text(&granted));
    let list = text(&office.get("/ufficio?ricevute=si").await);
    assert!(
        list.contains(&submission_id) && list.contains("Nulla osta rilasciato"),
        "{list}"
    );
    let page = text(&browser.get(&format!("/domande/{id}")).await);
    assert!(
        page.contains("Esiti degli uffici") && page.contains("Nulla osta rilasciato"),
        "{page}"
    );
    assert!(
        page.contains("Ritiro presso lo Sportello dal 3 aprile."),
        "{page}"
    );
    let told = eventually("the outcome emailed", Duration::from_secs(30), async || {
        std::fs::read_dir(&outbox)
            .unwrap()
            .filter_map(Result::ok)
            .find(|e| {
                e.file_name()
                    .to_string_lossy()
                    .ends_with("-office-outcome.eml")
            })
            .map(|e| {
                std::fs::read_to_string(e.path())
                    .unwrap()
                    .replace("=\r\n", "")
            })
    })
    .await;
    assert!(
        told.contains("To: lucia@example.it") && told.contains("Nulla osta rilasciato"),
        "{told}"
    );
    // Another province's office sees none of it.
    let mut elsewhere = office_of(&sys, "RM", "sportello.rm@example.it").await;
    assert_eq!(
        elsewhere
            .get(&format!("/ufficio/{submission_id}"))
            .await
            .status,
        404
    );
    assert!(!text(&elsewhere.get("/ufficio").await).contains(&submission_id));

    sys.stop().await;
}

/// A Sportello Unico for `province`, its password chosen through the
/// invitation, signed in.
async fn office_of(sys: &System, province: &str, email: &str) -> Browser {
    common::invite_office(sys, province, email).await;
    let outbox = sys.cfg.data_dir.join("outbox");
    let link = common::link_emailed_to(&outbox, "invitation", email, "http://portal.test/").await;
    let portal = sys.portal.as_ref().unwrap();
    let mut browser = Browser::open(portal.local_addr).await.unwrap();
    let path = link.trim_start_matches("http://portal.test");
    let chosen = browser
        .submit(
            path,
            &[
                ("password", "password-ufficio"),
                ("password_again", "password-ufficio"),
            ],
        )
        .await;
    assert_eq!(chosen.status, 200, "{}", text(&chosen));
    let login = browser
        .submit(
            "/accesso",
            &[("email", email), ("password", "password-ufficio")],
        )
        .await;
    assert_eq!(login.status, 303);
    browser
}
