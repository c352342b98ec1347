//! Instants as nanoseconds since the Unix epoch, and their RFC 3339 form.
//!
//! Stamps are `u64` nanoseconds: exact, cheap to compare, enough until 2554.

use jiff::Timestamp;

/// Formats `unix_nanos` as RFC 3339 UTC with exactly nine fraction digits,
/// e.g. `2011-01-31T07:00:00.051234567Z`, as PROTOCOL.md requires.
pub fn format_rfc3339_nanos(unix_nanos: u64) -> String {
    let secs = (unix_nanos / 1_000_000_000) as i64;
    let nanos = unix_nanos % 1_000_000_000;
    let whole = Timestamp::from_second(secs).unwrap_or(Timestamp::MAX);
    format!("{}.{nanos:09}Z", whole.strftime("%Y-%m-%dT%H:%M:%S"))
}

/// Parses an RFC 3339 instant with any offset into Unix nanoseconds.
/// Instants before 1970 are refused: no click day happened then.
pub fn parse_rfc3339(text: &str) -> Result<u64, String> {
    let ts: Timestamp = text
        .parse()
        .map_err(|e| format!("{text:?} is not an RFC 3339 instant: {e}"))?;
    u64::try_from(ts.as_nanosecond()).map_err(|_| format!("{text:?} is before 1970"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_nine_digits_in_utc() {
        let nanos = parse_rfc3339("2011-01-31T08:00:00.051234567+01:00").unwrap();
        assert_eq!(
            format_rfc3339_nanos(nanos),
            "2011-01-31T07:00:00.051234567Z"
        );
        assert_eq!(format_rfc3339_nanos(0), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(
            format_rfc3339_nanos(1_296_457_200_000_000_001),
            "2011-01-31T07:00:00.000000001Z"
        );
    }

    #[test]
    fn refuses_garbage_and_the_past() {
        assert!(parse_rfc3339("yesterday").is_err());
        assert!(parse_rfc3339("1969-12-31T23:59:59Z").is_err());
    }
}
