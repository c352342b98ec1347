//! Receipts: the statement the system signed is read back from the PDF's
//! text (lopdf, pure Rust, already used by the persister's PDF library)
//! and checked against the receipt key the administration publishes —
//! never against the key printed on the receipt itself, which a forger
//! would print too.

use anyhow::{Context, bail};
use clickday_core::PublicKey;
use clickday_core::receipt::{find_statement, verify_text};

/// What a verified receipt says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub statement: String,
}

/// The text of every page of a PDF.
pub fn pdf_text(pdf: &[u8]) -> anyhow::Result<String> {
    let doc = lopdf::Document::load_mem(pdf).context("not a readable PDF")?;
    let pages: Vec<u32> = doc.get_pages().keys().copied().collect();
    doc.extract_text(&pages)
        .context("the PDF's text cannot be read")
}

/// Checks the statement's Ed25519 signature with `key` (base64url).
pub fn verify(pdf: &[u8], key: &str) -> anyhow::Result<Verified> {
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
    Ok(Verified { statement })
}
