//! The help desk: a user opens a ticket (technical, functional or legal
//! question) and gets its number by email; an operator takes it in charge,
//! may ask for more information (the user answers on the ticket), then
//! answers and closes it. Everyone involved sees the whole history; nobody
//! else sees the ticket at all.

use crate::visitor::{Visitor, see_other};
use crate::{Portal, i18n, secrets};
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use clickday_forms::Lang;
use clickday_store::NewEmail;
use clickday_store::portal::{
    NewTicket, TICKET_TOPICS, Ticket, TicketChange, TicketState, User, UserKind,
};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Longest subject and message accepted.
const MAX_SUBJECT: usize = 200;
const MAX_MESSAGE: usize = 5_000;
/// Tickets shown in a list.
const LIST_LIMIT: u64 = 200;

fn is_operator(user: &User) -> bool {
    user.kind == UserKind::Operator
}

fn ticket_row(ticket: &Ticket) -> minijinja::Value {
    minijinja::context! {
        id => &ticket.ticket_id,
        topic => &ticket.topic,
        subject => &ticket.subject,
        state => ticket.state.as_str(),
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ListQuery {
    stato: String,
}

pub async fn list(
    State(portal): State<Arc<Portal>>,
    visitor: Visitor,
    Query(query): Query<ListQuery>,
) -> Response {
    let user = match visitor.signed_in() {
        Ok(user) => user,
        Err(redirect) => return redirect,
    };
    let form = NewTicketForm::default();
    show_list(
        &portal,
        &visitor,
        user,
        &query,
        StatusCode::OK,
        &form,
        &BTreeMap::new(),
    )
    .await
}

async fn show_list(
    portal: &Portal,
    visitor: &Visitor,
    user: &User,
    query: &ListQuery,
    status: StatusCode,
    form: &NewTicketForm,
    errors: &BTreeMap<&str, String>,
) -> Response {
    let operator = is_operator(user);
    // Operators see everyone's tickets, by state; users only their own.
    let (owner, state) = match operator {
        true => (None, TicketState::parse(&query.stato)),
        false => (Some(user.user_id.as_str()), None),
    };
    let tickets = match portal.store.tickets(owner, state, LIST_LIMIT).await {
        Ok(tickets) => tickets,
        Err(e) => return visitor.failure(portal, &e),
    };
    let tickets: Vec<_> = tickets.iter().map(ticket_row).collect();
    let form = minijinja::context! { topic => &form.topic, subject => &form.subject, message => &form.message };
    visitor.page_with(
        portal,
        status,
        "helpdesk.html",
        minijinja::context! { tickets, operator, topics => TICKET_TOPICS, stato => &query.stato, form, errors },
    )
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct NewTicketForm {
    csrf: String,
    topic: String,
    subject: String,
    message: String,
}

/// A required text of at most `max` characters.
fn check_text(
    errors: &mut BTreeMap<&'static str, String>,
    field: &'static str,
    value: &str,
    max: usize,
    lang: Lang,
) {
    match value.trim().chars().count() {
        0 => drop(errors.insert(field, i18n::text(lang, "field.required").into())),
        n if n > max => drop(errors.insert(field, i18n::text(lang, "field.too_long").into())),
        _ => {}
    }
}

pub async fn open(
    State(portal): State<Arc<Portal>>,
    visitor: Visitor,
    Form(form): Form<NewTicketForm>,
) -> Response {
    let user = match visitor.signed_in() {
        Ok(user) if !is_operator(user) => user,
        Ok(_) => return visitor.not_found(&portal),
        Err(redirect) => return redirect,
    };
    if let Err(refused) = visitor.check_csrf(&portal, Some(&form.csrf)) {
        return refused;
    }
    let mut errors = BTreeMap::new();
    if !TICKET_TOPICS.contains(&form.topic.as_str()) {
        errors.insert("topic", i18n::text(visitor.lang, "field.choice").into());
    }
    check_text(
        &mut errors,
        "subject",
        &form.subject,
        MAX_SUBJECT,
        visitor.lang,
    );
    check_text(
        &mut errors,
        "message",
        &form.message,
        MAX_MESSAGE,
        visitor.lang,
    );
    if !errors.is_empty() {
        let query = ListQuery::default();
        return show_list(
            &portal,
            &visitor,
            user,
            &query,
            StatusCode::UNPROCESSABLE_ENTITY,
            &form,
            &errors,
        )
        .await;
    }
    let ticket = NewTicket {
        ticket_id: format!("T-{}", secrets::readable_id(8)),
        user_id: user.user_id.clone(),
        topic: form.topic.clone(),
        subject: form.subject.trim().to_string(),
        body: form.message.trim().to_string(),
    };
    if let Err(e) = portal.store.open_ticket(&ticket).await {
        return visitor.failure(&portal, &e);
    }
    if let Err(e) = notify(
        &portal,
        visitor.lang,
        user,
        &ticket.ticket_id,
        &ticket.subject,
        "opened",
        "",
    )
    .await
    {
        return visitor.failure(&portal, &e);
    }
    see_other(&format!("/assistenza/{}", ticket.ticket_id))
}

/// Tells the ticket's user by email what happened (`event`: opened,
/// question or answer), with the ticket's number and address.
async fn notify(
    portal: &Portal,
    lang: Lang,
    user: &User,
    ticket_id: &str,
    subject: &str,
    event: &str,
    text: &str,
) -> Result<(), clickday_store::StoreError> {
    let link = format!("{}/assistenza/{ticket_id}", portal.settings.public_url);
    let fill = |key: &str| {
        i18n::text(lang, &format!("email.ticket.{event}.{key}"))
            .replace("{ticket}", ticket_id)
            .replace("{subject}", subject)
            .replace("{name}", &user.full_name)
            .replace("{link}", &link)
            .replace("{text}", text)
    };
    let email = NewEmail {
        kind: format!("ticket-{event}"),
        recipient: user.email.clone(),
        subject: fill("subject"),
        body: fill("body"),
    };
    portal.store.queue_written_email(&email).await.map(drop)
}

/// The ticket, if this visitor may see it: its owner or an operator.
async fn visible_ticket(
    portal: &Portal,
    visitor: &Visitor,
    id: &str,
) -> Result<(Ticket, bool), Response> {
    let user = visitor.signed_in()?;
    match portal.store.ticket(id).await {
        Ok(Some(ticket)) if is_operator(user) => Ok((ticket, true)),
        Ok(Some(ticket)) if ticket.user_id == user.user_id => Ok((ticket, false)),
        Ok(_) => Err(visitor.not_found(portal)),
        Err(e) => Err(visitor.failure(portal, &e)),
    }
}

pub async fn show(
    State(portal): State<Arc<Portal>>,
    visitor: Visitor,
    Path(id): Path<String>,
) -> Response {
    let (ticket, operator) = match visible_ticket(&portal, &visitor, &id).await {
        Ok(found) => found,
        Err(refused) => return refused,
    };
    let events = match portal.store.ticket_events(&id).await {
        Ok(events) => events,
        Err(e) => return visitor.failure(&portal, &e),
    };
    let events: Vec<_> = events
        .iter()
        .map(|e| {
            // Rome time, as every instant a user reads.
            let at = clickday_core::time::format_rome_minutes(
                u64::try_from(e.created_at).unwrap_or(0) * 1_000,
            );
            minijinja::context! { kind => &e.kind, author => &e.author_name, body => &e.body, at }
        })
        .collect();
    let mine = visitor
        .user
        .as_ref()
        .is_some_and(|u| Some(&u.user_id) == ticket.operator_id.as_ref());
    visitor.page(
        &portal,
        "ticket.html",
        minijinja::context! { ticket => ticket_row(&ticket), events, operator, in_charge => mine },
    )
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ActionForm {
    csrf: String,
    message: String,
}

/// `prendi` (take in charge), `domanda` (ask the user), `chiudi` (answer
/// and close): operators; `risposta` (reply to a question): the owner.
pub async fn act(
    State(portal): State<Arc<Portal>>,
    visitor: Visitor,
    Path((id, action)): Path<(String, String)>,
    Form(form): Form<ActionForm>,
) -> Response {
    let (ticket, operator) = match visible_ticket(&portal, &visitor, &id).await {
        Ok(found) => found,
        Err(refused) => return refused,
    };
    if let Err(refused) = visitor.check_csrf(&portal, Some(&form.csrf)) {
        return refused;
    }
    let Some(me) = visitor.user.as_ref() else {
        return see_other("/accesso");
    };
    use TicketState::*;
    let (kind, state, from, needs_text): (&str, TicketState, &[TicketState], bool) =
        match (action.as_str(), operator) {
            ("prendi", true) => ("taken", InProgress, &[Open, InProgress, WaitingUser], false),
            ("domanda", true) => ("question", WaitingUser, &[InProgress], true),
            ("chiudi", true) => ("answer", Closed, &[InProgress, WaitingUser], true),
            ("risposta", false) => ("reply", InProgress, &[WaitingUser], true),
            _ => return visitor.not_found(&portal),
        };
    let message = form.message.trim();
    let too_long = message.chars().count() > MAX_MESSAGE;
    if (needs_text && message.is_empty()) || too_long {
        return see_other(&format!("/assistenza/{id}"));
    }
    let change = TicketChange {
        ticket_id: &id,
        author_id: &me.user_id,
        kind,
        body: message,
        state,
        operator_id: operator.then_some(me.user_id.as_str()),
        from,
    };
    match portal.store.change_ticket(&change).await {
        Ok(true) => {}
        // A change the ticket's state does not allow (closed, not taken):
        // the page shows where it stands.
        Ok(false) => return see_other(&format!("/assistenza/{id}")),
        Err(e) => return visitor.failure(&portal, &e),
    }
    if matches!(kind, "question" | "answer") {
        let owner = match portal.store.user(&ticket.user_id).await {
            Ok(Some(owner)) => owner,
            Ok(None) => return visitor.not_found(&portal),
            Err(e) => return visitor.failure(&portal, &e),
        };
        // The user's language is not stored: Italian, with the English
        // version of the portal one click away.
        if let Err(e) = notify(
            &portal,
            Lang::It,
            &owner,
            &id,
            &ticket.subject,
            kind,
            message,
        )
        .await
        {
            return visitor.failure(&portal, &e);
        }
    }
    see_other(&format!("/assistenza/{id}"))
}
