//! Sans-IO core of clickday: the wire types and rules of PROTOCOL.md.
//!
//! Nothing here touches a socket, a file or the system clock: the current
//! time is always passed in, so every rule can be tested exactly and the hot
//! path can be benchmarked and fuzzed in isolation.

pub mod calendar;
pub mod codice_fiscale;
pub mod forms;
pub mod keys;
pub mod problem;
pub mod receipt;
pub mod stamp;
pub mod submission;
pub mod time;

pub use calendar::{Calendar, ClickDay};
pub use codice_fiscale::CodiceFiscale;
pub use keys::{KeyId, PublicKey, SignatureError};
pub use problem::Problem;
pub use stamp::{ArrivalStamp, Stamper, SubmissionId};
pub use submission::{Application, body_digest};
