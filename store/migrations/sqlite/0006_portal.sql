-- The portal: its users, their one-time links and sessions, and the
-- applications they compile. Times are Unix microseconds from the
-- database's own clock, like every other table.
--
-- Every user who sends (an employer, an association, a sub-account of an
-- association) owns one row of `accounts`: the gateway knows that account
-- and the keys its mini-clients register. Offices and help-desk operators
-- own none.
CREATE TABLE portal_users (
    user_id        TEXT    PRIMARY KEY,
    -- The username, lower-cased.
    email          TEXT    NOT NULL UNIQUE,
    -- Argon2id in PHC string form; never the password.
    password_hash  TEXT    NOT NULL,
    kind           TEXT    NOT NULL
        CHECK (kind IN ('employer', 'association', 'sub_account', 'office', 'operator')),
    full_name      TEXT    NOT NULL,
    codice_fiscale TEXT    NOT NULL,
    -- Sub-accounts: the association they send for.
    parent_user_id TEXT    REFERENCES portal_users (user_id),
    account_id     TEXT    UNIQUE REFERENCES accounts (account_id),
    confirmed_at   INTEGER,
    created_at     INTEGER NOT NULL,
    CHECK ((kind = 'sub_account') = (parent_user_id IS NOT NULL))
);
CREATE INDEX portal_users_parent ON portal_users (parent_user_id);

-- Links sent by email (confirmation, password reset): only a hash of the
-- secret is kept, so a copy of the database opens nothing.
CREATE TABLE portal_tokens (
    token_hash TEXT    PRIMARY KEY,
    user_id    TEXT    NOT NULL REFERENCES portal_users (user_id),
    purpose    TEXT    NOT NULL CHECK (purpose IN ('confirm', 'reset')),
    expires_at INTEGER NOT NULL,
    used_at    INTEGER
);
CREATE INDEX portal_tokens_user ON portal_tokens (user_id);

-- Signed-in browsers: the cookie carries the secret, the row its hash and
-- the session's CSRF token.
CREATE TABLE portal_sessions (
    session_hash TEXT    PRIMARY KEY,
    user_id      TEXT    NOT NULL REFERENCES portal_users (user_id),
    csrf_token   TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL
);
CREATE INDEX portal_sessions_user ON portal_sessions (user_id);

-- Applications compiled on the portal, as typed (field id -> text, JSON),
-- until they are marked ready and sent by the mini-client. Province and
-- worker name are copied out of the answers for search.
CREATE TABLE applications (
    application_id TEXT    PRIMARY KEY,
    user_id        TEXT    NOT NULL REFERENCES portal_users (user_id),
    click_day      TEXT    NOT NULL,
    category       TEXT    NOT NULL,
    answers        TEXT    NOT NULL,
    province       TEXT,
    worker_name    TEXT,
    state          TEXT    NOT NULL CHECK (state IN ('to_complete', 'ready')),
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL
);
CREATE INDEX applications_user ON applications (user_id, updated_at);
