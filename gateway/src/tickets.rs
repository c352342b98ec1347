//! Admission tickets at the gateway (PROTOCOL v1.1): the deployment's
//! secrets, a ticket issued with a `503` that comes after the body was read
//! and stamped, and a resend's ticket honoured (check 5, `bad_ticket`).

use crate::{Gateway, GatewayError};
use clickday_core::{ArrivalStamp, IssuedTicket, KeyId, Problem, Ticket, TicketKeys};
use std::io::Write as _;
use std::path::Path;

/// Reads the ticket secrets, or makes the file with one new secret (owner
/// only) when there is none. Two gateways starting together on one file
/// agree: the file is created exclusively, and the loser reads it.
pub(crate) fn load_or_create(path: &Path) -> Result<TicketKeys, GatewayError> {
    let fail = |e: String| GatewayError::TicketKey {
        path: path.to_path_buf(),
        reason: e,
    };
    if !path.exists() {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| fail(e.to_string()))?;
        }
        let mut secret = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut secret);
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        match options.open(path) {
            Ok(mut file) => {
                writeln!(file, "{}", TicketKeys::encode_secret(&secret))
                    .and_then(|()| file.sync_all())
                    .map_err(|e| fail(e.to_string()))?;
                tracing::info!(path = %path.display(), "admission-ticket key created");
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(fail(e.to_string())),
        }
    }
    let text = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
    TicketKeys::parse(&text).map_err(fail)
}

impl Gateway {
    /// The stamp a request keeps: its ticket's when it carries a valid,
    /// unexpired one for this key and these bytes; its own otherwise.
    pub(crate) fn honour_ticket(
        &self,
        ticket: Option<&[u8]>,
        key_id: KeyId,
        body_sha256: &[u8; 32],
        stamp: ArrivalStamp,
    ) -> Result<ArrivalStamp, Problem> {
        let (kept, event) = self.ticket_stamp(ticket, key_id, body_sha256, stamp)?;
        if let Some(event) = event {
            self.metrics
                .tickets
                .get_or_create(&crate::metrics::TicketLabels { event })
                .inc();
        }
        Ok(kept)
    }

    /// [`Gateway::honour_ticket`] without counting it: the stamp kept, and
    /// `honoured` or `expired` when a ticket came.
    pub(crate) fn ticket_stamp(
        &self,
        ticket: Option<&[u8]>,
        key_id: KeyId,
        body_sha256: &[u8; 32],
        stamp: ArrivalStamp,
    ) -> Result<(ArrivalStamp, Option<&'static str>), Problem> {
        let Some(text) = ticket else {
            return Ok((stamp, None));
        };
        let text = std::str::from_utf8(text)
            .map_err(|_| Problem::BadTicket("the ticket is not text".into()))?;
        let ticket = self
            .tickets
            .open(text)
            .map_err(|e| Problem::BadTicket(e.to_string()))?;
        if ticket.key_id != key_id {
            return Err(Problem::BadTicket(
                "the ticket was issued for another key".into(),
            ));
        }
        if &ticket.body_sha256 != body_sha256 {
            return Err(Problem::BadTicket(
                "the ticket was issued for other bytes".into(),
            ));
        }
        if ticket.expires_at <= stamp.unix_nanos {
            return Ok((stamp, Some("expired")));
        }
        Ok((ticket.stamp, Some("honoured")))
    }

    /// The ticket for a stamped body refused for lack of room: valid until
    /// its click day closes plus the grace. None when the body names no
    /// click day of the calendar (its resend is refused anyway).
    pub(crate) fn ticket_for_body(
        &self,
        key_id: KeyId,
        body_sha256: [u8; 32],
        stamp: ArrivalStamp,
        body: &[u8],
    ) -> Option<Box<IssuedTicket>> {
        #[derive(serde::Deserialize)]
        struct ClickDayOnly<'a> {
            #[serde(borrow)]
            click_day: std::borrow::Cow<'a, str>,
        }
        let named: ClickDayOnly<'_> = serde_json::from_slice(body).ok()?;
        let day = self.calendar.get(&named.click_day)?;
        Some(Box::new(self.issue_ticket(
            key_id,
            body_sha256,
            stamp,
            day.closes_at,
        )))
    }

    /// A ticket keeping `stamp` for a resend, valid until the click day
    /// closes plus the configured grace.
    pub(crate) fn issue_ticket(
        &self,
        key_id: KeyId,
        body_sha256: [u8; 32],
        stamp: ArrivalStamp,
        closes_at: u64,
    ) -> IssuedTicket {
        let expires_at = closes_at.saturating_add(self.ticket_valid_after_close.as_nanos() as u64);
        let text = self.tickets.issue(&Ticket {
            key_id,
            body_sha256,
            stamp,
            expires_at,
        });
        self.metrics
            .tickets
            .get_or_create(&crate::metrics::TicketLabels { event: "issued" })
            .inc();
        IssuedTicket {
            text,
            received_at: stamp.unix_nanos,
            expires_at,
        }
    }
}
