//! The JSON API for the mini-client (docs/openapi-portal.yaml): a bearer
//! token for email and password, a public key registered to the user's
//! gateway account, the applications ready for a click day with the exact
//! bytes to sign, their states and receipts. Errors are RFC 9457 problem
//! documents with a stable `code`, like the gateway's.

use crate::visitor::ClientAddress;
use crate::{Portal, secrets};
use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::header::{AUTHORIZATION, CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use clickday_core::PublicKey;
use clickday_store::NewAccount;
use clickday_store::portal::{
    Draft, DraftSearch, DraftState, NewSession, SearchState, User, UserKind,
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;

/// An API failure: status, stable code, and a sentence for people.
pub struct Problem {
    status: StatusCode,
    code: &'static str,
    detail: String,
}

impl Problem {
    fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        Problem {
            status,
            code,
            detail: detail.into(),
        }
    }

    fn internal(error: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %error, "portal API request failed");
        Problem::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the request could not be completed; try again later",
        )
    }

    fn not_found() -> Self {
        Problem::new(StatusCode::NOT_FOUND, "not_found", "no such application")
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let body = json!({
            "type": "about:blank",
            "title": self.status.canonical_reason().unwrap_or("Error"),
            "status": self.status.as_u16(),
            "code": self.code,
            "detail": self.detail,
        });
        let mut response = (self.status, Json(body)).into_response();
        response.headers_mut().insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        response
    }
}

/// A JSON body, or `malformed` naming what is wrong with it.
fn json_body<T>(body: Result<Json<T>, JsonRejection>) -> Result<T, Problem> {
    body.map(|Json(v)| v)
        .map_err(|e| Problem::new(StatusCode::BAD_REQUEST, "malformed", e.body_text()))
}

/// The user behind `Authorization: Bearer <token>`.
pub struct ApiUser(pub User);

impl FromRequestParts<Arc<Portal>> for ApiUser {
    type Rejection = Problem;

    async fn from_request_parts(
        parts: &mut Parts,
        portal: &Arc<Portal>,
    ) -> Result<Self, Self::Rejection> {
        let unauthorized = || {
            Problem::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "give a token from POST /api/v1/token as Authorization: Bearer <token>",
            )
        };
        let token = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or_else(unauthorized)?;
        match portal
            .store
            .session(&secrets::secret_hash(token.trim()))
            .await
        {
            Ok(Some((user, _))) => Ok(ApiUser(user)),
            Ok(None) => Err(unauthorized()),
            Err(e) => Err(Problem::internal(&e)),
        }
    }
}

#[derive(Deserialize)]
pub struct Credentials {
    email: String,
    password: String,
}

/// `POST /api/v1/token`: a bearer token, valid as long as a browser
/// session; the same sign-in limits as the login form.
pub async fn token(
    State(portal): State<Arc<Portal>>,
    ClientAddress(address): ClientAddress,
    body: Result<Json<Credentials>, JsonRejection>,
) -> Result<Response, Problem> {
    let credentials = json_body(body)?;
    let email = credentials.email.trim().to_lowercase();
    if !crate::account::login_allowed(&portal, address, &email) {
        let mut problem = Problem::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "too many sign-in attempts; try again in a minute",
        )
        .into_response();
        problem
            .headers_mut()
            .insert("retry-after", HeaderValue::from_static("60"));
        return Ok(problem);
    }
    let user = portal
        .store
        .user_by_email(&email)
        .await
        .map_err(|e| Problem::internal(&e))?;
    let stored = user
        .as_ref()
        .map_or(secrets::decoy_hash(), |u| &u.password_hash)
        .to_string();
    let matches = crate::account::verify_password(&portal, credentials.password, stored).await;
    let user = match user {
        Some(user) if matches && user.confirmed => user,
        Some(_) if matches => {
            return Err(Problem::new(
                StatusCode::FORBIDDEN,
                "not_confirmed",
                "the registration is not confirmed yet: open the link in the confirmation email",
            ));
        }
        _ => {
            return Err(Problem::new(
                StatusCode::UNAUTHORIZED,
                "bad_credentials",
                "wrong email or password",
            ));
        }
    };
    let secret = secrets::new_secret();
    let valid_for = portal.settings.session_length;
    let session = NewSession {
        session_hash: secrets::secret_hash(&secret),
        user_id: user.user_id.clone(),
        csrf_token: secrets::new_secret(),
        valid_for_micros: valid_for.as_micros() as i64,
    };
    portal
        .store
        .create_session(&session)
        .await
        .map_err(|e| Problem::internal(&e))?;
    Ok(Json(json!({
        "token": secret,
        "expires_in": valid_for.as_secs(),
        "account_id": user.account_id,
        "kind": user.kind.as_str(),
    }))
    .into_response())
}

/// `DELETE /api/v1/token`: ends the token.
pub async fn revoke_token(
    State(portal): State<Arc<Portal>>,
    ApiUser(_): ApiUser,
    parts: axum::http::HeaderMap,
) -> Result<StatusCode, Problem> {
    let token = parts
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    portal
        .store
        .end_session(&secrets::secret_hash(token.trim()))
        .await
        .map_err(|e| Problem::internal(&e))?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
pub struct NewKey {
    /// base64url without padding of the raw 32-byte Ed25519 public key.
    public_key: String,
}

/// `POST /api/v1/keys`: registers a mini-client's public key to the
/// user's gateway account; registering it again changes nothing. The
/// gateway accepts its signatures from its next key refresh on.
pub async fn register_key(
    State(portal): State<Arc<Portal>>,
    ApiUser(user): ApiUser,
    body: Result<Json<NewKey>, JsonRejection>,
) -> Result<Response, Problem> {
    let key = json_body(body)?;
    let Some(account_id) = user.account_id.clone() else {
        return Err(Problem::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "this user does not send applications",
        ));
    };
    let public_key = PublicKey::from_base64(&key.public_key).map_err(|e| {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "malformed",
            format!("public_key: {e}"),
        )
    })?;
    let key_id = public_key.id().to_string();
    let account = NewAccount {
        account_id: account_id.clone(),
        email: user.email.clone(),
        public_key,
    };
    match portal.store.import_accounts(&[account]).await {
        Ok(()) => {}
        Err(clickday_store::StoreError::KeyConflict { .. }) => {
            return Err(Problem::new(
                StatusCode::CONFLICT,
                "conflict",
                "this key is registered to another account: generate a new key pair",
            ));
        }
        Err(e) => return Err(Problem::internal(&e)),
    }
    Ok(Json(json!({ "key_id": key_id, "account_id": account_id })).into_response())
}

/// The signed body of PROTOCOL.md, fields in this order, answers sorted:
/// the same answers give the same bytes on every request.
#[derive(Serialize)]
struct SubmissionBody<'a> {
    application_id: &'a str,
    click_day: &'a str,
    category: &'a str,
    province: &'a str,
    form: &'a str,
    data: &'a BTreeMap<String, String>,
}

/// An application as the API shows it.
fn application_json(draft: &Draft) -> serde_json::Value {
    let answers: BTreeMap<String, String> =
        serde_json::from_str(&draft.answers).unwrap_or_default();
    let body = (draft.state == DraftState::Ready)
        .then(|| {
            serde_json::to_string(&SubmissionBody {
                application_id: &draft.application_id,
                click_day: &draft.click_day,
                category: &draft.category,
                province: draft.province.as_deref().unwrap_or_default(),
                form: &draft.category,
                data: &answers,
            })
            .ok()
        })
        .flatten();
    let sent = draft.sent.as_ref().map(|s| {
        json!({
            "submission_id": s.submission_id,
            "received_at": clickday_core::time::format_rfc3339_nanos(s.received_at),
            "receipt_ready": s.receipt_ready,
            "rank": s.rank,
            "within_quota": s.within_quota,
        })
    });
    json!({
        "application_id": draft.application_id,
        "click_day": draft.click_day,
        "category": draft.category,
        "province": draft.province,
        "worker_name": draft.worker_name,
        "state": draft.state.as_str(),
        "body": body,
        "sent": sent,
    })
}

#[derive(Deserialize)]
pub struct ListQuery {
    click_day: Option<String>,
    state: Option<String>,
    #[serde(default)]
    offset: u64,
    limit: Option<u64>,
}

/// Most applications in one answer.
const MAX_LIMIT: u64 = 10_000;

/// `GET /api/v1/applications?click_day=&state=&offset=&limit=`: the
/// user's own applications (a mini-client sends only its own account's),
/// newest change first, with the total for paging.
pub async fn applications(
    State(portal): State<Arc<Portal>>,
    ApiUser(user): ApiUser,
    Query(query): Query<ListQuery>,
) -> Result<Json<serde_json::Value>, Problem> {
    let state = match query.state.as_deref() {
        None => None,
        Some("to_complete") => Some(SearchState::ToComplete),
        Some("ready") => Some(SearchState::Ready),
        Some("sent") => Some(SearchState::Sent),
        Some(other) => {
            return Err(Problem::new(
                StatusCode::BAD_REQUEST,
                "malformed",
                format!("state {other:?} is not to_complete, ready or sent"),
            ));
        }
    };
    let limit = query.limit.unwrap_or(1000);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(Problem::new(
            StatusCode::BAD_REQUEST,
            "malformed",
            format!("limit {limit} is not 1 to {MAX_LIMIT}"),
        ));
    }
    let search = DraftSearch {
        only_own: true,
        click_day: query.click_day,
        state,
        offset: query.offset,
        limit,
        ..DraftSearch::default()
    };
    let (drafts, total) = portal
        .store
        .search_drafts(&user.user_id, &search)
        .await
        .map_err(|e| Problem::internal(&e))?;
    let list: Vec<_> = drafts.iter().map(application_json).collect();
    Ok(Json(json!({ "applications": list, "total": total })))
}

/// The user's own application, or `not_found` (also for someone else's).
async fn own_draft(portal: &Portal, user: &User, id: &str) -> Result<Draft, Problem> {
    match portal.store.draft(id).await {
        Ok(Some(draft)) if draft.user_id == user.user_id => Ok(draft),
        Ok(_) => Err(Problem::not_found()),
        Err(e) => Err(Problem::internal(&e)),
    }
}

/// `GET /api/v1/applications/{id}`.
pub async fn application(
    State(portal): State<Arc<Portal>>,
    ApiUser(user): ApiUser,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, Problem> {
    let draft = own_draft(&portal, &user, &id).await?;
    Ok(Json(application_json(&draft)))
}

/// `GET /api/v1/applications/{id}/receipt`: the signed PDF receipt.
pub async fn receipt(
    State(portal): State<Arc<Portal>>,
    ApiUser(user): ApiUser,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let draft = own_draft(&portal, &user, &id).await?;
    receipt_pdf(&portal, &draft).await?.ok_or_else(|| {
        Problem::new(
            StatusCode::NOT_FOUND,
            "no_receipt",
            "no receipt yet: the application was not sent or its receipt is being made",
        )
    })
}

/// The PDF receipt of a sent application, once made.
pub async fn receipt_pdf(portal: &Portal, draft: &Draft) -> Result<Option<Response>, Problem> {
    match &draft.sent {
        Some(sent) => receipt_of(portal, &sent.submission_id).await,
        None => Ok(None),
    }
}

/// The receipt of `submission_id` as a PDF download, once made.
pub async fn receipt_of(portal: &Portal, submission_id: &str) -> Result<Option<Response>, Problem> {
    let receipt = portal
        .store
        .receipt(submission_id)
        .await
        .map_err(|e| Problem::internal(&e))?;
    Ok(receipt.map(|r| {
        let disposition = format!("attachment; filename=\"ricevuta-{}.pdf\"", r.submission_id);
        let mut response = r.pdf.into_response();
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/pdf"));
        if let Ok(value) = HeaderValue::from_str(&disposition) {
            headers.insert(CONTENT_DISPOSITION, value);
        }
        response
    }))
}

/// The office behind a token: its kind and province; anyone else is
/// refused.
fn office_of(user: &User) -> Result<(&str, &str), Problem> {
    match (
        user.kind,
        user.office_kind.as_deref(),
        user.province.as_deref(),
    ) {
        (UserKind::Office, Some(kind), Some(province)) if user.approved => Ok((kind, province)),
        (UserKind::Office, _, _) => Err(Problem::new(
            StatusCode::FORBIDDEN,
            "not_approved",
            "this office's registration waits for an operator's approval",
        )),
        _ => Err(Problem::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "only office accounts read forwarded applications",
        )),
    }
}

#[derive(Deserialize)]
pub struct InboxQuery {
    #[serde(default)]
    after: String,
    limit: Option<u64>,
}

/// `GET /api/v1/office/applications?after=&limit=`: the applications of
/// the office's province it has not marked received yet, by submission
/// id; `next` is the cursor for the following page. An application stays
/// listed until it is marked, so nothing is skipped whatever the order
/// in which gateways' submissions were stored.
pub async fn office_inbox(
    State(portal): State<Arc<Portal>>,
    ApiUser(user): ApiUser,
    Query(query): Query<InboxQuery>,
) -> Result<Json<serde_json::Value>, Problem> {
    let (office, province) = office_of(&user)?;
    let limit = query.limit.unwrap_or(500);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(Problem::new(
            StatusCode::BAD_REQUEST,
            "malformed",
            format!("limit {limit} is not 1 to {MAX_LIMIT}"),
        ));
    }
    let rows = portal
        .store
        .office_inbox(office, province, &query.after, limit)
        .await
        .map_err(|e| Problem::internal(&e))?;
    let next = rows.last().map(|r| r.submission_id.clone());
    let applications: Vec<_> = rows
        .iter()
        .map(|r| {
            json!({
                "submission_id": r.submission_id,
                "account_id": r.account_id,
                "application_id": r.application_id,
                "click_day": r.click_day,
                "category": r.category,
                "province": r.province,
                "form": r.form,
                "received_at": clickday_core::time::format_rfc3339_nanos(r.received_at),
                "body": String::from_utf8_lossy(&r.body),
                "rank": r.rank,
                "within_quota": r.within_quota,
            })
        })
        .collect();
    Ok(Json(
        json!({ "office": office, "province": province, "applications": applications, "next": next }),
    ))
}

#[derive(Deserialize)]
pub struct Received {
    submission_ids: Vec<String>,
}

/// `POST /api/v1/office/received`: marks applications received by this
/// office; ids of another province are ignored. Marking twice is harmless.
pub async fn office_received(
    State(portal): State<Arc<Portal>>,
    ApiUser(user): ApiUser,
    body: Result<Json<Received>, JsonRejection>,
) -> Result<Json<serde_json::Value>, Problem> {
    let (office, province) = office_of(&user)?;
    let received = json_body(body)?;
    if received.submission_ids.len() > MAX_LIMIT as usize {
        return Err(Problem::new(
            StatusCode::BAD_REQUEST,
            "malformed",
            format!("at most {MAX_LIMIT} ids at once"),
        ));
    }
    let marked = portal
        .store
        .mark_received(office, province, &received.submission_ids)
        .await
        .map_err(|e| Problem::internal(&e))?;
    Ok(Json(json!({ "marked": marked })))
}

/// Unknown API paths answer in the API's language.
pub async fn not_found() -> Problem {
    Problem::new(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
}
