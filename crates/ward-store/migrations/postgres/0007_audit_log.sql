-- The directory audit log (Graph's directoryAudit): one row per recorded activity, the record
-- itself as a document, with the columns its queries filter on. Successful changes are written in
-- the transaction of the change; refused ones on their own. Kept for ward_core::audit::RETENTION.
CREATE TABLE audit_log (
    tenant_id TEXT NOT NULL,
    id        TEXT NOT NULL,
    at        BIGINT NOT NULL,
    category  TEXT NOT NULL,
    activity  TEXT NOT NULL,
    result    TEXT NOT NULL,
    -- ' id1 id2 … ': the targets' ids, space-delimited on both sides.
    targets   TEXT NOT NULL,
    doc       TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX audit_log_by_time ON audit_log(tenant_id, at, id);
CREATE INDEX audit_log_by_age ON audit_log(at);
