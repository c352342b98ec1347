//! Open connections, counted in total and per client address.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The address a client is counted under: an IPv4 address, or the /64 an
/// IPv6 address belongs to (one subscriber usually holds a whole /64, so
/// counting single IPv6 addresses would count nothing). IPv4-mapped IPv6
/// addresses count as their IPv4 address.
pub fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mut segments = v6.segments();
                segments[4..].fill(0);
                IpAddr::V6(segments.into())
            }
        },
    }
}

/// Room for `total` open connections, at most `per_address` of them from
/// one client address. Past the total, a listener stops accepting (TCP
/// clients wait in the kernel's backlog); past an address's share, that
/// address's new connection is closed at once and the others are served.
#[derive(Debug)]
pub struct ConnectionBudget {
    total: Arc<Semaphore>,
    capacity: usize,
    per_address: usize,
    open: Mutex<HashMap<IpAddr, usize>>,
}

impl ConnectionBudget {
    pub fn new(total: usize, per_address: usize) -> Arc<Self> {
        Arc::new(ConnectionBudget {
            total: Arc::new(Semaphore::new(total)),
            capacity: total,
            per_address: per_address.max(1),
            open: Mutex::new(HashMap::new()),
        })
    }

    /// Waits until fewer than `total` connections are open; `None` once the
    /// budget is closed (the listener is draining).
    pub async fn room(&self) -> Option<OwnedSemaphorePermit> {
        self.total.clone().acquire_owned().await.ok()
    }

    /// Room now or never (QUIC: a refused client falls back to TCP).
    pub fn try_room(&self) -> Option<OwnedSemaphorePermit> {
        self.total.clone().try_acquire_owned().ok()
    }

    /// Charges a connection to `ip`, or `None` when that address already
    /// holds its share. `ip: None` is a connection not counted per address
    /// (one from a trusted proxy, which carries many clients).
    pub fn admit(self: &Arc<Self>, room: OwnedSemaphorePermit, ip: Option<IpAddr>) -> Option<Slot> {
        let key = ip.map(client_key);
        if let Some(key) = key {
            let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
            let count = open.entry(key).or_insert(0);
            if *count >= self.per_address {
                return None;
            }
            *count += 1;
        }
        Some(Slot {
            budget: self.clone(),
            key,
            _room: room,
        })
    }

    /// Connections now open from `ip` (its /64 for IPv6).
    pub fn open_from(&self, ip: IpAddr) -> usize {
        let open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        open.get(&client_key(ip)).copied().unwrap_or(0)
    }

    /// Addresses with a connection open: what the per-address map costs.
    pub fn addresses(&self) -> usize {
        self.open
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Stops handing out room and waits, at most `grace`, until every open
    /// connection has ended; true when they all did.
    pub async fn drain(&self, grace: Duration) -> bool {
        let all = u32::try_from(self.capacity).unwrap_or(u32::MAX);
        let drained = tokio::time::timeout(grace, self.total.acquire_many(all)).await;
        self.total.close();
        matches!(drained, Ok(Ok(_)))
    }
}

/// One open connection's place in the budget, given back on drop (for TCP,
/// when the socket is finally closed, lingering included).
#[derive(Debug)]
pub struct Slot {
    budget: Arc<ConnectionBudget>,
    key: Option<IpAddr>,
    _room: OwnedSemaphorePermit,
}

impl Slot {
    /// Charges a slot admitted uncounted to `ip`, once the real client is
    /// known (from a balancer's PROXY header): `None`, and the slot given
    /// back, when that address already holds its share.
    pub fn charge(mut self, ip: IpAddr) -> Option<Slot> {
        if self.key.is_some() {
            return Some(self);
        }
        let key = client_key(ip);
        {
            let mut open = self
                .budget
                .open
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let count = open.entry(key).or_insert(0);
            if *count >= self.budget.per_address {
                if *count == 0 {
                    open.remove(&key);
                }
                return None;
            }
            *count += 1;
        }
        self.key = Some(key);
        Some(self)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let Some(key) = self.key else { return };
        let mut open = self
            .budget
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = open.get_mut(&key) {
            *count -= 1;
            if *count == 0 {
                open.remove(&key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Option<IpAddr> {
        s.parse().ok()
    }

    #[tokio::test]
    async fn one_address_holds_its_share_and_no_more() {
        let budget = ConnectionBudget::new(10, 2);
        let a1 = budget.admit(budget.try_room().expect("room"), ip("10.0.0.1"));
        let a2 = budget.admit(budget.try_room().expect("room"), ip("10.0.0.1"));
        assert!(a1.is_some() && a2.is_some());
        assert!(
            budget
                .admit(budget.try_room().expect("room"), ip("10.0.0.1"))
                .is_none()
        );
        let b = budget.admit(budget.try_room().expect("room"), ip("10.0.0.2"));
        assert!(b.is_some(), "another address is served");
        assert_eq!(budget.open_from("10.0.0.1".parse().expect("ip")), 2);
        drop(a1);
        assert_eq!(budget.open_from("10.0.0.1".parse().expect("ip")), 1);
        drop((a2, b));
        assert_eq!(
            budget.addresses(),
            0,
            "entries are removed, not kept at zero"
        );
    }

    #[tokio::test]
    async fn a_refused_address_gives_the_room_back() {
        let budget = ConnectionBudget::new(1, 1);
        let held = budget.admit(budget.try_room().expect("room"), ip("10.0.0.1"));
        drop(held);
        let again = budget.admit(budget.try_room().expect("room"), ip("10.0.0.1"));
        assert!(again.is_some());
        assert!(budget.try_room().is_none(), "the total is one");
    }

    #[test]
    fn ipv6_counts_by_slash_64_and_mapped_ipv4_as_ipv4() {
        let a = client_key("2001:db8:1:2:aaaa::1".parse().expect("ip"));
        let b = client_key("2001:db8:1:2:bbbb::9".parse().expect("ip"));
        let c = client_key("2001:db8:1:3::1".parse().expect("ip"));
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(
            client_key("::ffff:192.0.2.7".parse().expect("ip")),
            "192.0.2.7".parse::<IpAddr>().expect("ip")
        );
    }

    #[tokio::test]
    async fn drain_waits_for_open_connections() {
        let budget = ConnectionBudget::new(4, 4);
        let slot = budget.admit(budget.try_room().expect("room"), None);
        assert!(
            !budget.drain(Duration::from_millis(20)).await,
            "one still open"
        );
        drop(slot);
        let budget = ConnectionBudget::new(4, 4);
        assert!(budget.drain(Duration::from_millis(20)).await);
        assert!(budget.room().await.is_none(), "closed after the drain");
    }
}
