//! Row → value mapping shared by both backends: each entity is read by one
//! function, whatever database the row came from.

use crate::StoreError;
use crate::accounts::KeyRow;
use crate::portal::{
    Draft, DraftState, Forwarded, OfficeRow, OutcomeEvent, PastApplication, Sent, Ticket,
    TicketEvent, TicketState, User, UserKind,
};
use crate::submissions::{
    DeadLetter, EmailContent, EmailJob, RankedRow, Receipt, ReceivedSubmission, StoredBody,
};
use clickday_core::{Application, ArrivalStamp, Submission};
use sqlx::Row as _;

/// The column reads the mappers need, implemented once per backend.
pub(crate) trait Fields {
    fn text(&self, column: &str) -> Result<String, sqlx::Error>;
    fn opt_text(&self, column: &str) -> Result<Option<String>, sqlx::Error>;
    fn int(&self, column: &str) -> Result<i64, sqlx::Error>;
    fn opt_int(&self, column: &str) -> Result<Option<i64>, sqlx::Error>;
    fn opt_bool(&self, column: &str) -> Result<Option<bool>, sqlx::Error>;
    fn bytes(&self, column: &str) -> Result<Vec<u8>, sqlx::Error>;
}

macro_rules! fields_for {
    ($row:ty) => {
        impl Fields for $row {
            fn text(&self, column: &str) -> Result<String, sqlx::Error> {
                self.try_get(column)
            }
            fn opt_text(&self, column: &str) -> Result<Option<String>, sqlx::Error> {
                self.try_get(column)
            }
            fn int(&self, column: &str) -> Result<i64, sqlx::Error> {
                self.try_get(column)
            }
            fn opt_int(&self, column: &str) -> Result<Option<i64>, sqlx::Error> {
                self.try_get(column)
            }
            fn opt_bool(&self, column: &str) -> Result<Option<bool>, sqlx::Error> {
                self.try_get(column)
            }
            fn bytes(&self, column: &str) -> Result<Vec<u8>, sqlx::Error> {
                self.try_get(column)
            }
        }
    };
}

fields_for!(sqlx::postgres::PgRow);
fields_for!(sqlx::sqlite::SqliteRow);

fn fixed<const N: usize>(row: &impl Fields, column: &str) -> Result<[u8; N], StoreError> {
    row.bytes(column)?
        .try_into()
        .map_err(|_| corrupt(column, format!("not {N} bytes")))
}

fn corrupt(column: &str, detail: String) -> StoreError {
    StoreError::Corrupt {
        column: column.to_string(),
        detail,
    }
}

pub(crate) fn key_row(r: &impl Fields) -> Result<KeyRow, StoreError> {
    Ok(KeyRow {
        key_id: r.text("key_id")?,
        account_id: r.text("account_id")?,
        public_key: fixed(r, "public_key")?,
        revoked: r.opt_int("revoked_at")?.is_some(),
    })
}

pub(crate) fn ranked_row(r: &impl Fields) -> Result<RankedRow, StoreError> {
    Ok(RankedRow {
        submission_id: r.text("submission_id")?,
        account_id: r.text("account_id")?,
        application_id: r.text("application_id")?,
        category: r.text("category")?,
        province: r.text("province")?,
        received_at: r.int("received_at")? as u64,
        node: r.int("node")? as u16,
        node_seq: r.int("node_seq")? as u64,
        rank: r.opt_int("rank")?.map(|n| n as u64),
        within_quota: r.opt_bool("within_quota")?,
    })
}

pub(crate) fn dead_letter(r: &impl Fields) -> Result<DeadLetter, StoreError> {
    Ok(DeadLetter {
        queue_id: r.text("queue_id")?,
        shard: r.int("shard")? as u16,
        reason: r.text("reason")?,
        record: r.text("record")?,
    })
}

pub(crate) fn stored_body(r: &impl Fields) -> Result<StoredBody, StoreError> {
    Ok(StoredBody {
        received_at: r.int("received_at")? as u64,
        body: r.bytes("body")?,
        body_sha256: fixed(r, "body_sha256")?,
        signature: fixed(r, "signature")?,
    })
}

/// A whole stored submission (every column of its row but the states).
pub(crate) fn submission(r: &impl Fields) -> Result<Submission, StoreError> {
    Ok(Submission {
        submission_id: r.text("submission_id")?,
        account_id: r.text("account_id")?,
        key_id: r.text("key_id")?,
        application: Application {
            application_id: r.text("application_id")?,
            click_day: r.text("click_day")?,
            category: r.text("category")?,
            province: r.text("province")?,
            form: r.text("form")?,
        },
        stamp: ArrivalStamp {
            unix_nanos: r.int("received_at")? as u64,
            node: r.int("node")? as u16,
            seq: r.int("node_seq")? as u64,
        },
        body: r.bytes("body")?.into(),
        body_sha256: fixed(r, "body_sha256")?,
        signature: fixed(r, "signature")?,
    })
}

pub(crate) fn receipt(r: &impl Fields) -> Result<Receipt, StoreError> {
    Ok(Receipt {
        submission_id: r.text("submission_id")?,
        statement: r.text("statement")?,
        signature: r.text("signature")?,
        key_id: r.text("key_id")?,
        pdf: r.bytes("pdf")?,
        ledger_proof: r.opt_text("ledger_proof")?,
    })
}

pub(crate) fn email_job(r: &impl Fields) -> Result<EmailJob, StoreError> {
    Ok(EmailJob {
        id: r.int("id")?,
        kind: r.text("kind")?,
        recipient: r.text("recipient")?,
        attempts: r.int("attempts")? as u32,
        // The schema's CHECK: a row has a submission or a written body.
        content: match (r.opt_text("submission_id")?, r.opt_text("body")?) {
            (Some(submission_id), _) => EmailContent::Received(ReceivedSubmission {
                submission_id,
                account_id: r.text("account_id")?,
                application_id: r.text("application_id")?,
                click_day: r.text("click_day")?,
                category: r.text("category")?,
                province: r.text("province")?,
                received_at: r.int("received_at")? as u64,
            }),
            (None, body) => EmailContent::Written {
                subject: r.opt_text("subject")?.unwrap_or_default(),
                body: body.unwrap_or_default(),
            },
        },
    })
}

pub(crate) fn user(r: &impl Fields) -> Result<User, StoreError> {
    let kind = r.text("kind")?;
    Ok(User {
        user_id: r.text("user_id")?,
        email: r.text("email")?,
        password_hash: r.text("password_hash")?,
        kind: UserKind::parse(&kind)
            .ok_or_else(|| corrupt("kind", format!("unknown user kind {kind:?}")))?,
        full_name: r.text("full_name")?,
        codice_fiscale: r.text("codice_fiscale")?,
        parent_user_id: r.opt_text("parent_user_id")?,
        province: r.opt_text("province")?,
        office_kind: r.opt_text("office_kind")?,
        account_id: r.opt_text("account_id")?,
        confirmed: r.opt_int("confirmed_at")?.is_some(),
        approved: r.opt_int("approved_at")?.is_some(),
    })
}

pub(crate) fn office_row(r: &impl Fields) -> Result<OfficeRow, StoreError> {
    Ok(OfficeRow {
        submission_id: r.text("submission_id")?,
        application_id: r.text("application_id")?,
        click_day: r.text("click_day")?,
        category: r.text("category")?,
        province: r.text("province")?,
        received_at: r.int("received_at")? as u64,
        body: r.bytes("body")?,
        rank: r.opt_int("rank")?.map(|n| n as u64),
        within_quota: r.opt_bool("within_quota")?,
        applicant: r.opt_text("applicant")?,
        worker_name: r.opt_text("worker_name")?,
        received_by_office: r.opt_int("received_by_office")?,
        outcome: r.opt_text("outcome")?,
    })
}

pub(crate) fn outcome_event(r: &impl Fields) -> Result<OutcomeEvent, StoreError> {
    Ok(OutcomeEvent {
        office_kind: r.text("office_kind")?,
        outcome: r.text("outcome")?,
        note: r.text("note")?,
        created_at: r.int("created_at")?,
    })
}

pub(crate) fn past_application(r: &impl Fields) -> Result<PastApplication, StoreError> {
    Ok(PastApplication {
        application_id: r.text("application_id")?,
        user_id: r.text("user_id")?,
        click_day: r.text("click_day")?,
        category: r.text("category")?,
        province: r.text("province")?,
        worker_name: r.text("worker_name")?,
        submission_id: r.opt_text("submission_id")?,
        received_at: r.opt_int("received_at")?,
        outcome: r.text("outcome")?,
        answers: r.text("answers")?,
    })
}

pub(crate) fn draft(r: &impl Fields) -> Result<Draft, StoreError> {
    let state = r.text("state")?;
    Ok(Draft {
        application_id: r.text("application_id")?,
        user_id: r.text("user_id")?,
        click_day: r.text("click_day")?,
        category: r.text("category")?,
        answers: r.text("answers")?,
        province: r.opt_text("province")?,
        worker_name: r.opt_text("worker_name")?,
        state: DraftState::parse(&state)
            .ok_or_else(|| corrupt("state", format!("unknown draft state {state:?}")))?,
        created_at: r.int("created_at")?,
        updated_at: r.int("updated_at")?,
        sent: match r.opt_text("submission_id")? {
            None => None,
            Some(submission_id) => Some(Sent {
                submission_id,
                received_at: r.int("received_at")? as u64,
                receipt_ready: r.opt_text("receipt_state")?.as_deref() == Some("ready"),
                rank: r.opt_int("rank")?.map(|n| n as u64),
                within_quota: r.opt_bool("within_quota")?,
            }),
        },
    })
}

pub(crate) fn ticket(r: &impl Fields) -> Result<Ticket, StoreError> {
    let state = r.text("state")?;
    Ok(Ticket {
        ticket_id: r.text("ticket_id")?,
        user_id: r.text("user_id")?,
        topic: r.text("topic")?,
        subject: r.text("subject")?,
        state: TicketState::parse(&state)
            .ok_or_else(|| corrupt("state", format!("unknown ticket state {state:?}")))?,
        operator_id: r.opt_text("operator_id")?,
        created_at: r.int("created_at")?,
        updated_at: r.int("updated_at")?,
    })
}

pub(crate) fn ticket_event(r: &impl Fields) -> Result<TicketEvent, StoreError> {
    Ok(TicketEvent {
        author_id: r.text("author_id")?,
        author_name: r.text("author_name")?,
        kind: r.text("kind")?,
        body: r.text("body")?,
        created_at: r.int("created_at")?,
    })
}

pub(crate) fn forwarded(r: &impl Fields) -> Result<Forwarded, StoreError> {
    Ok(Forwarded {
        submission_id: r.text("submission_id")?,
        account_id: r.text("account_id")?,
        application_id: r.text("application_id")?,
        click_day: r.text("click_day")?,
        category: r.text("category")?,
        province: r.text("province")?,
        form: r.text("form")?,
        received_at: r.int("received_at")? as u64,
        body: r.bytes("body")?,
        rank: r.opt_int("rank")?.map(|n| n as u64),
        within_quota: r.opt_bool("within_quota")?,
    })
}
