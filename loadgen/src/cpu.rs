//! loadgen's own CPU use over the measurement (from the start instant to
//! the last answer), and the whole machine's: a run whose loadgen had its
//! cores busy measured loadgen, not the gateway, and the report says so.
//!
//! Read from Linux's `/proc` (user and system time, in the kernel's fixed
//! USER_HZ of 100 ticks a second); elsewhere nothing is reported.

use serde::{Deserialize, Serialize};
use std::time::Instant;

/// Above this share of its cores busy, loadgen may have been the limit.
pub const SATURATED: f64 = 0.9;

/// USER_HZ: the unit of `/proc`'s CPU times on every Linux architecture.
const TICKS_PER_SECOND: f64 = 100.0;

/// CPU counters at one instant.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    at: Instant,
    /// This process's user + system ticks.
    process: u64,
    /// The machine's busy and total ticks, all CPUs.
    machine_busy: u64,
    machine_total: u64,
}

/// What a measurement window used.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct CpuUse {
    /// Wall-clock seconds measured.
    pub seconds: f64,
    /// Cores loadgen could use.
    pub cores: usize,
    /// Busy share of those cores, 0 to 1.
    pub loadgen_busy: f64,
    /// Busy share of all the machine's CPUs (loadgen and anything beside
    /// it, such as a gateway on the same machine), 0 to 1.
    pub machine_busy: f64,
}

impl CpuUse {
    /// Whether loadgen's cores were busier than [`SATURATED`].
    pub fn saturated(&self) -> bool {
        self.loadgen_busy > SATURATED
    }

    /// One line for the summary, with a warning when saturated.
    pub fn describe(&self) -> String {
        let mut line = format!(
            "loadgen CPU (its whole process): {:.0}% of its {} cores over {:.2} s (machine {:.0}% busy)",
            self.loadgen_busy * 100.0,
            self.cores,
            self.seconds,
            self.machine_busy * 100.0
        );
        if self.saturated() {
            line.push_str(
                " - WARNING: loadgen was saturated; the figures may show loadgen's limit, not the gateway's",
            );
        }
        line
    }
}

/// The counters now; `None` where `/proc` is not readable.
pub fn sample() -> Option<Sample> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let machine = std::fs::read_to_string("/proc/stat").ok()?;
    let (machine_busy, machine_total) = machine_ticks(&machine)?;
    Some(Sample {
        at: Instant::now(),
        process: process_ticks(&stat)?,
        machine_busy,
        machine_total,
    })
}

/// The use between two samples, for a process allowed `cores` cores.
pub fn between(start: &Sample, end: &Sample, cores: usize) -> CpuUse {
    let seconds = end.at.saturating_duration_since(start.at).as_secs_f64();
    let used = end.process.saturating_sub(start.process) as f64 / TICKS_PER_SECOND;
    let total = end.machine_total.saturating_sub(start.machine_total) as f64;
    let busy = end.machine_busy.saturating_sub(start.machine_busy) as f64;
    CpuUse {
        seconds,
        cores,
        loadgen_busy: if seconds > 0.0 {
            (used / (seconds * cores.max(1) as f64)).min(1.0)
        } else {
            0.0
        },
        machine_busy: if total > 0.0 { busy / total } else { 0.0 },
    }
}

/// utime + stime of `/proc/self/stat` (fields 14 and 15, counted after
/// the command name, which may hold spaces and parentheses).
fn process_ticks(stat: &str) -> Option<u64> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // After the name: state is field 3, so utime (14) is index 11.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// (busy, total) ticks of `/proc/stat`'s `cpu` line; idle and iowait are
/// the idle part.
fn machine_ticks(stat: &str) -> Option<(u64, u64)> {
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let values: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .take(8)
        .map(|v| v.parse().ok())
        .collect::<Option<_>>()?;
    let total: u64 = values.iter().sum();
    let idle = values.get(3)? + values.get(4).copied().unwrap_or(0);
    Some((total.saturating_sub(idle), total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_lines_are_read() {
        let stat = "4242 (clickday (loadgen)) R 1 2 3 4 5 6 7 8 9 10 250 75 0 0 20 0 8 0";
        assert_eq!(process_ticks(stat), Some(325));
        let machine = "cpu  100 5 50 800 20 0 5 0 0 0\ncpu0 50 2 25 400 10 0 3 0 0 0\n";
        assert_eq!(machine_ticks(machine), Some((160, 980)));
    }

    #[test]
    fn a_busy_loop_is_measured_as_busy() {
        let start = sample().expect("/proc on Linux");
        let began = Instant::now();
        let mut x = 0u64;
        while began.elapsed().as_millis() < 300 {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
        }
        std::hint::black_box(x);
        let end = sample().unwrap();
        let used = between(&start, &end, 1);
        // One core spun the whole time (ticks are 10 ms, and a loaded machine shares the core: allow for both).
        assert!(used.loadgen_busy > 0.25, "{used:?}");
        assert!(used.seconds >= 0.3, "{used:?}");
    }
}
