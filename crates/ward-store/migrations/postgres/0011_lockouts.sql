-- Smart-lockout counters of accounts, shared by every node: failures since the last success and
-- the lock they earned. Rows idle for a day are purged.
CREATE TABLE lockouts (
    tenant_id    TEXT NOT NULL,
    key          TEXT NOT NULL,
    failures     BIGINT NOT NULL,
    locked_until BIGINT,
    updated_at   BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, key)
);
CREATE INDEX lockouts_by_age ON lockouts(updated_at);
