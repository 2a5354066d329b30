-- Device authorization (RFC 8628): a device code (stored by its SHA-256) and the short user code
-- a person types on another device, pending until approved or denied there, then redeemed once.
CREATE TABLE device_codes (
    device_hash  TEXT PRIMARY KEY,
    tenant_id    TEXT NOT NULL,
    user_code    TEXT NOT NULL,
    client_id    TEXT NOT NULL,
    doc          TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    last_poll_at BIGINT,
    status       TEXT NOT NULL,
    user_id      TEXT,
    auth_time    BIGINT,
    amr          TEXT,
    grant_id     TEXT
);
CREATE UNIQUE INDEX device_codes_by_user_code ON device_codes(tenant_id, user_code);
CREATE INDEX device_codes_by_expiry ON device_codes(expires_at);
