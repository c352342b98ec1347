//! Accepted submissions for tests of the queue, the store and the persister,
//! without a gateway in front.

use bytes::Bytes;
use clickday_core::{Application, ArrivalStamp, Submission};

/// A well-formed accepted submission: `account` sent `application_id` with
/// `body`, stamped at `received_at` by node 1 (sequence = `received_at`),
/// for click day `cd`, `lavoro-domestico` in `RM` on form `LD`. The digest
/// matches the body; every field is public, so a test changes what it needs.
pub fn submission(
    account: &str,
    application_id: &str,
    body: impl Into<Bytes>,
    received_at: u64,
) -> Submission {
    let body = body.into();
    Submission {
        submission_id: format!("{received_at:020}-00001"),
        account_id: account.into(),
        key_id: "k".repeat(32),
        application: Application {
            application_id: application_id.into(),
            click_day: "cd".into(),
            category: "lavoro-domestico".into(),
            province: "RM".into(),
            form: "LD".into(),
        },
        stamp: ArrivalStamp {
            unix_nanos: received_at,
            node: 1,
            seq: received_at,
        },
        body_sha256: clickday_core::body_digest(&body),
        body,
        signature: [7; 64],
    }
}
