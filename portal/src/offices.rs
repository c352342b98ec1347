//! Operators approve the public offices that registered: until then an
//! office signs in but reads no application (the API answers
//! `not_approved`), since anyone could claim to be a Questura.

use crate::Portal;
use crate::visitor::{Visitor, see_other};
use axum::Form;
use axum::extract::{Path, State};
use axum::response::Response;
use clickday_store::portal::{User, UserKind};
use serde::Deserialize;
use std::sync::Arc;

fn operator<'a>(portal: &Portal, visitor: &'a Visitor) -> Result<&'a User, Response> {
    match visitor.signed_in()? {
        user if user.kind == UserKind::Operator => Ok(user),
        _ => Err(visitor.not_found(portal)),
    }
}

pub async fn pending(State(portal): State<Arc<Portal>>, visitor: Visitor) -> Response {
    if let Err(refused) = operator(&portal, &visitor) {
        return refused;
    }
    let offices = match portal.store.pending_offices().await {
        Ok(offices) => offices,
        Err(e) => return visitor.failure(&portal, &e),
    };
    let offices: Vec<_> = offices
        .iter()
        .map(|o| {
            minijinja::context! {
                id => &o.user_id,
                name => &o.full_name,
                email => &o.email,
                codice_fiscale => &o.codice_fiscale,
                province => &o.province,
                office => &o.office_kind,
            }
        })
        .collect();
    visitor.page(&portal, "offices.html", minijinja::context! { offices })
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct CsrfOnly {
    csrf: String,
}

pub async fn approve(
    State(portal): State<Arc<Portal>>,
    visitor: Visitor,
    Path(user_id): Path<String>,
    Form(form): Form<CsrfOnly>,
) -> Response {
    if let Err(refused) = operator(&portal, &visitor) {
        return refused;
    }
    if let Err(refused) = visitor.check_csrf(&portal, Some(&form.csrf)) {
        return refused;
    }
    match portal.store.approve_office(&user_id).await {
        Ok(true) => see_other("/uffici"),
        Ok(false) => visitor.not_found(&portal),
        Err(e) => visitor.failure(&portal, &e),
    }
}
