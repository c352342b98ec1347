-- The arrival ledger (docs/ledger.md): one append-only Merkle log per
-- click day, kept as the C2SP tlog-tiles it is served as. The state row,
-- the tiles and the submissions' leaf indexes of one appended batch
-- commit together, so a crash never leaves a leaf twice or a gap.
CREATE TABLE ledger_state (
    click_day TEXT   PRIMARY KEY,
    size      BIGINT NOT NULL,
    root      BYTEA  NOT NULL
);
-- Hash tiles and entry bundles by their path below the log's prefix
-- (tile/0/x001/234, tile/entries/005.p/17); partial tiles are kept for
-- every size a checkpoint was signed at.
CREATE TABLE ledger_tiles (
    click_day TEXT   NOT NULL,
    path      TEXT   NOT NULL,
    data      BYTEA  NOT NULL,
    PRIMARY KEY (click_day, path)
);
-- Every signed checkpoint (C2SP tlog-checkpoint), so any two can be
-- shown consistent later.
CREATE TABLE ledger_checkpoints (
    click_day TEXT   NOT NULL,
    size      BIGINT NOT NULL,
    note      TEXT   NOT NULL,
    signed_at BIGINT NOT NULL,
    PRIMARY KEY (click_day, size)
);
-- Each submission's place in its log, insert-only (narrow rows: cheaper
-- than updating the wide submission row, measured in BENCHMARKS.md).
CREATE TABLE ledger_leaves (
    submission_id TEXT   PRIMARY KEY,
    click_day     TEXT   NOT NULL,
    leaf_index    BIGINT NOT NULL,
    UNIQUE (click_day, leaf_index)
);
-- Stored submissions not yet in their log, in storage order: written with
-- each new submission (persist_batch, in the same transaction), emptied by
-- the integrator in the transaction that appends them.
CREATE TABLE ledger_pending (
    submission_id TEXT   PRIMARY KEY,
    click_day     TEXT   NOT NULL,
    stored_at     BIGINT NOT NULL
);
CREATE INDEX ledger_pending_order ON ledger_pending (stored_at);
-- Submissions stored before the ledger existed wait for it like new ones.
INSERT INTO ledger_pending (submission_id, click_day, stored_at)
    SELECT submission_id, click_day, stored_at FROM submissions;
-- A receipt's inclusion proof (C2SP tlog-proof), also printed in its PDF.
ALTER TABLE receipts ADD COLUMN ledger_proof TEXT;
-- The ledger size a ranking was computed from (its final checkpoint).
ALTER TABLE rankings ADD COLUMN ledger_size BIGINT;
