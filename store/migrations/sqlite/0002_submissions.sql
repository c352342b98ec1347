-- Stored submissions: everything the ranking depends on, so it can be
-- recomputed and audited at any time. received_at is Unix nanoseconds UTC.
CREATE TABLE submissions (
    submission_id  TEXT    PRIMARY KEY,
    account_id     TEXT    NOT NULL,
    application_id TEXT    NOT NULL,
    click_day      TEXT    NOT NULL,
    category       TEXT    NOT NULL,
    province       TEXT    NOT NULL,
    form           TEXT    NOT NULL,
    received_at    INTEGER NOT NULL,
    node           INTEGER NOT NULL,
    node_seq       INTEGER NOT NULL,
    key_id         TEXT    NOT NULL,
    body           BLOB    NOT NULL,
    body_sha256    BLOB    NOT NULL,
    signature      BLOB    NOT NULL,
    rank           INTEGER,
    within_quota   BOOLEAN,
    receipt_state  TEXT    NOT NULL DEFAULT 'pending',
    stored_at      INTEGER NOT NULL,
    UNIQUE (account_id, application_id)
);
CREATE INDEX submissions_quota_order ON submissions (click_day, category, province, received_at, node, node_seq);
CREATE INDEX submissions_receipt_state ON submissions (receipt_state, received_at);

-- Forwarding: every stored submission goes to each competent office (the
-- Sportello Unico of its province, the Questura, the labour office). The
-- entries follow from the submission itself, so they are a view and cost
-- nothing at intake; only an office's acknowledgement is stored.
CREATE TABLE offices (
    office_kind TEXT PRIMARY KEY
);
INSERT INTO offices (office_kind) VALUES ('sportello_unico'), ('questura'), ('labour_office');
CREATE TABLE forwarding_deliveries (
    submission_id TEXT    NOT NULL REFERENCES submissions (submission_id),
    office_kind   TEXT    NOT NULL REFERENCES offices (office_kind),
    delivered_at  INTEGER NOT NULL,
    PRIMARY KEY (submission_id, office_kind)
);
CREATE VIEW forwarding AS
    SELECT s.submission_id, o.office_kind, s.province, s.stored_at AS created_at, d.delivered_at
    FROM submissions s
    CROSS JOIN offices o
    LEFT JOIN forwarding_deliveries d ON d.submission_id = s.submission_id AND d.office_kind = o.office_kind;

-- Places per (click day, category, province), copied from the configuration
-- when a click day is ranked, so the ranking's inputs stay in the store.
CREATE TABLE quotas (
    click_day TEXT    NOT NULL,
    category  TEXT    NOT NULL,
    province  TEXT    NOT NULL,
    places    INTEGER NOT NULL,
    PRIMARY KEY (click_day, category, province)
);

-- When each click day was ranked, and the window it was ranked with.
CREATE TABLE rankings (
    click_day  TEXT    PRIMARY KEY,
    opens_at   INTEGER NOT NULL,
    closes_at  INTEGER NOT NULL,
    ranked     INTEGER NOT NULL,
    ranked_at  INTEGER NOT NULL
);

-- Queue entries that could not be stored, with the reason.
CREATE TABLE dead_letters (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    queue_id   TEXT    NOT NULL,
    shard      INTEGER NOT NULL,
    reason     TEXT    NOT NULL,
    record     TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (shard, queue_id)
);

-- The stable read-only interface for auditors and tools.
CREATE VIEW submission_ranking AS
    SELECT submission_id, account_id, application_id, click_day, category, province,
           received_at, node, node_seq, rank, within_quota
    FROM submissions;
