//! Arrival stamps and submission ids.
//!
//! A stamp is the gateway's UTC wall clock in nanoseconds when the complete
//! body was read. Within one gateway stamps strictly increase even when the
//! system clock steps back, so (stamp, node) is unique and orders arrivals.

use crate::time::format_rfc3339_nanos;
use std::fmt;
use std::sync::Mutex;

/// When and where a submission arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ArrivalStamp {
    /// Nanoseconds since the Unix epoch, UTC.
    pub unix_nanos: u64,
    /// The configured `node_id` of the gateway that stamped it.
    pub node: u16,
    /// The gateway's own counter, increasing with `unix_nanos`.
    pub seq: u64,
}

impl ArrivalStamp {
    /// The RFC 3339 `received_at` the protocol answers with.
    pub fn received_at(&self) -> String {
        format_rfc3339_nanos(self.unix_nanos)
    }

    /// The id is derived from the stamp, so it is unique across gateways
    /// (through `node`) and sorts by arrival within one gateway.
    pub fn submission_id(&self) -> SubmissionId {
        SubmissionId::new(self.unix_nanos, self.node)
    }
}

/// `YYYYMMDDTHHMMSSnnnnnnnnnZ-NNNNN`: the UTC arrival instant to the
/// nanosecond, then the gateway node; 31 URL-safe characters that a person
/// can read over the phone to the help desk.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SubmissionId(String);

impl SubmissionId {
    pub fn new(unix_nanos: u64, node: u16) -> Self {
        let rfc = format_rfc3339_nanos(unix_nanos);
        // rfc: 2011-01-31T07:00:00.051234567Z
        let compact: String = rfc
            .chars()
            .filter(|c| !matches!(c, '-' | ':' | '.'))
            .collect();
        SubmissionId(format!("{compact}-{node:05}"))
    }

    /// Accepts an id that came back from storage; it is not re-validated.
    pub fn from_stored(id: String) -> Self {
        SubmissionId(id)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SubmissionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for SubmissionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SubmissionId({})", self.0)
    }
}

/// Hands out strictly increasing stamps for one gateway.
#[derive(Debug)]
pub struct Stamper {
    node: u16,
    /// (last stamp handed out, last sequence number); one lock keeps the
    /// two in step, and it is held for a few instructions only.
    last: Mutex<(u64, u64)>,
}

impl Stamper {
    /// `floor` is the highest stamp this node is known to have issued before
    /// (e.g. read back from the queue at start), so that a clock that went
    /// back across a restart still cannot repeat an id.
    pub fn new(node: u16, floor: u64) -> Self {
        Stamper {
            node,
            last: Mutex::new((floor, 0)),
        }
    }

    pub fn node(&self) -> u16 {
        self.node
    }

    /// Stamps an arrival seen at `wall_nanos` on the system clock.
    pub fn stamp(&self, wall_nanos: u64) -> ArrivalStamp {
        let mut last = self
            .last
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let unix_nanos = wall_nanos.max(last.0 + 1);
        *last = (unix_nanos, last.1 + 1);
        ArrivalStamp {
            unix_nanos,
            node: self.node,
            seq: last.1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_strictly_increase_even_when_the_clock_steps_back() {
        let stamper = Stamper::new(3, 0);
        let a = stamper.stamp(1_000);
        let b = stamper.stamp(1_000);
        let c = stamper.stamp(500);
        let d = stamper.stamp(2_000);
        assert_eq!(
            [a.unix_nanos, b.unix_nanos, c.unix_nanos, d.unix_nanos],
            [1_000, 1_001, 1_002, 2_000]
        );
        assert_eq!([a.seq, b.seq, c.seq, d.seq], [1, 2, 3, 4]);
        assert!(a.submission_id() < b.submission_id());
        assert!(c.submission_id() < d.submission_id());
    }

    #[test]
    fn floor_survives_a_restart_with_a_late_clock() {
        let stamper = Stamper::new(1, 5_000);
        assert_eq!(stamper.stamp(10).unix_nanos, 5_001);
    }

    #[test]
    fn ids_are_readable_url_safe_and_name_the_node() {
        let id = SubmissionId::new(1_296_457_200_051_234_567, 12);
        assert_eq!(id.as_str(), "20110131T070000051234567Z-00012");
        assert!(id.as_str().len() <= 40);
        assert!(
            id.as_str()
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        );
        assert_ne!(id, SubmissionId::new(1_296_457_200_051_234_567, 13));
    }

    #[test]
    fn ids_sort_like_stamps_across_digit_boundaries() {
        let stamps = [
            999_999_999u64,
            1_000_000_000,
            9_999_999_999_999_999,
            10_000_000_000_000_000_000,
        ];
        let ids: Vec<_> = stamps.iter().map(|&s| SubmissionId::new(s, 1)).collect();
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(ids, sorted);
    }
}
