//! Admission: stamp first, then hold the work, not the people.
//!
//! A submission is stamped the moment its whole body is held; only then
//! does it ask for room in the admission buffer, which is bounded by the
//! bytes it holds (`gateway.admission_buffer_bytes`), not by a count of
//! requests. A spike of small bodies is therefore held and served in
//! arrival order; when the buffer is full the answer is a `503` whose
//! admission ticket keeps the stamp (PROTOCOL v1.1), so overload never
//! decides a place. Nothing bounded is held while a body trickles in; what
//! one client address may have in reading at once is capped on its own
//! (`gateway.max_unread_bodies_per_ip`), and that refusal, before any byte
//! of the body, is the only `503` without a ticket.
//!
//! `Retry-After` grows with the crowd turned away: a fixed "1 s" told to
//! 100,000 clients brings them all back within the second, and refusing
//! them alone then eats the CPU the admitted ones need (measured: 2.6
//! million refusals, 11,000 accepted in 70 s). The wait is the seconds it
//! takes, at the rate submissions were admitted in the last second, to
//! serve those that were turned away.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Instant;
use tokio::sync::{Semaphore, SemaphorePermit};

/// The longest `Retry-After` shedding asks for.
pub const MAX_RETRY_AFTER_SECS: u64 = 60;

/// Bytes held per admitted submission beyond its body (headers, stamp,
/// the record being built): what a flood of empty bodies still costs.
pub const OVERHEAD_BYTES: usize = 1024;

pub(crate) struct Admission {
    /// One permit per byte of the admission buffer.
    bytes: Semaphore,
    /// One permit per submission held: what the queue must make durable
    /// within the enqueue timeout, or every held submission times out
    /// together (measured on 2026-11-26: 55,000 in flight collapsed the
    /// million burst, BENCHMARKS.md).
    held: Semaphore,
    /// The whole buffer: a submission larger than it is admitted alone.
    capacity: usize,
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

impl Admission {
    pub fn new(buffer_bytes: usize, max_held: usize, base_retry_after: u64) -> Admission {
        let capacity = buffer_bytes.min(Semaphore::MAX_PERMITS);
        Admission {
            bytes: Semaphore::new(capacity),
            held: Semaphore::new(max_held.clamp(1, Semaphore::MAX_PERMITS)),
            capacity,
            base_retry_after,
            started: Instant::now(),
            window: Mutex::new(Window::default()),
        }
    }

    /// Counts a refusal made before the body (an address at its cap of
    /// unread bodies) and returns its `Retry-After`.
    pub fn shed(&self) -> u64 {
        let second = self.started.elapsed().as_secs();
        let mut window = self.window.lock().unwrap_or_else(|p| p.into_inner());
        window.roll(second);
        window.shed += 1;
        window.retry_after(self.base_retry_after)
    }

    /// Room for a stamped submission of `body_len` bytes, or the
    /// `Retry-After` to refuse it with (with a ticket: it was stamped).
    pub fn admit(&self, body_len: usize) -> Result<Room<'_>, u64> {
        let second = self.started.elapsed().as_secs();
        let cost = (body_len + OVERHEAD_BYTES).min(self.capacity);
        let permit = self.held.try_acquire().ok().and_then(|held| {
            let bytes = u32::try_from(cost)
                .ok()
                .and_then(|cost| self.bytes.try_acquire_many(cost).ok())?;
            Some(Room {
                _held: held,
                _bytes: bytes,
            })
        });
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

/// A held submission's share of the buffer, returned when it is dropped.
pub(crate) struct Room<'a> {
    _held: SemaphorePermit<'a>,
    _bytes: SemaphorePermit<'a>,
}

/// Bodies being read, per client address: one address cannot open more
/// than `per_ip` at once (e.g. streams announcing a body that never comes).
pub(crate) struct UnreadBodies {
    per_ip: usize,
    reading: Mutex<HashMap<IpAddr, usize>>,
}

/// One body being read; the count goes down when it is dropped.
pub(crate) struct Reading<'a> {
    owner: &'a UnreadBodies,
    ip: IpAddr,
}

impl UnreadBodies {
    pub fn new(per_ip: usize) -> UnreadBodies {
        UnreadBodies {
            per_ip,
            reading: Mutex::default(),
        }
    }

    /// A slot to read one body from `ip` (its /64 for IPv6), or `None` at
    /// the cap.
    pub fn start(&self, ip: IpAddr) -> Option<Reading<'_>> {
        let ip = clickday_edge::client_key(ip);
        let mut reading = self.reading.lock().unwrap_or_else(|p| p.into_inner());
        let count = reading.entry(ip).or_insert(0);
        if *count >= self.per_ip {
            return None;
        }
        *count += 1;
        Some(Reading { owner: self, ip })
    }

    /// Addresses with a body in reading (memory watch).
    pub fn tracked(&self) -> usize {
        self.reading.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

impl Drop for Reading<'_> {
    fn drop(&mut self) {
        let mut reading = self.owner.reading.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = reading.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                reading.remove(&self.ip);
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
    fn the_buffer_is_counted_in_bytes_and_comes_back() {
        let admission = Admission::new(3 * OVERHEAD_BYTES, 100, 1);
        let a = admission.admit(OVERHEAD_BYTES).unwrap();
        let _b = admission.admit(0).unwrap();
        assert_eq!(admission.admit(1).err(), Some(1), "one byte over");
        drop(a);
        assert!(admission.admit(OVERHEAD_BYTES).is_ok());
        // Larger than the whole buffer: admitted alone, never starved.
        let big = Admission::new(100, 100, 1);
        assert!(big.admit(64 * 1024).is_ok());
        // And in submissions held, whatever their size.
        let two = Admission::new(1 << 20, 2, 1);
        let (_a, _b) = (two.admit(0).unwrap(), two.admit(0).unwrap());
        assert!(two.admit(0).is_err());
    }

    #[test]
    fn unread_bodies_are_capped_per_address_and_forgotten() {
        let unread = UnreadBodies::new(2);
        let (a, b): (IpAddr, IpAddr) = ([10, 0, 0, 1].into(), [10, 0, 0, 2].into());
        let first = unread.start(a).unwrap();
        let _second = unread.start(a).unwrap();
        assert!(unread.start(a).is_none(), "a's third");
        assert!(unread.start(b).is_some(), "b has its own");
        drop(first);
        assert!(unread.start(a).is_some());
        drop(_second);
        assert_eq!(unread.tracked(), 0, "no entry outlives its bodies");
    }
}
