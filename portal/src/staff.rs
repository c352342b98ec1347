//! Staff users, made by an operator on the command line (`clickday staff
//! add`), never by registration: help-desk operators, and the offices
//! (Sportello Unico, Questura, labour office) of one province each. Each
//! gets an email with a link to choose a password.

use crate::{account, secrets};
use clickday_config::Config;
use clickday_forms::{Lang, looks_like_email};
use clickday_store::portal::{NewUser, PortalStore, TokenPurpose, UserKind};
use clickday_store::{OFFICES, StoreError};

/// Who to invite.
#[derive(Debug, Clone)]
pub struct StaffInvite {
    pub kind: UserKind,
    pub email: String,
    pub full_name: String,
    /// Offices: two capital letters, a province of the configuration.
    pub province: Option<String>,
    /// Offices: `sportello_unico`, `questura` or `labour_office`.
    pub office_kind: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum StaffError {
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Creates the user and emails the link to choose a password; the new
/// user's id.
pub async fn invite(
    cfg: &Config,
    store: &dyn PortalStore,
    invite: &StaffInvite,
) -> Result<String, StaffError> {
    let email = invite.email.trim().to_lowercase();
    if !looks_like_email(&email) {
        return Err(StaffError::Invalid(format!(
            "--email {email:?} is not a valid address"
        )));
    }
    if invite.full_name.trim().is_empty() {
        return Err(StaffError::Invalid("--name must not be empty".into()));
    }
    let (province, office_kind) = match invite.kind {
        UserKind::Operator => (None, None),
        UserKind::Office => {
            let province = invite.province.clone().unwrap_or_default();
            if !cfg.calendar.knows_province(&province) {
                return Err(StaffError::Invalid(format!(
                    "--province {province:?} is not a province of the configuration"
                )));
            }
            let office = invite.office_kind.clone().unwrap_or_default();
            if !OFFICES.contains(&office.as_str()) {
                return Err(StaffError::Invalid(format!(
                    "--office {office:?} is not one of {}",
                    OFFICES.join(", ")
                )));
            }
            (Some(province), Some(office))
        }
        other => {
            return Err(StaffError::Invalid(format!(
                "{} users register on the portal",
                other.as_str()
            )));
        }
    };
    let user = NewUser {
        user_id: format!("s{}", secrets::readable_id(15)),
        email,
        password_hash: secrets::UNUSABLE_PASSWORD.to_string(),
        kind: invite.kind,
        full_name: invite.full_name.trim().to_string(),
        codice_fiscale: String::new(),
        parent_user_id: None,
        province,
        office_kind,
        // An administrator made it: nothing to approve.
        approved: true,
    };
    let secret = secrets::new_secret();
    let token = account::link_token(
        cfg.portal.link_validity,
        &user.user_id,
        TokenPurpose::Reset,
        &secret,
    );
    store.create_user(&user, &token).await?;
    account::email_link(
        &cfg.portal.public_url,
        store,
        Lang::It,
        &user.email,
        &user.full_name,
        account::LinkEmail::Invite {
            by: &cfg.portal.administration,
        },
        &secret,
    )
    .await?;
    Ok(user.user_id)
}
