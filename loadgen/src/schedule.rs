//! Arrival schedules for the open model: the intended send instant of every
//! request, fixed before the run, so a slow answer can never delay the next
//! arrival (the coordinated-omission trap) and a request the tool could not
//! send on time shows up as lateness instead of silently vanishing.
//!
//! Stages follow the convention SREs know from k6's ramping arrival rate:
//! `10s:1000,30s:20000,10s:0` ramps linearly from the previous rate (the
//! start rate, 0 by default) to 1,000/s over 10 s, then to 20,000/s over
//! 30 s, then down to 0 over 10 s. A stage of `0s` steps the rate at once.

use std::time::Duration;

/// One stage: reach `target_per_second` linearly over `duration`.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Stage {
    #[serde(with = "duration_ms")]
    pub duration: Duration,
    pub target_per_second: f64,
}

/// Parses `10s:1000,30s:20000,10s:0`.
pub fn parse_stages(text: &str) -> Result<Vec<Stage>, String> {
    let mut stages = Vec::new();
    for part in text.split(',') {
        let (duration, rate) = part
            .trim()
            .split_once(':')
            .ok_or_else(|| format!("stage {part:?} must be <duration>:<rate per second>"))?;
        let target_per_second: f64 = rate
            .trim()
            .parse()
            .ok()
            .filter(|r: &f64| r.is_finite() && *r >= 0.0)
            .ok_or_else(|| format!("rate {rate:?} in stage {part:?} is not a number >= 0"))?;
        stages.push(Stage {
            duration: parse_duration(duration)?,
            target_per_second,
        });
    }
    Ok(stages)
}

/// Parses `250ms`, `10s`, `2m`, `1h` (and `1.5s`).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let scale = match unit {
        "ms" => 0.001,
        "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        _ => return Err(format!("duration {text:?} needs a unit: ms, s, m or h")),
    };
    let value: f64 = number
        .parse()
        .map_err(|_| format!("duration {text:?} is not a number with a unit"))?;
    Duration::try_from_secs_f64(value * scale)
        .map_err(|_| format!("duration {text:?} is out of range"))
}

/// The intended send instants, in nanoseconds from the start, of every
/// arrival the stages produce: arrival k is due when the expected number of
/// arrivals so far reaches k.
pub fn arrivals(start_per_second: f64, stages: &[Stage]) -> Vec<u64> {
    let mut out = Vec::new();
    let mut elapsed = 0.0_f64; // seconds at the start of this stage
    let mut so_far = 0.0_f64; // expected arrivals before this stage
    let mut rate = start_per_second;
    for stage in stages {
        let d = stage.duration.as_secs_f64();
        let (r0, r1) = (rate, stage.target_per_second);
        let total = so_far + d * (r0 + r1) / 2.0;
        // Solve so_far + r0·x + (r1 − r0)/(2d)·x² = k for x in [0, d]; this
        // form of the root stays exact when the rate is flat or falls.
        let a = if d > 0.0 { (r1 - r0) / (2.0 * d) } else { 0.0 };
        let mut k = out.len() as f64;
        while k < total {
            let need = k - so_far;
            let root = (r0 * r0 + 4.0 * a * need).max(0.0).sqrt();
            let x = if r0 + root > 0.0 {
                2.0 * need / (r0 + root)
            } else {
                0.0
            };
            out.push(((elapsed + x.min(d)) * 1e9).round() as u64);
            k += 1.0;
        }
        so_far = total;
        elapsed += d;
        rate = r1;
    }
    out
}

/// Durations in the report as milliseconds.
pub(crate) mod duration_ms {
    use serde::{Deserialize as _, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis() as u64)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_millis(u64::deserialize(d)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_constant_rate_is_evenly_spaced() {
        let at = arrivals(1000.0, &parse_stages("2s:1000").unwrap());
        assert_eq!(at.len(), 2000);
        assert_eq!(at[0], 0);
        assert_eq!(at[1], 1_000_000);
        assert_eq!(at[1999], 1_999_000_000);
    }

    #[test]
    fn a_ramp_puts_a_quarter_of_its_arrivals_in_its_first_half() {
        let at = arrivals(0.0, &parse_stages("10s:1000").unwrap());
        assert_eq!(at.len(), 5000);
        let first_half = at.iter().filter(|t| **t < 5_000_000_000).count();
        assert!((1249..=1251).contains(&first_half), "{first_half}");
        assert!(at.windows(2).all(|w| w[0] <= w[1]));
        assert!(*at.last().unwrap() <= 10_000_000_000);
    }

    #[test]
    fn staged_runs_add_up_and_ramp_down() {
        let at = arrivals(0.0, &parse_stages("10s:1000,30s:20000,10s:0").unwrap());
        // 5,000 + 315,000 + 100,000
        assert_eq!(at.len(), 420_000);
        let last_stage = at.iter().filter(|t| **t >= 40_000_000_000).count();
        assert!((99_999..=100_001).contains(&last_stage), "{last_stage}");
        // The ramp down is front-loaded: 3/4 of it in its first half.
        let first_half = at
            .iter()
            .filter(|t| (40_000_000_000..45_000_000_000).contains(*t))
            .count();
        assert!((74_999..=75_001).contains(&first_half), "{first_half}");
    }

    #[test]
    fn a_zero_length_stage_steps_the_rate() {
        let at = arrivals(0.0, &parse_stages("0s:100,1s:100").unwrap());
        assert_eq!(at.len(), 100);
        assert_eq!(at[50], 500_000_000);
    }

    #[test]
    fn bad_stages_name_the_bad_value() {
        assert!(parse_stages("10:100").unwrap_err().contains("\"10\""));
        assert!(parse_stages("10s:fast").unwrap_err().contains("\"fast\""));
        assert!(parse_stages("10s").unwrap_err().contains("10s"));
        assert!(parse_stages("1s:-5").unwrap_err().contains("-5"));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
    }
}
