-- Applications of past click days, brought in by `clickday import-history`
-- so the portal's search spans the years. Read-only: they were sent and
-- decided long ago. received_at is Unix nanoseconds; answers is a JSON
-- object of the form's fields as they were.
CREATE TABLE application_history (
    application_id TEXT    PRIMARY KEY,
    user_id        TEXT    NOT NULL REFERENCES portal_users (user_id),
    click_day      TEXT    NOT NULL,
    category       TEXT    NOT NULL,
    province       TEXT    NOT NULL,
    worker_name    TEXT    NOT NULL,
    submission_id  TEXT,
    received_at    INTEGER,
    outcome        TEXT    NOT NULL,
    answers        TEXT    NOT NULL,
    imported_at    INTEGER NOT NULL
);
CREATE INDEX application_history_user ON application_history (user_id, application_id);
