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
        check_sane(body)?;
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

/// How deep objects and arrays may nest (PROTOCOL v1.1); the body itself is
/// level 1.
pub const MAX_DEPTH: usize = 32;

/// PROTOCOL v1.1's sane-JSON rules over the whole body, in one pass: at most
/// [`MAX_DEPTH`] levels, every number a finite double, every string valid
/// Unicode (no lone surrogate escapes), no object with a key twice. What
/// passes can be stored, rendered and forwarded unchanged.
pub fn check_sane(body: &[u8]) -> Result<(), Problem> {
    use serde::de::DeserializeSeed as _;
    let mut reader = serde_json::Deserializer::from_slice(body);
    Sane { depth: 0 }
        .deserialize(&mut reader)
        .and_then(|()| reader.end())
        .map_err(|e| {
            let what = if e.is_syntax() || e.is_eof() {
                "body is not valid JSON"
            } else {
                "body is not sane JSON"
            };
            Problem::Malformed(format!("{what}: {e}"))
        })
}

/// A visitor that keeps nothing and refuses what PROTOCOL v1.1 forbids.
#[derive(Clone, Copy)]
struct Sane {
    /// Levels of objects and arrays around the value being read.
    depth: usize,
}

impl Sane {
    fn inner<E: serde::de::Error>(self) -> Result<Sane, E> {
        if self.depth >= MAX_DEPTH {
            return Err(E::custom(format_args!(
                "nested deeper than {MAX_DEPTH} levels"
            )));
        }
        Ok(Sane {
            depth: self.depth + 1,
        })
    }
}

impl<'de> serde::de::DeserializeSeed<'de> for Sane {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Sane {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("sane JSON")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<(), E> {
        if v.is_finite() {
            Ok(())
        } else {
            Err(E::custom("a number is not a finite double"))
        }
    }

    // serde_json has already refused invalid UTF-8 and lone surrogates.
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let inner = self.inner()?;
        while seq.next_element_seed(inner)?.is_some() {}
        Ok(())
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        use serde::de::Error as _;
        let inner = self.inner()?;
        let mut keys = std::collections::HashSet::new();
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            if !keys.insert(key.clone()) {
                return Err(A::Error::custom(format_args!("duplicate key {key:?}")));
            }
            map.next_value_seed(inner)?;
        }
        Ok(())
    }
}

/// Whether `id` is a valid `application_id` (`[A-Za-z0-9._-]{1,64}`): also
/// what makes it safe as a file name (no separator, never `.` or `..`).
pub fn is_application_id(id: &str) -> bool {
    check_token("application_id", id, 64).is_ok() && id != "." && id != ".."
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
    fn insane_json_is_malformed() {
        let with_data = |data: &str| GOOD.replace(r#"{"worker":"Ana"}"#, data);
        let nested = |levels: usize| "[".repeat(levels) + &"]".repeat(levels);
        // The body is level 1, `data` level 2: 30 more arrays reach 32.
        assert!(
            Application::parse(with_data(&format!(r#"{{"a":{}}}"#, nested(30))).as_bytes()).is_ok()
        );
        for (what, data) in [
            ("33 levels", format!(r#"{{"a":{}}}"#, nested(31))),
            ("5,000 levels", format!(r#"{{"a":{}}}"#, nested(5_000))),
            ("1e999999", r#"{"n":1e999999}"#.to_string()),
            (
                "a 400-digit integer",
                format!(r#"{{"n":{}}}"#, "9".repeat(400)),
            ),
            ("a lone surrogate", r#"{"s":"\ud800"}"#.to_string()),
            ("a key twice", r#"{"a":1,"b":{"c":1,"c":2}}"#.to_string()),
        ] {
            let body = with_data(&data);
            // Out-of-range numbers and bad escapes are syntax errors to the
            // parser; depth and repeated keys are the rules' own.
            assert!(
                detail(&body).contains(" JSON: "),
                "{what}: {:?}",
                Application::parse(body.as_bytes())
            );
        }
        // An unknown top-level field twice is refused too.
        assert!(
            detail(&GOOD.replace(r#""extra":[1]"#, r#""x":1,"x":2"#)).contains("duplicate key")
        );
        // Big but finite numbers and valid escapes pass unchanged.
        assert!(
            Application::parse(
                with_data(r#"{"n":1e308,"m":-12345678901234567890,"s":"\ud83d\ude00 \u00e8"}"#)
                    .as_bytes()
            )
            .is_ok()
        );
    }

    #[test]
    fn digest_is_over_exact_bytes() {
        assert_ne!(body_digest(b"{}"), body_digest(b"{ }"));
        assert_eq!(body_digest(b"{}"), body_digest(b"{}"));
    }
}
