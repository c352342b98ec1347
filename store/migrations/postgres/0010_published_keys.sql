-- The public keys anyone needs to check receipts and the arrival ledger,
-- as the persisters that sign with them publish them: the gateways serve
-- this list at GET /v1/keys. A key is never removed (old receipts stay
-- checkable); its first publication (Unix microseconds) is kept.
CREATE TABLE published_keys (
    kind         TEXT NOT NULL,
    key_id       TEXT NOT NULL,
    public_key   TEXT NOT NULL,
    published_at BIGINT NOT NULL,
    PRIMARY KEY (kind, key_id)
);
