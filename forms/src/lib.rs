//! Application models and their checks: what the portal's online
//! compilation asks, page by page, and whether what was typed may be sent.
//!
//! A model (one per category of a click day: lavoro domestico, stagionale,
//! …) is a list of pages of typed fields, plus consistency rules across
//! fields. Answers are kept as the strings the forms sent, so a half-filled
//! application is saved as typed and checked again whenever it changes. Sans
//! IO: "today" and the provinces come from the caller.
//!
//! This is the portal's domain (with the codice fiscale rules), kept out of
//! `clickday-core`, which holds the wire protocol only.

pub mod codice_fiscale;
pub mod provinces;

pub use codice_fiscale::{CodiceFiscale, CodiceFiscaleError};

use clickday_core::Calendar;
use jiff::civil::Date;
use serde::Deserialize;
use std::collections::BTreeMap;

/// The field holding the province whose quota an application competes for.
pub const QUOTA_PROVINCE: &str = "provincia";

/// What an applicant typed, field id → text, across all pages.
pub type Answers = BTreeMap<String, String>;

/// The language of user-facing messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    #[default]
    It,
    En,
}

/// A text in Italian and English.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Text {
    pub it: String,
    pub en: String,
}

impl Text {
    pub fn get(&self, lang: Lang) -> &str {
        match lang {
            Lang::It => &self.it,
            Lang::En => &self.en,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApplicationModel {
    /// The click-day category this model is for, e.g. `lavoro-domestico`.
    pub category: String,
    pub title: Text,
    pub pages: Vec<Page>,
    #[serde(default)]
    pub rules: Vec<Rule>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Page {
    pub id: String,
    pub title: Text,
    pub fields: Vec<Field>,
}

/// A field: its type's keys sit beside `id`, `label` and `required` (serde
/// cannot refuse unknown keys through the flattening, so a misspelt bound
/// takes its default).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Field {
    pub id: String,
    pub label: Text,
    #[serde(flatten)]
    pub kind: FieldKind,
    #[serde(default)]
    pub required: bool,
}

/// The type of a field and its bounds.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FieldKind {
    Text {
        #[serde(default = "default_max_len")]
        max_len: usize,
    },
    CodiceFiscale,
    /// `YYYY-MM-DD`, as an HTML date input sends it.
    Date {
        /// Dates of birth and the like: never after today.
        #[serde(default)]
        not_after_today: bool,
    },
    Province,
    Email,
    Integer {
        min: i64,
        max: i64,
    },
    Choice {
        options: Vec<ChoiceOption>,
    },
}

fn default_max_len() -> usize {
    200
}

impl FieldKind {
    /// `value` as a person reads it: a choice by its label, a date as
    /// `dd/mm/yyyy`, a province by name and code; anything else as typed
    /// (summaries, back office, receipts).
    pub fn shown(&self, value: &str, lang: Lang) -> String {
        match self {
            FieldKind::Choice { options } => options
                .iter()
                .find(|o| o.value == value)
                .map_or(value.to_string(), |o| o.label.get(lang).to_string()),
            FieldKind::Date { .. } => value.parse::<Date>().map_or_else(
                |_| value.to_string(),
                |d| d.strftime("%d/%m/%Y").to_string(),
            ),
            FieldKind::Province => {
                let code = value.to_ascii_uppercase();
                format!("{} ({code})", provinces::province_name(&code))
            }
            _ => value.to_string(),
        }
    }
}

/// The answers a signed application body carries in its `data` object;
/// `None` when the body is not JSON or `data` is not flat text fields (a
/// body made elsewhere need not follow the portal's models).
pub fn answers_in_body(body: &[u8]) -> Option<Answers> {
    let mut body: serde_json::Value = serde_json::from_slice(body).ok()?;
    serde_json::from_value(body.get_mut("data")?.take()).ok()
}

impl ApplicationModel {
    /// (label, answer as shown) of every answered field, in page order.
    pub fn shown_answers(&self, answers: &Answers, lang: Lang) -> Vec<(String, String)> {
        self.pages
            .iter()
            .flat_map(|page| &page.fields)
            .filter_map(|f| {
                let value = answers.get(&f.id).filter(|v| !v.is_empty())?;
                Some((f.label.get(lang).to_string(), f.kind.shown(value, lang)))
            })
            .collect()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChoiceOption {
    pub value: String,
    pub label: Text,
}

/// A consistency rule across fields.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "rule", rename_all = "snake_case", deny_unknown_fields)]
pub enum Rule {
    /// A person's codice fiscale must agree with their date of birth and,
    /// when given, with a choice field whose values are `F` and `M`.
    CodiceFiscaleMatchesBirth {
        codice_fiscale: String,
        birth_date: String,
        #[serde(default)]
        sex: Option<String>,
    },
}

/// What is wrong with one field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldProblem {
    Required,
    TooLong {
        max: usize,
    },
    CodiceFiscale(CodiceFiscaleError),
    NotADate,
    InTheFuture,
    UnknownProvince,
    NotAnEmail,
    NotAnInteger,
    OutOfRange {
        min: i64,
        max: i64,
    },
    NotAnOption,
    /// The codice fiscale disagrees with the date of birth or the sex.
    DisagreesWithCodiceFiscale,
}

impl FieldProblem {
    /// The message shown beside the field.
    pub fn message(&self, lang: Lang) -> String {
        use FieldProblem::*;
        let (it, en): (String, String) = match self {
            Required => ("Campo obbligatorio.".into(), "Required.".into()),
            TooLong { max } => (
                format!("Al massimo {max} caratteri."),
                format!("At most {max} characters."),
            ),
            CodiceFiscale(e) => return codice_fiscale_message(e, lang),
            NotADate => (
                "Data non valida: usare il formato AAAA-MM-GG.".into(),
                "Not a valid date: use YYYY-MM-DD.".into(),
            ),
            InTheFuture => (
                "La data non può essere futura.".into(),
                "The date cannot be in the future.".into(),
            ),
            UnknownProvince => (
                "Sigla di provincia sconosciuta (es. RM, MI).".into(),
                "Unknown province code (e.g. RM, MI).".into(),
            ),
            NotAnEmail => (
                "Indirizzo email non valido.".into(),
                "Not a valid email address.".into(),
            ),
            NotAnInteger => (
                "Inserire un numero intero.".into(),
                "Enter a whole number.".into(),
            ),
            OutOfRange { min, max } => (
                format!("Inserire un numero da {min} a {max}."),
                format!("Enter a number from {min} to {max}."),
            ),
            NotAnOption => (
                "Scegliere una delle voci proposte.".into(),
                "Choose one of the options.".into(),
            ),
            DisagreesWithCodiceFiscale => (
                "Non corrisponde al codice fiscale indicato.".into(),
                "Does not match the codice fiscale given.".into(),
            ),
        };
        match lang {
            Lang::It => it,
            Lang::En => en,
        }
    }
}

fn codice_fiscale_message(e: &CodiceFiscaleError, lang: Lang) -> String {
    match lang {
        Lang::En => format!("Codice fiscale: {e}."),
        Lang::It => match e {
            CodiceFiscaleError::Length(n) => format!(
                "Il codice fiscale ha 16 caratteri (persona) o 11 cifre (ente); questo ne ha {n}."
            ),
            CodiceFiscaleError::Character { position, found, .. } => {
                format!("Codice fiscale: il carattere {position} ({found}) non è ammesso in quella posizione.")
            }
            CodiceFiscaleError::Month(m) => {
                format!("Codice fiscale: la lettera del mese ({m}) non esiste.")
            }
            CodiceFiscaleError::Day(d) => {
                format!("Codice fiscale: il giorno {d:02} non è valido.")
            }
            CodiceFiscaleError::Check { .. } => {
                "Codice fiscale: il carattere di controllo non corrisponde; verificare la digitazione."
                    .into()
            }
        },
    }
}

/// Problems by field id.
pub type FieldErrors = BTreeMap<String, FieldProblem>;

/// How far an application is from being sendable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Completeness {
    /// "da completare": these fields are missing or wrong.
    ToComplete(FieldErrors),
    /// "pronta per l'invio".
    Ready,
}

/// What the checks need from outside.
#[derive(Debug, Clone, Copy)]
pub struct CheckContext<'a> {
    pub today: Date,
    pub calendar: &'a Calendar,
}

impl ApplicationModel {
    pub fn page(&self, id: &str) -> Option<&Page> {
        self.pages.iter().find(|p| p.id == id)
    }

    pub fn fields(&self) -> impl Iterator<Item = &Field> + Clone {
        self.pages.iter().flat_map(|p| p.fields.iter())
    }

    /// The checks of one page, run when it is saved: the fields typed there
    /// (an empty required field is reported too, so the page shows it), and
    /// the rules that flag a field of this page.
    pub fn check_page(&self, page: &Page, answers: &Answers, cx: CheckContext<'_>) -> FieldErrors {
        self.errors(page.fields.iter(), answers, cx)
    }

    /// Every field and rule: may this application be marked ready?
    pub fn completeness(&self, answers: &Answers, cx: CheckContext<'_>) -> Completeness {
        let errors = self.errors(self.fields(), answers, cx);
        if errors.is_empty() {
            Completeness::Ready
        } else {
            Completeness::ToComplete(errors)
        }
    }

    /// The problems of `fields`, and of the rules that flag one of them.
    fn errors<'a>(
        &self,
        fields: impl Iterator<Item = &'a Field> + Clone,
        answers: &Answers,
        cx: CheckContext<'_>,
    ) -> FieldErrors {
        let mut errors: FieldErrors = fields
            .clone()
            .filter_map(|f| f.check(answers, cx).map(|p| (f.id.clone(), p)))
            .collect();
        for rule in &self.rules {
            if let Some((field, problem)) = rule.check(answers)
                && fields.clone().any(|f| f.id == field)
            {
                errors.entry(field).or_insert(problem);
            }
        }
        errors
    }

    /// A model that cannot work (a rule naming a missing field, two fields
    /// with one id, a choice without options) is refused at configuration
    /// time, with the reason.
    pub fn validate(&self) -> Result<(), String> {
        let mut seen = std::collections::BTreeSet::new();
        if self.pages.is_empty() {
            return Err(format!("model {}: no pages", self.category));
        }
        for field in self.fields() {
            if !seen.insert(field.id.as_str()) {
                return Err(format!("model {}: field {} twice", self.category, field.id));
            }
            match &field.kind {
                FieldKind::Choice { options } if options.is_empty() => {
                    return Err(format!(
                        "model {}: choice {} has no options",
                        self.category, field.id
                    ));
                }
                FieldKind::Integer { min, max } if min > max => {
                    return Err(format!(
                        "model {}: {} has min > max",
                        self.category, field.id
                    ));
                }
                _ => {}
            }
        }
        // The quota province travels in the signed body: every model asks it.
        if !self
            .fields()
            .any(|f| f.id == QUOTA_PROVINCE && f.kind == FieldKind::Province && f.required)
        {
            return Err(format!(
                "model {}: needs a required `{QUOTA_PROVINCE}` field of type province",
                self.category
            ));
        }
        for rule in &self.rules {
            let Rule::CodiceFiscaleMatchesBirth {
                codice_fiscale,
                birth_date,
                sex,
            } = rule;
            for id in [Some(codice_fiscale), Some(birth_date), sex.as_ref()]
                .into_iter()
                .flatten()
            {
                if !seen.contains(id.as_str()) {
                    return Err(format!(
                        "model {}: a rule names unknown field {id}",
                        self.category
                    ));
                }
            }
        }
        Ok(())
    }
}

impl Field {
    /// The problem with this field's answer, if any; an empty optional
    /// field has none.
    fn check(&self, answers: &Answers, cx: CheckContext<'_>) -> Option<FieldProblem> {
        let value = answers.get(&self.id).map_or("", |v| v.trim());
        if value.is_empty() {
            return self.required.then_some(FieldProblem::Required);
        }
        match &self.kind {
            FieldKind::Text { max_len } => (value.chars().count() > *max_len)
                .then_some(FieldProblem::TooLong { max: *max_len }),
            FieldKind::CodiceFiscale => CodiceFiscale::parse(value)
                .err()
                .map(FieldProblem::CodiceFiscale),
            FieldKind::Date { not_after_today } => match value.parse::<Date>() {
                Err(_) => Some(FieldProblem::NotADate),
                Ok(d) if *not_after_today && d > cx.today => Some(FieldProblem::InTheFuture),
                Ok(_) => None,
            },
            FieldKind::Province => (!cx.calendar.knows_province(&value.to_ascii_uppercase()))
                .then_some(FieldProblem::UnknownProvince),
            FieldKind::Email => (!looks_like_email(value)).then_some(FieldProblem::NotAnEmail),
            FieldKind::Integer { min, max } => match value.parse::<i64>() {
                Err(_) => Some(FieldProblem::NotAnInteger),
                Ok(n) if n < *min || n > *max => Some(FieldProblem::OutOfRange {
                    min: *min,
                    max: *max,
                }),
                Ok(_) => None,
            },
            FieldKind::Choice { options } => {
                (!options.iter().any(|o| o.value == value)).then_some(FieldProblem::NotAnOption)
            }
        }
    }
}

impl Rule {
    /// The field to mark and why, when the rule is broken. A rule whose
    /// fields are not yet (validly) filled in says nothing: the fields'
    /// own checks speak for them.
    fn check(&self, answers: &Answers) -> Option<(String, FieldProblem)> {
        let Rule::CodiceFiscaleMatchesBirth {
            codice_fiscale,
            birth_date,
            sex,
        } = self;
        let get = |id: &str| answers.get(id).map(|v| v.trim()).filter(|v| !v.is_empty());
        let Ok(CodiceFiscale::Person(person)) = CodiceFiscale::parse(get(codice_fiscale)?) else {
            return None;
        };
        let born: Date = get(birth_date)?.parse().ok()?;
        let female = match sex.as_deref().and_then(get) {
            Some("F") => Some(true),
            Some("M") => Some(false),
            _ => None,
        };
        let agrees = person.agrees_with(
            i32::from(born.year()),
            born.month() as u32,
            born.day() as u32,
            female,
        );
        (!agrees).then(|| (birth_date.clone(), FieldProblem::DisagreesWithCodiceFiscale))
    }
}

/// One `@`, something before it, a dot in the domain, no spaces: the
/// confirmation email is the real test.
pub fn looks_like_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !s.chars().any(char::is_whitespace)
        && s.len() <= 254
}

#[cfg(test)]
mod tests;
