-- The property index behind directory queries: one row per indexed value of an object
-- (ward_core::index), written in the same transaction as the object. Values are normalized
-- (lower-cased text, fixed-width UTC instants); COLLATE "C" makes text order byte order, as in
-- SQLite, so prefix ranges and keyset paging agree on both backends.
-- Rows for existing objects are written by Ward right after this migration, in its transaction.
CREATE TABLE object_index (
    tenant_id TEXT NOT NULL,
    kind      TEXT NOT NULL,
    property  TEXT NOT NULL,
    value     TEXT COLLATE "C" NOT NULL,
    id        TEXT NOT NULL,
    PRIMARY KEY (tenant_id, kind, property, value, id)
);
CREATE INDEX object_index_by_object ON object_index(tenant_id, id);
