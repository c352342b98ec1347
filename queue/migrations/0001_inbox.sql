-- The embedded queue: one row per accepted submission. `seq` is the
-- delivery id; the unique (account, application) pair is the dedupe.
CREATE TABLE inbox (
    seq            INTEGER PRIMARY KEY AUTOINCREMENT,
    submission_id  TEXT    NOT NULL UNIQUE,
    account_id     TEXT    NOT NULL,
    key_id         TEXT    NOT NULL,
    application_id TEXT    NOT NULL,
    click_day      TEXT    NOT NULL,
    category       TEXT    NOT NULL,
    province       TEXT    NOT NULL,
    form           TEXT    NOT NULL,
    received_at    INTEGER NOT NULL,
    node           INTEGER NOT NULL,
    node_seq       INTEGER NOT NULL,
    body           BLOB    NOT NULL,
    body_sha256    BLOB    NOT NULL,
    signature      BLOB    NOT NULL,
    -- consumer side: who holds it, since when (Unix ms), and whether done
    consumer       TEXT,
    delivered_at   INTEGER,
    acked          INTEGER NOT NULL DEFAULT 0,
    UNIQUE (account_id, application_id)
);
CREATE INDEX inbox_undelivered ON inbox (acked, consumer, seq);
CREATE INDEX inbox_node_stamp ON inbox (node, received_at);
