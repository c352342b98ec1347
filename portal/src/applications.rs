//! Online compilation: a user creates applications for a click day's
//! category, fills the model's pages one at a time (each save keeps what
//! was typed, right or wrong, and shows the problems beside the fields),
//! reviews the summary and marks the application ready for the
//! mini-client. A user sees their own applications and, for an
//! association, its sub-accounts'; only the owner edits.

use crate::visitor::{Visitor, see_other};
use crate::{Portal, secrets};
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use clickday_forms::{
    Answers, ApplicationModel, CheckContext, Completeness, FieldErrors, FieldKind, Lang, Page,
    QUOTA_PROVINCE,
};
use clickday_store::portal::{
    Draft, DraftSearch, DraftState, PastApplication, SearchState, Sent, User, UserKind,
};
use minijinja::Value;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Arc;

/// The fields copied out of the answers for lists and search.
const WORKER_SURNAME: &str = "lavoratore_cognome";
const WORKER_NAME: &str = "lavoratore_nome";

fn check_context(portal: &Portal) -> CheckContext<'_> {
    CheckContext {
        today: clickday_core::time::rome_date((portal.clock)()),
        calendar: &portal.calendar,
    }
}

/// Applications per page of the list.
const PAGE_SIZE: u64 = 50;

/// The list's search form, as the query string carries it (Italian
/// names: they show in the address bar). Empty means "any".
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct ListFilters {
    anno: String,
    click_day: String,
    stato: String,
    categoria: String,
    provincia: String,
    q: String,
    pagina: u64,
}

impl ListFilters {
    fn search(&self) -> DraftSearch {
        let some = |s: &str| Some(s.trim().to_string()).filter(|s| !s.is_empty());
        DraftSearch {
            only_own: false,
            year: self.anno.trim().parse().ok(),
            click_day: some(&self.click_day),
            category: some(&self.categoria),
            province: some(&self.provincia).map(|p| p.to_uppercase()),
            state: match self.stato.as_str() {
                "to_complete" => Some(SearchState::ToComplete),
                "ready" => Some(SearchState::Ready),
                "sent" => Some(SearchState::Sent),
                _ => None,
            },
            text: some(&self.q),
            offset: self.pagina.saturating_sub(1).saturating_mul(PAGE_SIZE),
            limit: PAGE_SIZE,
        }
    }

    /// The address of page `n` with the same filters.
    fn page_link(&self, n: u64) -> String {
        let mut filters = ListFilters {
            pagina: n,
            ..ListFilters::default()
        };
        filters.anno.clone_from(&self.anno);
        filters.click_day.clone_from(&self.click_day);
        filters.stato.clone_from(&self.stato);
        filters.categoria.clone_from(&self.categoria);
        filters.provincia.clone_from(&self.provincia);
        filters.q.clone_from(&self.q);
        format!(
            "/domande?{}",
            serde_urlencoded::to_string(&filters).unwrap_or_default()
        )
    }
}

pub async fn list(
    State(portal): State<Arc<Portal>>,
    visitor: Visitor,
    Query(filters): Query<ListFilters>,
) -> Response {
    let user = match visitor.signed_in() {
        Ok(user) => user,
        Err(redirect) => return redirect,
    };
    show_list(&portal, &visitor, user, &filters, StatusCode::OK, None).await
}

async fn show_list(
    portal: &Portal,
    visitor: &Visitor,
    user: &User,
    filters: &ListFilters,
    status: StatusCode,
    error: Option<&str>,
) -> Response {
    let (drafts, total) = match portal
        .store
        .search_drafts(&user.user_id, &filters.search())
        .await
    {
        Ok(found) => found,
        Err(e) => return visitor.failure(portal, &e),
    };
    let page = filters.pagina.max(1);
    let pages = total.div_ceil(PAGE_SIZE).max(1);
    let paging = minijinja::context! {
        total,
        page,
        pages,
        previous => (page > 1).then(|| filters.page_link(page - 1)),
        next => (page < pages).then(|| filters.page_link(page + 1)),
    };
    let lang = visitor.lang;
    // An association's list holds its sub-accounts' applications too: it
    // says whose each one is.
    let owners: HashMap<String, String> = if user.kind == UserKind::Association {
        match portal.store.sub_accounts(&user.user_id).await {
            Ok(subs) => subs.into_iter().map(|u| (u.user_id, u.full_name)).collect(),
            Err(e) => return visitor.failure(portal, &e),
        }
    } else {
        HashMap::new()
    };
    let drafts: Vec<Value> = drafts
        .iter()
        .map(|d| {
            minijinja::context! {
                owner => owners.get(&d.user_id).map_or(user.full_name.as_str(), String::as_str),
                id => &d.application_id,
                click_day => &d.click_day,
                category => model_title(portal, &d.category, lang),
                worker => &d.worker_name,
                province => &d.province,
                state => state_key(d),
            }
        })
        .collect();
    let now = (portal.clock)();
    let click_days: Vec<Value> = portal
        .calendar
        .days()
        .filter(|day| day.closes_at > now)
        .map(|day| {
            let categories: Vec<Value> = day
                .categories
                .iter()
                .filter_map(|c| portal.model(c))
                .map(
                    |m| minijinja::context! { category => &m.category, title => m.title.get(lang) },
                )
                .collect();
            minijinja::context! { id => &day.id, categories }
        })
        .collect();
    // Past click days' applications (`clickday import-history`), on the
    // first page only: the search spans the years.
    let past: Vec<Value> = if page == 1 {
        let search = DraftSearch {
            offset: 0,
            limit: PAST_SHOWN,
            ..filters.search()
        };
        match portal.store.search_past(&user.user_id, &search).await {
            Ok(found) => found
                .iter()
                .map(|p| past_context(portal, p, lang))
                .collect(),
            Err(e) => return visitor.failure(portal, &e),
        }
    } else {
        Vec::new()
    };
    let sends = user.kind.sends();
    visitor.page_with(
        portal,
        status,
        "applications.html",
        minijinja::context! {
            drafts,
            click_days => if sends { click_days } else { Vec::new() },
            show_owner => !owners.is_empty(),
            past,
            past_shown => PAST_SHOWN,
            error,
            filters => filters,
            all_click_days => portal.calendar.days().map(|d| d.id.as_str()).collect::<Vec<_>>(),
            categories => portal.models.iter().map(|m| minijinja::context! { value => &m.category, title => m.title.get(lang) }).collect::<Vec<_>>(),
            paging,
        },
    )
}

/// Past applications shown at most with a search's first page.
const PAST_SHOWN: u64 = 50;

fn past_context(portal: &Portal, past: &PastApplication, lang: Lang) -> Value {
    minijinja::context! {
        id => &past.application_id,
        click_day => &past.click_day,
        category => model_title(portal, &past.category, lang),
        worker => &past.worker_name,
        province => &past.province,
        outcome => &past.outcome,
        received_at => past.received_at.map(|n| clickday_core::time::format_rome(n.max(0) as u64)),
    }
}

/// The state shown: the draft's until it is sent, then the submission's.
fn state_key(draft: &Draft) -> &'static str {
    match &draft.sent {
        None => draft.state.as_str(),
        Some(sent) => match (sent.within_quota, sent.receipt_ready) {
            (Some(true), _) => "within_quota",
            (Some(false), _) => "beyond_quota",
            (None, true) => "receipt_ready",
            (None, false) => "stored",
        },
    }
}

/// The sent application's facts for the summary.
fn sent_context(sent: &Sent) -> Value {
    let received = clickday_core::time::format_rome(sent.received_at);
    minijinja::context! {
        submission_id => &sent.submission_id,
        received_at => received,
        received_at_utc => clickday_core::time::format_rfc3339_nanos(sent.received_at),
        receipt_ready => sent.receipt_ready,
        rank => sent.rank,
    }
}

pub(crate) fn model_title(portal: &Portal, category: &str, lang: Lang) -> String {
    portal
        .model(category)
        .map_or(category.to_string(), |m| m.title.get(lang).to_string())
}

pub async fn create(
    State(portal): State<Arc<Portal>>,
    visitor: Visitor,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let user = match visitor.signed_in() {
        Ok(user) => user,
        Err(redirect) => return redirect,
    };
    if let Err(refused) = visitor.check_csrf(&portal, form.get("csrf").map(String::as_str)) {
        return refused;
    }
    let choice = form.get("choice").map(String::as_str).unwrap_or("");
    let (day_id, category) = choice.split_once('|').unwrap_or((choice, ""));
    let day = portal.calendar.get(day_id);
    let open_for_it =
        day.is_some_and(|d| d.categories.contains(category) && d.closes_at > (portal.clock)());
    let Some(model) = portal
        .model(category)
        .filter(|_| open_for_it && user.kind.sends())
    else {
        let error = crate::i18n::text(visitor.lang, "field.category");
        return show_list(
            &portal,
            &visitor,
            user,
            &ListFilters::default(),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some(error),
        )
        .await;
    };
    let year = jiff::Timestamp::from_nanosecond(day.map_or(0, |d| d.opens_at) as i128)
        .map_or(0, |t| t.to_zoned(jiff::tz::TimeZone::UTC).year());
    let draft = Draft {
        application_id: format!("{year}-{}", secrets::readable_id(10)),
        user_id: user.user_id.clone(),
        click_day: day_id.to_string(),
        category: category.to_string(),
        answers: "{}".into(),
        province: None,
        worker_name: None,
        state: DraftState::ToComplete,
        created_at: 0,
        updated_at: 0,
        sent: None,
    };
    if let Err(e) = portal.store.create_draft(&draft).await {
        return visitor.failure(&portal, &e);
    }
    see_other(&page_url(&draft.application_id, &model.pages[0].id))
}

fn page_url(application_id: &str, page: &str) -> String {
    format!("/domande/{application_id}/pagine/{page}")
}

/// A draft this visitor may see (`edit`: and change). Anything else is
/// "not found", so guessing ids tells nothing.
async fn visible_draft(
    portal: &Portal,
    visitor: &Visitor,
    application_id: &str,
    edit: bool,
) -> Result<(Draft, ApplicationModel), Response> {
    let user = visitor.signed_in()?;
    let draft = match portal.store.draft(application_id).await {
        Ok(Some(draft)) => draft,
        Ok(None) => return Err(visitor.not_found(portal)),
        Err(e) => return Err(visitor.failure(portal, &e)),
    };
    let mine = draft.user_id == user.user_id;
    let allowed = mine
        || (!edit && user.kind == UserKind::Association && parent_is(portal, &draft, user).await);
    if edit && allowed && draft.sent.is_some() {
        // Sent bytes are final: the summary shows what was sent.
        return Err(see_other(&format!("/domande/{application_id}")));
    }
    match portal.model(&draft.category) {
        Some(model) if allowed => Ok((draft, model.clone())),
        _ => Err(visitor.not_found(portal)),
    }
}

async fn parent_is(portal: &Portal, draft: &Draft, user: &User) -> bool {
    matches!(
        portal.store.user(&draft.user_id).await,
        Ok(Some(owner)) if owner.parent_user_id.as_deref() == Some(user.user_id.as_str())
    )
}

fn answers_of(draft: &Draft) -> Answers {
    serde_json::from_str(&draft.answers).unwrap_or_default()
}

pub async fn page_form(
    State(portal): State<Arc<Portal>>,
    visitor: Visitor,
    Path((id, page_id)): Path<(String, String)>,
) -> Response {
    let (draft, model) = match visible_draft(&portal, &visitor, &id, true).await {
        Ok(found) => found,
        Err(refused) => return refused,
    };
    let Some(page) = model.page(&page_id) else {
        return visitor.not_found(&portal);
    };
    show_page(
        &portal,
        &visitor,
        StatusCode::OK,
        &draft,
        &model,
        page,
        &answers_of(&draft),
        &FieldErrors::new(),
    )
}

#[allow(clippy::too_many_arguments)] // one page's whole context
fn show_page(
    portal: &Portal,
    visitor: &Visitor,
    status: StatusCode,
    draft: &Draft,
    model: &ApplicationModel,
    page: &Page,
    answers: &Answers,
    errors: &FieldErrors,
) -> Response {
    let lang = visitor.lang;
    let number = model
        .pages
        .iter()
        .position(|p| p.id == page.id)
        .unwrap_or(0)
        + 1;
    let fields: Vec<Value> = page
        .fields
        .iter()
        .map(|f| {
            let (input_type, max_len, options) = match &f.kind {
                FieldKind::Text { max_len } => ("text", Some(*max_len), Vec::new()),
                FieldKind::CodiceFiscale => ("text", Some(16), Vec::new()),
                FieldKind::Date { .. } => ("date", None, Vec::new()),
                FieldKind::Province => ("text", Some(2), Vec::new()),
                FieldKind::Email => ("email", Some(254), Vec::new()),
                FieldKind::Integer { .. } => ("number", None, Vec::new()),
                FieldKind::Choice { options } => (
                    "radio",
                    None,
                    options
                        .iter()
                        .map(|o| minijinja::context! { value => &o.value, label => o.label.get(lang) })
                        .collect(),
                ),
            };
            minijinja::context! {
                id => &f.id,
                label => f.label.get(lang),
                kind => kind_name(&f.kind),
                input_type,
                max_len,
                options,
                required => f.required,
                value => answers.get(&f.id),
                error => errors.get(&f.id).map(|p| p.message(lang)),
            }
        })
        .collect();
    let provinces: Vec<&str> = portal.calendar.provinces().collect();
    visitor.page_with(
        portal,
        status,
        "page.html",
        minijinja::context! {
            draft => minijinja::context! { id => &draft.application_id, title => model.title.get(lang) },
            page => minijinja::context! { id => &page.id, title => page.title.get(lang), number, count => model.pages.len() },
            fields,
            provinces,
            saved_with_errors => !errors.is_empty(),
        },
    )
}

fn kind_name(kind: &FieldKind) -> &'static str {
    match kind {
        FieldKind::Text { .. } => "text",
        FieldKind::CodiceFiscale => "codice_fiscale",
        FieldKind::Date { .. } => "date",
        FieldKind::Province => "province",
        FieldKind::Email => "email",
        FieldKind::Integer { .. } => "integer",
        FieldKind::Choice { .. } => "choice",
    }
}

pub async fn save_page(
    State(portal): State<Arc<Portal>>,
    visitor: Visitor,
    Path((id, page_id)): Path<(String, String)>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let (mut draft, model) = match visible_draft(&portal, &visitor, &id, true).await {
        Ok(found) => found,
        Err(refused) => return refused,
    };
    if let Err(refused) = visitor.check_csrf(&portal, form.get("csrf").map(String::as_str)) {
        return refused;
    }
    let Some(page) = model.page(&page_id) else {
        return visitor.not_found(&portal);
    };
    // Only this page's fields are taken from the form; the rest stays.
    let mut answers = answers_of(&draft);
    for field in &page.fields {
        match form.get(&field.id).map(|v| v.trim()) {
            Some(value) if !value.is_empty() => {
                answers.insert(field.id.clone(), value.to_string());
            }
            _ => {
                answers.remove(&field.id);
            }
        }
    }
    draft.answers = serde_json::to_string(&answers).unwrap_or_else(|_| "{}".into());
    draft.province = answers.get(QUOTA_PROVINCE).cloned();
    draft.worker_name = worker_name(&answers);
    // Any change needs a new check before it may be sent.
    draft.state = DraftState::ToComplete;
    match portal.store.update_draft(&draft).await {
        Ok(true) => {}
        Ok(false) => return visitor.not_found(&portal),
        Err(e) => return visitor.failure(&portal, &e),
    }
    let errors = model.check_page(page, &answers, check_context(&portal));
    if !errors.is_empty() {
        return show_page(
            &portal,
            &visitor,
            StatusCode::UNPROCESSABLE_ENTITY,
            &draft,
            &model,
            page,
            &answers,
            &errors,
        );
    }
    let next = model.pages.iter().skip_while(|p| p.id != page.id).nth(1);
    match next {
        Some(next) => see_other(&page_url(&draft.application_id, &next.id)),
        None => see_other(&format!("/domande/{}", draft.application_id)),
    }
}

fn worker_name(answers: &Answers) -> Option<String> {
    let parts: Vec<&str> = [WORKER_SURNAME, WORKER_NAME]
        .iter()
        .filter_map(|f| answers.get(*f).map(String::as_str))
        .collect();
    (!parts.is_empty()).then(|| parts.join(" "))
}

pub async fn preview(
    State(portal): State<Arc<Portal>>,
    visitor: Visitor,
    Path(id): Path<String>,
) -> Response {
    let (draft, model) = match visible_draft(&portal, &visitor, &id, false).await {
        Ok(found) => found,
        Err(refused) => return refused,
    };
    let lang = visitor.lang;
    let answers = answers_of(&draft);
    let pages = pages_shown(&model, &answers, lang);
    let missing: Vec<Value> = match model.completeness(&answers, check_context(&portal)) {
        Completeness::Ready => Vec::new(),
        Completeness::ToComplete(errors) => model
            .pages
            .iter()
            .flat_map(|p| p.fields.iter().map(move |f| (p, f)))
            .filter_map(|(p, f)| {
                errors.get(&f.id).map(|problem| {
                    minijinja::context! { page => &p.id, label => f.label.get(lang), message => problem.message(lang) }
                })
            })
            .collect(),
    };
    // What the offices decided, once it was sent.
    let steps: Vec<Value> = match &draft.sent {
        Some(sent) => match portal.store.outcomes(&sent.submission_id).await {
            Ok(steps) => steps
                .iter()
                .map(|s| {
                    minijinja::context! {
                        office => &s.office_kind,
                        outcome => &s.outcome,
                        note => &s.note,
                        at => clickday_core::time::format_rome_minutes(s.created_at.max(0) as u64 * 1_000),
                    }
                })
                .collect(),
            Err(e) => return visitor.failure(&portal, &e),
        },
        None => Vec::new(),
    };
    // An association reads its sub-accounts' applications; only their
    // owner changes them, so only the owner sees the ways to.
    let editable = visitor
        .user
        .as_ref()
        .is_some_and(|u| u.user_id == draft.user_id);
    let owner = if editable {
        None
    } else {
        match portal.store.user(&draft.user_id).await {
            Ok(owner) => owner.map(|o| o.full_name),
            Err(e) => return visitor.failure(&portal, &e),
        }
    };
    visitor.page(
        &portal,
        "preview.html",
        minijinja::context! {
            draft => minijinja::context! {
                id => &draft.application_id,
                click_day => &draft.click_day,
                title => model.title.get(lang),
                state => state_key(&draft),
            },
            editable,
            owner,
            steps,
            sent => draft.sent.as_ref().map(sent_context),
            pages,
            missing,
        },
    )
}

/// The model's pages with each field's label and its answer as a person
/// reads it (the summary, an office's view of an application).
pub(crate) fn pages_shown(model: &ApplicationModel, answers: &Answers, lang: Lang) -> Vec<Value> {
    model
        .pages
        .iter()
        .map(|page| {
            let fields: Vec<Value> = page
                .fields
                .iter()
                .map(|f| {
                    let value = answers.get(&f.id).map(|v| f.kind.shown(v, lang));
                    minijinja::context! { label => f.label.get(lang), value }
                })
                .collect();
            minijinja::context! { id => &page.id, title => page.title.get(lang), fields }
        })
        .collect()
}

pub async fn mark_ready(
    State(portal): State<Arc<Portal>>,
    visitor: Visitor,
    Path(id): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let (mut draft, model) = match visible_draft(&portal, &visitor, &id, true).await {
        Ok(found) => found,
        Err(refused) => return refused,
    };
    if let Err(refused) = visitor.check_csrf(&portal, form.get("csrf").map(String::as_str)) {
        return refused;
    }
    let summary = format!("/domande/{}", draft.application_id);
    if model.completeness(&answers_of(&draft), check_context(&portal)) != Completeness::Ready {
        // The summary lists what is missing.
        return see_other(&summary);
    }
    draft.state = DraftState::Ready;
    match portal.store.update_draft(&draft).await {
        Ok(_) => see_other(&summary),
        Err(e) => visitor.failure(&portal, &e),
    }
}

/// The PDF receipt of a sent application this visitor may see.
pub async fn receipt(
    State(portal): State<Arc<Portal>>,
    visitor: Visitor,
    Path(id): Path<String>,
) -> Response {
    let (draft, _) = match visible_draft(&portal, &visitor, &id, false).await {
        Ok(found) => found,
        Err(refused) => return refused,
    };
    match crate::api::receipt_pdf(&portal, &draft).await {
        Ok(Some(pdf)) => pdf,
        Ok(None) => visitor.not_found(&portal),
        Err(problem) => problem.into_response(),
    }
}
