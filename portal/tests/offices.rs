//! The offices' API: each office reads the applications of its own
//! province with a cursor and marks them received; nobody else reads them.
//! On SQLite and PostgreSQL.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod common;

use clickday_core::Submission;
use clickday_portal::staff::{StaffError, StaffInvite, invite};
use clickday_store::portal::UserKind;
use clickday_testkit::{Client, Proto, Reply};
use common::{TestPortal, on_both_stores};
use serde_json::{Value, json};

async fn call(
    portal: &TestPortal,
    method: &str,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> Reply {
    let mut client = Client::connect(portal.addr, Proto::Http1, None)
        .await
        .unwrap();
    let mut req = http::Request::builder()
        .method(method)
        .uri(client.uri(path))
        .header("authorization", format!("Bearer {token}"));
    if body.is_some() {
        req = req.header("content-type", "application/json");
    }
    let body = bytes::Bytes::from(body.map(|b| b.to_string()).unwrap_or_default());
    client.send(req.body(body).unwrap()).await.unwrap()
}

/// An office invited and with its password chosen; its API token.
async fn office(portal: &TestPortal, email: &str, kind: &str, province: &str) -> String {
    let staff = StaffInvite {
        kind: UserKind::Office,
        email: email.into(),
        full_name: format!("{kind} {province}"),
        province: Some(province.into()),
        office_kind: Some(kind.into()),
    };
    invite(&portal.cfg, &*portal.store, &staff).await.unwrap();
    let link = portal.link_sent_to(email).await;
    let mut browser = portal.browser().await;
    browser
        .submit(
            &link,
            &[
                ("password", "office-password"),
                ("password_again", "office-password"),
            ],
        )
        .await;
    let mut client = Client::connect(portal.addr, Proto::Http1, None)
        .await
        .unwrap();
    let body = json!({ "email": email, "password": "office-password" }).to_string();
    let req = http::Request::post(client.uri("/api/v1/token"))
        .header("content-type", "application/json")
        .body(bytes::Bytes::from(body))
        .unwrap();
    let reply = client.send(req).await.unwrap();
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    reply.json()["token"].as_str().unwrap().to_string()
}

fn submission(n: u64, province: &str) -> Submission {
    let mut s = clickday_testkit::submission(
        "acct",
        &format!("a-{n}"),
        format!(r#"{{"application_id":"a-{n}","province":"{province}"}}"#),
        1_900_000_000_000_000_000 + n,
    );
    s.submission_id = format!("20300327T080000{n:09}Z-00001");
    s.key_id = "00".repeat(16);
    s.application.click_day = common::DAY.into();
    s.application.province = province.into();
    s.application.form = "lavoro-domestico".into();
    s.stamp.seq = n;
    s
}

on_both_stores!(each_office_reads_its_province_and_marks_it_received => |backend| async move {
    let portal = TestPortal::start(backend, "").await;
    let rm: Vec<_> = (1..=25).map(|n| submission(n, "RM")).collect();
    let mi: Vec<_> = (26..=30).map(|n| submission(n, "MI")).collect();
    portal.store.persist_batch(&[rm, mi].concat(), &[]).await.unwrap();

    let questura_rm = office(&portal, "questura.rm@example.it", "questura", "RM").await;
    let sportello_rm = office(&portal, "sportello.rm@example.it", "sportello_unico", "RM").await;
    let questura_mi = office(&portal, "questura.mi@example.it", "questura", "MI").await;

    // Pages of 10 by cursor: 25 of RM, none of MI.
    let mut seen = Vec::new();
    let mut after = String::new();
    loop {
        let page = call(&portal, "GET", &format!("/api/v1/office/applications?limit=10&after={after}"), &questura_rm, None).await;
        assert_eq!(page.status, 200, "{:?}", page.body);
        let json = page.json();
        let apps = json["applications"].as_array().unwrap().clone();
        if apps.is_empty() {
            break;
        }
        for app in &apps {
            assert_eq!(app["province"], "RM");
            assert!(app["body"].as_str().unwrap().contains("\"application_id\""));
            seen.push(app["submission_id"].as_str().unwrap().to_string());
        }
        after = json["next"].as_str().unwrap().to_string();
    }
    assert_eq!(seen.len(), 25);
    let mut sorted = seen.clone();
    sorted.sort();
    assert_eq!(seen, sorted, "by submission id");

    // Marked received: gone from this office's inbox, not from the other's.
    let mut ids = seen[..20].to_vec();
    ids.push(submission(27, "MI").submission_id); // another province: ignored
    let marked = call(&portal, "POST", "/api/v1/office/received", &questura_rm, Some(json!({ "submission_ids": ids }))).await;
    assert_eq!(marked.json()["marked"], 20);
    let again = call(&portal, "POST", "/api/v1/office/received", &questura_rm, Some(json!({ "submission_ids": ids }))).await;
    assert_eq!(again.json()["marked"], 0, "marking twice changes nothing");
    let rest = call(&portal, "GET", "/api/v1/office/applications", &questura_rm, None).await.json();
    assert_eq!(rest["applications"].as_array().unwrap().len(), 5);
    let sportello = call(&portal, "GET", "/api/v1/office/applications", &sportello_rm, None).await.json();
    assert_eq!(sportello["applications"].as_array().unwrap().len(), 25);
    let milano = call(&portal, "GET", "/api/v1/office/applications", &questura_mi, None).await.json();
    assert_eq!(milano["applications"].as_array().unwrap().len(), 5, "MI's own only");
    assert_eq!(portal.store.forwarding(&seen[0]).await.unwrap().len(), 3);

    // An employer's token reads nothing.
    let _employer = portal.signed_in("e@example.it", "employer-pw").await;
    let mut client = Client::connect(portal.addr, Proto::Http1, None).await.unwrap();
    let req = http::Request::post(client.uri("/api/v1/token"))
        .header("content-type", "application/json")
        .body(bytes::Bytes::from(json!({ "email": "e@example.it", "password": "employer-pw" }).to_string()))
        .unwrap();
    let token = client.send(req).await.unwrap().json()["token"].as_str().unwrap().to_string();
    let refused = call(&portal, "GET", "/api/v1/office/applications", &token, None).await;
    assert_eq!(refused.status, 403);
    assert_eq!(refused.json()["code"], "forbidden");

    // Bad invitations are refused by name.
    let bad = StaffInvite {
        kind: UserKind::Office,
        email: "x@example.it".into(),
        full_name: "X".into(),
        province: Some("ZZ".into()),
        office_kind: Some("questura".into()),
    };
    let error = invite(&portal.cfg, &*portal.store, &bad).await.unwrap_err();
    assert!(matches!(&error, StaffError::Invalid(m) if m.contains("--province \"ZZ\"")), "{error}");
});

on_both_stores!(a_registered_office_reads_nothing_until_approved => |backend| async move {
    let portal = TestPortal::start(backend, "").await;
    portal.store.persist_batch(&[submission(1, "NA")], &[]).await.unwrap();
    let mut office = portal.browser().await;
    let mut form = common::registration("sui.na@example.it", "sportello-pw");
    form[0] = ("kind", "office");
    form[1] = ("full_name", "Sportello Unico di Napoli");
    form[2] = ("codice_fiscale", "80213330584");
    let missing = office.submit("/registrazione", &form).await;
    assert_eq!(missing.status, 422, "an office names its province and kind");
    assert!(common::text(&missing).contains("id=\"province-error\""));
    form.extend([("province", "NA"), ("office", "sportello_unico")]);
    assert_eq!(office.submit("/registrazione", &form).await.status, 200);
    let link = portal.link_sent_to("sui.na@example.it").await;
    office.get(&link).await;
    let mut client = Client::connect(portal.addr, Proto::Http1, None).await.unwrap();
    let req = http::Request::post(client.uri("/api/v1/token"))
        .header("content-type", "application/json")
        .body(bytes::Bytes::from(json!({ "email": "sui.na@example.it", "password": "sportello-pw" }).to_string()))
        .unwrap();
    let token = client.send(req).await.unwrap().json()["token"].as_str().unwrap().to_string();
    let waiting = call(&portal, "GET", "/api/v1/office/applications", &token, None).await;
    assert_eq!(waiting.status, 403);
    assert_eq!(waiting.json()["code"], "not_approved");

    // Only an operator approves; then the office reads its province.
    let user = portal.store.user_by_email("sui.na@example.it").await.unwrap().unwrap();
    let signed_in = office
        .submit("/accesso", &[("email", "sui.na@example.it"), ("password", "sportello-pw")])
        .await;
    assert_eq!(signed_in.status, 303, "an office signs in before its approval");
    assert_eq!(office.get("/uffici").await.status, 404, "approving is for operators");
    let mut operator = portal.operator().await;
    let page = common::text(&operator.get("/uffici").await);
    assert!(page.contains("Sportello Unico di Napoli"), "{page}");
    let token_op = common::csrf_of(&page);
    let approved = operator.post_with_token(&format!("/uffici/{}/approva", user.user_id), &[], &token_op).await;
    assert_eq!(approved.status, 303);
    let again = operator.post_with_token(&format!("/uffici/{}/approva", user.user_id), &[], &token_op).await;
    assert_eq!(again.status, 404, "approved once");
    let inbox = call(&portal, "GET", "/api/v1/office/applications", &token, None).await;
    assert_eq!(inbox.status, 200);
    assert_eq!(inbox.json()["applications"].as_array().unwrap().len(), 1);
    assert_eq!(inbox.json()["office"], "sportello_unico");
});
