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
ALTER TABLE submissions ADD COLUMN leaf_index BIGINT;
CREATE INDEX submissions_unlogged ON submissions (stored_at) WHERE leaf_index IS NULL;
CREATE UNIQUE INDEX submissions_leaf ON submissions (click_day, leaf_index);
-- A receipt's inclusion proof (C2SP tlog-proof), also printed in its PDF.
ALTER TABLE receipts ADD COLUMN ledger_proof TEXT;
-- The ledger size a ranking was computed from (its final checkpoint).
ALTER TABLE rankings ADD COLUMN ledger_size BIGINT;
