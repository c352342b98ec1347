//! Load shedding: at most `max_in_flight` submissions in progress; beyond
//! that an immediate 503 whose `Retry-After` grows with the crowd. A fixed
//! "1 s" told to 100,000 waiting clients brings them all back within the
//! second, and rejecting them alone then eats the CPU the admitted
//! submissions need (measured: 2.6 million sheds, 11,000 accepted in 70 s).
//! So the wait is the seconds it takes, at the rate submissions were
//! admitted in the last second, to serve those that were turned away.

use std::sync::Mutex;
use std::time::Instant;
use tokio::sync::{Semaphore, SemaphorePermit};

/// The longest `Retry-After` shedding asks for.
pub const MAX_RETRY_AFTER_SECS: u64 = 60;

pub(crate) struct Shedder {
    permits: Semaphore,
    /// `Retry-After` when the gateway is not overloaded.
    base_retry_after: u64,
    started: Instant,
    window: Mutex<Window>,
}

/// Admissions and sheds of the current and of the last whole second.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
struct Window {
    second: u64,
    admitted: u64,
    shed: u64,
    last_admitted: u64,
    last_shed: u64,
}

impl Window {
    fn roll(&mut self, second: u64) {
        if second != self.second {
            let consecutive = second == self.second + 1;
            self.last_admitted = if consecutive { self.admitted } else { 0 };
            self.last_shed = if consecutive { self.shed } else { 0 };
            self.second = second;
            self.admitted = 0;
            self.shed = 0;
        }
    }

    /// Seconds for the turned-away crowd to be served at the admitted rate.
    fn retry_after(&self, base: u64) -> u64 {
        let shed = self.last_shed.max(self.shed);
        let admitted = self.last_admitted.max(self.admitted).max(1);
        shed.div_ceil(admitted)
            .clamp(base, MAX_RETRY_AFTER_SECS.max(base))
    }
}

impl Shedder {
    pub fn new(max_in_flight: usize, base_retry_after: u64) -> Shedder {
        Shedder {
            permits: Semaphore::new(max_in_flight),
            base_retry_after,
            started: Instant::now(),
            window: Mutex::new(Window::default()),
        }
    }

    /// A permit for one submission, or the `Retry-After` to shed it with.
    pub fn admit(&self) -> Result<SemaphorePermit<'_>, u64> {
        let second = self.started.elapsed().as_secs();
        let permit = self.permits.try_acquire().ok();
        let mut window = self.window.lock().unwrap_or_else(|p| p.into_inner());
        window.roll(second);
        match permit {
            Some(permit) => {
                window.admitted += 1;
                Ok(permit)
            }
            None => {
                window.shed += 1;
                Err(window.retry_after(self.base_retry_after))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(second: u64, admitted: u64, shed: u64) -> Window {
        let mut w = Window::default();
        w.roll(second);
        w.admitted = admitted;
        w.shed = shed;
        w
    }

    #[test]
    fn the_wait_grows_with_the_crowd_turned_away() {
        // Last second: 5,000 admitted, 40,000 turned away: come back in 8 s.
        let mut w = window(3, 5_000, 40_000);
        w.roll(4);
        assert_eq!(w.retry_after(1), 8);
        // A light second keeps the configured wait.
        let mut w = window(3, 5_000, 10);
        w.roll(4);
        assert_eq!(w.retry_after(1), 1);
        // Nothing admitted at all still gives a bounded answer.
        assert_eq!(window(0, 0, 1_000_000).retry_after(1), MAX_RETRY_AFTER_SECS);
    }

    #[test]
    fn an_idle_gap_forgets_the_old_crowd() {
        let mut w = window(3, 10, 10_000);
        w.roll(9);
        assert_eq!((w.last_admitted, w.last_shed), (0, 0));
        assert_eq!(w.retry_after(2), 2);
    }

    #[test]
    fn permits_run_out_at_max_in_flight_and_come_back() {
        let shedder = Shedder::new(2, 1);
        let a = shedder.admit().unwrap();
        let _b = shedder.admit().unwrap();
        assert_eq!(shedder.admit().err(), Some(1));
        drop(a);
        assert!(shedder.admit().is_ok());
    }
}
