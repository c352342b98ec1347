//! clickday-client, the applicant's program: it activates an installation
//! (a key pair registered to the applicant's account through the portal),
//! fetches the applications marked ready, checks the computer's clock
//! against the gateway's, and (next) sends everything at the opening
//! instant and keeps the receipts.
//!
//! `home` owns the files kept between runs, `settings` the settings file
//! handed out with the program, `portal` the portal's JSON
//! API, `clock` the offset from the gateway's clock, `text` what the user
//! reads, in Italian or English.

pub mod clock;
pub mod home;
pub mod journal;
pub mod portal;
pub mod receipt;
pub mod send;
pub mod settings;
pub mod text;
