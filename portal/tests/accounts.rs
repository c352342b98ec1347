//! Registration, confirmation, sign-in, sign-out, password reset, CSRF and
//! sign-in limits, over HTTP against a real portal on SQLite and on
//! PostgreSQL.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod common;

use common::{Backend, TestPortal, on_both_stores, registration, text};

on_both_stores!(register_confirm_and_sign_in => |backend| async move {
    let portal = TestPortal::start(backend, "").await;
    let mut browser = portal.browser().await;
    let form = browser.get("/registrazione").await;
    assert_eq!(form.status, 200);
    let html = text(&form);
    assert!(html.contains("<html lang=\"it\">") && html.contains("Registrazione"), "{html}");
    assert!(html.contains("for=\"codice_fiscale\">"), "every field labelled");
    for (header, value) in [
        ("x-frame-options", "DENY"),
        ("referrer-policy", "no-referrer"),
        ("cache-control", "no-store"),
    ] {
        assert_eq!(form.header(header), Some(value), "{header}");
    }
    assert!(form.header("content-security-policy").unwrap().contains("frame-ancestors 'none'"));

    let page = browser
        .submit("/registrazione", &registration("Mario.Rossi@Example.it", "una password lunga"))
        .await;
    assert_eq!(page.status, 200, "{}", text(&page));
    assert!(text(&page).contains("Controlli la Sua email"));
    let user = portal.store.user_by_email("mario.rossi@example.it").await.unwrap().unwrap();
    assert!(!user.confirmed && user.account_id.is_none());
    assert!(user.password_hash.starts_with("$argon2id$"), "never the password itself");

    // Not confirmed yet: no sign-in, but a new link is sent.
    let early = browser
        .submit("/accesso", &[("email", "mario.rossi@example.it"), ("password", "una password lunga")])
        .await;
    assert_eq!(early.status, 403, "{}", text(&early));
    let emails = portal.emails().await;
    assert_eq!(emails.len(), 2, "the confirmation and a second link: {emails:?}");
    let (to, subject, body) = &emails[0];
    assert_eq!(to, "mario.rossi@example.it");
    assert!(subject.contains("Conferma la registrazione"), "{subject}");
    assert!(body.contains("Gentile Mario Rossi"), "{body}");
    let first_link = body[body.find("https://").unwrap()..].split_whitespace().next().unwrap();
    let first_link = first_link.trim_start_matches("https://portale.example.it");

    let confirmed = browser.get(first_link).await;
    assert_eq!(confirmed.status, 200);
    assert!(text(&confirmed).contains("Registrazione confermata"));
    let again = browser.get(first_link).await;
    assert_eq!(again.status, 404, "a link works once");
    assert!(text(&again).contains("Link non valido"));
    let user = portal.store.user(&user.user_id).await.unwrap().unwrap();
    assert!(user.confirmed);
    assert_eq!(user.account_id.as_deref(), Some(user.user_id.as_str()), "a gateway account for the sender");

    let wrong = browser
        .submit("/accesso", &[("email", "mario.rossi@example.it"), ("password", "un'altra password")])
        .await;
    assert_eq!(wrong.status, 401);
    assert!(!browser.cookies.contains_key(clickday_portal::SESSION_COOKIE));
    let ok = browser
        .submit("/accesso", &[("email", "MARIO.ROSSI@example.it"), ("password", "una password lunga")])
        .await;
    assert_eq!(ok.status, 303, "{}", text(&ok));
    assert_eq!(ok.header("location"), Some("/domande"));
    let cookie = ok.headers.get_all("set-cookie").iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|v| v.starts_with("clickday_session="))
        .unwrap();
    for attribute in ["HttpOnly", "Secure", "SameSite=Lax", "Path=/"] {
        assert!(cookie.contains(attribute), "{cookie} lacks {attribute}");
    }
    let list = browser.get("/domande").await;
    assert_eq!(list.status, 200);
    assert!(text(&list).contains("Le mie domande"));

    // Sign-out ends the session server-side: the old cookie opens nothing.
    let old_cookie = browser.cookies.clone();
    let token = browser.token().await;
    let out = browser.post_with_token("/uscita", &[], &token).await;
    assert_eq!(out.status, 303);
    assert!(!browser.cookies.contains_key(clickday_portal::SESSION_COOKIE));
    browser.cookies = old_cookie;
    let after = browser.get("/domande").await;
    assert_eq!(after.status, 303);
    assert_eq!(after.header("location"), Some("/accesso"));
});

on_both_stores!(registration_errors_are_shown_beside_each_field_and_nothing_is_stored => |backend| async move {
    let portal = TestPortal::start(backend, "").await;
    let mut browser = portal.browser().await;
    let page = browser
        .submit(
            "/registrazione",
            &[
                ("kind", "employer"),
                ("full_name", ""),
                ("codice_fiscale", "RSSMRA85T10A562X"),
                ("email", "not-an-address"),
                ("password", "short"),
                ("password_again", "short"),
            ],
        )
        .await;
    assert_eq!(page.status, 422);
    let html = text(&page);
    for (field, message) in [
        ("full_name", "Campo obbligatorio"),
        ("codice_fiscale", "carattere di controllo"),
        ("email", "Indirizzo email non valido"),
        ("password", "almeno 8 caratteri"),
    ] {
        let error = format!("id=\"{field}-error\">");
        let at = html.find(&error).unwrap_or_else(|| panic!("no error beside {field}: {html}"));
        assert!(html[at..at + 300].contains(message), "{field}: {}", &html[at..at + 300]);
        assert!(html.contains(&format!("aria-describedby=\"{field}-error\"")), "{field}");
    }
    assert!(html.contains("value=\"RSSMRA85T10A562X\""), "what was typed is kept");
    assert!(!html.contains("value=\"short\""), "passwords are never echoed");
    assert!(portal.emails().await.is_empty());

    let mismatch = browser
        .submit("/registrazione", &[
            ("kind", "association"), ("full_name", "Patronato"), ("codice_fiscale", "00743110157"),
            ("email", "a@example.it"), ("password", "abcdefgh1"), ("password_again", "abcdefgh2"),
        ])
        .await;
    assert_eq!(mismatch.status, 422);
    assert!(text(&mismatch).contains("Le due password non coincidono"));
    assert!(portal.store.user_by_email("a@example.it").await.unwrap().is_none());

    // Taken email (F8): the same answer as a new registration, so the form
    // tells nobody who is registered; the owner is told by email; the first
    // user is untouched.
    let _first = portal.signed_in("taken@example.it", "password-uno").await;
    portal.emails().await;
    let mut other = portal.browser().await;
    other.lang = Some("en-GB,en;q=0.9");
    let taken = other.submit("/registrazione", &registration("taken@example.it", "password-due")).await;
    let fresh = other.submit("/registrazione", &registration("fresh@example.it", "password-due")).await;
    assert_eq!((taken.status.as_u16(), fresh.status.as_u16()), (200, 200));
    let answer = |r: &clickday_testkit::Reply| text(r).split("<main").nth(1).unwrap().to_string();
    assert_eq!(answer(&taken), answer(&fresh), "the answer does not tell who is registered");
    let emails = portal.emails().await;
    let (_, subject, body) = emails.iter().find(|(to, _, _)| to == "taken@example.it").unwrap();
    assert_eq!(subject, "A registration request with your address");
    assert!(body.contains("https://portale.example.it/password-dimenticata"), "{body}");
    assert!(!body.contains("conferma"), "no confirmation link for the stranger: {body}");
    let mut again = portal.browser().await;
    let login = again.submit("/accesso", &[("email", "taken@example.it"), ("password", "password-uno")]).await;
    assert_eq!(login.status, 303);
});

on_both_stores!(every_form_needs_its_csrf_token => |backend| async move {
    let portal = TestPortal::start(backend, "").await;
    let mut browser = portal.browser().await;
    let no_token = browser.post("/registrazione", &registration("x@example.it", "abcdefgh1")).await;
    assert_eq!(no_token.status, 403);
    assert!(text(&no_token).contains("Il modulo è scaduto"));
    let forged = browser
        .post_with_token("/accesso", &[("email", "x@example.it"), ("password", "abcdefgh1")], "forged")
        .await;
    assert_eq!(forged.status, 403);
    assert!(portal.store.user_by_email("x@example.it").await.unwrap().is_none());

    // Signed in, the session's token counts; another session's does not.
    let mut alice = portal.signed_in("alice@example.it", "alice-password").await;
    let mut bob = portal.signed_in("bob@example.it", "bob-password").await;
    let bobs = bob.token().await;
    let alices = alice.token().await;
    assert_ne!(alices, bobs);
    let refused = alice.post_with_token("/domande", &[("choice", &format!("{}|lavoro-domestico", common::DAY))], &bobs).await;
    assert_eq!(refused.status, 403);
    let logout = alice.post_with_token("/uscita", &[], &bobs).await;
    assert_eq!(logout.status, 403, "not even sign-out");
    assert_eq!(alice.get("/domande").await.status, 200, "still signed in");
});

on_both_stores!(sign_in_attempts_are_limited_per_user_and_address => |backend| async move {
    let portal = TestPortal::start(backend, "login_attempts_per_minute = 3").await;
    let _user = portal.signed_in("carla@example.it", "carla-password").await;
    let mut guesser = portal.browser().await;
    // signed_in spent one attempt of this address's budget.
    let statuses = clickday_testkit::attack::login_flood(&mut guesser, "carla@example.it", 2).await;
    assert_eq!(statuses, [401, 401]);
    let limited = guesser.submit("/accesso", &[("email", "carla@example.it"), ("password", "carla-password")]).await;
    assert_eq!(limited.status, 429, "even the right password waits");
    assert!(text(&limited).contains("Troppi tentativi"));
});

/// F7 behind a TLS terminator: with `trusted_proxies`, each visitor has
/// the budget of the address the terminator forwards, so a stranger's
/// guesses do not lock the owner out; without it, forwarded addresses are
/// not believed and everyone behind the terminator shares one budget.
#[tokio::test]
async fn behind_a_trusted_proxy_each_visitor_has_its_own_budget() {
    for (trusted, owner_gets_in) in [(true, true), (false, false)] {
        let extra = if trusted {
            "login_attempts_per_minute = 3\ntrusted_proxies = [\"127.0.0.1\"]"
        } else {
            "login_attempts_per_minute = 3"
        };
        let portal = TestPortal::start(common::Backend::Sqlite, extra).await;
        let _owner = portal.signed_in("carla@example.it", "carla-password").await;
        let mut stranger = portal.browser().await;
        stranger.forwarded_for = Some("203.0.113.5".into());
        clickday_testkit::attack::login_flood(&mut stranger, "carla@example.it", 4).await;
        let mut again = portal.browser().await;
        again.forwarded_for = Some("198.51.100.7".into());
        let r = again
            .submit(
                "/accesso",
                &[
                    ("email", "carla@example.it"),
                    ("password", "carla-password"),
                ],
            )
            .await;
        assert_eq!(
            r.status == 303,
            owner_gets_in,
            "trusted {trusted}: {}",
            r.status
        );
    }
}

/// F4: each registration hashes a password, so one address has a budget
/// of them; the next is refused before any hashing.
#[tokio::test]
async fn registrations_are_limited_per_address() {
    let portal = TestPortal::start(common::Backend::Sqlite, "login_attempts_per_minute = 2").await;
    let mut browser = portal.browser().await;
    for n in 0..2 {
        let email = format!("r{n}@example.it");
        let r = browser
            .submit("/registrazione", &registration(&email, "password-lunga"))
            .await;
        assert_eq!(r.status, 200, "{n}");
    }
    let r = browser
        .submit(
            "/registrazione",
            &registration("r2@example.it", "password-lunga"),
        )
        .await;
    assert_eq!(r.status, 429);
    assert!(text(&r).contains("Troppe registrazioni"), "{}", text(&r));
    assert!(
        portal
            .store
            .user_by_email("r2@example.it")
            .await
            .unwrap()
            .is_none()
    );
}

on_both_stores!(password_reset_by_email => |backend| async move {
    let portal = TestPortal::start(backend, "").await;
    let mut signed_in = portal.signed_in("dario@example.it", "vecchia-password").await;
    let mut browser = portal.browser().await;
    let unknown = browser.submit("/password-dimenticata", &[("email", "nobody@example.it")]).await;
    let known = browser.submit("/password-dimenticata", &[("email", "dario@example.it")]).await;
    assert_eq!(unknown.status, 200);
    assert_eq!(known.status, 200);
    let answer = |r: &clickday_testkit::Reply| text(r).split("<main").nth(1).unwrap().to_string();
    assert_eq!(answer(&unknown), answer(&known), "the answer does not tell who is registered");
    let link = portal.link_sent_to("dario@example.it").await;
    assert!(link.starts_with("/reimposta-password/"), "{link}");

    // F4: whether a link is live is known before any password is hashed.
    let secret = link.trim_start_matches("/reimposta-password/");
    let hash = clickday_portal::secrets::secret_hash(secret);
    assert!(portal.store.reset_link_is_live(&hash).await.unwrap());
    let made_up = clickday_portal::secrets::secret_hash("made-up");
    assert!(!portal.store.reset_link_is_live(&made_up).await.unwrap());
    let forged = browser
        .submit("/reimposta-password/made-up", &[("password", "nuova-password"), ("password_again", "nuova-password")])
        .await;
    assert_eq!(forged.status, 404);
    let short = browser.submit(&link, &[("password", "corta"), ("password_again", "corta")]).await;
    assert_eq!(short.status, 422);
    let done = browser
        .submit(&link, &[("password", "nuova-password"), ("password_again", "nuova-password")])
        .await;
    assert_eq!(done.status, 200);
    assert!(text(&done).contains("Password cambiata"));
    let reused = browser
        .submit(&link, &[("password", "terza-password"), ("password_again", "terza-password")])
        .await;
    assert_eq!(reused.status, 404, "a reset link works once");
    assert!(!portal.store.reset_link_is_live(&hash).await.unwrap(), "spent");

    assert_eq!(signed_in.get("/domande").await.status, 303, "sessions end with a reset");
    let old = browser.submit("/accesso", &[("email", "dario@example.it"), ("password", "vecchia-password")]).await;
    assert_eq!(old.status, 401);
    let new = browser.submit("/accesso", &[("email", "dario@example.it"), ("password", "nuova-password")]).await;
    assert_eq!(new.status, 303);
});

#[tokio::test]
async fn english_on_request_and_remembered() {
    let portal = TestPortal::start(Backend::Sqlite, "").await;
    let mut browser = portal.browser().await;
    let page = browser.get("/registrazione?lang=en").await;
    assert!(text(&page).contains("<html lang=\"en\">"));
    assert!(text(&page).contains("Registration"));
    let next = browser.get("/accesso").await;
    assert!(
        text(&next).contains("Sign in"),
        "the choice is kept in a cookie"
    );
    let back = browser.get("/accesso?lang=it").await;
    assert!(text(&back).contains("Accesso"));
}
