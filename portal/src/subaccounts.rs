//! An association's sub-accounts ("utenze"): people who compile and send
//! on its behalf with their own sign-in and keys. The association creates
//! them by name and email; each gets a link to choose a password, which
//! also proves the address. The association sees their applications.

use crate::account::{check_identity, hash_password, send_link};
use crate::visitor::Visitor;
use crate::{Portal, i18n, secrets};
use axum::Form;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use clickday_store::StoreError;
use clickday_store::portal::{NewToken, NewUser, TokenPurpose, User, UserKind};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The signed-in association, or "not found" for anyone else.
fn association<'a>(portal: &Portal, visitor: &'a Visitor) -> Result<&'a User, Response> {
    let user = visitor.signed_in()?;
    if user.kind == UserKind::Association {
        Ok(user)
    } else {
        Err(visitor.not_found(portal))
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct SubAccountForm {
    csrf: String,
    full_name: String,
    codice_fiscale: String,
    email: String,
}

pub async fn list(State(portal): State<Arc<Portal>>, visitor: Visitor) -> Response {
    let user = match association(&portal, &visitor) {
        Ok(user) => user,
        Err(refused) => return refused,
    };
    show(
        &portal,
        &visitor,
        user,
        StatusCode::OK,
        &SubAccountForm::default(),
        &BTreeMap::new(),
        false,
    )
    .await
}

async fn show(
    portal: &Portal,
    visitor: &Visitor,
    user: &User,
    status: StatusCode,
    form: &SubAccountForm,
    errors: &BTreeMap<&str, String>,
    created: bool,
) -> Response {
    let accounts = match portal.store.sub_accounts(&user.user_id).await {
        Ok(accounts) => accounts,
        Err(e) => return visitor.failure(portal, &e),
    };
    let accounts: Vec<_> = accounts
        .iter()
        .map(|a| minijinja::context! { name => &a.full_name, email => &a.email, confirmed => a.confirmed })
        .collect();
    let form = minijinja::context! {
        full_name => &form.full_name,
        codice_fiscale => &form.codice_fiscale,
        email => &form.email,
    };
    visitor.page_with(
        portal,
        status,
        "subaccounts.html",
        minijinja::context! { accounts, form, errors, created },
    )
}

pub async fn create(
    State(portal): State<Arc<Portal>>,
    visitor: Visitor,
    Form(form): Form<SubAccountForm>,
) -> Response {
    let user = match association(&portal, &visitor) {
        Ok(user) => user,
        Err(refused) => return refused,
    };
    if let Err(refused) = visitor.check_csrf(&portal, Some(&form.csrf)) {
        return refused;
    }
    let mut errors = check_identity(
        &form.full_name,
        &form.codice_fiscale,
        &form.email,
        visitor.lang,
    );
    if !errors.is_empty() {
        return show(
            &portal,
            &visitor,
            user,
            StatusCode::UNPROCESSABLE_ENTITY,
            &form,
            &errors,
            false,
        )
        .await;
    }
    let sub = NewUser {
        user_id: format!("u{}", secrets::readable_id(15)),
        email: form.email.trim().to_lowercase(),
        // Unusable until the person chooses a password through the link.
        password_hash: hash_password(&portal, secrets::new_secret()).await,
        kind: UserKind::SubAccount,
        full_name: form.full_name.trim().to_string(),
        codice_fiscale: form.codice_fiscale.trim().to_uppercase(),
        parent_user_id: Some(user.user_id.clone()),
        province: None,
        office_kind: None,
        approved: false,
    };
    let secret = secrets::new_secret();
    let token = NewToken {
        token_hash: secrets::secret_hash(&secret),
        user_id: sub.user_id.clone(),
        purpose: TokenPurpose::Reset,
        valid_for_micros: portal.settings.link_validity.as_micros() as i64,
    };
    match portal.store.create_user(&sub, &token).await {
        Ok(()) => {}
        Err(StoreError::Taken { .. }) => {
            errors.insert(
                "email",
                i18n::text(visitor.lang, "field.email_taken").into(),
            );
            return show(
                &portal,
                &visitor,
                user,
                StatusCode::CONFLICT,
                &form,
                &errors,
                false,
            )
            .await;
        }
        Err(e) => return visitor.failure(&portal, &e),
    }
    let invited = send_link(
        &portal,
        visitor.lang,
        &sub.email,
        &sub.full_name,
        TokenPurpose::Reset,
        &secret,
    )
    .await;
    if let Err(e) = invited {
        return visitor.failure(&portal, &e);
    }
    show(
        &portal,
        &visitor,
        user,
        StatusCode::OK,
        &SubAccountForm::default(),
        &BTreeMap::new(),
        true,
    )
    .await
}
