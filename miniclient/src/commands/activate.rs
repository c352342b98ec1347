//! `activate`: a key pair kept at home, registered through the portal.
//! The portal and gateway come from the flags or the settings file; with
//! neither settings nor a CA, the settings are fetched from the portal's
//! download page, and whatever settings were used are kept at home.

use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use clickday_client::home::{Home, Session};
use clickday_client::portal::Portal;
use clickday_client::settings::{FILE_NAME, Settings};
use clickday_client::text::{Lang, say};
use clickday_transport::Trust;
use std::path::PathBuf;

use super::read_password;

/// What the command line and the settings file said.
pub(crate) struct Given {
    pub portal: Option<String>,
    pub email: String,
    pub gateway: Option<String>,
    pub settings: Settings,
    /// Where the settings came from; `None` = there were none.
    pub from_file: Option<PathBuf>,
}

pub(crate) async fn run(
    home: &Home,
    trust: Option<&Trust>,
    lang: Lang,
    given: Given,
) -> anyhow::Result<()> {
    let url = given
        .portal
        .clone()
        .or(given.settings.portal.clone())
        .with_context(|| {
            format!("no portal address: give --portal URL, or put {FILE_NAME} from the portal's download page beside the program")
        })?;
    let url = url.trim_end_matches('/').to_string();
    let password = read_password(lang, &given.email)?;
    let mut portal = Portal::connect(&url, trust).await?;
    let settings = match given.from_file {
        Some(_) => given.settings,
        None => match portal.settings_file().await? {
            Some(text) => Settings::parse(&text, &format!("{url}/scarica/{FILE_NAME}"))?,
            None => Settings::default(),
        },
    };
    let (token, account_id) = portal.sign_in(&given.email, &password).await?;
    let key = match home.key()? {
        Some(key) => key,
        None => home.create_key()?,
    };
    let public = URL_SAFE_NO_PAD.encode(key.verifying_key().as_bytes());
    let key_id = portal.register_key(&public).await?;
    settings.keep(home.dir())?;
    home.save_session(&Session {
        portal: url,
        email: given.email,
        token,
        account_id: account_id.clone(),
        key_id: key_id.clone(),
        gateway: given
            .gateway
            .or(settings.gateway)
            .map(|g| g.trim_end_matches('/').to_string()),
    })?;
    println!("{key_id}");
    eprintln!("{}", say(lang, "activated", &[&key_id, &account_id]));
    Ok(())
}
