//! The offices' back office (Sportello Unico, Questura, labour office of
//! one province): the applications forwarded to them, searchable, each
//! with its answers and receipt; marking one received and recording an
//! outcome ("in istruttoria", "nulla osta rilasciato", "rigettata", with a
//! note), which the applicant then sees on the portal and gets by email.

use crate::applications::{model_title, pages_shown};
use crate::visitor::{Visitor, see_other};
use crate::{Portal, i18n};
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use clickday_core::time::{format_rome, format_rome_minutes};
use clickday_forms::Lang;
use clickday_store::NewEmail;
use clickday_store::portal::{
    NewOutcome, OFFICE_OUTCOMES, OfficeRow, OfficeSearch, Recorded, User, UserKind,
};
use serde::Deserialize;
use std::sync::Arc;

const PAGE_SIZE: u64 = 50;
/// A note is a few sentences, not a document.
const MAX_NOTE_CHARS: usize = 2_000;

/// The signed-in approved office: its kind and province; anyone else gets
/// "not found", an office still waiting for approval a message saying so.
fn office<'a>(
    portal: &Portal,
    visitor: &'a Visitor,
) -> Result<(&'a User, &'a str, &'a str), Response> {
    let user = visitor.signed_in()?;
    match (
        user.kind,
        user.office_kind.as_deref(),
        user.province.as_deref(),
    ) {
        (UserKind::Office, Some(kind), Some(province)) if user.approved => {
            Ok((user, kind, province))
        }
        (UserKind::Office, _, _) => Err(visitor.message(
            portal,
            StatusCode::FORBIDDEN,
            "office.waiting.title",
            "office.waiting.body",
        )),
        _ => Err(visitor.not_found(portal)),
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ListQuery {
    q: String,
    /// `si`, `no` or empty: received by the office or not.
    ricevute: String,
    pagina: u64,
}

fn row_context(portal: &Portal, row: &OfficeRow, lang: Lang) -> minijinja::Value {
    minijinja::context! {
        submission_id => &row.submission_id,
        application_id => &row.application_id,
        click_day => &row.click_day,
        category => model_title(portal, &row.category, lang),
        province => &row.province,
        received_at => format_rome(row.received_at),
        rank => row.rank,
        within_quota => row.within_quota,
        applicant => &row.applicant,
        worker => &row.worker_name,
        received_by_office => row.received_by_office.map(|us| format_rome_minutes(us.max(0) as u64 * 1_000)),
        outcome => &row.outcome,
    }
}

/// `GET /ufficio`: the office's applications, in arrival order.
pub async fn list(
    State(portal): State<Arc<Portal>>,
    visitor: Visitor,
    Query(query): Query<ListQuery>,
) -> Response {
    let (_, kind, province) = match office(&portal, &visitor) {
        Ok(found) => found,
        Err(refused) => return refused,
    };
    let page = query.pagina.max(1);
    let search = OfficeSearch {
        submission_id: None,
        text: Some(query.q.clone()).filter(|q| !q.trim().is_empty()),
        received: match query.ricevute.as_str() {
            "si" => Some(true),
            "no" => Some(false),
            _ => None,
        },
        offset: (page - 1).saturating_mul(PAGE_SIZE),
        limit: PAGE_SIZE,
    };
    let (rows, total) = match portal
        .store
        .office_applications(kind, province, &search)
        .await
    {
        Ok(found) => found,
        Err(e) => return visitor.failure(&portal, &e),
    };
    let pages = total.div_ceil(PAGE_SIZE).max(1);
    let link = |n: u64| {
        let query = serde_urlencoded::to_string([
            ("q", query.q.as_str()),
            ("ricevute", query.ricevute.as_str()),
            ("pagina", &n.to_string()),
        ])
        .unwrap_or_default();
        format!("/ufficio?{query}")
    };
    let lang = visitor.lang;
    visitor.page(
        &portal,
        "office.html",
        minijinja::context! {
            office => kind,
            province,
            rows => rows.iter().map(|r| row_context(&portal, r, lang)).collect::<Vec<_>>(),
            filters => minijinja::context! { q => &query.q, ricevute => &query.ricevute },
            paging => minijinja::context! {
                total, page, pages,
                previous => (page > 1).then(|| link(page - 1)),
                next => (page < pages).then(|| link(page + 1)),
            },
        },
    )
}

/// The application `id` of the office's province, or "not found".
async fn one(
    portal: &Portal,
    visitor: &Visitor,
    kind: &str,
    province: &str,
    id: &str,
) -> Result<OfficeRow, Response> {
    let search = OfficeSearch {
        submission_id: Some(id.to_string()),
        limit: 1,
        ..OfficeSearch::default()
    };
    match portal
        .store
        .office_applications(kind, province, &search)
        .await
    {
        Ok((mut rows, _)) if !rows.is_empty() => Ok(rows.swap_remove(0)),
        Ok(_) => Err(visitor.not_found(portal)),
        Err(e) => Err(visitor.failure(portal, &e)),
    }
}

/// `GET /ufficio/{id}`: one application with its answers, its steps, and
/// the forms to mark it received and record an outcome.
pub async fn show(
    State(portal): State<Arc<Portal>>,
    visitor: Visitor,
    Path(id): Path<String>,
) -> Response {
    show_with(&portal, &visitor, &id, StatusCode::OK, None).await
}

async fn show_with(
    portal: &Portal,
    visitor: &Visitor,
    id: &str,
    status: StatusCode,
    error: Option<&str>,
) -> Response {
    let (_, kind, province) = match office(portal, visitor) {
        Ok(found) => found,
        Err(refused) => return refused,
    };
    let row = match one(portal, visitor, kind, province, id).await {
        Ok(row) => row,
        Err(refused) => return refused,
    };
    let lang = visitor.lang;
    // The answers as signed: the body's `data`, read with the form model.
    let answers = clickday_forms::answers_in_body(&row.body).unwrap_or_default();
    let pages = match portal.model(&row.category) {
        Some(model) => pages_shown(model, &answers, lang),
        None => Vec::new(),
    };
    let steps = match portal.store.outcomes(&row.submission_id).await {
        Ok(steps) => steps,
        Err(e) => return visitor.failure(portal, &e),
    };
    visitor.page_with(
        portal,
        status,
        "office_application.html",
        minijinja::context! {
            app => row_context(portal, &row, lang),
            pages,
            steps => steps.iter().map(|s| minijinja::context! {
                office => &s.office_kind,
                outcome => &s.outcome,
                note => &s.note,
                at => format_rome_minutes(s.created_at.max(0) as u64 * 1_000),
            }).collect::<Vec<_>>(),
            outcomes => OFFICE_OUTCOMES,
            error => error.map(|key| i18n::text(lang, key)),
        },
    )
}

/// `GET /ufficio/{id}/ricevuta`: the receipt PDF.
pub async fn receipt(
    State(portal): State<Arc<Portal>>,
    visitor: Visitor,
    Path(id): Path<String>,
) -> Response {
    let (_, kind, province) = match office(&portal, &visitor) {
        Ok(found) => found,
        Err(refused) => return refused,
    };
    if let Err(refused) = one(&portal, &visitor, kind, province, &id).await {
        return refused;
    }
    match crate::api::receipt_of(&portal, &id).await {
        Ok(Some(pdf)) => pdf,
        Ok(None) => visitor.not_found(&portal),
        Err(problem) => problem.into_response(),
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ReceivedForm {
    csrf: String,
}

/// `POST /ufficio/{id}/ricevuta`: marks the application received.
pub async fn mark_received(
    State(portal): State<Arc<Portal>>,
    visitor: Visitor,
    Path(id): Path<String>,
    Form(form): Form<ReceivedForm>,
) -> Response {
    let (_, kind, province) = match office(&portal, &visitor) {
        Ok(found) => found,
        Err(refused) => return refused,
    };
    if let Err(refused) = visitor.check_csrf(&portal, Some(&form.csrf)) {
        return refused;
    }
    match portal
        .store
        .mark_received(kind, province, std::slice::from_ref(&id))
        .await
    {
        Ok(_) => see_other(&format!("/ufficio/{id}")),
        Err(e) => visitor.failure(&portal, &e),
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct OutcomeForm {
    csrf: String,
    outcome: String,
    note: String,
}

/// `POST /ufficio/{id}/esito`: records an outcome and tells the applicant.
pub async fn record_outcome(
    State(portal): State<Arc<Portal>>,
    visitor: Visitor,
    Path(id): Path<String>,
    Form(form): Form<OutcomeForm>,
) -> Response {
    let (user, kind, province) = match office(&portal, &visitor) {
        Ok(found) => found,
        Err(refused) => return refused,
    };
    if let Err(refused) = visitor.check_csrf(&portal, Some(&form.csrf)) {
        return refused;
    }
    let note = form.note.trim();
    let problem = if !OFFICE_OUTCOMES.contains(&form.outcome.as_str()) {
        Some("office.outcome.choose")
    } else if form.outcome == "rejected" && note.is_empty() {
        Some("office.outcome.reason")
    } else if note.chars().count() > MAX_NOTE_CHARS {
        Some("field.too_long")
    } else {
        None
    };
    if let Some(problem) = problem {
        return show_with(
            &portal,
            &visitor,
            &id,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some(problem),
        )
        .await;
    }
    let recorded = portal
        .store
        .record_outcome(&NewOutcome {
            office_kind: kind,
            province,
            submission_id: &id,
            outcome: &form.outcome,
            note,
            author_id: &user.user_id,
        })
        .await;
    match recorded {
        Ok(Recorded::NotFound) => visitor.not_found(&portal),
        Ok(Recorded::Recorded(applicant)) => {
            if let Some(applicant) = applicant {
                // The applicant's language is not known: Italian, the
                // portal's default, as the receipts.
                let lang = Lang::It;
                let say = |key: &str| i18n::text(lang, key).to_string();
                let outcome = say(&format!("office.outcome.{}", form.outcome));
                let body = say("email.outcome.body")
                    .replace("{name}", &applicant.full_name)
                    .replace("{office}", &say(&format!("office.{kind}")))
                    .replace("{province}", clickday_config::province_name(province))
                    .replace("{application}", &applicant.application_id)
                    .replace("{outcome}", &outcome)
                    .replace("{note}", if note.is_empty() { "—" } else { note })
                    .replace(
                        "{link}",
                        &format!(
                            "{}/domande/{}",
                            portal.settings.public_url, applicant.application_id
                        ),
                    );
                let email = NewEmail {
                    kind: "office-outcome".into(),
                    recipient: applicant.email,
                    subject: say("email.outcome.subject")
                        .replace("{application}", &applicant.application_id)
                        .replace("{outcome}", &outcome),
                    body,
                };
                if let Err(e) = portal.store.queue_written_email(&email).await {
                    return visitor.failure(&portal, &e);
                }
            }
            see_other(&format!("/ufficio/{id}"))
        }
        Err(e) => visitor.failure(&portal, &e),
    }
}
