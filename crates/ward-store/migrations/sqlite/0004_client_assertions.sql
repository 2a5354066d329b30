-- Client assertions (RFC 7523) seen, by the SHA-256 of issuer and jti, until they expire: an
-- assertion is accepted once, on any node.
CREATE TABLE client_assertions (
    hash       TEXT PRIMARY KEY,
    expires_at INTEGER NOT NULL
);
CREATE INDEX client_assertions_by_expiry ON client_assertions(expires_at);
