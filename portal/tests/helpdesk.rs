//! The help desk end to end over HTTP: a user's ticket, its number by
//! email, an operator who takes it, asks, gets a reply, answers and closes;
//! and who may see or move a ticket. On SQLite and PostgreSQL.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod common;

use common::{TestPortal, on_both_stores, text};

fn state_of(html: &str) -> String {
    let at = html.find("id=\"ticket-state\">").unwrap() + "id=\"ticket-state\">".len();
    html[at..at + html[at..].find('<').unwrap()].to_string()
}

on_both_stores!(a_ticket_from_question_to_answer => |backend| async move {
    let portal = TestPortal::start(backend, "").await;
    let mut user = portal.signed_in("utente@example.it", "utente-password").await;
    let empty = user.submit("/assistenza", &[("topic", "technical"), ("subject", ""), ("message", "")]).await;
    assert_eq!(empty.status, 422);
    assert!(text(&empty).contains("id=\"subject-error\""));
    let opened = user
        .submit("/assistenza", &[("topic", "legal"), ("subject", "Quote per Roma"), ("message", "Quante quote per RM?")])
        .await;
    assert_eq!(opened.status, 303, "{}", text(&opened));
    let path = opened.header("location").unwrap().to_string();
    let ticket_id = path.trim_start_matches("/assistenza/").to_string();
    assert!(ticket_id.starts_with("T-"), "{ticket_id}");
    let emails = portal.emails().await;
    let (to, subject, body) = emails.last().unwrap();
    assert_eq!(to, "utente@example.it");
    assert!(subject.contains(&ticket_id) && body.contains(&ticket_id), "{subject} {body}");
    assert_eq!(state_of(&text(&user.get(&path).await)), "Aperta");

    // Others see nothing of it; the user cannot act as an operator.
    let mut other = portal.signed_in("altro@example.it", "altro-password").await;
    assert_eq!(other.get(&path).await.status, 404);
    assert!(!text(&other.get("/assistenza").await).contains(&ticket_id));
    let token = user.token().await;
    assert_eq!(user.post_with_token(&format!("{path}/prendi"), &[], &token).await.status, 404);
    assert_eq!(user.post_with_token(&format!("{path}/chiudi"), &[("message", "x")], &token).await.status, 404);

    let mut op = portal.operator().await;
    let queue = text(&op.get("/assistenza?stato=open").await);
    assert!(queue.contains(&ticket_id), "{queue}");
    let op_token = op.token().await;
    assert_eq!(op.post_with_token(&format!("{path}/prendi"), &[], &op_token).await.status, 303);
    assert_eq!(state_of(&text(&op.get(&path).await)), "In lavorazione");
    op.post_with_token(&format!("{path}/domanda"), &[("message", "Per quale categoria?")], &op_token).await;
    let page = text(&user.get(&path).await);
    assert_eq!(state_of(&page), "In attesa di informazioni dal richiedente");
    assert!(page.contains("Per quale categoria?"));
    let (_, subject, body) = portal.emails().await.pop().unwrap();
    assert!(subject.contains("servono altre informazioni") && body.contains("Per quale categoria?"));

    // Answering and closing needs the user's reply or the operator's text.
    user.post_with_token(&format!("{path}/risposta"), &[("message", "Lavoro domestico")], &token).await;
    assert_eq!(state_of(&text(&op.get(&path).await)), "In lavorazione");
    op.post_with_token(&format!("{path}/chiudi"), &[("message", "Le quote sono nel decreto.")], &op_token).await;
    let page = text(&user.get(&path).await);
    assert_eq!(state_of(&page), "Chiusa");
    for event in ["Richiesta aperta", "Presa in carico", "Domanda dell&#x27;operatore", "Risposta dell&#x27;utente", "Risposta e chiusura"] {
        assert!(page.contains(event), "{event} missing from the history: {page}");
    }
    let (_, subject, _) = portal.emails().await.pop().unwrap();
    assert!(subject.contains("risposta"), "{subject}");

    // A closed ticket does not move again.
    let late = user.post_with_token(&format!("{path}/risposta"), &[("message", "ancora")], &token).await;
    assert_eq!(late.status, 303);
    let events = portal.store.ticket_events(&ticket_id).await.unwrap();
    assert_eq!(events.len(), 5);
    assert_eq!(state_of(&text(&user.get(&path).await)), "Chiusa");
    // Operators do not open tickets.
    assert_eq!(op.post_with_token("/assistenza", &[("topic", "legal"), ("subject", "x"), ("message", "y")], &op_token).await.status, 404);
});
