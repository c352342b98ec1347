//! Online compilation over HTTP: a multi-page application saved page by
//! page, checked, previewed and marked ready; and who may see or change
//! it. On SQLite and PostgreSQL.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod common;

use common::{Browser, DAY, TestPortal, on_both_stores, text};

const EMPLOYER: &[(&str, &str)] = &[
    ("datore_cf", "RSSMRA85T10A562S"),
    ("datore_denominazione", "Mario Rossi"),
    ("datore_email", "mario@example.it"),
    ("reddito_annuo", "42000"),
];
const WORKER: &[(&str, &str)] = &[
    ("lavoratore_cognome", "Nguyen"),
    ("lavoratore_nome", "Thi Lan"),
    ("lavoratore_sesso", "F"),
    ("lavoratore_nascita", "1990-04-12"),
    ("lavoratore_cittadinanza", "vietnamita"),
    ("lavoratore_passaporto", "C1234567"),
];
const WORK: &[(&str, &str)] = &[
    ("provincia", "RM"),
    ("mansione", "badante"),
    ("ore_settimanali", "30"),
];

/// Creates a lavoro-domestico application; its id.
async fn create(browser: &mut Browser) -> String {
    let choice = format!("{DAY}|lavoro-domestico");
    let created = browser.submit("/domande", &[("choice", &choice)]).await;
    assert_eq!(created.status, 303, "{}", text(&created));
    let location = created.header("location").unwrap().to_string();
    assert!(location.ends_with("/pagine/datore"), "{location}");
    location
        .trim_start_matches("/domande/")
        .split('/')
        .next()
        .unwrap()
        .to_string()
}

on_both_stores!(compile_page_by_page_then_mark_ready => |backend| async move {
    let portal = TestPortal::start(backend, "").await;
    let mut browser = portal.signed_in("mario@example.it", "mario-password").await;
    let id = create(&mut browser).await;
    assert!(id.starts_with("2030-") && id.len() == 15, "{id}");

    let first = browser.get(&format!("/domande/{id}/pagine/datore")).await;
    assert_eq!(first.status, 200);
    let html = text(&first);
    assert!(html.contains("Pagina 1 di 3"), "{html}");
    assert!(html.contains("for=\"datore_cf\">"), "every field labelled");

    // A wrong codice fiscale: saved as typed, shown beside the field.
    let mut wrong = EMPLOYER.to_vec();
    wrong[0] = ("datore_cf", "RSSMRA85T10A562X");
    let saved = browser.submit(&format!("/domande/{id}/pagine/datore"), &wrong).await;
    assert_eq!(saved.status, 422);
    let html = text(&saved);
    assert!(html.contains("Pagina salvata. Corregga i campi indicati."));
    assert!(html.contains("id=\"datore_cf-error\""), "{html}");
    assert!(html.contains("value=\"RSSMRA85T10A562X\""));
    let draft = portal.store.draft(&id).await.unwrap().unwrap();
    assert!(draft.answers.contains("RSSMRA85T10A562X"), "saved even when wrong");

    let next = browser.submit(&format!("/domande/{id}/pagine/datore"), EMPLOYER).await;
    assert_eq!(next.status, 303);
    assert_eq!(next.header("location"), Some(format!("/domande/{id}/pagine/lavoratore").as_str()));
    let next = browser.submit(&format!("/domande/{id}/pagine/lavoratore"), WORKER).await;
    assert_eq!(next.header("location"), Some(format!("/domande/{id}/pagine/rapporto").as_str()));

    // Marking ready before the last page: refused, the summary says why.
    let token = browser.token().await;
    let early = browser.post_with_token(&format!("/domande/{id}/pronta"), &[], &token).await;
    assert_eq!(early.status, 303);
    let summary = text(&browser.get(&format!("/domande/{id}")).await);
    assert!(summary.contains("Per essere inviata la domanda deve essere completata"), "{summary}");
    assert!(summary.contains("Provincia di lavoro"), "{summary}");
    assert_eq!(portal.store.draft(&id).await.unwrap().unwrap().state.as_str(), "to_complete");

    let done = browser.submit(&format!("/domande/{id}/pagine/rapporto"), WORK).await;
    assert_eq!(done.header("location"), Some(format!("/domande/{id}").as_str()));
    let summary = browser.get(&format!("/domande/{id}")).await;
    let html = text(&summary);
    assert!(html.contains("Femminile") && html.contains("Nguyen") && html.contains("RM"), "{html}");
    let token = common::csrf_of(&html);
    let ready = browser.post_with_token(&format!("/domande/{id}/pronta"), &[], &token).await;
    assert_eq!(ready.status, 303);
    let draft = portal.store.draft(&id).await.unwrap().unwrap();
    assert_eq!(draft.state.as_str(), "ready");
    assert_eq!(draft.province.as_deref(), Some("RM"));
    assert_eq!(draft.worker_name.as_deref(), Some("Nguyen Thi Lan"));

    let list = text(&browser.get("/domande").await);
    let row = &list[list.find(&format!(">{id}<")).unwrap()..];
    assert!(row[..row.find("</tr>").unwrap()].contains("Pronta per l&#x27;invio"), "{list}");

    // A change sends it back to "da completare" until checked again.
    browser.submit(&format!("/domande/{id}/pagine/rapporto"), WORK).await;
    assert_eq!(portal.store.draft(&id).await.unwrap().unwrap().state.as_str(), "to_complete");
});

on_both_stores!(another_user_cannot_see_or_change_an_application => |backend| async move {
    let portal = TestPortal::start(backend, "").await;
    let mut alice = portal.signed_in("alice@example.it", "alice-password").await;
    let id = create(&mut alice).await;
    alice.submit(&format!("/domande/{id}/pagine/datore"), EMPLOYER).await;
    let before = portal.store.draft(&id).await.unwrap().unwrap();

    let mut bob = portal.signed_in("bob@example.it", "bob-password").await;
    let token = bob.token().await;
    for path in [
        format!("/domande/{id}"),
        format!("/domande/{id}/pagine/datore"),
        format!("/domande/{id}/ricevuta"),
    ] {
        let r = bob.get(&path).await;
        assert_eq!(r.status, 404, "{path}");
        // Alice's answers, not Bob's own name in the header.
        assert!(!text(&r).contains("mario@example.it"), "{path}");
        assert!(!text(&r).contains("42000"), "{path}");
    }
    let posted = bob
        .post_with_token(&format!("/domande/{id}/pagine/datore"), &[("datore_denominazione", "Bob")], &token)
        .await;
    assert_eq!(posted.status, 404);
    let ready = bob.post_with_token(&format!("/domande/{id}/pronta"), &[], &token).await;
    assert_eq!(ready.status, 404);
    assert_eq!(portal.store.draft(&id).await.unwrap().unwrap(), before, "untouched");
    assert!(!text(&bob.get("/domande").await).contains(&id), "not in bob's list");
    // An unknown id answers the same as someone else's.
    assert_eq!(bob.get("/domande/2030-NOTANID0000").await.status, 404);

    // Signed out: sent to sign in, nothing shown.
    let mut stranger = portal.browser().await;
    let r = stranger.get(&format!("/domande/{id}")).await;
    assert_eq!(r.status, 303);
    assert_eq!(r.header("location"), Some("/accesso"));
});

on_both_stores!(only_open_click_days_and_their_categories => |backend| async move {
    let portal = TestPortal::start(backend, "").await;
    let mut browser = portal.signed_in("eva@example.it", "eva-password").await;
    for choice in [
        format!("{DAY}|lavoro-stagionale"),
        "2011-01-31|lavoro-domestico".to_string(),
        "garbage".to_string(),
    ] {
        let r = browser.submit("/domande", &[("choice", &choice)]).await;
        assert_eq!(r.status, 422, "{choice}");
        assert!(text(&r).contains("Questo click day non prevede"), "{choice}");
    }
    let eva = portal.store.user_by_email("eva@example.it").await.unwrap().unwrap();
    let search = clickday_store::portal::DraftSearch { limit: 10, ..Default::default() };
    let (found, total) = portal.store.search_drafts(&eva.user_id, &search).await.unwrap();
    assert!(found.is_empty() && total == 0);
});

on_both_stores!(an_association_and_its_sub_accounts => |backend| async move {
    let portal = TestPortal::start(backend, "").await;
    let mut association = portal.association("patronato@example.it", "patronato-password").await;
    let page = association.get("/utenze").await;
    assert_eq!(page.status, 200);
    assert!(text(&page).contains("Nessuna utenza"));

    let created = association
        .submit(
            "/utenze",
            &[("full_name", "Sara Neri"), ("codice_fiscale", "RSSMRA85T10A562S"), ("email", "sara@example.it")],
        )
        .await;
    assert_eq!(created.status, 200, "{}", text(&created));
    assert!(text(&created).contains("In attesa della prima password"));
    let bad = association
        .submit("/utenze", &[("full_name", ""), ("codice_fiscale", "X"), ("email", "sara@example.it")])
        .await;
    assert_eq!(bad.status, 422);

    // The sub-account chooses a password through the emailed link.
    let link = portal.link_sent_to("sara@example.it").await;
    assert!(link.starts_with("/reimposta-password/"), "{link}");
    let mut sara = portal.browser().await;
    let chosen = sara
        .submit(&link, &[("password", "password-di-sara"), ("password_again", "password-di-sara")])
        .await;
    assert_eq!(chosen.status, 200);
    let login = sara.submit("/accesso", &[("email", "sara@example.it"), ("password", "password-di-sara")]).await;
    assert_eq!(login.status, 303);
    let sub = portal.store.user_by_email("sara@example.it").await.unwrap().unwrap();
    assert!(sub.confirmed && sub.account_id.is_some(), "a sender with its own account");
    assert_eq!(sara.get("/utenze").await.status, 404, "only the association manages them");
    let id = create(&mut sara).await;
    sara.submit(&format!("/domande/{id}/pagine/datore"), EMPLOYER).await;

    // The association sees it, reads it, does not change it.
    let list = text(&association.get("/domande").await);
    assert!(list.contains(&id), "{list}");
    // Whose each application is.
    assert!(list.contains("Compilata da") && list.contains(&format!("{id}</a></td><td>Sara Neri</td>")), "{list}");
    let summary = association.get(&format!("/domande/{id}")).await;
    assert_eq!(summary.status, 200);
    let summary = text(&summary);
    assert!(summary.contains("Mario Rossi"));
    assert!(summary.contains("<dd id=\"owner\">Sara Neri</dd>"), "{summary}");
    // Read-only: no link or form that would lead to "not found".
    assert!(!summary.contains("/pagine/") && !summary.contains("/pronta"), "{summary}");
    assert_eq!(association.get(&format!("/domande/{id}/pagine/datore")).await.status, 404);
    let token = association.token().await;
    let ready = association.post_with_token(&format!("/domande/{id}/pronta"), &[], &token).await;
    assert_eq!(ready.status, 404);

    // Another association or employer sees nothing of it.
    let mut employer = portal.signed_in("altro@example.it", "altro-password").await;
    assert_eq!(employer.get("/utenze").await.status, 404);
    assert_eq!(employer.get(&format!("/domande/{id}")).await.status, 404);
});
