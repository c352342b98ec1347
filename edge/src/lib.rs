//! What every listener of clickday lives under, whoever it serves (the
//! gateway's TCP and QUIC sides, the portal): a budget of open connections
//! in total and per client address, a deadline for a new connection's first
//! request, an idle deadline after it, and the process's file-descriptor
//! budget shared out between listeners.
//!
//! One client — one address, or one IPv6 /64 — must never be able to hold
//! what the others need: these are the pieces that make it so, kept apart
//! from any protocol so the portal and the gateway cannot drift.

mod activity;
mod budget;
mod drive;
mod listener;
mod nofile;

pub use activity::{Activity, Busy};
pub use budget::{ConnectionBudget, Slot, client_key};
pub use drive::{Deadlines, Ended, drive};
pub use listener::{Accepted, Listener};
pub use nofile::{FdShares, raise_nofile_limit};
