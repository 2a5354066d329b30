-- A user's authentication methods beyond the password (authenticator apps so far). A TOTP secret
-- must be read back to check a code, so it is sealed under the key-encryption key, never hashed;
-- last_step is the last time step a code was accepted for, so no code is accepted twice.
CREATE TABLE auth_methods (
    tenant_id     TEXT NOT NULL,
    id            TEXT NOT NULL,
    user_id       TEXT NOT NULL,
    kind          TEXT NOT NULL,
    doc           TEXT NOT NULL,
    secret_sealed TEXT,
    last_step     BIGINT,
    created_at    BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX auth_methods_by_user ON auth_methods(tenant_id, user_id);
