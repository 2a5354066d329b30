-- Live objects by kind, for counting and filtering list queries without reading object rows: a
-- count of a broad filter (Graph's $count) checks each match for liveness here instead of in the
-- table (found by the directory benchmark).
CREATE INDEX objects_live ON objects(tenant_id, kind, id) WHERE deleted_at IS NULL;
