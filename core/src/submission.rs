//! The submission body: parsing and the field rules of PROTOCOL.md.

use crate::problem::Problem;
use serde::Deserialize;
use serde_json::value::RawValue;
use sha2::{Digest as _, Sha256};

/// A validated application, ready to be checked against the calendar.
/// `data` stays opaque: the gateway never interprets the compiled form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Application {
    pub application_id: String,
    pub click_day: String,
    pub category: String,
    pub province: String,
    pub form: String,
}

/// The wire shape; unknown top-level fields are ignored, duplicates refused.
#[derive(Deserialize)]
struct Wire<'a> {
    #[serde(borrow)]
    application_id: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    click_day: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    category: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    province: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    form: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    data: &'a RawValue,
}

impl Application {
    /// Parses and validates a body. Every refusal is [`Problem::Malformed`]
    /// with a detail naming the field at fault.
    pub fn parse(body: &[u8]) -> Result<Self, Problem> {
        let wire: Wire<'_> = serde_json::from_slice(body).map_err(|e| {
            let what = if e.is_syntax() || e.is_eof() {
                "body is not valid JSON"
            } else {
                "body is not a valid application"
            };
            Problem::Malformed(format!("{what}: {e}"))
        })?;
        check_token("application_id", &wire.application_id, 64)?;
        check_token("form", &wire.form, 32)?;
        if wire.click_day.is_empty() || wire.click_day.len() > 64 {
            return Err(Problem::Malformed(
                "click_day must be 1 to 64 characters".into(),
            ));
        }
        if wire.category.is_empty() || wire.category.len() > 64 {
            return Err(Problem::Malformed(
                "category must be 1 to 64 characters".into(),
            ));
        }
        let province = wire.province.as_bytes();
        if province.len() != 2 || !province.iter().all(u8::is_ascii_uppercase) {
            return Err(Problem::Malformed(
                "province must be two capital letters".into(),
            ));
        }
        if !wire.data.get().starts_with('{') {
            return Err(Problem::Malformed("data must be a JSON object".into()));
        }
        Ok(Application {
            application_id: wire.application_id.into_owned(),
            click_day: wire.click_day.into_owned(),
            category: wire.category.into_owned(),
            province: wire.province.into_owned(),
            form: wire.form.into_owned(),
        })
    }
}

/// `[A-Za-z0-9._-]{1,max}`.
fn check_token(field: &str, value: &str, max: usize) -> Result<(), Problem> {
    let ok = !value.is_empty()
        && value.len() <= max
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(Problem::Malformed(format!(
            "{field} must match [A-Za-z0-9._-]{{1,{max}}}"
        )))
    }
}

/// SHA-256 of the exact body bytes: what makes a resend "the same".
pub fn body_digest(body: &[u8]) -> [u8; 32] {
    Sha256::digest(body).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"{"application_id":"A-1.x_2","click_day":"2011-01-31","category":"lavoro-domestico","province":"RM","form":"LD.1","data":{"worker":"Ana"},"extra":[1]}"#;

    fn detail(body: &str) -> String {
        match Application::parse(body.as_bytes()) {
            Err(Problem::Malformed(d)) => d,
            other => panic!("expected malformed, got {other:?}"),
        }
    }

    #[test]
    fn accepts_a_valid_body_and_ignores_unknown_fields() {
        let app = Application::parse(GOOD.as_bytes()).unwrap();
        assert_eq!(app.application_id, "A-1.x_2");
        assert_eq!(app.province, "RM");
        assert_eq!(app.form, "LD.1");
    }

    #[test]
    fn names_the_field_at_fault() {
        assert!(detail(&GOOD.replace("\"RM\"", "\"rm\"")).contains("province"));
        assert!(detail(&GOOD.replace("A-1.x_2", "A 1")).contains("application_id"));
        assert!(detail(&GOOD.replace("LD.1", &"x".repeat(33))).contains("form"));
        assert!(detail(&GOOD.replace(r#"{"worker":"Ana"}"#, "[1]")).contains("data"));
        assert!(detail(&GOOD.replace(r#""form":"LD.1","#, "")).contains("form"));
        assert!(detail(&GOOD.replace(r#""RM""#, "7")).contains("invalid type"));
    }

    #[test]
    fn refuses_non_objects_garbage_and_duplicate_fields() {
        assert!(detail("[]").contains("not a valid application"));
        assert!(detail("\u{0}\u{1}garbage").contains("not valid JSON"));
        assert!(detail(r#"{"application_id":"a","application_id":"b"}"#).contains("duplicate"));
        assert!(Application::parse(&[0xff, 0xfe, b'{']).is_err());
    }

    #[test]
    fn digest_is_over_exact_bytes() {
        assert_ne!(body_digest(b"{}"), body_digest(b"{ }"));
        assert_eq!(body_digest(b"{}"), body_digest(b"{}"));
    }
}
