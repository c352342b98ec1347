//! What a run measured, recorded as it happens: HDR histograms, counts per
//! status and problem code, resends by cause, a 100 ms timeline and
//! one-second latency windows, and every acknowledged submission.

use hdrhistogram::Histogram;
use std::collections::BTreeMap;

/// Width of a timeline bucket.
pub const BUCKET_NANOS: u64 = 100_000_000;
/// Width of a latency window.
pub const WINDOW_NANOS: u64 = 1_000_000_000;
/// A send that starts later than this after its intended instant is late.
pub const LATE_AFTER_NANOS: u64 = 5_000_000;

/// Microsecond histograms from 1 µs to 1 hour with 3 significant digits.
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid histogram bounds")
}

pub(crate) fn micros(nanos: u64) -> u64 {
    (nanos / 1_000).clamp(1, 3_600_000_000)
}

/// Why a request was sent again.
#[derive(Debug, Clone, Copy)]
pub enum Resend {
    /// `503 unavailable`, after its Retry-After.
    Unavailable,
    /// `429 rate_limited`, after its Retry-After.
    RateLimited,
    /// No answer within the timeout.
    Timeout,
    /// The connection failed; sent again on a new one.
    Connection,
}

/// How a request ended.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// 202 or 200: the gateway holds it durably.
    Acknowledged {
        status: u16,
        submission_id: String,
        /// Unix nanoseconds.
        received_at: u64,
        duplicate: bool,
    },
    /// 202 or 200 as it came: its body is read when the run is over
    /// ([`Recorder::settle`]) and becomes `Acknowledged` or, if it is not
    /// an acknowledgement, `Refused`. Reading one was about a quarter of
    /// loadgen's own work per request, better not spent while measuring.
    Answered { status: u16, body: Box<[u8]> },
    /// A final refusal, with its problem code if the body carried one.
    Refused { status: u16, code: Option<String> },
    /// Resent `max_attempts` times without a final answer.
    GaveUp,
}

/// One acknowledged submission, kept for the audit.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Ack {
    pub submission_id: String,
    /// The arrival instant the gateway kept, Unix nanoseconds (RFC 3339 in
    /// the report: numbers while running, text only when written).
    #[serde(with = "rfc3339")]
    pub received_at: u64,
    pub duplicate: bool,
    /// When its first attempt was sent (this machine's clock): what its
    /// place should follow.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "rfc3339_option"
    )]
    pub first_sent_at: Option<u64>,
}

/// Unix nanoseconds as RFC 3339 text with nanoseconds, both ways.
mod rfc3339 {
    use serde::{Deserialize as _, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(at: &u64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&clickday_core::time::format_rfc3339_nanos(*at))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        let text = std::borrow::Cow::<str>::deserialize(d)?;
        clickday_core::time::parse_rfc3339(&text).map_err(serde::de::Error::custom)
    }
}

mod rfc3339_option {
    use serde::{Deserialize as _, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(at: &Option<u64>, s: S) -> Result<S::Ok, S::Error> {
        match at {
            Some(at) => super::rfc3339::serialize(at, s),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
        let text = Option::<std::borrow::Cow<'_, str>>::deserialize(d)?;
        text.map(|t| clickday_core::time::parse_rfc3339(&t).map_err(serde::de::Error::custom))
            .transpose()
    }
}

/// Admission tickets (PROTOCOL v1.1) seen in a run.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Tickets {
    /// `503` answers that carried a ticket.
    pub received: u64,
    /// Resends that carried one.
    pub resent_with: u64,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Resends {
    pub unavailable: u64,
    pub rate_limited: u64,
    pub timeout: u64,
    pub connection: u64,
}

/// Accumulates a run's measurements; shared behind a mutex, touched briefly.
#[derive(Debug)]
pub struct Recorder {
    /// Intended send instant → final answer, resends and waits included.
    pub latency: Histogram<u64>,
    /// Actual send → answer, per attempt.
    pub service: Histogram<u64>,
    /// First attempt's actual send − intended instant.
    pub start_skew: Histogram<u64>,
    /// First attempt's actual send → the `received_at` finally kept: how
    /// far overload moved an application's place (tickets keep it small).
    pub stamp_lag: Histogram<u64>,
    pub tickets: Tickets,
    /// Keyed by the number: counting an answer allocates nothing.
    pub statuses: BTreeMap<u16, u64>,
    pub problems: BTreeMap<String, u64>,
    pub resends: Resends,
    pub attempts: u64,
    pub late_sends: u64,
    pub gave_up: u64,
    pub transport_errors: BTreeMap<String, u64>,
    pub acks: Vec<Ack>,
    /// Answers to read when the run is over: (answer, timeline bucket,
    /// first attempt's Unix nanoseconds).
    unread: Vec<(Outcome, usize, Option<u64>)>,
    /// Attempts started per 100 ms bucket.
    pub sent: Vec<u64>,
    /// Acknowledgements per bucket.
    pub acknowledged: Vec<u64>,
    /// Final refusals and give-ups per bucket.
    pub failed: Vec<u64>,
    /// Latency (from intended) of the answers in each one-second window.
    pub windows: Vec<Histogram<u64>>,
    /// Nanoseconds after the epoch when the run started (the gate opened).
    origin: u64,
    pub last_answer: u64,
}

impl Recorder {
    /// For a run of `jobs` applications: their acknowledgements' room is
    /// set aside now, so the run never stops to copy a grown list.
    pub fn new(origin: u64, jobs: usize) -> Recorder {
        Recorder {
            latency: histogram(),
            service: histogram(),
            start_skew: histogram(),
            stamp_lag: histogram(),
            tickets: Tickets::default(),
            statuses: BTreeMap::new(),
            problems: BTreeMap::new(),
            resends: Resends::default(),
            attempts: 0,
            late_sends: 0,
            gave_up: 0,
            transport_errors: BTreeMap::new(),
            acks: Vec::new(),
            unread: Vec::with_capacity(jobs),
            sent: Vec::new(),
            acknowledged: Vec::new(),
            failed: Vec::new(),
            windows: Vec::new(),
            origin,
            last_answer: origin,
        }
    }

    /// An attempt starts at `at`; for a first attempt, `intended` is when it
    /// should have.
    pub fn attempt(&mut self, at: u64, first_of: Option<u64>) {
        self.attempts += 1;
        let bucket = self.bucket(at);
        bump(&mut self.sent, bucket);
        if let Some(intended) = first_of {
            let skew = at.saturating_sub(intended);
            let _ = self.start_skew.record(micros(skew));
            if skew > LATE_AFTER_NANOS {
                self.late_sends += 1;
            }
        }
    }

    /// An attempt got an answer after `service` nanoseconds.
    pub fn answer(&mut self, status: u16, service: u64) {
        let _ = self.service.record(micros(service));
        *self.statuses.entry(status).or_default() += 1;
    }

    pub fn resend(&mut self, why: Resend) {
        let r = &mut self.resends;
        match why {
            Resend::Unavailable => r.unavailable += 1,
            Resend::RateLimited => r.rate_limited += 1,
            Resend::Timeout => r.timeout += 1,
            Resend::Connection => r.connection += 1,
        }
    }

    pub fn transport_error(&mut self, what: &str) {
        *self.transport_errors.entry(what.to_string()).or_default() += 1;
    }

    /// A request ended at `at` (nanoseconds after the epoch); its first
    /// attempt was sent at `first_sent_unix` (Unix nanoseconds), if it was.
    pub fn finish(
        &mut self,
        outcome: Outcome,
        intended: u64,
        at: u64,
        first_sent_unix: Option<u64>,
    ) {
        let bucket = self.bucket(at);
        match outcome {
            Outcome::Answered { .. } => self.unread.push((outcome, bucket, first_sent_unix)),
            _ => self.conclude(outcome, bucket, first_sent_unix),
        }
        let latency = micros(at.saturating_sub(intended));
        let _ = self.latency.record(latency);
        let window = (at.saturating_sub(self.origin) / WINDOW_NANOS) as usize;
        while self.windows.len() <= window {
            self.windows.push(histogram());
        }
        let _ = self.windows[window].record(latency);
        self.last_answer = self.last_answer.max(at);
    }

    /// Reads the answers kept as they came (see [`Outcome::Answered`]).
    pub fn settle(&mut self) {
        let unread = std::mem::take(&mut self.unread);
        self.acks.reserve(unread.len());
        for (answer, bucket, first_sent_unix) in unread {
            self.conclude(answer, bucket, first_sent_unix);
        }
    }

    /// Counts a final outcome in its timeline bucket, and keeps its ack.
    fn conclude(&mut self, outcome: Outcome, bucket: usize, first_sent_unix: Option<u64>) {
        match outcome {
            Outcome::Acknowledged {
                submission_id,
                received_at,
                duplicate,
                ..
            } => {
                bump(&mut self.acknowledged, bucket);
                if let Some(first) = first_sent_unix {
                    let _ = self
                        .stamp_lag
                        .record(micros(received_at.saturating_sub(first)));
                }
                self.acks.push(Ack {
                    submission_id,
                    received_at,
                    duplicate,
                    first_sent_at: first_sent_unix,
                });
            }
            Outcome::Refused { code, .. } => {
                bump(&mut self.failed, bucket);
                if let Some(code) = code {
                    *self.problems.entry(code).or_default() += 1;
                }
            }
            Outcome::GaveUp => {
                bump(&mut self.failed, bucket);
                self.gave_up += 1;
            }
            Outcome::Answered { status, body } => {
                let outcome = read_answer(status, &body);
                self.conclude(outcome, bucket, first_sent_unix);
            }
        }
    }

    fn bucket(&self, at: u64) -> usize {
        (at.saturating_sub(self.origin) / BUCKET_NANOS) as usize
    }
}

/// A 200 or 202 answer's body: an acknowledgement only if it reads as
/// one (a client must never take garbage for one).
fn read_answer(status: u16, body: &[u8]) -> Outcome {
    match clickday_core::Acknowledgement::parse(body) {
        Ok(a) => Outcome::Acknowledged {
            status,
            received_at: a.received_at,
            submission_id: a.submission_id,
            duplicate: a.duplicate,
        },
        Err(_) => Outcome::Refused {
            status,
            code: Some(format!("unreadable-{status}-answer")),
        },
    }
}

fn bump(series: &mut Vec<u64>, index: usize) {
    if series.len() <= index {
        series.resize(index + 1, 0);
    }
    series[index] += 1;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_read_after_the_run_and_never_trusted() {
        let origin = 1_000;
        let mut r = Recorder::new(origin, 2);
        let answered = |body: &[u8]| Outcome::Answered {
            status: 202,
            body: body.into(),
        };
        let ok = br#"{"submission_id":"x","received_at":"2026-01-01T00:00:00.000000001Z","status":"queued","duplicate":true}"#;
        let first_sent = 1_767_225_599_000_000_000; // a second before the stamp
        r.finish(answered(ok), origin, origin + 5, Some(first_sent));
        r.finish(answered(b"<html>"), origin, origin + 6, Some(first_sent));
        assert!(r.acks.is_empty(), "nothing is read while the run goes on");
        assert_eq!(r.latency.len(), 2, "but the latencies are recorded");
        r.settle();
        assert_eq!(r.acks.len(), 1);
        assert_eq!(r.acks[0].submission_id, "x");
        assert!(r.acks[0].duplicate);
        assert_eq!(r.acks[0].first_sent_at, Some(first_sent));
        assert_eq!(r.stamp_lag.len(), 1);
        assert_eq!(
            (
                r.acknowledged.iter().sum::<u64>(),
                r.failed.iter().sum::<u64>()
            ),
            (1, 1)
        );
        assert_eq!(r.problems["unreadable-202-answer"], 1);
        r.settle();
        assert_eq!(r.acks.len(), 1, "settling twice reads nothing twice");
    }
}
