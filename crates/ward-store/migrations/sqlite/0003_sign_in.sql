-- Sign-in state: browser sessions, grants (one authorization of a client by a user) and the
-- single-use handles that redeem them (authorization codes, refresh tokens). Secrets are stored
-- only as SHA-256 hashes. Not part of the directory's change feed: none of this is directory data.
CREATE TABLE sign_in_sessions (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL,
    user_id     TEXT NOT NULL,
    secret_hash TEXT NOT NULL UNIQUE,
    auth_time   INTEGER NOT NULL,
    amr         TEXT NOT NULL,
    expires_at  INTEGER NOT NULL,
    ended_at    INTEGER
);
CREATE INDEX sign_in_sessions_by_expiry ON sign_in_sessions(expires_at);

CREATE TABLE oauth_grants (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL,
    session_id  TEXT,
    client_id   TEXT NOT NULL,
    user_id     TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    revoked_at  INTEGER
);
CREATE INDEX oauth_grants_by_session ON oauth_grants(session_id);
CREATE INDEX oauth_grants_by_expiry ON oauth_grants(expires_at);

CREATE TABLE oauth_handles (
    hash        TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL,
    kind        TEXT NOT NULL,
    grant_id    TEXT NOT NULL REFERENCES oauth_grants(id) ON DELETE CASCADE,
    expires_at  INTEGER NOT NULL,
    used_at     INTEGER,
    doc         TEXT NOT NULL
);
CREATE INDEX oauth_handles_by_grant ON oauth_handles(grant_id);
CREATE INDEX oauth_handles_by_expiry ON oauth_handles(expires_at);
