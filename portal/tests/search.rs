//! Searching the applications an account may see: every filter, free text,
//! pages; an association sees its sub-accounts' too. On SQLite and
//! PostgreSQL, through the web list and the API.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod common;

use clickday_store::portal::{
    Draft, DraftSearch, DraftState, NewToken, NewUser, SearchState, TokenPurpose, UserKind,
};
use common::{DAY, TestPortal, on_both_stores, text};

/// An association with one sub-account, signed in; their user ids.
async fn association(portal: &TestPortal) -> (common::Browser, String, String) {
    let mut browser = portal.browser().await;
    let mut form = common::registration("assoc@example.it", "assoc-password");
    form[0] = ("kind", "association");
    browser.submit("/registrazione", &form).await;
    let link = portal.link_sent_to("assoc@example.it").await;
    browser.get(&link).await;
    browser
        .submit(
            "/accesso",
            &[
                ("email", "assoc@example.it"),
                ("password", "assoc-password"),
            ],
        )
        .await;
    let parent = portal
        .store
        .user_by_email("assoc@example.it")
        .await
        .unwrap()
        .unwrap()
        .user_id;
    let child = NewUser {
        user_id: "usub".into(),
        email: "sub@example.it".into(),
        password_hash: "x".into(),
        kind: UserKind::SubAccount,
        full_name: "Sub".into(),
        codice_fiscale: "RSSMRA85T10A562S".into(),
        parent_user_id: Some(parent.clone()),
        province: None,
        office_kind: None,
        approved: false,
    };
    let token = NewToken {
        token_hash: "h".into(),
        user_id: "usub".into(),
        purpose: TokenPurpose::Reset,
        valid_for_micros: 1,
    };
    portal.store.create_user(&child, &token).await.unwrap();
    (browser, parent, "usub".into())
}

/// 120 applications: 2 years × 3 provinces × 2 states × 10, half of them
/// the sub-account's; worker names numbered.
async fn seed(portal: &TestPortal, parent: &str, child: &str) {
    let mut n = 0;
    for year in [2029, 2030] {
        for province in ["RM", "MI", "NA"] {
            for state in [DraftState::ToComplete, DraftState::Ready] {
                for _ in 0..10 {
                    n += 1;
                    let draft = Draft {
                        application_id: format!("{year}-APP{n:05}"),
                        user_id: if n % 2 == 0 {
                            parent.into()
                        } else {
                            child.into()
                        },
                        click_day: format!("{year}-03-27"),
                        category: if n % 3 == 0 {
                            "lavoro-subordinato".into()
                        } else {
                            "lavoro-domestico".into()
                        },
                        answers: "{}".into(),
                        province: Some(province.into()),
                        worker_name: Some(format!("Lavoratore{n:03} Cognome")),
                        state,
                        created_at: 0,
                        updated_at: 0,
                        sent: None,
                    };
                    portal.store.create_draft(&draft).await.unwrap();
                }
            }
        }
    }
}

fn found(html: &str) -> (u64, String) {
    let at = html.find("id=\"found\">").unwrap();
    let line = &html[at..html[at..].find("</p>").unwrap() + at];
    let total = line
        .split(": ")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    (total, line.to_string())
}

on_both_stores!(filters_text_and_pages => |backend| async move {
    let portal = TestPortal::start(backend, "").await;
    let (mut browser, parent, child) = association(&portal).await;
    seed(&portal, &parent, &child).await;

    let all = text(&browser.get("/domande").await);
    assert_eq!(found(&all).0, 120, "{}", found(&all).1);
    assert!(found(&all).1.contains("Pagina 1 di 3"), "{}", found(&all).1);
    for (query, expected) in [
        ("anno=2030", 60),
        ("anno=2030&provincia=rm", 20),
        ("stato=ready", 60),
        ("stato=sent", 0),
        ("categoria=lavoro-subordinato", 40),
        ("click_day=2029-03-27&stato=to_complete", 30),
        ("q=lavoratore007", 1),
        ("q=LAVORATORE00", 9),
        ("q=app0011", 10),
        ("q=2029-app00011", 1),
        ("q=%25", 0),
        ("q=_", 0),
    ] {
        let html = text(&browser.get(&format!("/domande?{query}")).await);
        assert_eq!(found(&html).0, expected, "{query}: {}", found(&html).1);
    }
    // Pages: 50, 50, 20, every id once; links keep the filters.
    let mut seen = std::collections::BTreeSet::new();
    let mut next = Some("/domande?anno=&click_day=&stato=&categoria=&provincia=&q=&pagina=1".to_string());
    let mut pages = 0;
    while let Some(link) = next {
        // The href as a browser reads it: entities decoded.
        let link = link.replace("&#x2f;", "/").replace("&amp;", "&");
        let html = text(&browser.get(&link).await);
        pages += 1;
        for id in html.match_indices(">20").filter_map(|(at, _)| html[at + 1..].split('<').next()) {
            if id.contains("-APP") {
                seen.insert(id.to_string());
            }
        }
        next = html.find("rel=\"next\"").map(|at| {
            let start = html[..at].rfind("href=\"").unwrap() + 6;
            html[start..html[start..].find('"').unwrap() + start].to_string()
        });
    }
    assert_eq!(pages, 3);
    assert_eq!(seen.len(), 120);

    // The store directly: own only, and the sub-account sees only its own.
    let own = DraftSearch { only_own: true, limit: 500, ..Default::default() };
    assert_eq!(portal.store.search_drafts(&parent, &own).await.unwrap().1, 60);
    let everything = DraftSearch { limit: 500, ..Default::default() };
    assert_eq!(portal.store.search_drafts(&child, &everything).await.unwrap().1, 60);
    let ready_2030 = DraftSearch { year: Some(2030), state: Some(SearchState::Ready), limit: 7, ..Default::default() };
    let (page, total) = portal.store.search_drafts(&parent, &ready_2030).await.unwrap();
    assert_eq!((page.len(), total), (7, 30));
    assert!(page.windows(2).all(|w| w[0].updated_at >= w[1].updated_at), "newest change first");

    // Nobody else sees any of them.
    let mut stranger = portal.signed_in("x@example.it", "x-password").await;
    let html = text(&stranger.get("/domande?q=lavoratore").await);
    assert_eq!(found(&html).0, 0);
    let _ = DAY;
});
