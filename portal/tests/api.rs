//! The JSON API's rules: tokens, keys, who sees which application, and
//! problem documents for every refusal. On SQLite and PostgreSQL.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod common;

use clickday_testkit::{Applicant, Client, Proto, Reply};
use common::{DAY, TestPortal, on_both_stores};
use serde_json::{Value, json};

async fn call(
    portal: &TestPortal,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> Reply {
    let mut client = Client::connect(portal.addr, Proto::Http1, None)
        .await
        .unwrap();
    let mut req = http::Request::builder()
        .method(method)
        .uri(client.uri(path));
    if let Some(token) = token {
        req = req.header("authorization", format!("Bearer {token}"));
    }
    if body.is_some() {
        req = req.header("content-type", "application/json");
    }
    let body = bytes::Bytes::from(body.unwrap_or("").to_string());
    client.send(req.body(body).unwrap()).await.unwrap()
}

fn problem(reply: &Reply, status: u16, code: &str) {
    assert_eq!(reply.status, status, "{:?}", reply.body);
    assert_eq!(
        reply.header("content-type"),
        Some("application/problem+json")
    );
    let json: Value = serde_json::from_slice(&reply.body).unwrap();
    assert_eq!(json["code"], code, "{json}");
    assert_eq!(json["status"], status);
}

async fn token(portal: &TestPortal, email: &str, password: &str) -> String {
    let body = json!({ "email": email, "password": password }).to_string();
    let reply = call(portal, "POST", "/api/v1/token", None, Some(&body)).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    reply.json()["token"].as_str().unwrap().to_string()
}

on_both_stores!(tokens_and_refusals => |backend| async move {
    let portal = TestPortal::start(backend, "").await;
    problem(&call(&portal, "GET", "/api/v1/applications", None, None).await, 401, "unauthorized");
    problem(&call(&portal, "GET", "/api/v1/applications", Some("forged"), None).await, 401, "unauthorized");
    problem(&call(&portal, "POST", "/api/v1/token", None, Some("{not json")).await, 400, "malformed");
    problem(&call(&portal, "POST", "/api/v1/token", None, Some(r#"{"email": 3}"#)).await, 400, "malformed");
    let wrong = json!({ "email": "nobody@example.it", "password": "whatever1" }).to_string();
    problem(&call(&portal, "POST", "/api/v1/token", None, Some(&wrong)).await, 401, "bad_credentials");
    problem(&call(&portal, "GET", "/api/v1/nothing-here", None, None).await, 404, "not_found");

    // Registered, not confirmed: told so, no token.
    let mut browser = portal.browser().await;
    browser.submit("/registrazione", &common::registration("new@example.it", "new-password")).await;
    let unconfirmed = json!({ "email": "new@example.it", "password": "new-password" }).to_string();
    problem(&call(&portal, "POST", "/api/v1/token", None, Some(&unconfirmed)).await, 403, "not_confirmed");

    let _signed_in = portal.signed_in("gino@example.it", "gino-password").await;
    let token = token(&portal, "GINO@example.it", "gino-password").await;
    let list = call(&portal, "GET", "/api/v1/applications", Some(&token), None).await;
    assert_eq!(list.status, 200);
    assert_eq!(list.json()["applications"], json!([]));
    problem(&call(&portal, "GET", "/api/v1/applications?state=archived", Some(&token), None).await, 400, "malformed");
    let revoked = call(&portal, "DELETE", "/api/v1/token", Some(&token), None).await;
    assert_eq!(revoked.status, 204);
    problem(&call(&portal, "GET", "/api/v1/applications", Some(&token), None).await, 401, "unauthorized");
});

on_both_stores!(keys_belong_to_one_account => |backend| async move {
    let portal = TestPortal::start(backend, "").await;
    let _a = portal.signed_in("anna@example.it", "anna-password").await;
    let _b = portal.signed_in("bruno@example.it", "bruno-password").await;
    let anna = token(&portal, "anna@example.it", "anna-password").await;
    let bruno = token(&portal, "bruno@example.it", "bruno-password").await;
    let key = Applicant::new(5);
    let body = json!({ "public_key": key.public_key_b64() }).to_string();
    let first = call(&portal, "POST", "/api/v1/keys", Some(&anna), Some(&body)).await;
    assert_eq!(first.status, 200, "{:?}", first.body);
    assert_eq!(first.json()["key_id"], key.key_id());
    let again = call(&portal, "POST", "/api/v1/keys", Some(&anna), Some(&body)).await;
    assert_eq!(again.status, 200, "registering twice changes nothing");
    problem(&call(&portal, "POST", "/api/v1/keys", Some(&bruno), Some(&body)).await, 409, "conflict");
    let owner = portal.store.list_keys().await.unwrap();
    assert_eq!(owner.len(), 1);
    let anna_user = portal.store.user_by_email("anna@example.it").await.unwrap().unwrap();
    assert_eq!(Some(&owner[0].account_id), anna_user.account_id.as_ref());
    for bad in [r#"{"public_key": "not base64!"}"#, r#"{"public_key": "AAAA"}"#, r#"{}"#] {
        problem(&call(&portal, "POST", "/api/v1/keys", Some(&anna), Some(bad)).await, 400, "malformed");
    }
});

on_both_stores!(only_the_owner_reads_an_application => |backend| async move {
    let portal = TestPortal::start(backend, "").await;
    let mut owner = portal.signed_in("olga@example.it", "olga-password").await;
    let choice = format!("{DAY}|lavoro-domestico");
    let created = owner.submit("/domande", &[("choice", &choice)]).await;
    let id = created.header("location").unwrap().split('/').nth(2).unwrap().to_string();
    let _other = portal.signed_in("piero@example.it", "piero-password").await;
    let olga = token(&portal, "olga@example.it", "olga-password").await;
    let piero = token(&portal, "piero@example.it", "piero-password").await;

    let mine = call(&portal, "GET", &format!("/api/v1/applications/{id}"), Some(&olga), None).await;
    assert_eq!(mine.status, 200);
    assert_eq!(mine.json()["state"], "to_complete");
    assert_eq!(mine.json()["body"], Value::Null, "nothing to sign before it is ready");
    for path in [format!("/api/v1/applications/{id}"), format!("/api/v1/applications/{id}/receipt")] {
        problem(&call(&portal, "GET", &path, Some(&piero), None).await, 404, "not_found");
    }
    let theirs = call(&portal, "GET", "/api/v1/applications", Some(&piero), None).await;
    assert_eq!(theirs.json()["applications"], json!([]));
    problem(&call(&portal, "GET", &format!("/api/v1/applications/{id}/receipt"), Some(&olga), None).await, 404, "no_receipt");
});
