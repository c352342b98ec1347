//! The receipt document: A4, builtin PDF fonts (WinAnsi covers Italian),
//! Italian headings with the English under each, the signed statement in a
//! monospaced block so text extraction gives it back byte for byte.

use clickday_core::Submission;
use clickday_core::time::{format_rfc3339_nanos, format_rome};
use printpdf::{
    BuiltinFont, Mm, Op, PdfDocument, PdfFontHandle, PdfPage, PdfSaveOptions, Point, Pt, TextItem,
};

const PAGE_W: f32 = 210.0;
const PAGE_H: f32 = 297.0;
const MARGIN: f32 = 18.0;

/// Everything printed on a receipt.
pub(crate) struct ReceiptContent<'a> {
    /// The submission the statement is about.
    pub submission: &'a Submission,
    pub statement_text: &'a str,
    /// The C2SP tlog-proof of the submission's leaf, if made.
    pub ledger_proof: Option<&'a str>,
    pub signature: &'a str,
    pub key_id: &'a str,
    pub public_key: &'a str,
    /// `field: value` lines of the application's main fields.
    pub preview: Vec<String>,
}

/// Lays out lines top to bottom, starting a new page when one is full.
struct Layout {
    pages: Vec<Vec<Op>>,
    y: f32,
}

impl Layout {
    fn new() -> Self {
        Layout {
            pages: vec![Vec::new()],
            y: PAGE_H - MARGIN,
        }
    }

    fn text(&mut self, font: BuiltinFont, size: f32, text: &str) {
        let step = size * 0.3528 * 1.35; // pt to mm, with leading
        if self.y - step < MARGIN {
            self.pages.push(Vec::new());
            self.y = PAGE_H - MARGIN;
        }
        self.y -= step;
        let ops = self.pages.last_mut().expect("a page");
        ops.extend([
            Op::StartTextSection,
            Op::SetFont {
                font: PdfFontHandle::Builtin(font),
                size: Pt(size),
            },
            Op::SetTextCursor {
                pos: Point::new(Mm(MARGIN), Mm(self.y)),
            },
            Op::ShowText {
                items: vec![TextItem::Text(text.to_string())],
            },
            Op::EndTextSection,
        ]);
    }

    fn gap(&mut self, mm: f32) {
        self.y -= mm;
    }

    /// An Italian heading with its English translation under it.
    fn heading(&mut self, italian: &str, english: &str) {
        self.gap(3.0);
        self.text(BuiltinFont::HelveticaBold, 11.0, italian);
        self.text(BuiltinFont::HelveticaOblique, 8.0, english);
    }

    fn value(&mut self, text: &str) {
        self.text(BuiltinFont::Helvetica, 10.0, text);
    }

    /// The proof's lines are long (base64 hashes, the checkpoint's
    /// signature): a smaller size keeps each on one line.
    fn small_mono(&mut self, text: &str) {
        self.text(BuiltinFont::Courier, 6.5, text);
    }

    fn mono(&mut self, text: &str) {
        self.text(BuiltinFont::Courier, 8.0, text);
    }
}

pub(crate) fn render(content: &ReceiptContent<'_>) -> Vec<u8> {
    let s = content.submission;
    let app = &s.application;
    let mut l = Layout::new();
    l.text(BuiltinFont::HelveticaBold, 20.0, "Ricevuta di invio");
    l.text(BuiltinFont::HelveticaOblique, 10.0, "Submission receipt");
    l.gap(2.0);
    l.value("La domanda è stata ricevuta e registrata. Conservi questa ricevuta.");
    l.text(
        BuiltinFont::HelveticaOblique,
        8.0,
        "The application was received and stored. Keep this receipt.",
    );

    l.heading("Identificativo della domanda", "Submission id");
    l.value(&s.submission_id);
    l.heading(
        "Arrivo (ora di Roma, al millisecondo)",
        "Arrival (Rome time, to the millisecond)",
    );
    l.value(&format_rome(s.received_at()));
    l.heading(
        "Arrivo (UTC, al nanosecondo)",
        "Arrival (UTC, to the nanosecond)",
    );
    l.value(&format_rfc3339_nanos(s.received_at()));
    l.heading("Utenza richiedente", "Applicant account");
    l.value(&s.account_id);
    l.heading(
        "Click day, categoria, provincia, modello",
        "Click day, category, province, form",
    );
    l.value(&format!(
        "{} - {} - {} - {}",
        app.click_day, app.category, app.province, app.form
    ));
    l.heading("Numero della domanda", "Application id");
    l.value(&app.application_id);

    l.heading("Anteprima della domanda", "Application preview");
    if content.preview.is_empty() {
        l.value("(nessun campo)");
    }
    for line in &content.preview {
        l.text(BuiltinFont::Helvetica, 9.0, line);
    }

    l.heading(
        "Impronta SHA-256 dei dati inviati",
        "SHA-256 of the submitted bytes",
    );
    l.mono(&hex(&s.body_sha256));

    l.heading(
        "Dichiarazione firmata dal sistema",
        "Statement signed by the system",
    );
    for line in content.statement_text.lines() {
        l.mono(line);
    }
    l.heading("Firma Ed25519 (base64url)", "Ed25519 signature (base64url)");
    l.mono(content.signature);
    l.heading("Chiave pubblica di verifica", "Verification public key");
    l.mono(&format!("key_id {}", content.key_id));
    l.mono(content.public_key);

    if let Some(proof) = content.ledger_proof {
        l.heading(
            "Prova di inclusione nel registro pubblico degli arrivi",
            "Proof of inclusion in the public arrival ledger",
        );
        for line in proof.lines() {
            l.small_mono(line);
        }
    }
    l.heading("Come verificare", "How to verify");
    for line in [
        "Estrarre il testo della dichiarazione (da clickday-receipt-v2 a body_sha256), una riga per riga,",
        "ciascuna terminata da un a capo, e verificare la firma Ed25519 con la chiave pubblica indicata,",
        "pubblicata dall'amministrazione. Una sola lettera cambiata rende la firma non valida.",
        "Il programma di invio lo fa per Lei: clickday-client verify-receipt ricevuta.pdf --key CHIAVE.",
    ] {
        l.text(BuiltinFont::Helvetica, 8.0, line);
    }
    for line in [
        "Extract the statement text (clickday-receipt-v2 to body_sha256), each line ending with a newline,",
        "and verify the Ed25519 signature with the public key shown, published by the administration.",
        "A single changed character makes the signature invalid. The sending program does it for you:",
        "clickday-client verify-receipt receipt.pdf --key KEY (the key published by the administration).",
    ] {
        l.text(BuiltinFont::HelveticaOblique, 8.0, line);
    }

    let pages = l
        .pages
        .into_iter()
        .map(|ops| PdfPage::new(Mm(PAGE_W), Mm(PAGE_H), ops))
        .collect();
    let mut doc = PdfDocument::new(&format!("Ricevuta {}", s.submission_id));
    // Dated by the arrival it certifies (not 1970, printpdf's default), so
    // the same receipt renders to the same bytes whoever makes it.
    let arrived = i64::try_from(s.received_at() / 1_000_000_000).unwrap_or(0);
    if let Ok(date) = printpdf::OffsetDateTime::from_unix_timestamp(arrived) {
        let info = &mut doc.metadata.info;
        (
            info.creation_date,
            info.modification_date,
            info.metadata_date,
        ) = (date, date, date);
    }
    let mut warnings = Vec::new();
    doc.with_pages(pages)
        .save(&PdfSaveOptions::default(), &mut warnings)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `path: value` lines for the scalar fields of `data`, depth first, at
/// most `max` lines of at most 90 characters.
pub(crate) fn preview(body: &[u8], max: usize) -> Vec<String> {
    let mut out = Vec::new();
    let Ok(doc) = serde_json::from_slice::<serde_json::Value>(body) else {
        return out;
    };
    fn walk(prefix: &str, value: &serde_json::Value, out: &mut Vec<String>, max: usize) {
        if out.len() >= max {
            return;
        }
        match value {
            serde_json::Value::Object(map) => {
                for (k, v) in map {
                    let path = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    walk(&path, v, out, max);
                }
            }
            serde_json::Value::Array(items) => {
                for (i, v) in items.iter().enumerate() {
                    walk(&format!("{prefix}[{i}]"), v, out, max);
                }
            }
            serde_json::Value::String(s) => out.push(truncate(&format!("{prefix}: {s}"))),
            other => out.push(truncate(&format!("{prefix}: {other}"))),
        }
    }
    if let Some(data) = doc.get("data") {
        walk("", data, &mut out, max);
    }
    out
}

fn truncate(line: &str) -> String {
    if line.chars().count() <= 90 {
        line.to_string()
    } else {
        format!("{}…", line.chars().take(89).collect::<String>())
    }
}
