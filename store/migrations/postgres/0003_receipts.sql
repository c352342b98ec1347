-- One signed receipt per stored submission: the canonical statement, the
-- system's Ed25519 signature over it, the receipt key's id and the PDF.
CREATE TABLE receipts (
    submission_id TEXT    PRIMARY KEY REFERENCES submissions (submission_id),
    statement     TEXT    NOT NULL,
    signature     TEXT    NOT NULL,
    key_id        TEXT    NOT NULL,
    pdf           BYTEA   NOT NULL,
    created_at    BIGINT  NOT NULL
);
