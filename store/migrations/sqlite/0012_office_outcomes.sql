-- What an office decided about a forwarded application, every step kept
-- (in review, then granted or rejected, each with a note): the office's
-- back-office pages write it, the applicant reads it on the portal and by
-- email. Recording one also marks the application received by the office.
CREATE TABLE office_outcomes (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    submission_id TEXT    NOT NULL REFERENCES submissions (submission_id),
    office_kind   TEXT    NOT NULL REFERENCES offices (office_kind),
    outcome       TEXT    NOT NULL CHECK (outcome IN ('in_review', 'granted', 'rejected')),
    note          TEXT    NOT NULL,
    author_id     TEXT    NOT NULL REFERENCES portal_users (user_id),
    created_at    INTEGER NOT NULL
);
CREATE INDEX office_outcomes_submission ON office_outcomes (submission_id, id);
