//! What anyone can read: the home page with the calendar, the static files
//! it links (Bootstrap Italia, compiled in), the mini-client's download
//! page and settings file, and every page in both languages with no text
//! missing from the catalogue.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod common;

use common::{Backend, TestPortal, text};
use sha2::Digest as _;

#[tokio::test]
async fn the_home_page_shows_the_calendar_in_rome_time_and_its_styles_are_served() {
    let portal = TestPortal::start(Backend::Sqlite, "").await;
    let mut browser = portal.browser().await;
    let home = browser.get("/").await;
    assert_eq!(home.status, 200);
    let html = text(&home);
    assert!(html.contains("27/03/2030 09:00:00.000 CET"), "{html}");
    assert!(html.contains("Apre tra "), "a countdown: {html}");
    assert!(
        html.contains("https://localhost:8443/v1/time"),
        "clock advice"
    );
    assert!(
        html.contains("Ministero dell&#x27;Interno") || html.contains("Ministero dell'Interno")
    );

    let css = html
        .split("href=\"")
        .map(|rest| rest.split('"').next().unwrap())
        .find(|href| href.ends_with("bootstrap-italia.min.css"))
        .unwrap()
        .to_string();
    let sheet = browser.get(&css).await;
    assert_eq!(sheet.status, 200);
    assert_eq!(
        sheet.header("content-type"),
        Some("text/css; charset=utf-8")
    );
    assert_eq!(
        sheet.header("cache-control"),
        Some("public, max-age=31536000, immutable")
    );
    assert!(sheet.body.len() > 100_000, "the whole stylesheet");
    let font = browser
        .get(&css.replace("bootstrap-italia.min.css", "fonts/titillium-web-600.woff2"))
        .await;
    assert_eq!(font.status, 200);
    assert_eq!(font.header("content-type"), Some("font/woff2"));
    // An old release's address still works, but is not kept for a year.
    let old = browser.get("/static/000000000000/clickday.css").await;
    assert_eq!(old.status, 200);
    assert_eq!(old.header("cache-control"), Some("no-cache"));
    assert_eq!(
        browser
            .get("/static/000000000000/../Cargo.toml")
            .await
            .status,
        404
    );
    // The pages may load the portal's own styles and fonts, nothing else.
    let csp = home.header("content-security-policy").unwrap().to_string();
    assert!(
        csp.contains("style-src 'self'") && csp.contains("font-src 'self'"),
        "{csp}"
    );
    assert!(!csp.contains("script-src"), "{csp}");
}

#[tokio::test]
async fn the_download_page_offers_the_builds_with_digests_and_nothing_else() {
    let downloads = tempfile::tempdir().unwrap();
    let build = b"not really a program, but bytes to hash".to_vec();
    std::fs::write(
        downloads.path().join("clickday-client-linux-x86_64"),
        &build,
    )
    .unwrap();
    std::fs::write(
        downloads.path().join("clickday-client-linux-x86_64.sig"),
        b"sig",
    )
    .unwrap();
    std::fs::write(downloads.path().join("secret.txt"), b"not offered").unwrap();
    let ca = downloads.path().join("ca.pem");
    std::fs::write(
        &ca,
        "-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let extra = format!(
        "downloads_dir = \"{}\"\ngateway_url = \"https://invio.example.it\"\nclient_ca_file = \"{}\"\n",
        downloads.path().display(),
        ca.display()
    );
    let portal = TestPortal::start(Backend::Sqlite, &extra).await;
    let mut browser = portal.browser().await;

    let page = text(&browser.get("/scarica").await);
    let digest = hex::encode(sha2::Sha256::digest(&build));
    assert!(page.contains(&digest), "{page}");
    assert!(
        page.contains("/scarica/clickday-client-linux-x86_64.sig"),
        "{page}"
    );
    assert!(!page.contains("secret.txt"), "only builds are listed");

    let got = browser.get("/scarica/clickday-client-linux-x86_64").await;
    assert_eq!(got.status, 200);
    assert_eq!(got.body.as_ref(), build.as_slice());
    assert!(
        got.header("content-disposition")
            .unwrap()
            .contains("attachment")
    );
    for refused in [
        "/scarica/secret.txt",
        "/scarica/..%2Fsecret.txt",
        "/scarica/clickday-client-missing",
        "/scarica/.clickday-client",
    ] {
        assert_eq!(browser.get(refused).await.status, 404, "{refused}");
    }

    let settings = browser.get("/scarica/clickday-client.toml").await;
    assert_eq!(settings.status, 200);
    let settings = text(&settings);
    let parsed: toml::Value = toml::from_str(&settings).unwrap();
    assert_eq!(
        parsed["portal"].as_str(),
        Some("https://portale.example.it")
    );
    assert_eq!(parsed["gateway"].as_str(), Some("https://invio.example.it"));
    assert!(parsed["ca"].as_str().unwrap().contains("BEGIN CERTIFICATE"));
}

/// Every page a visitor and an employer reach, in Italian and in
/// English: no catalogue key shows instead of its text.
#[tokio::test]
async fn every_page_in_both_languages_has_its_texts() {
    let portal = TestPortal::start(Backend::Sqlite, "").await;
    let mut employer = portal
        .signed_in("anna@example.it", "password-di-anna")
        .await;
    let created = employer
        .submit("/domande", &[("choice", "2030-03-27|lavoro-domestico")])
        .await;
    let first_page = created.header("location").unwrap().to_string();
    let id = first_page.split('/').nth(2).unwrap().to_string();
    let pages = [
        "/".to_string(),
        "/scarica".into(),
        "/domande".into(),
        "/assistenza".into(),
        first_page.clone(),
        format!("/domande/{id}"),
        "/pagina-che-non-esiste".into(),
    ];
    let mut visitor = portal.browser().await;
    let anonymous = [
        "/",
        "/registrazione",
        "/accesso",
        "/password-dimenticata",
        "/scarica",
    ];
    let keys: Vec<&str> = clickday_portal::i18n::keys().collect();
    for lang in ["it", "en"] {
        employer.get(&format!("/?lang={lang}")).await;
        visitor.get(&format!("/?lang={lang}")).await;
        for path in &pages {
            let html = text(&employer.get(path).await);
            assert!(html.contains(&format!("<html lang=\"{lang}\">")), "{path}");
            for key in &keys {
                assert!(
                    !html.contains(key),
                    "{lang} {path}: {key} shown untranslated"
                );
            }
        }
        for path in anonymous {
            let html = text(&visitor.get(path).await);
            for key in &keys {
                assert!(
                    !html.contains(key),
                    "{lang} {path}: {key} shown untranslated"
                );
            }
        }
    }
}
