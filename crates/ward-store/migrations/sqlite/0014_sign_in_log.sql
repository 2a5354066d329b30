-- The sign-in log (Graph's signIn): one row per sign-in attempt or token request that Ward
-- decided, the record itself as a document, with the columns its queries filter on. Written in
-- batches by a background writer; kept for ward_core::sign_in_log::RETENTION.
CREATE TABLE sign_in_log (
    tenant_id  TEXT NOT NULL,
    id         TEXT NOT NULL,
    at         BIGINT NOT NULL,
    user_id    TEXT NOT NULL,
    app_id     TEXT NOT NULL,
    error_code BIGINT NOT NULL,
    ca_status  TEXT NOT NULL,
    doc        TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX sign_in_log_by_time ON sign_in_log(tenant_id, at, id);
CREATE INDEX sign_in_log_by_user ON sign_in_log(tenant_id, user_id, at);
CREATE INDEX sign_in_log_by_age ON sign_in_log(at);
