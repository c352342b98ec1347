-- Accounts and their mini-client keys. Times are Unix microseconds from the
-- database's own clock, so gateways can poll for changes without trusting
-- the clocks of the machines that made them.
CREATE TABLE accounts (
    account_id TEXT    PRIMARY KEY,
    email      TEXT    NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE TABLE account_keys (
    key_id     TEXT    PRIMARY KEY,
    account_id TEXT    NOT NULL REFERENCES accounts (account_id),
    public_key BLOB    NOT NULL,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER,
    updated_at INTEGER NOT NULL
);
CREATE INDEX account_keys_updated_at ON account_keys (updated_at);
CREATE INDEX account_keys_account ON account_keys (account_id);
