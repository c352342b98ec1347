//! `activate`: a key pair kept at home, registered through the portal.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use clickday_client::home::{Home, Session};
use clickday_client::portal::Portal;
use clickday_client::text::{Lang, say};
use clickday_transport::Trust;

use super::read_password;

pub(crate) async fn run(
    home: &Home,
    trust: Option<&Trust>,
    lang: Lang,
    url: &str,
    email: &str,
    gateway: Option<String>,
) -> anyhow::Result<()> {
    let password = read_password(lang, email)?;
    let mut portal = Portal::connect(url, trust).await?;
    let (token, account_id) = portal.sign_in(email, &password).await?;
    let key = match home.key()? {
        Some(key) => key,
        None => home.create_key()?,
    };
    let public = URL_SAFE_NO_PAD.encode(key.verifying_key().as_bytes());
    let key_id = portal.register_key(&public).await?;
    home.save_session(&Session {
        portal: url.trim_end_matches('/').to_string(),
        email: email.to_string(),
        token,
        account_id: account_id.clone(),
        key_id: key_id.clone(),
        gateway: gateway.map(|g| g.trim_end_matches('/').to_string()),
    })?;
    println!("{key_id}");
    eprintln!("{}", say(lang, "activated", &[&key_id, &account_id]));
    Ok(())
}
