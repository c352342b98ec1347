//! Instants as nanoseconds since the Unix epoch, their RFC 3339 form and
//! their Europe/Rome form for people, and the one [`Clock`] of the
//! workspace.
//!
//! Stamps are `u64` nanoseconds: exact, cheap to compare, enough until 2554.

use jiff::Timestamp;
use std::sync::Arc;

/// The wall clock in Unix nanoseconds. Everything that reads the time is
/// handed one (gateway, persister, portal, the SQLite inbox), so tests can
/// stand at any instant of a click day without waiting for it. Stamps that
/// must never go back are made monotonic by [`crate::Stamper`], not here.
pub type Clock = Arc<dyn Fn() -> u64 + Send + Sync>;

/// The system's wall clock: the only place outside tests that reads it.
pub fn system_clock() -> Clock {
    Arc::new(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64)
    })
}

/// A clock that stands still at `unix_nanos`.
pub fn fixed_clock(unix_nanos: u64) -> Clock {
    Arc::new(move || unix_nanos)
}

/// The Italian civil time zone every user-facing instant is shown in.
fn rome() -> jiff::tz::TimeZone {
    jiff::tz::TimeZone::get("Europe/Rome").unwrap_or(jiff::tz::TimeZone::UTC)
}

/// An instant as a person in Italy reads it, to the millisecond, e.g.
/// `31/01/2011 08:00:00.051 CET` (receipts, portal, mini-client).
pub fn format_rome(unix_nanos: u64) -> String {
    let millis = (unix_nanos / 1_000_000) % 1_000;
    match Timestamp::from_nanosecond(i128::from(unix_nanos)) {
        Ok(ts) => {
            let zoned = ts.to_zoned(rome());
            format!(
                "{}.{millis:03} {}",
                zoned.strftime("%d/%m/%Y %H:%M:%S"),
                zoned.strftime("%Z")
            )
        }
        Err(_) => format_rfc3339_nanos(unix_nanos),
    }
}

/// An instant in Rome to the minute, e.g. `31/01/2011 08:00 CET` (help-desk
/// histories, back-office lists).
pub fn format_rome_minutes(unix_nanos: u64) -> String {
    match Timestamp::from_nanosecond(i128::from(unix_nanos)) {
        Ok(ts) => ts
            .to_zoned(rome())
            .strftime("%d/%m/%Y %H:%M %Z")
            .to_string(),
        Err(_) => format_rfc3339_nanos(unix_nanos),
    }
}

/// The calendar date in Rome at `unix_nanos` ("today" for the forms).
pub fn rome_date(unix_nanos: u64) -> jiff::civil::Date {
    Timestamp::from_nanosecond(i128::from(unix_nanos))
        .unwrap_or(Timestamp::UNIX_EPOCH)
        .to_zoned(rome())
        .date()
}

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
    fn rome_time_follows_winter_and_summer_time() {
        let winter = parse_rfc3339("2011-01-31T07:00:00.051234567Z").unwrap();
        assert_eq!(format_rome(winter), "31/01/2011 08:00:00.051 CET");
        let summer = parse_rfc3339("2024-07-01T22:30:00Z").unwrap();
        assert_eq!(format_rome(summer), "02/07/2024 00:30:00.000 CEST");
        assert_eq!(rome_date(summer).to_string(), "2024-07-02");
        assert_eq!(fixed_clock(summer)(), summer);
    }

    #[test]
    fn refuses_garbage_and_the_past() {
        assert!(parse_rfc3339("yesterday").is_err());
        assert!(parse_rfc3339("1969-12-31T23:59:59Z").is_err());
    }
}
