-- Emails to send, created in the same transaction as their submission so
-- none can be forgotten. A sender leases a row (claimed_until) before
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
