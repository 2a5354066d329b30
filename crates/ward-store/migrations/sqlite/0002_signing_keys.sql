-- Token-signing keys, shared by every node. Private halves are sealed (AES-256-GCM) under the
-- key-encryption key from configuration; the store never sees them in clear.
CREATE TABLE signing_keys (
    kid            TEXT PRIMARY KEY,
    alg            TEXT NOT NULL,
    public_jwk     TEXT NOT NULL,
    sealed_private TEXT NOT NULL,
    created_at     INTEGER NOT NULL,
    retire_at      INTEGER
);
CREATE INDEX signing_keys_by_alg ON signing_keys(alg, created_at);
