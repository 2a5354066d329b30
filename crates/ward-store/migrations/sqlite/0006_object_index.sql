-- The property index behind directory queries: one row per indexed value of an object
-- (ward_core::index), written in the same transaction as the object. Values are normalized
-- (lower-cased text, fixed-width UTC instants), so text order is the order queries need.
-- Rows for existing objects are written by Ward right after this migration, in its transaction.
CREATE TABLE object_index (
    tenant_id TEXT NOT NULL,
    kind      TEXT NOT NULL,
    property  TEXT NOT NULL,
    value     TEXT NOT NULL,
    id        TEXT NOT NULL,
    PRIMARY KEY (tenant_id, kind, property, value, id)
) WITHOUT ROWID;
CREATE INDEX object_index_by_object ON object_index(tenant_id, id);
