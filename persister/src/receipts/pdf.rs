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
    /// The applicant's name, when the portal knows the account.
    pub applicant: Option<&'a str>,
    /// The category's title, when the form model is known.
    pub category_title: Option<&'a str>,
    /// (label, value) of the application's fields, as a person reads them.
    pub preview: Vec<(String, String)>,
}

/// Lays out lines top to bottom, starting a new page when one is full.
struct Layout {
    pages: Vec<Vec<Op>>,
    y: f32,
}

/// The x of the second column of fields.
const SECOND_COLUMN_X: f32 = MARGIN + (PAGE_W - 2.0 * MARGIN) / 2.0;

impl Layout {
    fn new() -> Self {
        Layout {
            pages: vec![Vec::new()],
            y: PAGE_H - MARGIN,
        }
    }

    /// Moves down one line of `size` points, on a new page if this one is
    /// full; the line's baseline.
    fn down(&mut self, size: f32) -> f32 {
        let step = size * 0.3528 * 1.3; // pt to mm, with leading
        if self.y - step < MARGIN {
            self.pages.push(Vec::new());
            self.y = PAGE_H - MARGIN;
        }
        self.y -= step;
        self.y
    }

    fn put(&mut self, x: f32, y: f32, font: BuiltinFont, size: f32, text: &str) {
        let ops = self.pages.last_mut().expect("a page");
        ops.extend([
            Op::StartTextSection,
            Op::SetFont {
                font: PdfFontHandle::Builtin(font),
                size: Pt(size),
            },
            Op::SetTextCursor {
                pos: Point::new(Mm(x), Mm(y)),
            },
            Op::ShowText {
                items: vec![TextItem::Text(text.to_string())],
            },
            Op::EndTextSection,
        ]);
    }

    fn text(&mut self, font: BuiltinFont, size: f32, text: &str) {
        let y = self.down(size);
        self.put(MARGIN, y, font, size, text);
    }

    fn gap(&mut self, mm: f32) {
        self.y -= mm;
    }

    /// A section heading, Italian with the English under it.
    fn heading(&mut self, italian: &str, english: &str) {
        self.gap(2.5);
        self.text(BuiltinFont::HelveticaBold, 10.0, italian);
        self.text(BuiltinFont::HelveticaOblique, 6.5, english);
        self.gap(0.5);
    }

    /// Two fields side by side, each its label over its value.
    fn pair_row(&mut self, left: &(String, String), right: Option<&(String, String)>) {
        let fields: Vec<(f32, &(String, String))> = std::iter::once((MARGIN, left))
            .chain(right.map(|r| (SECOND_COLUMN_X, r)))
            .collect();
        // About 1.6 mm a character at 8 points: what fits in a column.
        let room = ((SECOND_COLUMN_X - MARGIN - 3.0) / 1.6) as usize;
        let y = self.down(6.5);
        for (x, (label, _)) in &fields {
            self.put(
                *x,
                y,
                BuiltinFont::HelveticaBold,
                6.5,
                &truncate(label, room + 12),
            );
        }
        let y = self.down(8.5);
        for (x, (_, value)) in &fields {
            self.put(*x, y, BuiltinFont::Helvetica, 8.5, &truncate(value, room));
        }
        self.gap(0.8);
    }

    fn mono(&mut self, size: f32, text: &str) {
        self.text(BuiltinFont::Courier, size, text);
    }
}

pub(crate) fn render(content: &ReceiptContent<'_>) -> Vec<u8> {
    let s = content.submission;
    let app = &s.application;
    let mut l = Layout::new();
    l.text(BuiltinFont::HelveticaBold, 18.0, "Ricevuta di invio");
    l.text(
        BuiltinFont::Helvetica,
        9.5,
        "La domanda è stata ricevuta e registrata. Conservi questa ricevuta.",
    );
    l.text(
        BuiltinFont::HelveticaOblique,
        7.5,
        "Submission receipt: the application was received and stored. Keep this receipt.",
    );
    l.gap(2.0);

    let applicant = match content.applicant {
        Some(name) => format!("{name} (utenza {})", s.account_id),
        None => format!("utenza {}", s.account_id),
    };
    let category = content.category_title.unwrap_or(&app.category);
    let province = format!(
        "{} ({})",
        clickday_forms::provinces::province_name(&app.province),
        app.province
    );
    // Italian · English over each value, two to a row.
    let facts = [
        ("Richiedente · Applicant", applicant),
        ("Numero di invio · Submission id", s.submission_id.clone()),
        (
            "Arrivo, ora di Roma · Arrival, Rome time",
            format_rome(s.received_at()),
        ),
        (
            "Arrivo, UTC al nanosecondo · Arrival, UTC to the ns",
            format_rfc3339_nanos(s.received_at()),
        ),
        ("Domanda · Application", app.application_id.clone()),
        ("Click day", app.click_day.clone()),
        (
            "Tipo di domanda · Kind of application",
            category.to_string(),
        ),
        ("Provincia della quota · Quota province", province),
    ]
    .map(|(label, value)| (label.to_string(), value));
    for pair in facts.chunks(2) {
        l.pair_row(&pair[0], pair.get(1));
    }

    l.heading("Contenuto della domanda", "Application content");
    if content.preview.is_empty() {
        l.text(BuiltinFont::Helvetica, 8.0, "(nessun campo)");
    }
    for pair in content.preview.chunks(2) {
        l.pair_row(&pair[0], pair.get(1));
    }

    l.heading(
        "Dichiarazione firmata dal sistema",
        "Statement signed by the system",
    );
    for line in content.statement_text.lines() {
        l.mono(6.5, line);
    }
    // The signature and the key each on a line of its own: readers (the
    // mini-client, docs/receipts.md) take the line whole.
    l.text(
        BuiltinFont::HelveticaBold,
        6.5,
        "Firma Ed25519 (base64url) / Ed25519 signature",
    );
    l.mono(6.5, content.signature);
    l.text(
        BuiltinFont::HelveticaBold,
        6.5,
        &format!(
            "Chiave pubblica di verifica / Verification public key (key_id {})",
            content.key_id
        ),
    );
    l.mono(6.5, content.public_key);

    if let Some(proof) = content.ledger_proof {
        l.heading(
            "Prova di inclusione nel registro degli arrivi",
            "Proof of inclusion in the arrival ledger",
        );
        for line in proof.lines() {
            l.mono(5.5, line);
        }
    }
    l.heading("Come verificare", "How to verify");
    for line in [
        "La firma garantisce che questa ricevuta viene dal sistema e non è stata modificata: una sola lettera",
        "cambiata la rende non valida. Per controllarla usi il programma di invio con la chiave pubblica che",
        "l'amministrazione pubblica sul portale: clickday-client verify-receipt ricevuta.pdf",
    ] {
        l.text(BuiltinFont::Helvetica, 7.5, line);
    }
    l.text(
        BuiltinFont::HelveticaOblique,
        6.5,
        "The signature shows this receipt comes from the system unaltered. Check it with the sending program and the",
    );
    l.text(
        BuiltinFont::HelveticaOblique,
        6.5,
        "public key the administration publishes on the portal: clickday-client verify-receipt receipt.pdf",
    );

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

/// `path: value` pairs for the scalar fields of `data`, depth first, at
/// most `max` of them: the preview when the form model is not known.
pub(crate) fn raw_preview(body: &[u8], max: usize) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let Ok(doc) = serde_json::from_slice::<serde_json::Value>(body) else {
        return out;
    };
    fn walk(prefix: &str, value: &serde_json::Value, out: &mut Vec<(String, String)>, max: usize) {
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
            serde_json::Value::String(s) => out.push((prefix.to_string(), s.clone())),
            other => out.push((prefix.to_string(), other.to_string())),
        }
    }
    if let Some(data) = doc.get("data") {
        walk("", data, &mut out, max);
    }
    out
}

/// `text` cut to `max` characters, with an ellipsis when cut.
fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        format!(
            "{}…",
            text.chars().take(max.saturating_sub(1)).collect::<String>()
        )
    }
}
