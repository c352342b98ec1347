-- Emails written by their sender (the portal's registration confirmations,
-- password resets, help-desk tickets) go through the same outbox as the
-- "domanda ricevuta" emails: such a row has no submission and carries its
-- own subject and body. SQLite cannot relax NOT NULL in place: rebuild.
CREATE TABLE email_outbox_new (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    submission_id   TEXT    REFERENCES submissions (submission_id),
    kind            TEXT    NOT NULL,
    recipient       TEXT    NOT NULL,
    subject         TEXT,
    body            TEXT,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    claimed_by      TEXT,
    claimed_until   INTEGER,
    sent_at         INTEGER,
    last_error      TEXT,
    created_at      INTEGER NOT NULL,
    UNIQUE (submission_id, kind),
    -- Either rendered from a submission, or written: never both, never neither.
    CHECK ((submission_id IS NULL) = (body IS NOT NULL) AND (subject IS NULL) = (body IS NULL))
);
INSERT INTO email_outbox_new (id, submission_id, kind, recipient, attempts, next_attempt_at,
                              claimed_by, claimed_until, sent_at, last_error, created_at)
SELECT id, submission_id, kind, recipient, attempts, next_attempt_at,
       claimed_by, claimed_until, sent_at, last_error, created_at FROM email_outbox;
DROP TABLE email_outbox;
ALTER TABLE email_outbox_new RENAME TO email_outbox;
CREATE INDEX email_outbox_due ON email_outbox (sent_at, next_attempt_at);
