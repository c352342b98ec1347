//! Receipts: the statement the system signed is read back from the PDF's
//! text (lopdf, pure Rust, already used by the persister's PDF library)
//! and checked against the receipt key the administration publishes —
//! never against the key printed on the receipt itself, which a forger
//! would print too.

use anyhow::{Context, bail};
use clickday_core::PublicKey;
use clickday_core::receipt::{find_statement, verify_text};

/// What a verified receipt says.
#[derive(Debug, Clone, PartialEq)]
pub struct Verified {
    pub statement: String,
    /// Whether the receipt carries an arrival-ledger inclusion proof.
    pub has_proof: bool,
    /// Its place in the ledger, when the proof was checked.
    pub ledger: Option<LedgerPlace>,
}

/// A leaf proved in a signed checkpoint of the arrival ledger.
#[derive(Debug, Clone, PartialEq)]
pub struct LedgerPlace {
    pub index: u64,
    pub size: u64,
    pub origin: String,
    /// The signed checkpoint the proof leads to.
    pub checkpoint: clickday_ledger::Checkpoint,
}

/// The text of every page of a PDF.
pub fn pdf_text(pdf: &[u8]) -> anyhow::Result<String> {
    let doc = lopdf::Document::load_mem(pdf).context("not a readable PDF")?;
    let pages: Vec<u32> = doc.get_pages().keys().copied().collect();
    doc.extract_text(&pages)
        .context("the PDF's text cannot be read")
}

/// Checks the statement's Ed25519 signature with `key` (base64url), and,
/// given the arrival ledger's verifier key, the receipt's inclusion proof:
/// the leaf rebuilt from the signed statement is in a checkpoint signed by
/// the ledger, of the statement's click day.
pub fn verify(pdf: &[u8], key: &str, ledger_key: Option<&str>) -> anyhow::Result<Verified> {
    let key = PublicKey::from_base64(key).map_err(|e| anyhow::anyhow!("--key: {e}"))?;
    let text = pdf_text(pdf)?;
    let statement = find_statement(&text).context("no signed statement in this receipt")?;
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    // The signature is the first line after the statement that decodes
    // as one (86 base64url characters).
    let end = lines
        .iter()
        .position(|l| l.starts_with("body_sha256: "))
        .unwrap_or(0);
    let Some(signature) = lines[end..].iter().find(|l| {
        l.len() == 86
            && l.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    }) else {
        bail!("no signature in this receipt");
    };
    verify_text(&key, &statement, signature).map_err(|_| {
        anyhow::anyhow!(
            "the signature does not match: this receipt was altered or not made by the system"
        )
    })?;
    let proof = clickday_ledger::InclusionProof::find_in(&text);
    let ledger = match (&proof, ledger_key) {
        (Some(proof), Some(ledger_key)) => Some(check_place(&statement, proof, ledger_key)?),
        (None, Some(_)) => {
            bail!("this receipt carries no proof of inclusion in the arrival ledger")
        }
        (_, None) => None,
    };
    Ok(Verified {
        statement,
        has_proof: proof.is_some(),
        ledger,
    })
}

fn check_place(
    statement: &str,
    proof: &clickday_ledger::InclusionProof,
    ledger_key: &str,
) -> anyhow::Result<LedgerPlace> {
    let verifier = clickday_ledger::LogVerifier::new(ledger_key)
        .map_err(|e| anyhow::anyhow!("--ledger-key: {e}"))?;
    let leaf = clickday_ledger::Leaf::from_statement(statement).context(
        "the statement does not describe a ledger entry (a receipt from before the ledger)",
    )?;
    // The log must be the statement's click day's: its origin ends so.
    let origin = proof.checkpoint.lines().next().unwrap_or_default();
    if !origin.ends_with(&format!("/{}", leaf.click_day)) {
        bail!(
            "the proof is against the ledger {origin:?}, not the one of click day {}",
            leaf.click_day
        );
    }
    let checkpoint = proof
        .verify(&leaf.to_bytes(), &verifier, origin)
        .map_err(|e| anyhow::anyhow!("the proof of inclusion does not verify: {e}"))?;
    Ok(LedgerPlace {
        index: proof.index,
        size: checkpoint.size,
        origin: checkpoint.origin.clone(),
        checkpoint,
    })
}
