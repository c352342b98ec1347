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
        // The id came from the portal: only a valid application id names a
        // file, so no answer can make the client write outside `out` (F11).
        let Some(path) = receipt_path(&out, id) else {
            eprintln!("{}", say(lang, "receipt_bad_id", &[&id.escape_debug()]));
            continue;
        };
        match portal.receipt(id).await? {
            Some(pdf) => {
                std::fs::write(&path, &pdf)
                    .with_context(|| format!("writing {}", path.display()))?;
                println!("{}", say(lang, "receipt_saved", &[&id, &path.display()]));
            }
            None => println!("{}", say(lang, "receipt_pending", &[&id])),
        }
    }
    Ok(())
}

/// Where the receipt of application `id` is saved, if `id` is a valid
/// application id.
fn receipt_path(out: &std::path::Path, id: &str) -> Option<PathBuf> {
    clickday_core::submission::is_application_id(id).then(|| out.join(format!("{id}.pdf")))
}

pub(crate) async fn verify(
    lang: Lang,
    file: &std::path::Path,
    key: &str,
    ledger_key: Option<&str>,
    gateway: Option<&str>,
    trust: Option<&Trust>,
) -> anyhow::Result<()> {
    let pdf = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let verified = clickday_client::receipt::verify(&pdf, key, ledger_key)?;
    println!("{}", say(lang, "receipt_valid", &[&file.display()]));
    match &verified.ledger {
        Some(place) => println!(
            "{}",
            say(
                lang,
                "receipt_in_ledger",
                &[&place.index, &place.size, &place.origin]
            )
        ),
        None if verified.has_proof => println!("{}", say(lang, "receipt_ledger_unchecked", &[])),
        None => {}
    }
    if let (Some(url), Some(place), Some(ledger_key)) = (gateway, &verified.ledger, ledger_key) {
        let newest = ledger_extends(url, trust, place, ledger_key).await?;
        println!("{}", say(lang, "receipt_ledger_extended", &[&newest]));
    }
    print!("{}", verified.statement);
    Ok(())
}

/// Fetches the ledger's newest checkpoint from the gateway and the tiles
/// that prove it extends the receipt's; returns its size.
async fn ledger_extends(
    url: &str,
    trust: Option<&Trust>,
    place: &clickday_client::receipt::LedgerPlace,
    ledger_key: &str,
) -> anyhow::Result<u64> {
    let verifier = clickday_ledger::LogVerifier::new(ledger_key)
        .map_err(|e| anyhow::anyhow!("--ledger-key: {e}"))?;
    let day = place.origin.rsplit('/').next().unwrap_or_default();
    let (target, connection) = super::gateway(url, trust).await?;
    let get = async |resource: &str| -> anyhow::Result<bytes::Bytes> {
        let uri = target.uri(&format!("/v1/ledger/{day}/{resource}"));
        let answer = connection
            .send(http::Request::get(&uri).body(bytes::Bytes::new())?)
            .await
            .with_context(|| format!("GET {uri}"))?;
        anyhow::ensure!(answer.status == 200, "GET {uri}: {}", answer.status);
        Ok(answer.body)
    };
    let note = String::from_utf8(get("checkpoint").await?.to_vec())?;
    let newest = verifier
        .open(&note, &place.origin)
        .map_err(|e| anyhow::anyhow!("the gateway's checkpoint: {e}"))?;
    let old = &place.checkpoint;
    let mut tiles = clickday_ledger::HashTiles::default();
    if newest.size > old.size {
        for path in clickday_ledger::consistency_tiles_needed(old.size, newest.size) {
            tiles.insert(path, get(&path.to_string()).await?.to_vec());
        }
    }
    let proof = if newest.size > old.size {
        clickday_ledger::prove_consistency(old.size, newest.size, &tiles)?
    } else {
        Vec::new()
    };
    clickday_ledger::verify_consistency(old, &newest, &proof).map_err(|_| {
        anyhow::anyhow!(
            "the ledger published now ({} entries) does not extend the one in the receipt ({} entries): it was forked or shrunk",
            newest.size,
            old.size
        )
    })?;
    Ok(newest.size)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_answer_names_a_file_outside_the_folder() {
        let out = std::path::Path::new("/home/rosa/receipts");
        assert_eq!(
            receipt_path(out, "2030-K7Q2M9X4PA"),
            Some(out.join("2030-K7Q2M9X4PA.pdf"))
        );
        for hostile in [
            "../../x",
            "..",
            ".",
            "a/b",
            "/etc/passwd",
            "",
            "x\\..\\y",
            &"a".repeat(65),
        ] {
            assert_eq!(receipt_path(out, hostile), None, "{hostile:?}");
        }
    }
}
