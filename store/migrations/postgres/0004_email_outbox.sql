-- Emails to send, created from stored submissions (see email_state below),
-- so none can be forgotten. A sender leases a row (claimed_until) before
-- sending, marks it sent after; failures are retried with backoff, never
-- dropped. Times are database Unix microseconds.
CREATE TABLE email_outbox (
    id              BIGSERIAL PRIMARY KEY,
    submission_id   TEXT    NOT NULL REFERENCES submissions (submission_id),
    kind            TEXT    NOT NULL,
    recipient       TEXT    NOT NULL,
    attempts        BIGINT  NOT NULL DEFAULT 0,
    next_attempt_at BIGINT  NOT NULL,
    claimed_by      TEXT,
    claimed_until   BIGINT,
    sent_at         BIGINT,
    last_error      TEXT,
    created_at      BIGINT  NOT NULL,
    UNIQUE (submission_id, kind)
);
CREATE INDEX email_outbox_due ON email_outbox (sent_at, next_attempt_at);

-- Intake only stores the submission; the email stage turns pending
-- submissions into outbox rows in batches ('queued'), or 'none' when the
-- account has no address.
ALTER TABLE submissions ADD COLUMN email_state TEXT NOT NULL DEFAULT 'pending';
CREATE INDEX submissions_email_state ON submissions (email_state, received_at);
