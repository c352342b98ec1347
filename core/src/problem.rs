//! The refusal reasons of PROTOCOL.md, each mapped to exactly one HTTP
//! status and one `code`, in this one place.

use serde::Serialize;

/// An admission ticket as a `503` hands it out: its text (the
/// `Clickday-Ticket` header) and, for people, what it keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedTicket {
    pub text: String,
    /// The arrival instant the ticket keeps (Unix nanoseconds).
    pub received_at: u64,
    /// When the ticket stops being honoured (Unix nanoseconds).
    pub expires_at: u64,
}

/// A refusal, in the order PROTOCOL.md checks them. Client faults are 4xx;
/// only [`Problem::Unavailable`] is the server's own fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    /// Per-client-IP or per-key limit exceeded; retry after this many seconds.
    #[error("rate limit exceeded, retry after {retry_after_secs} s")]
    RateLimited { retry_after_secs: u64 },
    /// The body exceeded the configured limit (in bytes).
    #[error("body exceeds {limit} bytes")]
    TooLarge { limit: usize },
    /// The `Content-Type` is not `application/json`.
    #[error("content type must be application/json")]
    UnsupportedMediaType,
    /// `Clickday-Key` missing, unknown or revoked.
    #[error("{0}")]
    UnknownKey(String),
    /// Signature missing, undecodable or not valid for the body.
    #[error("{0}")]
    BadSignature(String),
    /// Not a JSON object, or a field missing, ill-typed or breaking its rule.
    #[error("{0}")]
    Malformed(String),
    /// `click_day` is not in the calendar.
    #[error("click day {0:?} is not in the calendar")]
    UnknownClickDay(String),
    /// `category` is not a quota category of that click day.
    #[error("category {category:?} is not part of click day {click_day:?}")]
    UnknownCategory { click_day: String, category: String },
    /// `province` is not a province known to the configuration.
    #[error("province {0:?} is not known")]
    UnknownProvince(String),
    /// Sent before the click day opens (RFC 3339 opening instant).
    #[error("the click day opens at {opens_at}")]
    TooEarly { opens_at: String },
    /// Sent at or after the click day closes.
    #[error("the click day closed at {closes_at}")]
    Closed { closes_at: String },
    /// The same account already sent this `application_id` with other bytes.
    #[error("application {0:?} was already accepted with different content")]
    Conflict(String),
    /// The queue cannot make the submission durable now. When its body was
    /// read and stamped, the answer carries an admission ticket that keeps
    /// the stamp for the resend.
    #[error("the submission could not be made durable; resend the same bytes later")]
    Unavailable {
        retry_after_secs: u64,
        ticket: Option<Box<IssuedTicket>>,
    },
    /// A `Clickday-Ticket` this deployment did not issue, or issued for
    /// another key or other bytes.
    #[error("{0}")]
    BadTicket(String),
    /// The body did not arrive completely within the read timeout.
    #[error("the request body did not arrive within {secs} s")]
    BodyTimeout { secs: u64 },
    /// No such endpoint.
    #[error("no such resource")]
    NotFound,
    /// The endpoint exists but not for this method.
    #[error("method not allowed")]
    MethodNotAllowed,
}

impl Problem {
    pub fn status(&self) -> u16 {
        match self {
            Problem::RateLimited { .. } => 429,
            Problem::TooLarge { .. } => 413,
            Problem::UnsupportedMediaType => 415,
            Problem::UnknownKey(_) | Problem::BadSignature(_) => 401,
            Problem::Malformed(_) | Problem::BadTicket(_) => 400,
            Problem::UnknownClickDay(_) | Problem::NotFound => 404,
            Problem::UnknownCategory { .. } | Problem::UnknownProvince(_) => 422,
            Problem::TooEarly { .. } => 425,
            Problem::Closed { .. } => 403,
            Problem::Conflict(_) => 409,
            Problem::Unavailable { .. } => 503,
            Problem::BodyTimeout { .. } => 408,
            Problem::MethodNotAllowed => 405,
        }
    }

    /// The stable machine-readable `code` clients switch on.
    pub fn code(&self) -> &'static str {
        match self {
            Problem::RateLimited { .. } => "rate_limited",
            Problem::TooLarge { .. } => "too_large",
            Problem::UnsupportedMediaType => "unsupported_media_type",
            Problem::UnknownKey(_) => "unknown_key",
            Problem::BadSignature(_) => "bad_signature",
            Problem::Malformed(_) => "malformed",
            Problem::BadTicket(_) => "bad_ticket",
            Problem::UnknownClickDay(_) => "unknown_click_day",
            Problem::UnknownCategory { .. } => "unknown_category",
            Problem::UnknownProvince(_) => "unknown_province",
            Problem::TooEarly { .. } => "too_early",
            Problem::Closed { .. } => "closed",
            Problem::Conflict(_) => "conflict",
            Problem::Unavailable { .. } => "unavailable",
            Problem::BodyTimeout { .. } => "timeout",
            Problem::NotFound => "not_found",
            Problem::MethodNotAllowed => "method_not_allowed",
        }
    }

    pub fn title(&self) -> &'static str {
        match self {
            Problem::RateLimited { .. } => "Too many requests",
            Problem::TooLarge { .. } => "Body too large",
            Problem::UnsupportedMediaType => "Unsupported media type",
            Problem::UnknownKey(_) => "Unknown key",
            Problem::BadSignature(_) => "Bad signature",
            Problem::Malformed(_) => "Malformed application",
            Problem::BadTicket(_) => "Bad admission ticket",
            Problem::UnknownClickDay(_) => "Unknown click day",
            Problem::UnknownCategory { .. } => "Unknown category",
            Problem::UnknownProvince(_) => "Unknown province",
            Problem::TooEarly { .. } => "Too early",
            Problem::Closed { .. } => "Click day closed",
            Problem::Conflict(_) => "Conflicting resend",
            Problem::Unavailable { .. } => "Temporarily unavailable",
            Problem::BodyTimeout { .. } => "Request timeout",
            Problem::NotFound => "Not found",
            Problem::MethodNotAllowed => "Method not allowed",
        }
    }

    /// The admission ticket a `503` carries, if any.
    pub fn ticket(&self) -> Option<&IssuedTicket> {
        match self {
            Problem::Unavailable {
                ticket: Some(ticket),
                ..
            } => Some(ticket),
            _ => None,
        }
    }

    /// Seconds for the `Retry-After` header, where the protocol asks for one.
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            Problem::RateLimited { retry_after_secs }
            | Problem::Unavailable {
                retry_after_secs, ..
            } => Some(*retry_after_secs),
            _ => None,
        }
    }

    /// The RFC 9457 document, serialised.
    pub fn to_json(&self) -> Vec<u8> {
        #[derive(Serialize)]
        struct Document<'a> {
            #[serde(rename = "type")]
            kind: &'static str,
            title: &'static str,
            status: u16,
            code: &'static str,
            detail: String,
            #[serde(skip_serializing_if = "Option::is_none")]
            opens_at: Option<&'a str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            retry_after: Option<u64>,
            #[serde(skip_serializing_if = "Option::is_none")]
            ticket: Option<&'a str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            received_at: Option<String>,
            #[serde(skip_serializing_if = "Option::is_none")]
            ticket_expires_at: Option<String>,
        }
        let opens_at = match self {
            Problem::TooEarly { opens_at } => Some(opens_at.as_str()),
            _ => None,
        };
        let ticket = self.ticket();
        let document = Document {
            kind: "about:blank",
            title: self.title(),
            status: self.status(),
            code: self.code(),
            detail: self.to_string(),
            opens_at,
            retry_after: self.retry_after_secs(),
            ticket: ticket.map(|t| t.text.as_str()),
            received_at: ticket.map(|t| crate::time::format_rfc3339_nanos(t.received_at)),
            ticket_expires_at: ticket.map(|t| crate::time::format_rfc3339_nanos(t.expires_at)),
        };
        serde_json::to_vec(&document).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn too_early_carries_opens_at() {
        let problem = Problem::TooEarly {
            opens_at: "2011-01-31T07:00:00.000000000Z".into(),
        };
        let doc: serde_json::Value = serde_json::from_slice(&problem.to_json()).unwrap();
        assert_eq!(doc["status"], 425);
        assert_eq!(doc["code"], "too_early");
        assert_eq!(doc["type"], "about:blank");
        assert_eq!(doc["opens_at"], "2011-01-31T07:00:00.000000000Z");
    }

    #[test]
    fn only_unavailable_is_a_server_fault() {
        let all = [
            Problem::RateLimited {
                retry_after_secs: 1,
            },
            Problem::TooLarge { limit: 1 },
            Problem::UnsupportedMediaType,
            Problem::UnknownKey(String::new()),
            Problem::BadSignature(String::new()),
            Problem::Malformed(String::new()),
            Problem::BadTicket(String::new()),
            Problem::UnknownClickDay(String::new()),
            Problem::UnknownProvince(String::new()),
            Problem::Conflict(String::new()),
            Problem::BodyTimeout { secs: 1 },
        ];
        assert!(all.iter().all(|p| (400..500).contains(&p.status())));
        assert_eq!(
            Problem::Unavailable {
                retry_after_secs: 1,
                ticket: None,
            }
            .status(),
            503
        );
    }
}
