//! A real browser (headless Chromium through chromedriver) does what an
//! employer does: registers, opens the confirmation link from the email
//! file the persister wrote, signs in, compiles a three-page application,
//! marks it ready and finds it in the list. Cookies, CSRF tokens, labels
//! and redirects are the browser's own; no JavaScript is needed.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod common;

use clickday_config::Config;
use clickday_testkit::webdriver::{ChromeDriver, Session};
use clickday_testsystem::System;
use std::time::{Duration, Instant};

/// Waits (as WebDriver users do: a click may return before the page it
/// loads is there) until the page shown contains `text`.
async fn page_says(browser: &mut Session, text: &str) {
    let start = Instant::now();
    loop {
        let page = browser.source().await.unwrap();
        if page.contains(text) {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{text:?} not in {page}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until the browser shows an address ending with `suffix`.
async fn at(browser: &mut Session, suffix: &str) {
    let start = Instant::now();
    loop {
        let url = browser.current_url().await.unwrap();
        if url.ends_with(suffix) {
            return;
        }
        let page = browser.source().await.unwrap();
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "at {url}, not {suffix}: {page}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// With `CLICKDAY_SCREENSHOTS=DIR` (docs/screenshots/make.sh sets it),
/// saves the page shown as `DIR/NAME-desktop.png` (1280 px wide) and
/// `DIR/NAME-phone.png` (390 px, a phone's width).
async fn shoot(browser: &mut Session, name: &str) {
    let Some(dir) = std::env::var_os("CLICKDAY_SCREENSHOTS") else {
        return;
    };
    let dir = std::path::PathBuf::from(dir);
    std::fs::create_dir_all(&dir).unwrap();
    for (width, suffix) in [(1280, "desktop"), (390, "phone")] {
        let png = browser.full_page_png(width).await.unwrap();
        std::fs::write(dir.join(format!("{name}-{suffix}.png")), png).unwrap();
    }
    browser.set_window_size(1280, 900).await.unwrap();
}

async fn sign_in(browser: &mut Session, base: &str, email: &str, password: &str) {
    browser.goto(&format!("{base}/accesso")).await.unwrap();
    fill(browser, &[("email", email), ("password", password)]).await;
    browser.click("main button[type=submit]").await.unwrap();
    // Signed in: the sign-in page sends everyone to their applications.
    at(browser, "/domande").await;
}

async fn fill(browser: &mut Session, fields: &[(&str, &str)]) {
    for (id, value) in fields {
        browser.type_into(&format!("#{id}"), value).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_employer_in_a_real_browser() {
    let dir = tempfile::tempdir().unwrap();
    let port = clickday_testkit::free_port();
    let base = format!("http://127.0.0.1:{port}");
    let text = format!(
        r#"data_dir = "{dir}"
[gateway]
listen = "127.0.0.1:0"
[portal]
listen = "127.0.0.1:{port}"
public_url = "{base}"
[[click_days]]
id = "cd-browser"
opens_at = "2020-01-01T00:00:00Z"
closes_at = "2100-01-01T00:00:00Z"
categories = ["lavoro-domestico"]
[[click_days]]
id = "cd-2099"
opens_at = "2099-03-27T08:00:00Z"
closes_at = "2099-12-31T23:00:00Z"
categories = ["lavoro-domestico", "lavoro-stagionale"]
"#,
        dir = dir.path().display()
    );
    let cfg = Config::from_toml(&text, std::iter::empty(), 0).unwrap();
    let sys = System::open(cfg)
        .await
        .with_gateway()
        .await
        .with_persister()
        .with_portal()
        .await;

    let driver = ChromeDriver::start().await.unwrap();
    let downloads = tempfile::tempdir().unwrap();
    let mut browser = driver
        .session_downloading_to(downloads.path())
        .await
        .unwrap();

    // The home page: the calendar in Rome time with a countdown, the
    // clock advice, the way to the mini-client.
    browser.goto(&format!("{base}/")).await.unwrap();
    page_says(&mut browser, "Calendario dei click day").await;
    page_says(&mut browser, "27/03/2099 09:00:00.000 CET").await;
    page_says(&mut browser, "Apre tra ").await;
    page_says(&mut browser, "Aperto: le domande si possono inviare ora.").await;
    page_says(&mut browser, "/v1/time").await;
    page_says(&mut browser, "bootstrap-italia.min.css").await;
    shoot(&mut browser, "home").await;

    // Registration.
    browser.click("a[href='/registrazione']").await.unwrap();
    fill(
        &mut browser,
        &[
            ("full_name", "Giulia Romano"),
            ("codice_fiscale", "RSSMRA85T10A562S"),
            ("email", "giulia@example.it"),
            ("password", "password-di-giulia"),
            ("password_again", "password-di-giulia"),
        ],
    )
    .await;
    shoot(&mut browser, "registration").await;
    browser.click("main button[type=submit]").await.unwrap();
    page_says(&mut browser, "Controlli la Sua email").await;

    // The link from the email file the persister wrote.
    let link = common::emailed_link(
        &dir.path().join("outbox"),
        "registration-confirmation",
        &base,
    )
    .await;
    browser.goto(&link).await.unwrap();
    page_says(&mut browser, "Registrazione confermata").await;

    // Sign in.
    sign_in(
        &mut browser,
        &base,
        "giulia@example.it",
        "password-di-giulia",
    )
    .await;

    // A new application, three pages.
    browser
        .click("main form[method='post'][action='/domande'] button")
        .await
        .unwrap();
    at(&mut browser, "/pagine/datore").await;
    fill(
        &mut browser,
        &[
            ("datore_cf", "RSSMRA85T10A562S"),
            ("datore_denominazione", "Giulia Romano"),
            ("datore_email", "giulia@example.it"),
            ("reddito_annuo", "41000"),
        ],
    )
    .await;
    browser.click("main button[type=submit]").await.unwrap();
    at(&mut browser, "/pagine/lavoratore").await;
    fill(
        &mut browser,
        &[
            ("lavoratore_cognome", "Okafor"),
            ("lavoratore_nome", "Grace"),
            ("lavoratore_cittadinanza", "nigeriana"),
            ("lavoratore_passaporto", "A0000001"),
        ],
    )
    .await;
    // Bootstrap Italia draws the radio on its label, as a person sees it.
    browser
        .click("label[for='lavoratore_sesso-F']")
        .await
        .unwrap();
    // A date input takes keystrokes in the order of the browser's locale
    // (dd/mm or mm/dd): the same day and month work in either.
    browser
        .type_into("#lavoratore_nascita", "03031992")
        .await
        .unwrap();
    browser.click("main button[type=submit]").await.unwrap();
    at(&mut browser, "/pagine/rapporto").await;
    page_says(&mut browser, "Torino (TO)").await;
    shoot(&mut browser, "compilation").await;
    browser
        .click("#provincia option[value='TO']")
        .await
        .unwrap();
    browser
        .click("label[for='mansione-badante']")
        .await
        .unwrap();
    fill(&mut browser, &[("ore_settimanali", "36")]).await;
    browser.click("main button[type=submit]").await.unwrap();

    // The summary, then "ready".
    page_says(&mut browser, "Riepilogo della domanda").await;
    page_says(&mut browser, "<dd>03/03/1992</dd>").await;
    page_says(&mut browser, "<dd>Torino (TO)</dd>").await;
    shoot(&mut browser, "summary").await;
    browser
        .click("main form button[type=submit]")
        .await
        .unwrap();
    page_says(&mut browser, "La domanda è pronta").await;

    // In the list.
    browser.click("nav a[href='/domande']").await.unwrap();
    page_says(&mut browser, "<td>Okafor Grace</td>").await;
    page_says(&mut browser, "Pronta per l'invio").await;
    page_says(&mut browser, "<td>Torino</td>").await;
    shoot(&mut browser, "applications").await;

    // The mini-client's page and its settings file: the portal, the
    // gateway, the CA the gateway's self-signed certificate needs.
    browser.click("nav a[href='/scarica']").await.unwrap();
    page_says(
        &mut browser,
        "clickday-client activate --email giulia@example.it",
    )
    .await;
    shoot(&mut browser, "download").await;
    browser.click("#settings").await.unwrap();
    let saved = downloads.path().join("clickday-client.toml");
    // Chrome writes a download under another name and renames it when done.
    let settings = clickday_testkit::eventually(
        "the settings file downloaded",
        Duration::from_secs(10),
        async || std::fs::read_to_string(&saved).ok(),
    )
    .await;
    assert!(
        settings.contains(&format!("portal = \"{base}\"")),
        "{settings}"
    );
    assert!(
        settings.contains(&format!("gateway = \"{}\"", sys.gateway_url())),
        "{settings}"
    );
    assert!(settings.contains("BEGIN CERTIFICATE"), "{settings}");

    // Sent (as the mini-client sends it): the summary shows the
    // submission, its arrival and the receipt.
    let submission_id = common::send_ready_application(
        &sys,
        "giulia@example.it",
        "password-di-giulia",
        "cd-browser",
        41,
    )
    .await;
    browser.click("nav a[href='/domande']").await.unwrap();
    browser.click("main td a").await.unwrap();
    let start = Instant::now();
    loop {
        let page = browser.source().await.unwrap();
        if page.contains("Scarica la ricevuta") {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no receipt: {page}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
        let url = browser.current_url().await.unwrap();
        browser.goto(&url).await.unwrap();
    }
    page_says(&mut browser, &submission_id).await;
    // Once ranked (as after the click day closes), its place is shown.
    let day = sys.cfg.calendar.get("cd-browser").unwrap().clone();
    clickday_persister::rank_click_day(sys.store.as_ref(), &day)
        .await
        .unwrap();
    let url = browser.current_url().await.unwrap();
    browser.goto(&url).await.unwrap();
    page_says(&mut browser, "Posizione in graduatoria").await;
    shoot(&mut browser, "sent").await;
    if let Some(dir) = std::env::var_os("CLICKDAY_SCREENSHOTS") {
        receipt_png(&sys, &submission_id, std::path::Path::new(&dir)).await;
    }
    browser
        .click("nav form[action='/uscita'] button")
        .await
        .unwrap();
    page_says(&mut browser, "a href=\"/registrazione\"").await;

    // The Sportello Unico of Turin, invited as `clickday staff add` does,
    // chooses its password, finds the application and records an outcome.
    common::invite_office(&sys, "TO", "sportello.to@example.it").await;
    let link = common::link_emailed_to(
        &dir.path().join("outbox"),
        "invitation",
        "sportello.to@example.it",
        &base,
    )
    .await;
    browser.goto(&link).await.unwrap();
    fill(
        &mut browser,
        &[
            ("password", "password-ufficio"),
            ("password_again", "password-ufficio"),
        ],
    )
    .await;
    browser.click("main button[type=submit]").await.unwrap();
    page_says(&mut browser, "Password cambiata").await;
    sign_in(
        &mut browser,
        &base,
        "sportello.to@example.it",
        "password-ufficio",
    )
    .await;
    browser.click("nav a[href='/ufficio']").await.unwrap();
    page_says(&mut browser, &submission_id).await;
    page_says(&mut browser, "Giulia Romano").await;
    shoot(&mut browser, "office").await;
    browser
        .click(&format!("main a[href='/ufficio/{submission_id}']"))
        .await
        .unwrap();
    page_says(&mut browser, "nigeriana").await;
    browser.click("label[for='outcome-granted']").await.unwrap();
    fill(
        &mut browser,
        &[("note", "Ritiro del nulla osta dal 3 aprile.")],
    )
    .await;
    browser
        .click("main form[action$='/esito'] button")
        .await
        .unwrap();
    page_says(&mut browser, "<strong>Nulla osta rilasciato</strong>").await;
    shoot(&mut browser, "office-application").await;
    browser
        .click("nav form[action='/uscita'] button")
        .await
        .unwrap();
    page_says(&mut browser, "a href=\"/registrazione\"").await;

    // The employer sees it on the summary.
    sign_in(
        &mut browser,
        &base,
        "giulia@example.it",
        "password-di-giulia",
    )
    .await;
    browser.click("main td a").await.unwrap();
    page_says(&mut browser, "Esiti degli uffici").await;
    page_says(&mut browser, "Ritiro del nulla osta dal 3 aprile.").await;

    browser.quit().await.unwrap();
    sys.stop().await;
}

/// The receipt's first page as `DIR/receipt.png` (pdftoppm, 100 dpi).
async fn receipt_png(sys: &System, submission_id: &str, dir: &std::path::Path) {
    let receipt =
        clickday_testkit::eventually("the receipt", Duration::from_secs(30), async || {
            sys.store.receipt(submission_id).await.unwrap()
        })
        .await;
    let pdf = dir.join("receipt.pdf");
    std::fs::write(&pdf, &receipt.pdf).unwrap();
    let made = std::process::Command::new("pdftoppm")
        .args(["-png", "-r", "100", "-singlefile"])
        .arg(&pdf)
        .arg(dir.join("receipt"))
        .status()
        .unwrap();
    assert!(made.success());
    std::fs::remove_file(pdf).unwrap();
}
