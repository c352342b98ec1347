//! The submission path after the body has been read and stamped: checks 3
//! to 9 of PROTOCOL.md, cheapest first.

use crate::Gateway;
use crate::verify::{authenticate, verify_signature};
use bytes::Bytes;
use clickday_core::{Acknowledgement, Application, ArrivalStamp, Problem, Submission};
use http::HeaderMap;

impl Gateway {
    pub(crate) async fn submit(
        &self,
        headers: &HeaderMap,
        body: Bytes,
        stamp: ArrivalStamp,
    ) -> Result<Acknowledgement, Problem> {
        // A header sent twice is ambiguous: treat it as absent and refuse.
        let header = |name: &str| {
            let mut values = headers.get_all(name).iter();
            match (values.next(), values.next()) {
                (Some(value), None) => Some(value.as_bytes()),
                _ => None,
            }
        };
        let (key_id, registered) = authenticate(&self.keys, header("clickday-key"))?;
        let body_sha256 = clickday_core::body_digest(&body);
        let ticket = header("clickday-ticket");
        // Room to hold this one while it is verified and made durable; if
        // there is none, its place is kept in a ticket for the resend — the
        // stamp of a ticket it brought, or its own.
        let _room = match self.admission.admit(body.len()) {
            Ok(room) => room,
            Err(retry_after_secs) => {
                let kept = match self.ticket_stamp(ticket, key_id, &body_sha256, stamp) {
                    Ok((kept, _)) => kept,
                    Err(_) => stamp,
                };
                return Err(Problem::Unavailable {
                    retry_after_secs,
                    ticket: self.ticket_for_body(key_id, body_sha256, kept, &body),
                });
            }
        };
        let signature = verify_signature(&registered.key, header("clickday-signature"), &body)?;
        // After the signature (PROTOCOL v1.1): knowing someone's key_id is
        // not enough to spend their budget.
        self.limiters.check_key(key_id)?;
        let stamp = self.honour_ticket(ticket, key_id, &body_sha256, stamp)?;
        let app = Application::parse(&body)?;
        // Checked against the stamp kept, the ticket's when one was honoured.
        self.calendar.check(&app, stamp.unix_nanos)?;
        self.enqueue(
            Submission {
                submission_id: stamp.submission_id().to_string(),
                account_id: registered.account_id.to_string(),
                key_id: key_id.to_string(),
                application: app,
                stamp,
                body,
                body_sha256,
                signature,
            },
            key_id,
        )
        .await
    }
}
