-- Offices serve one province for one kind of office; they register, or an
-- administrator creates them (`clickday staff add`) with the operators.
ALTER TABLE portal_users ADD COLUMN province TEXT;
ALTER TABLE portal_users ADD COLUMN office_kind TEXT REFERENCES offices (office_kind);
-- Offices read applications only once approved: at creation when an
-- administrator makes them, by an operator when they registered.
ALTER TABLE portal_users ADD COLUMN approved_at BIGINT;

-- Help-desk tickets and their history. The ticket's state follows its
-- last event; every event is kept.
CREATE TABLE tickets (
    ticket_id   TEXT    PRIMARY KEY,
    user_id     TEXT    NOT NULL REFERENCES portal_users (user_id),
    topic       TEXT    NOT NULL CHECK (topic IN ('technical', 'functional', 'legal')),
    subject     TEXT    NOT NULL,
    state       TEXT    NOT NULL CHECK (state IN ('open', 'in_progress', 'waiting_user', 'closed')),
    operator_id TEXT    REFERENCES portal_users (user_id),
    created_at  BIGINT  NOT NULL,
    updated_at  BIGINT  NOT NULL
);
CREATE INDEX tickets_user ON tickets (user_id, updated_at);
CREATE INDEX tickets_state ON tickets (state, updated_at);
CREATE TABLE ticket_events (
    id         BIGSERIAL PRIMARY KEY,
    ticket_id  TEXT    NOT NULL REFERENCES tickets (ticket_id),
    author_id  TEXT    NOT NULL REFERENCES portal_users (user_id),
    kind       TEXT    NOT NULL
        CHECK (kind IN ('opened', 'taken', 'question', 'reply', 'answer')),
    body       TEXT    NOT NULL,
    created_at BIGINT  NOT NULL
);
CREATE INDEX ticket_events_ticket ON ticket_events (ticket_id, id);
