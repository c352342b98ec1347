//! `receipts` and `verify-receipt`.

use anyhow::Context;
use clickday_client::home::Home;
use clickday_client::journal::{Journal, Outcome};
use clickday_client::portal::Portal;
use clickday_client::text::{Lang, say};
use clickday_transport::Trust;
use std::path::PathBuf;

pub(crate) async fn run(
    home: &Home,
    trust: Option<&Trust>,
    lang: Lang,
    out: Option<PathBuf>,
) -> anyhow::Result<()> {
    let session = home.session()?;
    let journal = Journal::load(home.dir())?;
    let out = out.unwrap_or_else(|| home.dir().join("receipts"));
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let portal = Portal::connect(&session.portal, trust)
        .await?
        .with_token(session.token);
    for (id, entry) in &journal.entries {
        if !matches!(entry.outcome, Outcome::Accepted { .. }) {
            continue;
        }
        match portal.receipt(id).await? {
            Some(pdf) => {
                let path = out.join(format!("{id}.pdf"));
                std::fs::write(&path, &pdf)
                    .with_context(|| format!("writing {}", path.display()))?;
                println!("{}", say(lang, "receipt_saved", &[&id, &path.display()]));
            }
            None => println!("{}", say(lang, "receipt_pending", &[&id])),
        }
    }
    Ok(())
}

pub(crate) fn verify(lang: Lang, file: &std::path::Path, key: &str) -> anyhow::Result<()> {
    let pdf = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let verified = clickday_client::receipt::verify(&pdf, key)?;
    println!("{}", say(lang, "receipt_valid", &[&file.display()]));
    print!("{}", verified.statement);
    Ok(())
}
