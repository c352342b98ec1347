//! Sans-IO core of clickday: the wire types and rules of PROTOCOL.md.
//!
//! Nothing here touches a socket, a file or the system clock: the current
//! time is always passed in, so every rule can be tested exactly and the hot
//! path can be benchmarked and fuzzed in isolation.
//!
//! One submission, one shape, from the edge to the receipt:
//!
//! ```text
//! body ──Application::parse──► Application (header fields)
//!      + key, ArrivalStamp, exact bytes, digest, signature
//!      = Submission ──► queue (encodes it) ──► store (persists it)
//!                   ──► receipt::statement_text (signs it)
//! gateway ──Acknowledgement (202/200)──► loadgen, clickday-client
//! ```

pub mod accepted;
pub mod calendar;
pub mod keys;
pub mod problem;
pub mod receipt;
pub mod stamp;
pub mod submission;
pub mod ticket;
pub mod time;

pub use accepted::{Acknowledgement, AcknowledgementError, Submission};
pub use calendar::{Calendar, ClickDay};
pub use keys::{KeyId, PublicKey, SignatureError};
pub use problem::{IssuedTicket, Problem};
pub use stamp::{ArrivalStamp, Stamper, SubmissionId};
pub use submission::{Application, body_digest};
pub use ticket::{Ticket, TicketError, TicketKeys};
pub use time::{Clock, system_clock};
