//! Registration, email confirmation, sign-in, sign-out and password reset.

use crate::visitor::{ClientAddress, Visitor, see_other, session_cookie, set_cookie};
use crate::{Portal, i18n, secrets};
use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use clickday_core::Calendar;
use clickday_forms::CodiceFiscale;
use clickday_forms::{FieldProblem, Lang, looks_like_email};
use clickday_store::portal::{NewSession, NewToken, NewUser, TokenPurpose, User, UserKind};
use clickday_store::{NewEmail, OFFICES, PortalStore, StoreError};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RegisterForm {
    csrf: String,
    kind: String,
    full_name: String,
    codice_fiscale: String,
    email: String,
    password: String,
    password_again: String,
    /// Public offices: the province served and the kind of office.
    province: String,
    office: String,
}

pub async fn register_form(State(portal): State<Arc<Portal>>, visitor: Visitor) -> Response {
    let form = RegisterForm::default();
    show_register(&portal, &visitor, StatusCode::OK, &form, &BTreeMap::new())
}

fn show_register(
    portal: &Portal,
    visitor: &Visitor,
    status: StatusCode,
    form: &RegisterForm,
    errors: &BTreeMap<&str, String>,
) -> Response {
    let form = minijinja::context! {
        kind => &form.kind,
        full_name => &form.full_name,
        codice_fiscale => &form.codice_fiscale,
        email => &form.email,
        province => &form.province,
        office => &form.office,
    };
    let provinces: Vec<&str> = portal.calendar.provinces().collect();
    visitor.page_with(
        portal,
        status,
        "register.html",
        minijinja::context! { form, errors, provinces, offices => OFFICES },
    )
}

/// The registration's field errors, beside each field; none means valid.
fn check_registration(
    form: &RegisterForm,
    calendar: &Calendar,
    lang: Lang,
) -> BTreeMap<&'static str, String> {
    let mut errors = check_identity(&form.full_name, &form.codice_fiscale, &form.email, lang);
    let kinds = [UserKind::Employer, UserKind::Association, UserKind::Office];
    let kind = UserKind::parse(&form.kind).filter(|k| kinds.contains(k));
    if kind.is_none() {
        errors.insert("kind", i18n::text(lang, "field.choice").into());
    }
    if kind == Some(UserKind::Office) {
        if !calendar.knows_province(&form.province) {
            errors.insert("province", i18n::text(lang, "field.choice").into());
        }
        if !OFFICES.contains(&form.office.as_str()) {
            errors.insert("office", i18n::text(lang, "field.choice").into());
        }
    }
    if let Some(problem) = password_problem(&form.password, &form.password_again) {
        errors.insert("password", i18n::text(lang, problem).into());
    }
    errors
}

/// Name, codice fiscale and email of a new user.
pub(crate) fn check_identity(
    full_name: &str,
    codice_fiscale: &str,
    email: &str,
    lang: Lang,
) -> BTreeMap<&'static str, String> {
    let text = |key| i18n::text(lang, key).to_string();
    let mut errors = BTreeMap::new();
    match full_name.trim().chars().count() {
        0 => drop(errors.insert("full_name", text("field.required"))),
        1..=200 => {}
        _ => drop(errors.insert("full_name", text("field.too_long"))),
    }
    if codice_fiscale.trim().is_empty() {
        errors.insert("codice_fiscale", text("field.required"));
    } else if let Err(e) = CodiceFiscale::parse(codice_fiscale) {
        errors.insert(
            "codice_fiscale",
            FieldProblem::CodiceFiscale(e).message(lang),
        );
    }
    if email.trim().is_empty() {
        errors.insert("email", text("field.required"));
    } else if !looks_like_email(email.trim()) {
        errors.insert("email", text("field.email"));
    }
    errors
}

fn password_problem(password: &str, again: &str) -> Option<&'static str> {
    let len = password.chars().count();
    if len < secrets::MIN_PASSWORD_LEN {
        Some("field.password_short")
    } else if len > secrets::MAX_PASSWORD_LEN {
        Some("field.password_long")
    } else if password != again {
        Some("field.password_mismatch")
    } else {
        None
    }
}

/// Argon2 takes tens of milliseconds of CPU: off the async workers.
/// argon2id in the portal's bounded pool (see `Portal::hashing`).
pub(crate) async fn hash_password(portal: &Portal, password: String) -> String {
    let Ok(_turn) = portal.hashing.acquire().await else {
        return String::new();
    };
    tokio::task::spawn_blocking(move || secrets::hash_password(&password))
        .await
        .unwrap_or_default()
}

pub(crate) async fn verify_password(portal: &Portal, password: String, stored: String) -> bool {
    let Ok(_turn) = portal.hashing.acquire().await else {
        return false;
    };
    tokio::task::spawn_blocking(move || secrets::verify_password(&password, &stored))
        .await
        .unwrap_or(false)
}

pub async fn register(
    State(portal): State<Arc<Portal>>,
    visitor: Visitor,
    ClientAddress(address): ClientAddress,
    Form(form): Form<RegisterForm>,
) -> Response {
    if let Err(refused) = visitor.check_csrf(&portal, Some(&form.csrf)) {
        return refused;
    }
    // A registration hashes a password: one address has a budget of them
    // (the sign-in budget's size), so it cannot keep the hashing pool busy
    // (F4).
    if address.is_some_and(|ip| portal.password_hashes_by_address.check_key(&ip).is_err()) {
        return visitor.message(
            &portal,
            StatusCode::TOO_MANY_REQUESTS,
            "register.limited.title",
            "register.limited.body",
        );
    }
    let errors = check_registration(&form, &portal.calendar, visitor.lang);
    if !errors.is_empty() {
        return show_register(
            &portal,
            &visitor,
            StatusCode::UNPROCESSABLE_ENTITY,
            &form,
            &errors,
        );
    }
    let kind = UserKind::parse(&form.kind).unwrap_or(UserKind::Employer);
    let user = NewUser {
        user_id: format!("u{}", secrets::readable_id(15)),
        email: form.email.trim().to_lowercase(),
        password_hash: hash_password(&portal, form.password.clone()).await,
        kind,
        full_name: form.full_name.trim().to_string(),
        codice_fiscale: form.codice_fiscale.trim().to_uppercase(),
        parent_user_id: None,
        // A public office reads its province's applications once an
        // operator has approved the registration.
        province: (kind == UserKind::Office).then(|| form.province.clone()),
        office_kind: (kind == UserKind::Office).then(|| form.office.clone()),
        approved: false,
    };
    let secret = secrets::new_secret();
    let token = link_token(
        portal.settings.link_validity,
        &user.user_id,
        TokenPurpose::Confirm,
        &secret,
    );
    let sent = match portal.store.create_user(&user, &token).await {
        Ok(()) => {
            send_link(
                &portal,
                visitor.lang,
                &user.email,
                &user.full_name,
                LinkEmail::Confirm,
                &secret,
            )
            .await
        }
        // The same answer as a new registration, so the form does not tell
        // who is registered (F8); the owner learns of it by email.
        Err(StoreError::Taken { .. }) => tell_owner(&portal, visitor.lang, &user.email).await,
        Err(e) => return visitor.failure(&portal, &e),
    };
    match sent {
        Ok(()) => visitor.message(
            &portal,
            StatusCode::OK,
            "register.sent.title",
            "register.sent.body",
        ),
        Err(e) => visitor.failure(&portal, &e),
    }
}

/// The stored half of a one-time link: its secret's hash, valid for
/// `validity` (`portal.link_valid_hours`).
pub(crate) fn link_token(
    validity: std::time::Duration,
    user_id: &str,
    purpose: TokenPurpose,
    secret: &str,
) -> NewToken {
    NewToken {
        token_hash: secrets::secret_hash(secret),
        user_id: user_id.to_string(),
        purpose,
        valid_for_micros: validity.as_micros() as i64,
    }
}

/// A new one-time link for an existing user, stored and emailed.
async fn new_link(
    portal: &Portal,
    lang: Lang,
    user: &User,
    purpose: TokenPurpose,
) -> Result<(), StoreError> {
    let secret = secrets::new_secret();
    portal
        .store
        .add_token(&link_token(
            portal.settings.link_validity,
            &user.user_id,
            purpose,
            &secret,
        ))
        .await?;
    send_link(
        portal,
        lang,
        &user.email,
        &user.full_name,
        purpose.into(),
        &secret,
    )
    .await
}

/// Queues the email carrying a one-time link, in the page's language.
/// "Someone tried to register with your address": to the owner of an
/// email that was registered again, with the ways back in.
async fn tell_owner(portal: &Portal, lang: Lang, email: &str) -> Result<(), StoreError> {
    let url = &portal.settings.public_url;
    let body = i18n::text(lang, "email.already.body")
        .replace("{login}", &format!("{url}/accesso"))
        .replace("{reset}", &format!("{url}/password-dimenticata"));
    let message = NewEmail {
        kind: "registration-existing".into(),
        recipient: email.into(),
        subject: i18n::text(lang, "email.already.subject").into(),
        body,
    };
    portal.store.queue_written_email(&message).await.map(|_| ())
}

pub(crate) async fn send_link(
    portal: &Portal,
    lang: Lang,
    recipient: &str,
    name: &str,
    why: LinkEmail<'_>,
    secret: &str,
) -> Result<(), StoreError> {
    let url = &portal.settings.public_url;
    email_link(url, &*portal.store, lang, recipient, name, why, secret).await
}

/// Why a one-time link is emailed: each has its own text.
#[derive(Debug, Clone, Copy)]
pub(crate) enum LinkEmail<'a> {
    /// A registration to confirm.
    Confirm,
    /// A password reset asked for.
    Reset,
    /// An account made for someone (a sub-account, staff), who chooses
    /// the password through the link; `by` made it.
    Invite { by: &'a str },
}

impl From<TokenPurpose> for LinkEmail<'_> {
    fn from(purpose: TokenPurpose) -> Self {
        match purpose {
            TokenPurpose::Confirm => LinkEmail::Confirm,
            TokenPurpose::Reset => LinkEmail::Reset,
        }
    }
}

/// The email of a one-time link, into the store's outbox.
pub(crate) async fn email_link(
    public_url: &str,
    store: &dyn PortalStore,
    lang: Lang,
    recipient: &str,
    name: &str,
    why: LinkEmail<'_>,
    secret: &str,
) -> Result<(), StoreError> {
    let (path, kind, prefix, by) = match why {
        LinkEmail::Confirm => ("conferma", "registration-confirmation", "email.confirm", ""),
        LinkEmail::Reset => ("reimposta-password", "password-reset", "email.reset", ""),
        LinkEmail::Invite { by } => ("reimposta-password", "invitation", "email.invite", by),
    };
    let link = format!("{public_url}/{path}/{secret}");
    let body = i18n::text(lang, &format!("{prefix}.body"))
        .replace("{name}", name)
        .replace("{by}", by)
        .replace("{portal}", public_url)
        .replace("{link}", &link);
    let email = NewEmail {
        kind: kind.into(),
        recipient: recipient.into(),
        subject: i18n::text(lang, &format!("{prefix}.subject")).into(),
        body,
    };
    store.queue_written_email(&email).await.map(|_| ())
}

pub async fn confirm(
    State(portal): State<Arc<Portal>>,
    visitor: Visitor,
    Path(token): Path<String>,
) -> Response {
    match portal
        .store
        .confirm_user(&secrets::secret_hash(&token))
        .await
    {
        Ok(Some(_)) => visitor.message(
            &portal,
            StatusCode::OK,
            "confirm.ok.title",
            "confirm.ok.body",
        ),
        Ok(None) => visitor.message(
            &portal,
            StatusCode::NOT_FOUND,
            "confirm.bad.title",
            "confirm.bad.body",
        ),
        Err(e) => visitor.failure(&portal, &e),
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct LoginForm {
    csrf: String,
    email: String,
    password: String,
}

pub async fn login_form(State(portal): State<Arc<Portal>>, visitor: Visitor) -> Response {
    show_login(&portal, &visitor, StatusCode::OK, "", None, None)
}

fn show_login(
    portal: &Portal,
    visitor: &Visitor,
    status: StatusCode,
    email: &str,
    notice: Option<&str>,
    failure: Option<&str>,
) -> Response {
    visitor.page_with(
        portal,
        status,
        "login.html",
        minijinja::context! { email, notice, failure },
    )
}

pub async fn login(
    State(portal): State<Arc<Portal>>,
    visitor: Visitor,
    ClientAddress(address): ClientAddress,
    Form(form): Form<LoginForm>,
) -> Response {
    if let Err(refused) = visitor.check_csrf(&portal, Some(&form.csrf)) {
        return refused;
    }
    let email = form.email.trim().to_lowercase();
    if !login_allowed(&portal, address, &email) {
        return show_login(
            &portal,
            &visitor,
            StatusCode::TOO_MANY_REQUESTS,
            &email,
            None,
            Some("login.limited"),
        );
    }
    let user = match portal.store.user_by_email(&email).await {
        Ok(user) => user,
        Err(e) => return visitor.failure(&portal, &e),
    };
    // The same work whether or not the user exists.
    let stored = user
        .as_ref()
        .map_or(secrets::decoy_hash(), |u| &u.password_hash)
        .to_string();
    let matches = verify_password(&portal, form.password, stored).await;
    match user {
        Some(user) if matches && user.confirmed => start_session(&portal, &visitor, &user).await,
        Some(user) if matches => {
            // Registered but never confirmed (the first email lost?): a new link.
            match new_link(&portal, visitor.lang, &user, TokenPurpose::Confirm).await {
                Ok(()) => visitor.message(
                    &portal,
                    StatusCode::FORBIDDEN,
                    "register.sent.title",
                    "register.sent.body",
                ),
                Err(e) => visitor.failure(&portal, &e),
            }
        }
        _ => show_login(
            &portal,
            &visitor,
            StatusCode::UNAUTHORIZED,
            &email,
            None,
            Some("login.failed"),
        ),
    }
}

/// Every attempt, successful or not, spends the address's budget, then the
/// (username, address) budget, then the username's global one — each only
/// if the one before allowed it: a refused attempt is not charged twice,
/// and a stranger cannot lock the owner out from another address by
/// spending budgets that are not the owner's. Entries are pruned as their
/// budgets refill.
pub(crate) fn login_allowed(portal: &Portal, address: Option<IpAddr>, email: &str) -> bool {
    use sha2::Digest as _;
    const PRUNE_EVERY: u64 = 1024;
    if portal
        .login_checks
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        % PRUNE_EVERY
        == PRUNE_EVERY - 1
    {
        portal.logins_by_address.retain_recent();
        portal.password_hashes_by_address.retain_recent();
        portal.logins_by_user_and_address.retain_recent();
        portal.logins_by_user.retain_recent();
    }
    if address.is_some_and(|ip| portal.logins_by_address.check_key(&ip).is_err()) {
        return false;
    }
    let user: [u8; 32] = sha2::Sha256::digest(email.as_bytes()).into();
    let mut pair = sha2::Sha256::new();
    pair.update(user);
    if let Some(ip) = address {
        pair.update(ip.to_string().as_bytes());
    }
    let pair: [u8; 32] = pair.finalize().into();
    portal.logins_by_user_and_address.check_key(&pair).is_ok()
        && portal.logins_by_user.check_key(&user).is_ok()
}

async fn start_session(portal: &Portal, visitor: &Visitor, user: &User) -> Response {
    let secret = secrets::new_secret();
    let session = NewSession {
        session_hash: secrets::secret_hash(&secret),
        user_id: user.user_id.clone(),
        csrf_token: secrets::new_secret(),
        valid_for_micros: portal.settings.session_length.as_micros() as i64,
    };
    if let Err(e) = portal.store.create_session(&session).await {
        return visitor.failure(portal, &e);
    }
    // A session id known before sign-in (fixation) is never reused: the
    // cookie is always a new secret.
    let mut response = see_other("/domande");
    set_cookie(
        response.headers_mut(),
        session_cookie(Some(&secret), portal.settings.session_length),
    );
    response
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct CsrfOnly {
    csrf: String,
}

pub async fn logout(
    State(portal): State<Arc<Portal>>,
    visitor: Visitor,
    Form(form): Form<CsrfOnly>,
) -> Response {
    if let Err(refused) = visitor.check_csrf(&portal, Some(&form.csrf)) {
        return refused;
    }
    if let Some(hash) = &visitor.session_hash
        && let Err(e) = portal.store.end_session(hash).await
    {
        return visitor.failure(&portal, &e);
    }
    let mut response = see_other("/");
    set_cookie(
        response.headers_mut(),
        session_cookie(None, Default::default()),
    );
    response
}

pub async fn forgot_form(State(portal): State<Arc<Portal>>, visitor: Visitor) -> Response {
    visitor.page(
        &portal,
        "forgot.html",
        minijinja::context! { sent => false },
    )
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ForgotForm {
    csrf: String,
    email: String,
}

pub async fn forgot(
    State(portal): State<Arc<Portal>>,
    visitor: Visitor,
    ClientAddress(address): ClientAddress,
    Form(form): Form<ForgotForm>,
) -> Response {
    if let Err(refused) = visitor.check_csrf(&portal, Some(&form.csrf)) {
        return refused;
    }
    let email = form.email.trim().to_lowercase();
    // Same budget as sign-in: no mail-bombing through this form.
    if login_allowed(&portal, address, &email) {
        match portal.store.user_by_email(&email).await {
            Ok(Some(user)) if user.confirmed => {
                let sent = new_link(&portal, visitor.lang, &user, TokenPurpose::Reset).await;
                if let Err(e) = sent {
                    return visitor.failure(&portal, &e);
                }
            }
            Ok(_) => {}
            Err(e) => return visitor.failure(&portal, &e),
        }
    }
    // The same answer whether or not the address is registered.
    visitor.page(&portal, "forgot.html", minijinja::context! { sent => true })
}

pub async fn reset_form(
    State(portal): State<Arc<Portal>>,
    visitor: Visitor,
    Path(token): Path<String>,
) -> Response {
    show_reset(&portal, &visitor, StatusCode::OK, &token, &BTreeMap::new())
}

fn show_reset(
    portal: &Portal,
    visitor: &Visitor,
    status: StatusCode,
    token: &str,
    errors: &BTreeMap<&str, String>,
) -> Response {
    visitor.page_with(
        portal,
        status,
        "reset.html",
        minijinja::context! { token, errors },
    )
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ResetForm {
    csrf: String,
    password: String,
    password_again: String,
}

pub async fn reset(
    State(portal): State<Arc<Portal>>,
    visitor: Visitor,
    ClientAddress(address): ClientAddress,
    Path(token): Path<String>,
    Form(form): Form<ResetForm>,
) -> Response {
    if let Err(refused) = visitor.check_csrf(&portal, Some(&form.csrf)) {
        return refused;
    }
    if let Some(problem) = password_problem(&form.password, &form.password_again) {
        let errors = BTreeMap::from([("password", i18n::text(visitor.lang, problem).to_string())]);
        return show_reset(
            &portal,
            &visitor,
            StatusCode::UNPROCESSABLE_ENTITY,
            &token,
            &errors,
        );
    }
    // A made-up or spent link is refused before any hashing (F4).
    let token_hash = secrets::secret_hash(&token);
    match portal.store.reset_link_is_live(&token_hash).await {
        Ok(true) => {}
        Ok(false) => {
            return visitor.message(
                &portal,
                StatusCode::NOT_FOUND,
                "confirm.bad.title",
                "confirm.bad.body",
            );
        }
        Err(e) => return visitor.failure(&portal, &e),
    }
    // Even with a live link (one's own, asked for again and again), the
    // hashes one address may cost are budgeted, as for registrations.
    if address.is_some_and(|ip| portal.password_hashes_by_address.check_key(&ip).is_err()) {
        return visitor.message(
            &portal,
            StatusCode::TOO_MANY_REQUESTS,
            "register.limited.title",
            "reset.limited.body",
        );
    }
    let hash = hash_password(&portal, form.password).await;
    match portal.store.reset_password(&token_hash, &hash).await {
        Ok(Some(user)) => show_login(
            &portal,
            &visitor,
            StatusCode::OK,
            &user.email,
            Some("reset.done"),
            None,
        ),
        Ok(None) => visitor.message(
            &portal,
            StatusCode::NOT_FOUND,
            "confirm.bad.title",
            "confirm.bad.body",
        ),
        Err(e) => visitor.failure(&portal, &e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// F3 and F7's half: a refused attempt is charged once (to the address
    /// that made it, not to the username it named), and a username costs
    /// the limiter one fixed-size key however long it is.
    #[tokio::test]
    async fn refused_attempts_are_not_charged_twice_and_keys_are_fixed_size() {
        let dir = tempfile::tempdir().unwrap();
        let text = format!(
            "data_dir = {:?}\n[portal]\nlogin_attempts_per_minute = 2\n",
            dir.path().display().to_string()
        );
        let cfg = clickday_config::Config::from_toml(&text, std::iter::empty(), 0).unwrap();
        let store = clickday_store::open_portal(&cfg.store.to_url())
            .await
            .unwrap();
        let portal = Portal::new(&cfg, store);
        let (mallory, office) = (Some([10, 0, 0, 1].into()), Some([10, 0, 0, 2].into()));
        assert!(login_allowed(&portal, mallory, "a@example.it"));
        assert!(login_allowed(&portal, mallory, "b@example.it"));
        assert!(
            !login_allowed(&portal, mallory, "carla@example.it"),
            "mallory's budget is spent"
        );
        // Carla still has both of her attempts.
        assert!(login_allowed(&portal, office, "carla@example.it"));
        assert!(login_allowed(&portal, office, "carla@example.it"));
        assert!(!login_allowed(&portal, office, "carla@example.it"));
        // F7: a stranger guessing carla's password from other addresses
        // spends those addresses' budgets, not carla's own.
        for n in 10..13u8 {
            let stranger = Some([10, 0, 1, n].into());
            assert!(login_allowed(&portal, stranger, "dora@example.it"));
            assert!(login_allowed(&portal, stranger, "dora@example.it"));
            assert!(!login_allowed(&portal, stranger, "dora@example.it"));
        }
        assert!(
            login_allowed(&portal, Some([10, 0, 0, 9].into()), "dora@example.it"),
            "dora signs in from her own address"
        );
        // ...until a campaign from many addresses reaches the global cap
        // (ten times the per-address budget).
        let mut allowed = 0;
        for n in 20..40u8 {
            allowed += u32::from(login_allowed(
                &portal,
                Some([10, 0, 2, n].into()),
                "dora@example.it",
            ));
        }
        assert_eq!(allowed, 20 - 7, "2 x 3 strangers + dora's 1 spent 7 of 20");
        let huge = format!("{}@example.it", "x".repeat(1 << 20));
        assert!(login_allowed(&portal, Some([10, 0, 0, 3].into()), &huge));
        assert_eq!(
            portal.logins_by_user.len(),
            5,
            "a, b, carla, dora and one 32-byte key"
        );
    }
}
